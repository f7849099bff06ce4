/* serve.c — the remask service loop (see serve.h). Each request is decoded with the record
 * limits, answered from a small cache of policies keyed by name, and replied to through
 * the same envelope, so REQ, DEALER and ROUTER clients all work. Bad requests get a
 * remask_error reply; they never stop the service. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "serve.h"
#include "wire.h"
#include "net_curve.h"
#include "net.h"
#include "stream.h"

enum { CACHE = 16 };

typedef struct {
    const rm_serve_opts_t *o;
    void *sock;
    rec_limits_t lim;
    char *names[CACHE];
    rm_policy_t *pols[CACHE];
    int32_t *out;
    int out_cap;
    buf_t buf;
} server_t;

static rm_policy_t *policy_for(server_t *s, const rec_t *req, lerr_t *e) {
    const char *name;
    size_t len;
    char nm[128];
    if (rec_get_str(req, "policy", &name, &len)) {
        name = s->o->policy;
        len = strlen(name);
    }
    if (len >= sizeof nm) {
        lerr_set(e, EXIT_DATA, "policy name too long");
        return NULL;
    }
    memcpy(nm, name, len);
    nm[len] = 0;
    int i = 0;
    for (; i < CACHE && s->names[i]; i++)
        if (!strcmp(s->names[i], nm)) return s->pols[i];
    rm_policy_t *p = rm_policy_new(nm, e);
    if (!p) return NULL;
    if (i == CACHE) {
        i = CACHE - 1;
        free(s->names[i]);
        rm_policy_destroy(&s->pols[i]);
    }
    s->names[i] = strdup(nm);
    s->pols[i] = p;
    return p;
}

static rec_t *answer_select(server_t *s, const rec_t *req, int64_t id, lerr_t *e) {
    rm_state_t st;
    rm_cand_t *c;
    int n;
    rm_policy_t *p = policy_for(s, req, e);
    if (!p || rmw_select_parse(req, &st, &c, &n, e)) return NULL;
    if (n > s->out_cap) {
        int32_t *o = realloc(s->out, (size_t)n * sizeof *o);
        if (!o) {
            free(c);
            lerr_set(e, EXIT_INTERNAL, "out of memory");
            return NULL;
        }
        s->out = o;
        s->out_cap = n;
    }
    int k = rm_policy_select(p, &st, c, n, s->out, e);
    free(c);
    if (k < 0) return NULL;
    rec_t *r = rec_new();
    if (!r || rec_set_str(r, "kind", "remask_chosen") || rec_set_int(r, "v", 1) || rec_set_int(r, "id", id) ||
        !rec_set_i32(r, "chosen", s->out, (size_t)k)) {
        rec_destroy(&r);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    return r;
}

static rec_t *answer_hello(server_t *s, const rec_t *req, int64_t id, lerr_t *e) {
    rm_policy_t *p = policy_for(s, req, e);
    if (!p) return NULL;
    rec_t *r = rec_new();
    if (!r || rec_set_str(r, "kind", "remask_ready") || rec_set_int(r, "v", 1) || rec_set_int(r, "id", id) ||
        rec_set_str(r, "policy", rm_policy_name(p)) || rec_set_bool(r, "adaptive", rm_policy_adaptive(p))) {
        rec_destroy(&r);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    return r;
}

/* Handle one message; returns 1 when a request was answered, 0 when dropped. */
static int handle(server_t *s, net_msg_t *m) {
    lerr_t e = {0};
    int64_t id = -1;
    rec_t *rep = NULL, *req = rec_decode(net_frame_data(m, m->n - 1), net_frame_size(m, m->n - 1), &s->lim, 0, &e);
    if (req) {
        rec_get_int(req, "id", &id);
        if (rec_kind_is(req, "remask_select")) rep = answer_select(s, req, id, &e);
        else if (rec_kind_is(req, "remask_hello")) rep = answer_hello(s, req, id, &e);
        else lerr_set(&e, EXIT_DATA, "unknown request kind (want remask_hello or remask_select)");
    }
    if (!rep) rep = rmw_error_new(id, e.code ? e.code : EXIT_INTERNAL, e.msg);
    rec_destroy(&req);
    s->buf.len = 0;
    if (!rep || rec_encode(rep, &s->buf)) {
        rec_destroy(&rep);
        return 0;
    }
    rec_destroy(&rep);
    const void *body[1] = {s->buf.data};
    size_t len[1] = {s->buf.len};
    lerr_t se = {0};
    return net_send(s->sock, m, m->n - 1, body, len, 1, ZMQ_DONTWAIT, &se) == 0;
}

static int server_open(server_t *s, net_zap_t **zap, lerr_t *e) {
    const rm_serve_opts_t *o = s->o;
    s->sock = zmq_socket(stream_zmq_ctx(), ZMQ_ROUTER);
    if (!s->sock) return lerr_set(e, EXIT_INTERNAL, "socket: %s", zmq_strerror(errno));
    net_sockopts(s->sock, o->max_msg);
    if (o->key_file) {
        if (!o->allow) return lerr_set(e, EXIT_USAGE, "--key needs --allow (the client public keys to admit)");
        if (!(*zap = net_zap_start(o->allow, e)) || net_curve_server(s->sock, o->key_file, e)) return -1;
    }
    if (zmq_bind(s->sock, o->endpoint))
        return lerr_set(e, EXIT_IO, "cannot bind %s: %s", o->endpoint, zmq_strerror(errno));
    return 0;
}

int rm_serve(const rm_serve_opts_t *o, long long *answered, lerr_t *e) {
    server_t s = {.o = o, .lim = REC_LIMITS_DEFAULT};
    net_zap_t *zap = NULL;
    int rc = -1;
    *answered = 0;
    if (o->max_msg > 0) s.lim.max_record_bytes = (size_t)o->max_msg;
    lerr_t pe = {0};
    rm_policy_t *probe = rm_policy_new(o->policy, &pe); /* reject a bad default at start */
    if (!probe) {
        *e = pe;
        return -1;
    }
    rm_policy_destroy(&probe);
    if (server_open(&s, &zap, e)) goto out;
    if (o->ready) {
        char ep[256];
        size_t len = sizeof ep;
        if (zmq_getsockopt(s.sock, ZMQ_LAST_ENDPOINT, ep, &len)) snprintf(ep, sizeof ep, "%s", o->endpoint);
        o->ready(ep, o->ready_arg);
    }
    while (!(o->stop && *o->stop) && !(o->max_requests && *answered >= o->max_requests)) {
        int w = net_wait(s.sock, 200);
        if (w <= 0) continue;
        net_msg_t m;
        lerr_t re = {0};
        if (net_recv(s.sock, &m, ZMQ_DONTWAIT, &re)) continue;
        if (m.n >= 2) *answered += handle(&s, &m);
        net_msg_close(&m);
    }
    rc = 0;
out:
    if (s.sock) zmq_close(s.sock);
    net_zap_stop(&zap);
    for (int i = 0; i < CACHE; i++) {
        free(s.names[i]);
        rm_policy_destroy(&s.pols[i]);
    }
    free(s.out);
    buf_free(&s.buf);
    return rc;
}
