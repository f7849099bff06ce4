/* net.c — ZeroMQ framing for the request/reply services (net.h): multipart messages as frame
 * arrays, socket options, waiting, the monotonic clock their deadlines use. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "net.h"

int net_recv(void *sock, net_msg_t *m, int flags, lerr_t *e) {
    m->n = 0;
    int more = 1, over = 0;
    while (more) {
        zmq_msg_t tmp, *f = m->n < NET_MAX_FRAMES ? &m->f[m->n] : &tmp;
        zmq_msg_init(f);
        if (zmq_msg_recv(f, sock, m->n == 0 && !over ? flags : 0) < 0) {
            int err = errno;
            zmq_msg_close(f);
            net_msg_close(m);
            return lerr_set(e, EXIT_PEER, "receive failed: %s", zmq_strerror(err));
        }
        more = zmq_msg_more(f);
        if (f == &tmp) {
            zmq_msg_close(f);
            over = 1;
        } else m->n++;
    }
    if (over) {
        net_msg_close(m);
        return lerr_set(e, EXIT_PEER, "message with more than %d frames refused", NET_MAX_FRAMES);
    }
    return 0;
}

void net_msg_close(net_msg_t *m) {
    for (int i = 0; i < m->n; i++) zmq_msg_close(&m->f[i]);
    m->n = 0;
}

int net_send(void *sock, const net_msg_t *env, int nenv, const void *const *body, const size_t *len, int nbody,
             int flags, lerr_t *e) {
    int total = nenv + nbody;
    for (int i = 0; i < total; i++) {
        int fl = flags | (i + 1 < total ? ZMQ_SNDMORE : 0), rc;
        if (i < nenv) {
            zmq_msg_t *f = (zmq_msg_t *)&env->f[i];
            rc = zmq_send(sock, zmq_msg_data(f), zmq_msg_size(f), fl);
        } else {
            rc = zmq_send(sock, body[i - nenv], len[i - nenv], fl);
        }
        if (rc < 0) return lerr_set(e, EXIT_PEER, "send failed: %s", zmq_strerror(errno));
    }
    return 0;
}

void net_sockopts(void *sock, long long maxmsg) {
    int zero = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    if (maxmsg > 0) {
        int64_t mm = maxmsg;
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &mm, sizeof mm);
    }
}

int net_wait(void *sock, long timeout_ms) {
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    int rc = zmq_poll(&it, 1, timeout_ms);
    return rc < 0 ? -1 : rc > 0;
}

long long net_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
