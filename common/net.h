/* zframes.h — multipart ZeroMQ messages as small frame arrays, for the REQ/REP-style
 * services (remask --serve, the cluster broker/worker/client). Frame count and sizes are
 * bounded by the caller (and ZMQ_MAXMSGSIZE on the socket), never by what a peer claims.
 */
#ifndef LLADA_COMMON_NET_H
#define LLADA_COMMON_NET_H

#include <stddef.h>
#include <zmq.h>
#include "lerr.h"

#define ZF_MAX 8   /* frames kept per message; a message with more is refused */

typedef struct {
    int n;
    zmq_msg_t f[ZF_MAX];
} zframes_t;

/* Receive one whole multipart message (flags: 0 or ZMQ_DONTWAIT). 0 ok; -1 with `e`
 * (EXIT_PEER) on error or when it has more than ZF_MAX frames (the rest is drained). */
int zf_recv(void *sock, zframes_t *m, int flags, lerr_t *e);
void zf_close(zframes_t *m);
/* Send frames: the first nenv frames of `env` (copied) then nbody (ptr,len) pairs. */
int zf_send(void *sock, const zframes_t *env, int nenv, const void *const *body, const size_t *len,
            int nbody, int flags, lerr_t *e);
static inline const void *zf_data(zframes_t *m, int i) { return zmq_msg_data(&m->f[i]); }
static inline size_t zf_size(zframes_t *m, int i) { return zmq_msg_size(&m->f[i]); }

/* Common socket options: linger 0, optional max message size (<= 0: none). */
void zf_sockopts(void *sock, long long maxmsg);
/* Wait until `sock` is readable, up to timeout_ms (< 0 forever). 1 readable, 0 timed out,
 * -1 on error (EINTR included: the caller decides). */
int zf_wait(void *sock, long timeout_ms);
/* Monotonic milliseconds. */
long long zf_now_ms(void);

#endif
