/* broker.c — the cluster broker: clients (ROUTER frontend) send generation requests,
 * workers (ROUTER backend) announce free batch slots, the broker hands each request to the
 * live worker with the most free capacity (ZeroMQ Guide load-balancing broker + Paranoid
 * Pirate heartbeats + credit flow control).
 *
 * Guarantees (tests/e2e/cluster*.sh): a request stays in the broker until its worker
 * replies; a worker silent for DIST_LIVENESS heartbeats (dead, SIGSTOPped, cut off) loses
 * its requests, which go back to the front of the queue; a reply is forwarded only from
 * the worker that currently holds the request, so a late answer from a worker declared
 * dead is dropped, and each request is answered exactly once. A request that kills
 * MAX_TRIES workers is answered with an error instead of killing the whole cluster.
 * A worker that heartbeats but does not answer (a hung model behind a live I/O thread, or an
 * impostor) is caught by the per-request deadline (--request-timeout): a request held past it
 * goes back to the queue for another worker (the late answer, if any, is dropped), and a
 * worker that misses the deadline twice is dropped.
 * Queued requests are bounded (--queue): beyond it the broker stops reading clients and
 * ZeroMQ's high-water marks push back to them.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "dist.h"
#include "net_curve.h"
#include "net.h"
#include "stream.h"

enum { MAX_TRIES = 3, ID_MAX = 256 };

typedef struct {
    uint64_t id, seq, prio;
    uint8_t cid[ID_MAX];
    size_t cid_len;
    zmq_msg_t body; /* kept until answered, for re-dispatch */
    int worker;     /* index into workers, -1 while queued */
    int tries;
    long long deadline;       /* while dispatched: answer due by then (ms, net_now_ms) */
    uint8_t last_wid[ID_MAX]; /* the worker that last missed its deadline: avoided next */
    size_t last_wid_len;
} job_t;

typedef struct {
    uint8_t wid[ID_MAX];
    size_t wid_len;
    int slots, inflight;
    int hb;     /* its heartbeat interval (READY's optional frame; 0: the broker's) */
    int misses; /* request deadlines missed (heartbeat rounds with an expired request) */
    bool missed_now;
    long long last_seen, dispatched;
} worker_t;

typedef struct {
    const dist_opts_t *d;
    void *front, *back;
    job_t *jobs;
    int njobs, cap_jobs, nqueued;
    worker_t *workers;
    int nworkers, cap_workers;
    uint64_t next_id, next_prio;
    long long answered, redispatched, dropped, expired;
    long long req_timeout_ms;
    long long no_workers_since, no_workers_ms; /* queued requests fail after this long without any worker */
    int hb;
    net_zap_t *zap;
    net_hsmon_t *hs[2];       /* handshake monitors of front and back (CURVE only) */
    long long hs_next_log[2]; /* rate limit: one "authentication failed" line per socket per 10 s */
    long long auth_failed;
} broker_t;

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static int send_frames(void *sock, const void *id, size_t idlen, const char *cmd, const void *a, size_t alen,
                       const void *b, size_t blen, const void *c, size_t clen) {
    const void *body[5] = {id, cmd, a, b, c};
    size_t len[5] = {idlen, strlen(cmd), alen, blen, clen};
    int n = c ? 5 : b ? 4 : a ? 3 : 2;
    lerr_t e = {0};
    return net_send(sock, NULL, 0, body, len, n, ZMQ_DONTWAIT, &e);
}

static int find_worker(broker_t *b, const void *wid, size_t len) {
    for (int i = 0; i < b->nworkers; i++)
        if (b->workers[i].wid_len == len && !memcmp(b->workers[i].wid, wid, len)) return i;
    return -1;
}

static int add_worker(broker_t *b, const void *wid, size_t len, int slots) {
    if (b->nworkers == b->cap_workers) {
        int cap = b->cap_workers ? 2 * b->cap_workers : 8;
        worker_t *w = realloc(b->workers, (size_t)cap * sizeof *w);
        if (!w) return -1;
        b->workers = w;
        b->cap_workers = cap;
    }
    worker_t *w = &b->workers[b->nworkers];
    memset(w, 0, sizeof *w);
    memcpy(w->wid, wid, len);
    w->wid_len = len;
    w->slots = slots;
    w->last_seen = net_now_ms();
    return b->nworkers++;
}

/* Forget worker i: its requests go back to the front of the queue. */
static void drop_worker(broker_t *b, int i, const char *why) {
    for (int j = 0; j < b->njobs; j++) {
        job_t *jb = &b->jobs[j];
        if (jb->worker == i) {
            jb->worker = -1;
            b->nqueued++;
            b->redispatched++;
        } else if (jb->worker == b->nworkers - 1) jb->worker = i; /* the last moves into slot i */
    }
    fprintf(stderr, "denoise: broker: worker %d %s; its requests were queued again\n", i, why);
    b->workers[i] = b->workers[b->nworkers - 1];
    b->nworkers--;
}

static void job_remove(broker_t *b, int j) {
    zmq_msg_close(&b->jobs[j].body);
    b->jobs[j] = b->jobs[b->njobs - 1];
    b->njobs--;
}

static void answer_error(broker_t *b, int j, int code, const char *msg) {
    job_t *jb = &b->jobs[j];
    uint8_t seq[8], body[300];
    dist_put64(seq, jb->seq);
    body[0] = (uint8_t)code;
    size_t n = strlen(msg) < sizeof body - 1 ? strlen(msg) : sizeof body - 1;
    memcpy(body + 1, msg, n);
    send_frames(b->front, jb->cid, jb->cid_len, DIST_ERR, seq, 8, body, n + 1, NULL, 0);
    b->answered++;
}

static int free_slots(const worker_t *w) { return w->slots - w->inflight; }

/* The worker with the most free slots (ties: the one given fewest requests), skipping the one
 * named by avoid/avoid_len unless it is the only one with room; -1 if none has room. */
static int pick_worker(const broker_t *b, const uint8_t *avoid, size_t avoid_len) {
    int best = -1, other = -1;
    for (int i = 0; i < b->nworkers; i++) {
        const worker_t *w = &b->workers[i];
        if (free_slots(w) <= 0) continue;
        bool better = best < 0 || free_slots(w) > free_slots(&b->workers[best]) ||
                      (free_slots(w) == free_slots(&b->workers[best]) && w->dispatched < b->workers[best].dispatched);
        if (better) best = i;
        bool avoided = avoid_len && w->wid_len == avoid_len && !memcmp(w->wid, avoid, avoid_len);
        if (!avoided &&
            (other < 0 || free_slots(w) > free_slots(&b->workers[other]) ||
             (free_slots(w) == free_slots(&b->workers[other]) && w->dispatched < b->workers[other].dispatched)))
            other = i;
    }
    return other >= 0 ? other : best;
}

/* Hand queued requests (oldest first) to the worker with the most free slots. */
static void dispatch(broker_t *b) {
    while (b->nqueued > 0) {
        int bj = -1;
        for (int j = 0; j < b->njobs; j++)
            if (b->jobs[j].worker < 0 && (bj < 0 || b->jobs[j].prio < b->jobs[bj].prio)) bj = j;
        job_t *jb = &b->jobs[bj];
        if (jb->tries >= MAX_TRIES) {
            answer_error(b, bj, EXIT_PEER,
                         "request failed on its worker 3 times (worker lost, or no answer within --request-timeout); "
                         "giving up on it");
            b->nqueued--;
            job_remove(b, bj);
            continue;
        }
        int best = pick_worker(b, jb->last_wid, jb->last_wid_len);
        if (best < 0) return;
        worker_t *w = &b->workers[best];
        uint8_t id[8], seq[8];
        dist_put64(id, jb->id);
        dist_put64(seq, jb->seq);
        if (send_frames(b->back, w->wid, w->wid_len, DIST_JOB, id, 8, seq, 8, zmq_msg_data(&jb->body),
                        zmq_msg_size(&jb->body))) {
            drop_worker(b, best, "unreachable");
            continue;
        }
        jb->worker = best;
        jb->tries++;
        jb->deadline = net_now_ms() + b->req_timeout_ms;
        w->inflight++;
        w->dispatched++;
        b->nqueued--;
    }
}

/* Requests held past their deadline go back to the queue (to another worker, when there is
 * one); a worker that has missed the deadline twice is dropped with the rest of its requests. */
static void deadline_check(broker_t *b, long long now) {
    for (int j = 0; j < b->njobs; j++) {
        job_t *jb = &b->jobs[j];
        if (jb->worker < 0 || now < jb->deadline) continue;
        worker_t *w = &b->workers[jb->worker];
        fprintf(stderr,
                "denoise: broker: worker %d gave no answer to request %llu within %lld ms; sending it elsewhere\n",
                jb->worker, (unsigned long long)jb->seq, b->req_timeout_ms);
        memcpy(jb->last_wid, w->wid, w->wid_len);
        jb->last_wid_len = w->wid_len;
        w->inflight--;
        w->missed_now = true;
        jb->worker = -1;
        b->nqueued++;
        b->redispatched++;
        b->expired++;
    }
    /* a batch of requests that expire together is one miss */
    for (int i = b->nworkers - 1; i >= 0; i--) {
        worker_t *w = &b->workers[i];
        if (w->missed_now) w->misses++;
        w->missed_now = false;
        if (w->misses >= 2) drop_worker(b, i, "missed the request deadline twice");
    }
}

/* A client request: [cid][REQ][seq][record]. */
static void on_front(broker_t *b, net_msg_t *m) {
    if (m->n != 4 || net_frame_size(m, 1) != 3 || memcmp(net_frame_data(m, 1), DIST_REQ, 3) ||
        net_frame_size(m, 2) != 8 || net_frame_size(m, 0) > ID_MAX) {
        b->dropped++;
        return;
    }
    if (b->njobs == b->cap_jobs) {
        int cap = b->cap_jobs ? 2 * b->cap_jobs : 64;
        job_t *j = realloc(b->jobs, (size_t)cap * sizeof *j);
        if (!j) {
            b->dropped++;
            return;
        }
        b->jobs = j;
        b->cap_jobs = cap;
    }
    job_t *jb = &b->jobs[b->njobs++];
    jb->id = b->next_id++;
    jb->prio = b->next_prio++;
    jb->seq = dist_get64(net_frame_data(m, 2));
    jb->cid_len = net_frame_size(m, 0);
    memcpy(jb->cid, net_frame_data(m, 0), jb->cid_len);
    jb->worker = -1;
    jb->tries = 0;
    jb->last_wid_len = 0;
    zmq_msg_init(&jb->body);
    zmq_msg_move(&jb->body, &m->f[3]);
    b->nqueued++;
}

/* A worker message: [wid][READY|HB|REP|ERR]... */
static void on_back(broker_t *b, net_msg_t *m) {
    if (m->n < 2 || net_frame_size(m, 0) > ID_MAX) return;
    const char *cmd = net_frame_data(m, 1);
    size_t cl = net_frame_size(m, 1);
    int w = find_worker(b, net_frame_data(m, 0), net_frame_size(m, 0));
    bool ready = cl == 5 && !memcmp(cmd, DIST_READY, 5), hb = cl == 2 && !memcmp(cmd, DIST_HB, 2);
    if ((ready || hb) && (m->n == 3 || (ready && m->n == 4 && net_frame_size(m, 3) == 4)) &&
        net_frame_size(m, 2) == 4) {
        uint32_t n = dist_get32(net_frame_data(m, 2));
        int slots = n < 1 ? 1 : n > 1000 ? 1000 : (int)n; /* credit stays below the HWM */
        /* Only READY registers, with the slots it announces: a heartbeat from an identity we do
         * not know (a worker dropped while SIGSTOPped, a broker restart) carries free slots, not
         * the worker's size, so it is ignored; the worker, hearing nothing back, reconnects and
         * sends READY. */
        if (ready && w >= 0) { /* reconnected or restarted with the same identity: replace it */
            drop_worker(b, w, "registered again");
            w = -1;
        }
        if (ready) {
            w = add_worker(b, net_frame_data(m, 0), net_frame_size(m, 0), slots);
            if (w >= 0 && m->n == 4) { /* its heartbeat interval: a slower one than ours is not silence */
                uint32_t whb = dist_get32(net_frame_data(m, 3));
                b->workers[w].hb = whb > 600000 ? 600000 : (int)whb;
            }
            if (w >= 0) fprintf(stderr, "denoise: broker: worker %d ready with %d slots\n", w, slots);
        }
    }
    if (w < 0) return;
    b->workers[w].last_seen = net_now_ms();
    bool rep = cl == 3 && !memcmp(cmd, DIST_REP, 3), err = cl == 3 && !memcmp(cmd, DIST_ERR, 3);
    if ((rep || err) && m->n == 4 && net_frame_size(m, 2) == 8) {
        uint64_t id = dist_get64(net_frame_data(m, 2));
        for (int j = 0; j < b->njobs; j++) {
            job_t *jb = &b->jobs[j];
            if (jb->id != id) continue;
            if (jb->worker != w) break; /* not (or no longer) this worker's: drop */
            uint8_t seq[8];
            dist_put64(seq, jb->seq);
            send_frames(b->front, jb->cid, jb->cid_len, rep ? DIST_REP : DIST_ERR, seq, 8, net_frame_data(m, 3),
                        net_frame_size(m, 3), NULL, 0);
            b->answered++;
            b->workers[w].inflight--;
            job_remove(b, j);
            return;
        }
        b->dropped++;
    }
}

/* No live worker for no_workers_ms while requests wait: answer them with an error rather
 * than let clients wait forever (their broker is alive and heartbeating). */
static void starve_check(broker_t *b, long long now) {
    if (b->nworkers > 0 || b->nqueued == 0) {
        b->no_workers_since = 0;
        return;
    }
    if (!b->no_workers_since) {
        b->no_workers_since = now;
        return;
    }
    if (now - b->no_workers_since < b->no_workers_ms) return;
    char msg[128];
    snprintf(msg, sizeof msg, "no worker connected to the broker for %lld ms", b->no_workers_ms);
    for (int j = b->njobs - 1; j >= 0; j--) {
        if (b->jobs[j].worker >= 0) continue;
        answer_error(b, j, EXIT_PEER, msg);
        b->nqueued--;
        job_remove(b, j);
    }
    b->no_workers_since = 0;
}

/* Heartbeats: to every worker, and to clients waiting for answers; expire silent workers. */
/* CURVE refusals: each refused client key once (from the ZAP handler), and handshake failures
 * (wrong server key) at most one line per socket per 10 s; all are counted. */
static void auth_report(broker_t *b, long long now) {
    char line[300];
    while (net_zap_next_refusal(b->zap, line, sizeof line))
        fprintf(stderr, "denoise: broker: authentication failed: %s\n", line);
    for (int i = 0; i < 2; i++) {
        while (net_hsmon_poll(b->hs[i], line, sizeof line)) {
            b->auth_failed++;
            if (now < b->hs_next_log[i] || strstr(line, "was refused")) continue; /* ZAP refusals logged above */
            fprintf(stderr, "denoise: broker: %s\n", line);
            b->hs_next_log[i] = now + 10000;
        }
    }
}

static void heartbeat(broker_t *b) {
    long long now = net_now_ms();
    auth_report(b, now);
    deadline_check(b, now);
    starve_check(b, now);
    for (int i = b->nworkers - 1; i >= 0; i--) {
        worker_t *w = &b->workers[i];
        int hbi = w->hb > b->hb ? w->hb : b->hb;
        if (now - w->last_seen > (long long)DIST_LIVENESS * hbi) drop_worker(b, i, "missed its heartbeats");
        else send_frames(b->back, w->wid, w->wid_len, DIST_HB, NULL, 0, NULL, 0, NULL, 0);
    }
    for (int j = 0; j < b->njobs; j++) {
        bool seen = false;
        for (int k = 0; k < j && !seen; k++)
            seen =
                b->jobs[k].cid_len == b->jobs[j].cid_len && !memcmp(b->jobs[k].cid, b->jobs[j].cid, b->jobs[j].cid_len);
        if (!seen) send_frames(b->front, b->jobs[j].cid, b->jobs[j].cid_len, DIST_HB, NULL, 0, NULL, 0, NULL, 0);
    }
}

static void *open_router(broker_t *b, const char *ep, lerr_t *e) {
    void *s = zmq_socket(stream_zmq_ctx(), ZMQ_ROUTER);
    if (!s) {
        lerr_set(e, EXIT_INTERNAL, "socket: %s", zmq_strerror(errno));
        return NULL;
    }
    int one = 1;
    net_sockopts(s, 256LL << 20);
    if (b->d->key && !(b->hs[b->front ? 1 : 0] = net_hsmon_new(stream_zmq_ctx(), s, "broker", true, e))) {
        zmq_close(s);
        return NULL;
    }
    zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_ROUTER_HANDOVER, &one, sizeof one); /* a reconnecting worker keeps its id */
    if (b->d->key && net_curve_server(s, b->d->key, e)) {
        zmq_close(s);
        return NULL;
    }
    if (zmq_bind(s, ep)) {
        lerr_set(e, EXIT_IO, "cannot bind %s: %s", ep, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    char last[256];
    size_t len = sizeof last;
    if (!zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, last, &len)) fprintf(stderr, "denoise: broker: bound %s\n", last);
    return s;
}

static void run(broker_t *b) {
    long long next_hb = net_now_ms() + b->hb;
    int queue_max = b->d->queue > 0 ? b->d->queue : 1024;
    while (!g_stop) {
        zmq_pollitem_t it[2] = {{b->back, 0, ZMQ_POLLIN, 0}, {b->front, 0, ZMQ_POLLIN, 0}};
        long wait = (long)(next_hb - net_now_ms());
        int n = zmq_poll(it, b->nqueued < queue_max ? 2 : 1, wait > 0 ? wait : 0);
        if (n < 0 && errno != EINTR) break;
        net_msg_t m;
        lerr_t e = {0};
        for (int k = 0; n > 0 && k < 64 && net_recv(b->back, &m, ZMQ_DONTWAIT, &e) == 0; k++) {
            on_back(b, &m);
            net_msg_close(&m);
        }
        for (int k = 0; n > 0 && k < 64 && b->nqueued < queue_max && net_recv(b->front, &m, ZMQ_DONTWAIT, &e) == 0;
             k++) {
            on_front(b, &m);
            net_msg_close(&m);
        }
        dispatch(b);
        if (net_now_ms() >= next_hb) {
            heartbeat(b);
            dispatch(b);
            next_hb = net_now_ms() + b->hb;
        }
    }
}

int dist_broker(const dist_opts_t *d, cli_t *cli) {
    if (!d->backend) cli_usage_error(cli, "--broker needs --backend ENDPOINT (where workers connect)");
    if (d->key && !d->allow) cli_usage_error(cli, "--key on the broker needs --allow (client and worker public keys)");
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    broker_t b = {.d = d,
                  .hb = d->heartbeat_ms > 0 ? d->heartbeat_ms : 1000,
                  .req_timeout_ms = dist_request_timeout(d),
                  .no_workers_ms = cli->sopts.timeout_ms > 0 ? cli->sopts.timeout_ms : 60000};
    lerr_t e = {0};
    net_zap_t *zap = NULL;
    if (d->key && !(zap = net_zap_start(d->allow, &e))) cli_die(cli, &e);
    b.zap = zap;
    if (!(b.front = open_router(&b, d->broker, &e)) || !(b.back = open_router(&b, d->backend, &e))) cli_die(cli, &e);
    fprintf(stderr, "denoise: broker: request deadline %lld ms\n", b.req_timeout_ms);
    run(&b);
    cli_notice(cli,
               "broker: answered %lld requests, re-dispatched %lld (%lld past --request-timeout), dropped %lld stale "
               "messages, refused %ld connections, %lld failed handshakes",
               b.answered, b.redispatched, b.expired, b.dropped, net_zap_refused(zap), b.auth_failed);
    for (int i = 0; i < b.nworkers; i++)
        cli_notice(cli, "broker: worker %d (%d slots) was given %lld requests", i, b.workers[i].slots,
                   b.workers[i].dispatched);
    for (int j = 0; j < b.njobs; j++) zmq_msg_close(&b.jobs[j].body);
    free(b.jobs);
    free(b.workers);
    net_hsmon_free(&b.hs[0]);
    net_hsmon_free(&b.hs[1]);
    zmq_close(b.front);
    zmq_close(b.back);
    net_zap_stop(&zap);
    return EXIT_OK;
}
