/* remote.c — the remote remask policy (see remote.h): each rm_policy_select becomes one
 * request/reply with the service. Replies carry the request id, so a late answer to an
 * earlier request can never be mistaken for the current one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "remote.h"
#include "wire.h"
#include "net_curve.h"
#include "net.h"

typedef struct {
    void *ctx; /* own context: the shared one is terminated by cli_close_output while this
                    policy may still be alive, and zmq_ctx_term would wait for our socket */
    void *sock;
    char *endpoint, *policy;
    int timeout_ms;
    int64_t next_id;
    rec_limits_t lim;
    buf_t buf;
} remote_t;

static void remote_free(void *self) {
    remote_t *r = self;
    if (!r) return;
    if (r->sock) zmq_close(r->sock);
    if (r->ctx) zmq_ctx_term(r->ctx);
    free(r->endpoint);
    free(r->policy);
    buf_free(&r->buf);
    free(r);
}

/* Send `req`, wait for the reply with the same id; returns the reply record (caller owns). */
static rec_t *roundtrip(remote_t *r, const rec_t *req, int64_t id, const char *what, lerr_t *e) {
    r->buf.len = 0;
    if (rec_encode(req, &r->buf)) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    const void *body[2] = {"", r->buf.data};
    size_t len[2] = {0, r->buf.len};
    if (net_send(r->sock, NULL, 0, body, len, 2, ZMQ_DONTWAIT, e)) {
        lerr_wrap(e, "remask service %s (%s)", r->endpoint, what);
        return NULL;
    }
    long long deadline = net_now_ms() + r->timeout_ms;
    for (;;) {
        long left = (long)(deadline - net_now_ms());
        int w = left > 0 ? net_wait(r->sock, left) : 0;
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            lerr_set(e, EXIT_PEER, "remask service %s did not answer within %d ms (%s)", r->endpoint, r->timeout_ms,
                     what);
            return NULL;
        }
        net_msg_t m;
        if (net_recv(r->sock, &m, ZMQ_DONTWAIT, e)) return NULL;
        rec_t *rep = m.n ? rec_decode(net_frame_data(&m, m.n - 1), net_frame_size(&m, m.n - 1), &r->lim, 0, e) : NULL;
        net_msg_close(&m);
        if (!rep) {
            e->code = EXIT_PEER;
            lerr_wrap(e, "remask service %s sent a bad reply", r->endpoint);
            return NULL;
        }
        int64_t rid;
        if (!rec_get_int(rep, "id", &rid) && rid == id) return rep;
        rec_destroy(&rep); /* a stale reply to an earlier request: keep waiting */
    }
}

static int remote_select(void *self, const rm_state_t *st, const rm_cand_t *c, int n, int32_t *out, lerr_t *e) {
    remote_t *r = self;
    int64_t id = r->next_id++;
    rec_t *req = rmw_select_new(id, r->policy, st, c, n, e);
    if (!req) return -1;
    char what[64];
    snprintf(what, sizeof what, "step %d, record %lld", st->step, (long long)st->record);
    rec_t *rep = roundtrip(r, req, id, what, e);
    rec_destroy(&req);
    if (!rep) return -1;
    int k = rmw_chosen_parse(rep, out, n, e);
    rec_destroy(&rep);
    return k;
}

static const rm_ops_t REMOTE_OPS = {.adaptive = false, .select = remote_select, .destroy = remote_free};
static const rm_ops_t REMOTE_ADAPTIVE_OPS = {.adaptive = true, .select = remote_select, .destroy = remote_free};

static int remote_connect(remote_t *r, const rm_remote_opts_t *o, lerr_t *e) {
    r->ctx = zmq_ctx_new();
    r->sock = r->ctx ? zmq_socket(r->ctx, ZMQ_DEALER) : NULL;
    if (!r->sock) return lerr_set(e, EXIT_INTERNAL, "cannot create a socket: %s", zmq_strerror(errno));
    net_sockopts(r->sock, r->lim.max_record_bytes);
    if (o->key_file && net_curve_client(r->sock, o->key_file, o->server_key, e)) return -1;
    if (zmq_connect(r->sock, o->endpoint))
        return lerr_set(e, EXIT_USAGE, "cannot connect to remask service '%s': %s", o->endpoint, zmq_strerror(errno));
    return 0;
}

rm_policy_t *rm_remote_new(const rm_remote_opts_t *o, lerr_t *e) {
    remote_t *r = calloc(1, sizeof *r);
    if (!r) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    r->endpoint = strdup(o->endpoint);
    r->policy = o->policy ? strdup(o->policy) : NULL;
    r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 60000;
    r->lim = REC_LIMITS_DEFAULT;
    if (o->max_msg > 0) r->lim.max_record_bytes = (size_t)o->max_msg;
    else r->lim.max_record_bytes = 64u << 20;
    rec_t *hello = rec_new(), *rep = NULL;
    bool adaptive = false;
    char *name = NULL;
    if (!r->endpoint || (o->policy && !r->policy) || !hello) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto fail;
    }
    if (remote_connect(r, o, e)) goto fail;
    int64_t id = r->next_id++;
    if (rec_set_str(hello, "kind", "remask_hello") || rec_set_int(hello, "v", 1) || rec_set_int(hello, "id", id) ||
        (r->policy && rec_set_str(hello, "policy", r->policy))) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto fail;
    }
    if (!(rep = roundtrip(r, hello, id, "greeting", e))) goto fail;
    if (rec_kind_is(rep, "remask_error")) {
        rmw_chosen_parse(rep, NULL, 0, e);
        goto fail;
    }
    if (!rec_kind_is(rep, "remask_ready")) {
        lerr_set(e, EXIT_PEER, "remask service %s: unexpected greeting", r->endpoint);
        goto fail;
    }
    rec_get_bool(rep, "adaptive", &adaptive);
    name = rec_get_strdup(rep, "policy");
    rec_destroy(&hello);
    rec_destroy(&rep);
    char full[256];
    snprintf(full, sizeof full, "remote:%s@%s", name ? name : "?", o->endpoint);
    free(name);
    return rm_policy_from_ops(adaptive ? &REMOTE_ADAPTIVE_OPS : &REMOTE_OPS, r, full, e);
fail:
    rec_destroy(&hello);
    rec_destroy(&rep);
    remote_free(r);
    return NULL;
}
