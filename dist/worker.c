/* worker.c — a cluster worker: `denoise --worker tcp://broker:5556` owns one model (CPU or
 * GPU) and generates for the broker.
 *
 * Two threads. The I/O thread owns the DEALER socket to the broker: it announces READY
 * with the number of batch slots (--batch), sends a heartbeat carrying the free slots every
 * interval (also while the model is busy, so a long generation is not mistaken for a hang),
 * passes jobs to the compute thread over an inproc pair, and sends results back. A broker
 * silent for DIST_LIVENESS intervals is presumed gone: the socket is recreated and READY
 * sent again (Paranoid Pirate). The compute thread (the caller) takes every job waiting,
 * up to the slots, parses them, and runs one sampler batch per generation length; the
 * stream index of a request (its client sequence number) seeds its randomness, so a
 * result equals the single-process result for the same input position.
 * Identity: the DEALER socket carries a routing id fixed for the life of the process
 * (host, pid, random), so a worker that reconnects (after a broker silence, or woken from
 * SIGSTOP) is recognised by the broker: its READY replaces the old registration instead of
 * leaving a stale duplicate beside it. Time the I/O thread itself did not run (SIGSTOP, a
 * starved CPU) does not count as broker silence: the clock restarts after such a stall.
 * Hang detection: the compute thread stamps every sampler step; while it holds jobs and
 * has made no step for --timeout ms, the I/O thread stops heartbeating, so the broker
 * declares the worker dead and moves its requests (a process that is alive but stuck).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "dist.h"
#include "denoise/records.h"
#include "net_curve.h"
#include "net.h"

typedef struct {
    const dist_opts_t *d;
    void *ctx;
    int slots, hb;
    atomic_int busy; /* jobs held by the compute thread */
    atomic_int stop, io_done;
    atomic_llong progress; /* last sampler step or batch end of the compute thread, ms */
    long long hang_ms;     /* compute silent this long while holding jobs: stop heartbeating */
    net_hsmon_t *hs;       /* handshake failures on the current broker socket */
    char rid[96];          /* routing id, fixed for the process */
    size_t rid_len;
    char err[512];
} wio_t;

static void *broker_socket(wio_t *w, lerr_t *e) {
    void *s = zmq_socket(w->ctx, ZMQ_DEALER);
    if (!s) {
        lerr_set(e, EXIT_INTERNAL, "socket: %s", zmq_strerror(errno));
        return NULL;
    }
    net_sockopts(s, 256LL << 20);
    zmq_setsockopt(s, ZMQ_ROUTING_ID, w->rid, w->rid_len);
    net_hsmon_free(&w->hs);
    if (!(w->hs = net_hsmon_new(w->ctx, s, "broker", false, e))) {
        zmq_close(s);
        return NULL;
    }
    if ((w->d->key && net_curve_client(s, w->d->key, w->d->server_key, e)) || zmq_connect(s, w->d->worker)) {
        if (!e->code) lerr_set(e, EXIT_USAGE, "cannot connect to %s: %s", w->d->worker, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    uint8_t n[4], hb[4];
    dist_put32(n, (uint32_t)w->slots);
    dist_put32(hb, (uint32_t)w->hb);
    const void *body[3] = {DIST_READY, n, hb};
    size_t len[3] = {5, 4, 4};
    net_send(s, NULL, 0, body, len, 3, ZMQ_DONTWAIT, e);
    return s;
}

static void send_hb(wio_t *w, void *s) {
    int fr = w->slots - atomic_load(&w->busy);
    uint8_t n[4];
    dist_put32(n, (uint32_t)(fr < 0 ? 0 : fr));
    const void *body[2] = {DIST_HB, n};
    size_t len[2] = {2, 4};
    lerr_t e = {0};
    net_send(s, NULL, 0, body, len, 2, ZMQ_DONTWAIT, &e);
}

/* Move one message between the sockets: broker JOB -> pair, pair REP/ERR -> broker. */
static void io_loop(wio_t *w, void *pair) {
    lerr_t e = {0};
    void *s = broker_socket(w, &e);
    long long last_in = net_now_ms(), next_hb = last_in + w->hb, last_loop = last_in;
    bool hung = false;
    while (s && !atomic_load(&w->stop)) {
        long long now = net_now_ms();
        /* poll never waits longer than one interval, so a gap over two is a stall of this
         * thread (SIGSTOP, a starved CPU): not the broker's silence */
        if (now - last_loop > 2LL * w->hb) last_in += now - last_loop - w->hb;
        last_loop = now;
        zmq_pollitem_t it[2] = {{s, 0, ZMQ_POLLIN, 0}, {pair, 0, ZMQ_POLLIN, 0}};
        long wait = (long)(next_hb - net_now_ms());
        if (zmq_poll(it, 2, wait > 0 ? wait : 0) < 0 && errno != EINTR) break;
        net_msg_t m;
        char hmsg[300];
        if (net_hsmon_poll(w->hs, hmsg, sizeof hmsg)) { /* not transient: the worker ends (exit 4) */
            snprintf(w->err, sizeof w->err, "%s", hmsg);
            break;
        }
        if (it[0].revents && net_recv(s, &m, ZMQ_DONTWAIT, &e) == 0) {
            last_in = net_now_ms();
            if (m.n == 4 && net_frame_size(&m, 0) == 3 && !memcmp(net_frame_data(&m, 0), DIST_JOB, 3)) {
                atomic_fetch_add(&w->busy, 1);
                net_send(pair, &m, 4, NULL, NULL, 0, 0, &e);
            }
            net_msg_close(&m);
        }
        if (it[1].revents && net_recv(pair, &m, ZMQ_DONTWAIT, &e) == 0) {
            atomic_fetch_sub(&w->busy, 1);
            net_send(s, &m, m.n, NULL, NULL, 0, ZMQ_DONTWAIT, &e);
            net_msg_close(&m);
        }
        if (net_now_ms() >= next_hb) {
            if (net_now_ms() - last_in > (long long)DIST_LIVENESS * w->hb) {
                fprintf(stderr, "denoise: worker: broker %s silent; reconnecting\n", w->d->worker);
                zmq_close(s);
                s = broker_socket(w, &e);
                last_in = net_now_ms();
            } else if (atomic_load(&w->busy) > 0 && net_now_ms() - atomic_load(&w->progress) > w->hang_ms) {
                /* the model is stuck (a hung GPU call...): stay silent so the broker moves the work */
                if (!hung)
                    fprintf(stderr, "denoise: worker: no generation step for %lld ms; heartbeats stopped\n",
                            w->hang_ms);
                hung = true;
            } else {
                hung = false;
                send_hb(w, s);
            }
            next_hb = net_now_ms() + w->hb;
        }
    }
    if (!s) snprintf(w->err, sizeof w->err, "%s", e.msg);
    net_hsmon_free(&w->hs);
    if (s) zmq_close(s);
}

typedef struct {
    wio_t *w;
    void *pair;
} io_arg_t;
static void *io_main(void *arg) {
    io_arg_t *a = arg;
    io_loop(a->w, a->pair);
    zmq_close(a->pair);
    atomic_store(&a->w->io_done, 1);
    return NULL;
}

/* ---- compute side ---- */

typedef struct {
    const model_t *m;
    rm_policy_t *pol;
    const so_spec_t *spec;
    void *pair;
    atomic_int *io_done;
    atomic_llong *progress;
    char fatal[512]; /* set when the worker itself failed: it exits, the broker moves its jobs */
    int fatal_code;
    buf_t buf;
} wcomp_t;

/* A request's own sampler options (serve --remote forwards an HTTP request's; docs/protocol.md
 * "sampler.*" fields of a canvas record): above the worker's command line. */
enum { WO_STEPS, WO_BLOCK, WO_TEMP, WO_CFG, WO_POLICY, WO_LEOS, WO_CEOS, WO_FEOS, WO__N };
typedef struct {
    bool has[WO__N];
    int64_t steps, block;
    double temp, cfg;
    bool leos, ceos, feos;
    char policy[72];
    bool has_seed, has_index; /* per row: not part of the batch key */
    int64_t seed, index;
} wopts_t;

typedef struct {
    uint8_t id[8];
    rec_t *r;
    rec_canvas_t rc;
    int64_t seq;
    wopts_t o;
} wjob_t;

/* Read and remove the record's sampler.* fields. -1 with e for a field of the wrong type. */
static int take_opts(rec_t *r, wopts_t *o, lerr_t *e) {
    memset(o, 0, sizeof *o);
    static const char *const ik[] = {"sampler.steps", "sampler.block_length"};
    int64_t *iv[] = {&o->steps, &o->block};
    for (int k = 0; k < 2; k++) {
        if (rec_get_raw(r, ik[k], &(const uint8_t *){0}, &(size_t){0})) continue;
        if (rec_get_int(r, ik[k], iv[k]) || *iv[k] < 1 || *iv[k] > (1 << 20))
            return lerr_set(e, EXIT_DATA, "%s must be a positive integer", ik[k]);
        o->has[k] = true;
        rec_del(r, ik[k]);
    }
    static const char *const fk[] = {"sampler.temperature", "sampler.cfg"};
    double *fv[] = {&o->temp, &o->cfg};
    for (int k = 0; k < 2; k++) {
        if (rec_get_raw(r, fk[k], &(const uint8_t *){0}, &(size_t){0})) continue;
        if (rec_get_f64(r, fk[k], fv[k]) || !(*fv[k] >= 0) || *fv[k] > 1e6)
            return lerr_set(e, EXIT_DATA, "%s must be a number >= 0", fk[k]);
        o->has[WO_TEMP + k] = true;
        rec_del(r, fk[k]);
    }
    static const char *const bk[] = {"sampler.logits_eos_inf", "sampler.confidence_eos_eot_inf", "sampler.fixed_eos"};
    bool *bv[] = {&o->leos, &o->ceos, &o->feos};
    for (int k = 0; k < 3; k++) {
        if (rec_get_raw(r, bk[k], &(const uint8_t *){0}, &(size_t){0})) continue;
        if (rec_get_bool(r, bk[k], bv[k])) return lerr_set(e, EXIT_DATA, "%s must be a boolean", bk[k]);
        o->has[WO_LEOS + k] = true;
        rec_del(r, bk[k]);
    }
    const char *s;
    size_t n;
    if (!rec_get_raw(r, "sampler.remasking", &(const uint8_t *){0}, &(size_t){0})) {
        if (rec_get_str(r, "sampler.remasking", &s, &n) || !n || n >= sizeof o->policy)
            return lerr_set(e, EXIT_DATA, "sampler.remasking must be a policy name");
        memcpy(o->policy, s, n);
        o->policy[n] = 0;
        o->has[WO_POLICY] = true;
        rec_del(r, "sampler.remasking");
    }
    static const char *const sk[] = {"sampler.seed", "sampler.index"};
    int64_t *sv[] = {&o->seed, &o->index};
    bool *sh[] = {&o->has_seed, &o->has_index};
    for (int k = 0; k < 2; k++) {
        if (rec_get_raw(r, sk[k], &(const uint8_t *){0}, &(size_t){0})) continue;
        if (rec_get_int(r, sk[k], sv[k]) || *sv[k] < 0)
            return lerr_set(e, EXIT_DATA, "%s must be an integer >= 0", sk[k]);
        *sh[k] = true;
        rec_del(r, sk[k]);
    }
    return 0;
}

/* Jobs that may share a sampler batch: the same generation length and options. */
static bool same_batch(const wjob_t *a, const wjob_t *b) {
    const wopts_t *x = &a->o, *y = &b->o;
    if (a->rc.gen != b->rc.gen || memcmp(x->has, y->has, sizeof x->has)) return false;
    return (!x->has[WO_STEPS] || x->steps == y->steps) && (!x->has[WO_BLOCK] || x->block == y->block) &&
           (!x->has[WO_TEMP] || x->temp == y->temp) && (!x->has[WO_CFG] || x->cfg == y->cfg) &&
           (!x->has[WO_POLICY] || !strcmp(x->policy, y->policy)) && (!x->has[WO_LEOS] || x->leos == y->leos) &&
           (!x->has[WO_CEOS] || x->ceos == y->ceos) && (!x->has[WO_FEOS] || x->feos == y->feos);
}

static void reply(wcomp_t *c, const uint8_t *id, const rec_t *r, int code, const char *msg) {
    lerr_t e = {0};
    uint8_t eb[300];
    const void *body[3] = {r ? DIST_REP : DIST_ERR, id, eb};
    size_t len[3] = {3, 8, 0};
    if (r) {
        c->buf.len = 0;
        if (rec_encode(r, &c->buf)) {
            reply(c, id, NULL, EXIT_INTERNAL, "out of memory encoding a result");
            return;
        }
        body[2] = c->buf.data;
        len[2] = c->buf.len;
    } else {
        eb[0] = (uint8_t)code;
        size_t n = strlen(msg) < sizeof eb - 1 ? strlen(msg) : sizeof eb - 1;
        memcpy(eb + 1, msg, n);
        len[2] = n + 1;
    }
    net_send(c->pair, NULL, 0, body, len, 3, 0, &e);
}

static void on_step(int step, int steps, void *arg) {
    (void)step;
    (void)steps;
    atomic_store((atomic_llong *)arg, net_now_ms());
}

/* Generate jobs[0..n) (same_batch with each other) as one batch. */
static void run_batch(wcomp_t *c, wjob_t *jobs, int n) {
    lerr_t e = {0};
    rec_canvas_t rc[n];
    int64_t idx[n];
    uint64_t seeds[n];
    bool any_seed = false;
    for (int j = 0; j < n; j++) {
        rc[j] = jobs[j].rc;
        idx[j] = jobs[j].o.has_index ? jobs[j].o.index : jobs[j].seq;
        any_seed |= jobs[j].o.has_seed;
    }
    /* the request's options stand where the worker's command line does */
    static const char *const names[SO__N] = {[SO_GEN] = "--gen-length",
                                             [SO_STEPS] = "sampler.steps",
                                             [SO_BLOCK] = "sampler.block_length",
                                             [SO_TEMP] = "sampler.temperature"};
    so_spec_t spec = *c->spec;
    const wopts_t *o = &jobs[0].o;
    bool own = false;
    for (int k = 0; k < WO__N; k++) own |= o->has[k];
    if (own) spec.names = names;
    if (o->has[WO_STEPS]) {
        spec.cli.steps = (int)o->steps;
        spec.set[SO_STEPS] = true;
    }
    if (o->has[WO_BLOCK]) {
        spec.cli.block_length = (int)o->block;
        spec.set[SO_BLOCK] = true;
    }
    if (o->has[WO_TEMP]) {
        spec.cli.temperature = o->temp;
        spec.set[SO_TEMP] = true;
    }
    if (o->has[WO_CFG]) spec.cli.cfg_scale = o->cfg;
    if (o->has[WO_LEOS]) spec.cli.logits_eos_inf = o->leos;
    if (o->has[WO_CEOS]) spec.cli.conf_eos_eot_inf = o->ceos;
    if (o->has[WO_FEOS]) spec.cli.fixed_eos = o->feos;
    so_resolved_t r;
    canvas_batch_t cb;
    rm_policy_t *pol = c->pol, *own_pol = NULL;
    if (o->has[WO_POLICY] && !(pol = own_pol = rm_policy_new(o->policy, &e))) {
        for (int j = 0; j < n; j++) reply(c, jobs[j].id, NULL, EXIT_DATA, e.msg);
        return;
    }
    if (so_resolve(&spec, rc[0].canvas ? rc[0].gen : 0, &r, &e) || canvas_batch_build(&cb, rc, idx, n, c->m, &e)) {
        for (int j = 0; j < n; j++) reply(c, jobs[j].id, NULL, EXIT_DATA, e.msg);
        rm_policy_destroy(&own_pol);
        return;
    }
    for (int j = 0; j < n; j++) seeds[j] = jobs[j].o.has_seed ? (uint64_t)jobs[j].o.seed : r.so.seed;
    if (any_seed) cb.seed = seeds;
    int rcode = sampler_run(c->m, pol, &r.so, &cb, on_step, c->progress, &e);
    rm_policy_destroy(&own_pol);
    atomic_store(c->progress, net_now_ms());
    if (rcode && e.code != EXIT_DATA) { /* the worker is at fault, not the request */
        snprintf(c->fatal, sizeof c->fatal, "%s", e.msg);
        c->fatal_code = e.code;
        canvas_batch_free(&cb);
        return;
    }
    for (int j = 0; j < n; j++) {
        lerr_t je = {0};
        if (rcode || canvas_batch_result(&cb, j, &rc[j], jobs[j].r, &je))
            reply(c, jobs[j].id, NULL, rcode ? e.code : je.code, rcode ? e.msg : je.msg);
        else reply(c, jobs[j].id, jobs[j].r, 0, NULL);
    }
    canvas_batch_free(&cb);
}

/* Parse a JOB message [JOB][id][seq][record] into j; replies an error and returns -1. */
static int take_job(wcomp_t *c, net_msg_t *m, wjob_t *j) {
    lerr_t e = {0};
    memcpy(j->id, net_frame_data(m, 1), 8);
    j->seq = (int64_t)dist_get64(net_frame_data(m, 2));
    j->r = rec_decode(net_frame_data(m, 3), net_frame_size(m, 3), &REC_LIMITS_DEFAULT, 0, &e);
    if (j->r && (!rec_kind_is(j->r, "tokens") && !rec_kind_is(j->r, "canvas")))
        lerr_set(&e, EXIT_DATA, "expected a \"tokens\" or \"canvas\" record");
    if (j->r && !e.code && take_opts(j->r, &j->o, &e) == 0 &&
        rec_canvas_parse(j->r, c->m, c->spec->cli.gen_length, &j->rc, &e) == 0 && j->rc.gen > 0)
        return 0;
    if (!e.code) lerr_set(&e, EXIT_DATA, "nothing to generate");
    lerr_wrap(&e, "record %lld", (long long)j->seq);
    reply(c, j->id, NULL, e.code, e.msg);
    rec_destroy(&j->r);
    return -1;
}

static void compute_loop(wcomp_t *c, int slots) {
    wjob_t *jobs = calloc((size_t)slots, sizeof *jobs);
    if (!jobs) return;
    for (;;) {
        int n = 0;
        net_msg_t m;
        lerr_t e = {0};
        int w = net_wait(c->pair, 200); /* the first job */
        if (atomic_load(c->io_done)) break;
        if (w <= 0 || net_recv(c->pair, &m, ZMQ_DONTWAIT, &e)) continue;
        atomic_store(c->progress, net_now_ms());
        do {
            if (m.n == 4 && net_frame_size(&m, 1) == 8 && net_frame_size(&m, 2) == 8 && take_job(c, &m, &jobs[n]) == 0)
                n++;
            net_msg_close(&m);
        } while (n < slots && net_recv(c->pair, &m, ZMQ_DONTWAIT, &e) == 0);
        while (n > 0) { /* one sampler batch per generation length and request options */
            wjob_t grp[n];
            int k = 0, rest = 0;
            wjob_t first = jobs[0];
            for (int j = 0; j < n; j++) {
                if (same_batch(&jobs[j], &first)) grp[k++] = jobs[j];
                else jobs[rest++] = jobs[j];
            }
            run_batch(c, grp, k);
            for (int j = 0; j < k; j++) rec_destroy(&grp[j].r);
            n = rest;
            if (c->fatal[0]) {
                for (int j = 0; j < n; j++) rec_destroy(&jobs[j].r);
                free(jobs);
                return;
            }
        }
    }
    free(jobs);
}

int dist_worker(const dist_opts_t *d, cli_t *cli, const model_t *m, rm_policy_t *pol, const so_spec_t *spec,
                int slots) {
    wio_t w = {.d = d,
               .slots = slots,
               .hb = d->heartbeat_ms > 0 ? d->heartbeat_ms : 1000,
               .hang_ms = cli->sopts.timeout_ms > 0 ? cli->sopts.timeout_ms : 60000};
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int n = snprintf(w.rid, sizeof w.rid, "worker-%.40s-%ld-%08lx", host, (long)getpid(),
                     (unsigned long)((uint64_t)ts.tv_nsec * 2654435761u ^ (uint64_t)ts.tv_sec) & 0xffffffffUL);
    w.rid_len = n < 0 ? 0 : (size_t)n < sizeof w.rid ? (size_t)n : sizeof w.rid - 1;
    atomic_store(&w.progress, net_now_ms());
    w.ctx = zmq_ctx_new();
    void *a = zmq_socket(w.ctx, ZMQ_PAIR), *b = zmq_socket(w.ctx, ZMQ_PAIR);
    if (!a || !b || zmq_bind(a, "inproc://worker") || zmq_connect(b, "inproc://worker"))
        cli_dief(cli, EXIT_INTERNAL, "worker sockets: %s", zmq_strerror(errno));
    io_arg_t ia = {&w, b};
    pthread_t th;
    if (pthread_create(&th, NULL, io_main, &ia)) cli_dief(cli, EXIT_INTERNAL, "cannot start the worker I/O thread");
    cli_notice(cli, "worker: %d slots, broker %s", slots, d->worker);
    wcomp_t c = {.m = m, .pol = pol, .spec = spec, .pair = a, .io_done = &w.io_done, .progress = &w.progress};
    compute_loop(&c, slots); /* returns when the I/O thread is gone or the worker failed */
    if (c.fatal[0]) cli_dief(cli, c.fatal_code ? c.fatal_code : EXIT_INTERNAL, "worker: %s", c.fatal);
    pthread_join(th, NULL);
    buf_free(&c.buf);
    zmq_close(a);
    zmq_ctx_term(w.ctx);
    if (w.err[0]) cli_dief(cli, EXIT_PEER, "worker: %s", w.err);
    return EXIT_OK;
}
