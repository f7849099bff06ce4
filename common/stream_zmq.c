/* stream_zmq.c — the ZeroMQ transport of record streams (stream_int.h): PULL readers and
 * PUSH writers (ZMQ_IMMEDIATE: records only go to completed connections, so a missing peer
 * is a timeout, not silent loss), one record per message, and the process-wide context. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <zmq.h>
#include "stream_int.h"

static void *g_ctx;
static pthread_mutex_t g_ctx_lock = PTHREAD_MUTEX_INITIALIZER;

void *stream_zmq_ctx(void) {
    pthread_mutex_lock(&g_ctx_lock);
    if (!g_ctx) g_ctx = zmq_ctx_new();
    pthread_mutex_unlock(&g_ctx_lock);
    return g_ctx;
}

void stream_zmq_shutdown(void) {
    pthread_mutex_lock(&g_ctx_lock);
    if (g_ctx) zmq_ctx_term(g_ctx);
    g_ctx = NULL;
    pthread_mutex_unlock(&g_ctx_lock);
}

void *zs_open(bool push, spec_kind_t k, const char *ep, const stream_opts_t *o, lerr_t *e) {
    int type = push ? ZMQ_PUSH : ZMQ_PULL;
    void *ctx = stream_zmq_ctx();
    void *sock = ctx ? zmq_socket(ctx, type) : NULL;
    if (!sock) {
        lerr_set(e, EXIT_INTERNAL, "zmq_socket: %s", zmq_strerror(errno));
        return NULL;
    }
    int to = o->timeout_ms > 0 ? o->timeout_ms : -1, one = 1;
    int64_t maxmsg = o->lim.max_record_bytes > INT64_MAX ? -1 : (int64_t)o->lim.max_record_bytes;
    int hwm = o->sndhwm > 0 ? o->sndhwm : 1000;
    if (type == ZMQ_PULL) {
        zmq_setsockopt(sock, ZMQ_RCVTIMEO, &to, sizeof to);
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    } else {
        zmq_setsockopt(sock, ZMQ_SNDTIMEO, &to, sizeof to);
        zmq_setsockopt(sock, ZMQ_LINGER, &to, sizeof to);
        zmq_setsockopt(sock, ZMQ_IMMEDIATE, &one, sizeof one);
        zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    }
    int rc = k == SP_BIND ? zmq_bind(sock, ep) : zmq_connect(sock, ep);
    if (rc) {
        lerr_set(e, errno == EINVAL || errno == EPROTONOSUPPORT ? EXIT_USAGE : EXIT_PEER, "cannot %s '%s': %s",
                 k == SP_BIND ? "bind" : "connect", ep, zmq_strerror(errno));
        zs_close(sock, true);
        return NULL;
    }
    return sock;
}

void zs_close(void *sock, bool drop) {
    if (!sock) return;
    if (drop) {
        int zero = 0;
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    }
    zmq_close(sock);
}

int zs_next(rstream_t *s, rec_t **out, lerr_t *e) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    int rc;
    do rc = zmq_msg_recv(&m, s->sock, 0);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        int err = errno;
        zmq_msg_close(&m);
        if (err == EAGAIN)
            return lerr_set(
                e, EXIT_PEER,
                "no record from '%s' for %d ms (peer dead or stream incomplete: %llu records, %d of %d end records)",
                s->spec, s->o.timeout_ms, (unsigned long long)s->count, s->ends_seen, s->o.expect_ends);
        return lerr_set(e, EXIT_PEER, "receive on '%s': %s", s->spec, zmq_strerror(err));
    }
    size_t n = zmq_msg_size(&m);
    *out = rec_decode(zmq_msg_data(&m), n, &s->o.lim, s->consumed, e);
    s->consumed += n;
    zmq_msg_close(&m);
    return *out ? 1 : -1;
}

static void free_msg(void *data, void *hint) {
    (void)hint;
    free(data);
}

int zs_send(wstream_t *s, buf_t *b, lerr_t *e) {
    zmq_msg_t m;
    if (zmq_msg_init_data(&m, b->data, b->len, free_msg, NULL))
        return lerr_set(e, EXIT_INTERNAL, "zmq_msg_init_data failed");
    b->data = NULL; /* owned by the message now */
    b->len = b->cap = 0;
    int rc;
    do rc = zmq_msg_send(&m, s->sock, 0);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        int err = errno;
        zmq_msg_close(&m);
        if (err == EAGAIN)
            return lerr_set(e, EXIT_PEER, "no peer took a record on '%s' for %d ms", s->spec, s->o.timeout_ms);
        return lerr_set(e, EXIT_PEER, "send on '%s': %s", s->spec, zmq_strerror(err));
    }
    return 0;
}
