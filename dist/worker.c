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
    atomic_int busy;     /* jobs held by the compute thread */
    atomic_int stop, io_done;
    atomic_llong progress;   /* last sampler step or batch end of the compute thread, ms */
    long long hang_ms;       /* compute silent this long while holding jobs: stop heartbeating */
    net_hsmon_t *hs;          /* handshake failures on the current broker socket */
    char rid[96];            /* routing id, fixed for the process */
    size_t rid_len;
    char err[512];
} wio_t;

static void *broker_socket(wio_t *w, lerr_t *e) {
    void *s = zmq_socket(w->ctx, ZMQ_DEALER);
    if (!s) { lerr_set(e, EXIT_INTERNAL, "socket: %s", zmq_strerror(errno)); return NULL; }
    net_sockopts(s, 256LL << 20);
    zmq_setsockopt(s, ZMQ_ROUTING_ID, w->rid, w->rid_len);
    net_hsmon_free(&w->hs);
    if (!(w->hs = net_hsmon_new(w->ctx, s, "broker", false, e))) { zmq_close(s); return NULL; }
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
        if (net_hsmon_poll(w->hs, hmsg, sizeof hmsg)) {   /* not transient: the worker ends (exit 4) */
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
                if (!hung) fprintf(stderr, "denoise: worker: no generation step for %lld ms; heartbeats stopped\n", w->hang_ms);
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

typedef struct { wio_t *w; void *pair; } io_arg_t;
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
    char fatal[512];       /* set when the worker itself failed: it exits, the broker moves its jobs */
    int fatal_code;
    buf_t buf;
} wcomp_t;

typedef struct {
    uint8_t id[8];
    rec_t *r;
    rec_canvas_t rc;
    int64_t seq;
} wjob_t;

static void reply(wcomp_t *c, const uint8_t *id, const rec_t *r, int code, const char *msg) {
    lerr_t e = {0};
    uint8_t eb[300];
    const void *body[3] = {r ? DIST_REP : DIST_ERR, id, eb};
    size_t len[3] = {3, 8, 0};
    if (r) {
        c->buf.len = 0;
        if (rec_encode(r, &c->buf)) { reply(c, id, NULL, EXIT_INTERNAL, "out of memory encoding a result"); return; }
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
    (void)step; (void)steps;
    atomic_store((atomic_llong *)arg, net_now_ms());
}

/* Generate jobs[0..n) (all of the same generation length) as one batch. */
static void run_batch(wcomp_t *c, wjob_t *jobs, int n) {
    lerr_t e = {0};
    rec_canvas_t rc[n];
    int64_t idx[n];
    for (int j = 0; j < n; j++) { rc[j] = jobs[j].rc; idx[j] = jobs[j].seq; }
    so_resolved_t r;
    canvas_batch_t cb;
    if (so_resolve(c->spec, rc[0].canvas ? rc[0].gen : 0, &r, &e) || canvas_batch_build(&cb, rc, idx, n, c->m, &e)) {
        for (int j = 0; j < n; j++) reply(c, jobs[j].id, NULL, EXIT_DATA, e.msg);
        return;
    }
    int rcode = sampler_run(c->m, c->pol, &r.so, &cb, on_step, c->progress, &e);
    atomic_store(c->progress, net_now_ms());
    if (rcode && e.code != EXIT_DATA) {   /* the worker is at fault, not the request */
        snprintf(c->fatal, sizeof c->fatal, "%s", e.msg);
        c->fatal_code = e.code;
        canvas_batch_free(&cb);
        return;
    }
    for (int j = 0; j < n; j++) {
        lerr_t je = {0};
        if (rcode || canvas_batch_result(&cb, j, &rc[j], jobs[j].r, &je)) reply(c, jobs[j].id, NULL, rcode ? e.code : je.code, rcode ? e.msg : je.msg);
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
    if (j->r && !e.code && rec_canvas_parse(j->r, c->m, c->spec->cli.gen_length, &j->rc, &e) == 0 && j->rc.gen > 0) return 0;
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
        int w = net_wait(c->pair, 200);                 /* the first job */
        if (atomic_load(c->io_done)) break;
        if (w <= 0 || net_recv(c->pair, &m, ZMQ_DONTWAIT, &e)) continue;
        atomic_store(c->progress, net_now_ms());
        do {
            if (m.n == 4 && net_frame_size(&m, 1) == 8 && net_frame_size(&m, 2) == 8 && take_job(c, &m, &jobs[n]) == 0) n++;
            net_msg_close(&m);
        } while (n < slots && net_recv(c->pair, &m, ZMQ_DONTWAIT, &e) == 0);
        while (n > 0) {   /* one sampler batch per generation length */
            wjob_t grp[n];
            int k = 0, rest = 0, gen = jobs[0].rc.gen;
            for (int j = 0; j < n; j++) {
                if (jobs[j].rc.gen == gen) grp[k++] = jobs[j];
                else jobs[rest++] = jobs[j];
            }
            run_batch(c, grp, k);
            for (int j = 0; j < k; j++) rec_destroy(&grp[j].r);
            n = rest;
            if (c->fatal[0]) { for (int j = 0; j < n; j++) rec_destroy(&jobs[j].r); free(jobs); return; }
        }
    }
    free(jobs);
}

int dist_worker(const dist_opts_t *d, cli_t *cli, const model_t *m, rm_policy_t *pol,
                const so_spec_t *spec, int slots) {
    wio_t w = {.d = d, .slots = slots, .hb = d->heartbeat_ms > 0 ? d->heartbeat_ms : 1000,
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
    wcomp_t c = {.m = m, .pol = pol, .spec = spec, .pair = a,
                 .io_done = &w.io_done, .progress = &w.progress};
    compute_loop(&c, slots);   /* returns when the I/O thread is gone or the worker failed */
    if (c.fatal[0]) cli_dief(cli, c.fatal_code ? c.fatal_code : EXIT_INTERNAL, "worker: %s", c.fatal);
    pthread_join(th, NULL);
    buf_free(&c.buf);
    zmq_close(a);
    zmq_ctx_term(w.ctx);
    if (w.err[0]) cli_dief(cli, EXIT_PEER, "worker: %s", w.err);
    return EXIT_OK;
}
