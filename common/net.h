/* net.h — ZeroMQ framing for the REQ/REP-style services (remask --serve, the cluster
 * broker/worker/client, serve's remote workers): multipart messages as small frame arrays,
 * common socket options, waiting, and the clock of their deadlines. Frame count and sizes are
 * bounded by the caller (and ZMQ_MAXMSGSIZE on the socket), never by what a peer claims.
 * Everything here and in net_curve.h (CURVE keys, ZAP, handshake monitor) is named net_*;
 * remask/ and dist/ hold no framing code of their own.
 */
#ifndef LLADA_COMMON_NET_H
#define LLADA_COMMON_NET_H

#include <stddef.h>
#include <zmq.h>
#include "lerr.h"

#define NET_MAX_FRAMES 8 /* frames kept per message; a message with more is refused */

typedef struct {
    int n;
    zmq_msg_t f[NET_MAX_FRAMES];
} net_msg_t;

/* Receive one whole multipart message (flags: 0 or ZMQ_DONTWAIT). 0 ok; -1 with `e`
 * (EXIT_PEER) on error or when it has more than NET_MAX_FRAMES frames (the rest is drained). */
int net_recv(void *sock, net_msg_t *m, int flags, lerr_t *e);
void net_msg_close(net_msg_t *m);
/* Send frames: the first nenv frames of `env` (copied) then nbody (ptr,len) pairs. */
int net_send(void *sock, const net_msg_t *env, int nenv, const void *const *body, const size_t *len, int nbody,
             int flags, lerr_t *e);
static inline const void *net_frame_data(net_msg_t *m, int i) { return zmq_msg_data(&m->f[i]); }
static inline size_t net_frame_size(net_msg_t *m, int i) { return zmq_msg_size(&m->f[i]); }

/* Common socket options: linger 0, optional max message size (<= 0: none). */
void net_sockopts(void *sock, long long maxmsg);
/* Wait until `sock` is readable, up to timeout_ms (< 0 forever). 1 readable, 0 timed out,
 * -1 on error (EINTR included: the caller decides). */
int net_wait(void *sock, long timeout_ms);
/* Monotonic milliseconds. */
long long net_now_ms(void);

#endif
