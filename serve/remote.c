/* remote.c — the generation thread of `serve --remote FRONT`: each choice of a request is
 * sent to a cluster broker (denoise --broker; docs/cluster.md) as a "canvas" record (the
 * prompt ids followed by max_tokens masks, prompt_len), the way `denoise --remote` sends
 * records, and its answer is decoded when it comes back.
 *
 * The sampler options the request set travel with each row as the record's "sampler.*"
 * fields (docs/protocol.md), which the worker resolves above its command line, as a local
 * server resolves them above the model's generation_config.json; with a seed, a row also
 * carries its choice index, so its draws are keyed exactly as the local server keys them
 * (the same tokens for the same seed); without one, by the sequence number this thread gives
 * each row. What a cluster cannot do that the local path does: a streamed choice arrives
 * whole when its worker answers (no stream_steps), diffusion.cache is the workers' command
 * line (both refused in generate.c), and a cancelled request's rows run to the end on their
 * worker (the answers are discarded). At most --batch rows are in
 * flight; a broker silent for --timeout while answers are due fails those requests (504).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "serve.h"
#include "net.h"
#include "net_curve.h"

typedef struct {
    sjob_t *job;
    int row;
    uint64_t seq;
} flight_t;

typedef struct {
    serve_t *sv;
    void *sock;
    flight_t *f;
    int nf, cap;
    uint64_t seq;
    long long last_in;
    buf_t buf;
} remote_t;

static void drop_flight(remote_t *r, int i) {
    job_unref(&r->f[i].job);
    r->f[i] = r->f[--r->nf];
}

/* Fail job j and forget its rows in flight. */
static void fail_job(remote_t *r, sjob_t *j, int status, const char *msg) {
    job_fail(j, status, "server_error", "cluster: %s", msg);
    for (int i = r->nf - 1; i >= 0; i--)
        if (r->f[i].job == j) drop_flight(r, i);
}

static int send_row(remote_t *r, sjob_t *j, int row, lerr_t *e) {
    int p = row / j->n, pl = j->prompt_len[p], L = pl + j->gen;
    int32_t *t = malloc((size_t)L * sizeof *t);
    rec_t *rec = rec_new();
    int rc = -1;
    if (!t || !rec) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto out;
    }
    memcpy(t, j->prompt[p], (size_t)pl * sizeof *t);
    for (int i = pl; i < L; i++) t[i] = j->mask_id;
    r->buf.len = 0;
    const sampler_opts_t *o = &j->so;
    if (rec_set_str(rec, "kind", "canvas") || rec_set_int(rec, "v", 1) || !rec_set_i32(rec, "tokens", t, (size_t)L) ||
        rec_set_int(rec, "prompt_len", pl) || (j->fwd.steps && rec_set_int(rec, "sampler.steps", o->steps)) ||
        (j->fwd.block && rec_set_int(rec, "sampler.block_length", o->block_length)) ||
        (j->fwd.temp && rec_set_f64(rec, "sampler.temperature", o->temperature)) ||
        (j->fwd.cfg && rec_set_f64(rec, "sampler.cfg", o->cfg_scale)) ||
        (j->fwd.policy && rec_set_str(rec, "sampler.remasking", j->policy)) ||
        (j->fwd.leos && rec_set_bool(rec, "sampler.logits_eos_inf", o->logits_eos_inf)) ||
        (j->fwd.ceos && rec_set_bool(rec, "sampler.confidence_eos_eot_inf", o->conf_eos_eot_inf)) ||
        (j->fwd.feos && rec_set_bool(rec, "sampler.fixed_eos", o->fixed_eos)) ||
        (j->fwd.seed &&
         (rec_set_int(rec, "sampler.seed", (int64_t)o->seed) || rec_set_int(rec, "sampler.index", row))) ||
        rec_encode(rec, &r->buf)) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto out;
    }
    uint8_t seq[8];
    dist_put64(seq, r->seq);
    const void *body[3] = {DIST_REQ, seq, r->buf.data};
    size_t len[3] = {3, 8, r->buf.len};
    if (net_send(r->sock, NULL, 0, body, len, 3, ZMQ_DONTWAIT, e)) goto out;
    job_ref(j);
    r->f[r->nf++] = (flight_t){j, row, r->seq++};
    rc = 0;
out:
    free(t);
    rec_destroy(&rec);
    return rc;
}

/* A REP or ERR for a sequence number. */
static void on_answer(remote_t *r, net_msg_t *m) {
    uint64_t seq = dist_get64(net_frame_data(m, 1));
    int i = 0;
    while (i < r->nf && r->f[i].seq != seq) i++;
    if (i == r->nf) return; /* a cancelled or failed request's answer */
    sjob_t *j = r->f[i].job;
    const uint8_t *p = net_frame_data(m, 2);
    size_t n = net_frame_size(m, 2);
    if (!memcmp(net_frame_data(m, 0), DIST_ERR, 3)) {
        char msg[300];
        snprintf(msg, sizeof msg, "%.*s", n > 1 ? (int)(n - 1) : 5, n > 1 ? (const char *)p + 1 : "error");
        fail_job(r, j, n && p[0] == EXIT_DATA ? 400 : 502, msg);
        return;
    }
    lerr_t e = {0};
    rec_t *res = rec_decode(p, n, &REC_LIMITS_DEFAULT, 0, &e);
    tensor_t *t = res ? rec_need_tensor(res, "tokens", DT_I32, 1, &e) : NULL;
    int64_t nfe = 0;
    if (!t || t->numel != (size_t)j->gen) {
        fail_job(r, j, 502, t ? "answer of the wrong length" : e.msg);
    } else {
        rec_get_int(res, "nfe", &nfe);
        pthread_mutex_lock(&r->sv->tok_mu);
        job_row_update(j, r->sv->b, r->f[i].row, t->data, t->numel, true, (int)nfe);
        pthread_mutex_unlock(&r->sv->tok_mu);
        drop_flight(r, i);
    }
    rec_destroy(&res);
}

static void receive(remote_t *r) {
    net_msg_t m;
    lerr_t e = {0};
    while (net_recv(r->sock, &m, ZMQ_DONTWAIT, &e) == 0) {
        r->last_in = net_now_ms();
        if (m.n == 3 && net_frame_size(&m, 0) == 3 && net_frame_size(&m, 1) == 8 &&
            (!memcmp(net_frame_data(&m, 0), DIST_REP, 3) || !memcmp(net_frame_data(&m, 0), DIST_ERR, 3)))
            on_answer(r, &m);
        net_msg_close(&m);
    }
}

static void loop(remote_t *r) {
    serve_t *sv = r->sv;
    sjob_t *jobs[1];
    while (!sched_stopping(&sv->sched)) {
        if (r->nf < sv->max_batch && sched_take(&sv->sched, jobs, 1, sv->max_batch - r->nf, r->nf ? 0 : 50) == 1) {
            lerr_t e = {0};
            if (!r->nf) r->last_in = net_now_ms(); /* the silence clock runs only while answers are due */
            for (int row = 0; row < jobs[0]->rows; row++)
                if (send_row(r, jobs[0], row, &e)) {
                    fail_job(r, jobs[0], 503, e.msg);
                    break;
                }
            atomic_fetch_add(&sv->sched.served, 1);
            job_unref(&jobs[0]);
        }
        for (int i = r->nf - 1; i >= 0; i--) /* the client went away: forget its rows */
            if (i < r->nf && atomic_load(&r->f[i].job->cancelled)) {
                atomic_fetch_add(&sv->sched.cancelled_rows, 1);
                drop_flight(r, i);
            }
        atomic_store(&sv->sched.rows_running, r->nf);
        if (!r->nf) continue;
        if (net_wait(r->sock, 20) < 0 && errno != EINTR) break;
        receive(r);
        if (r->nf && net_now_ms() - r->last_in > sv->timeout_ms) {
            char msg[160];
            snprintf(msg, sizeof msg, "broker %s silent for %d ms", sv->dist->remote, sv->timeout_ms);
            while (r->nf) fail_job(r, r->f[0].job, 504, msg);
        }
    }
    while (r->nf) fail_job(r, r->f[0].job, 503, "the server is shutting down");
}

void *serve_remote_thread(void *arg) {
    remote_t r = {.sv = arg};
    serve_t *sv = r.sv;
    lerr_t e = {0};
    void *ctx = zmq_ctx_new();
    r.sock = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    r.cap = sv->max_batch + sv->lim.max_n; /* a job may overshoot the free slots */
    r.f = calloc((size_t)r.cap, sizeof *r.f);
    if (r.sock && r.f) {
        net_sockopts(r.sock, 256LL << 20);
        if ((sv->dist->key && net_curve_client(r.sock, sv->dist->key, sv->dist->server_key, &e)) ||
            zmq_connect(r.sock, sv->dist->remote)) {
            if (!e.code) lerr_set(&e, EXIT_USAGE, "cannot connect to %s: %s", sv->dist->remote, zmq_strerror(errno));
            fprintf(stderr, "serve: error: %s\n", e.msg);
        } else {
            loop(&r);
        }
    }
    if (r.sock) zmq_close(r.sock);
    if (ctx) zmq_ctx_term(ctx);
    free(r.f);
    buf_free(&r.buf);
    /* a thread that cannot reach the broker answers every request with 502 */
    sjob_t *j[1];
    while (!sched_stopping(&sv->sched) && sched_take(&sv->sched, j, 1, 1, -1) == 1) {
        job_fail(j[0], 502, "server_error", "cluster unavailable: %s", e.msg);
        job_unref(&j[0]);
    }
    return NULL;
}
