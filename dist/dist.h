/* client.h — distributed generation: the options denoise gains for it and the three roles.
 *
 *   denoise --policy-endpoint EP      consult a remask service each step (remask/remote.h)
 *   denoise --broker FRONT --backend BACK   load-balancing broker (broker.c), no model
 *   denoise --worker BACK [model/sampler options]   a worker owning one model (worker.c)
 *   denoise --remote FRONT            client stage: records in, results out, input order
 *                                     (client.c), no model
 * CURVE: --key FILE (own key pair), --server-key FILE (the broker's or service's public
 * key), --allow LIST (broker: admitted client and worker keys). Design, failure handling
 * and message frames: docs/cluster.md; recipe: pipelines/cluster.
 */
#ifndef LLADA_DIST_H
#define LLADA_DIST_H

#include <getopt.h>
#include <stdbool.h>
#include "cli.h"
#include <stdint.h>
#include "remask/remask.h"
#include "model/model.h"
#include "denoise/sampler.h"
#include "denoise/options.h"

typedef struct {
    const char *policy_endpoint;
    const char *broker, *backend, *worker, *remote;
    const char *key, *server_key, *allow;
    int heartbeat_ms;             /* heartbeat interval (default 1000); peer dead after 3 missed */
    int window;                   /* client: requests in flight (default 64) */
    int queue;                    /* broker: queued requests before it stops reading clients (default 1024) */
    long long request_timeout_ms; /* broker: a dispatched request's deadline (0: dist_request_timeout) */
    int steps_hint;               /* broker: reverse steps of the command line's sampler options (sizes the default) */
} dist_opts_t;

/* The broker's default request deadline, sized from the sampler options: 5 s per reverse step
 * (a generous bound for one step of a full batch of an 8B model on CPU), at least 60 s. */
static inline long long dist_request_timeout(const dist_opts_t *d) {
    if (d->request_timeout_ms > 0) return d->request_timeout_ms;
    long long t = 5000LL * (d->steps_hint > 0 ? d->steps_hint : 128);
    return t < 60000 ? 60000 : t;
}

enum {
    DIST_OPT_PEP = 3000,
    DIST_OPT_BROKER,
    DIST_OPT_BACKEND,
    DIST_OPT_WORKER,
    DIST_OPT_REMOTE,
    DIST_OPT_KEY,
    DIST_OPT_SKEY,
    DIST_OPT_ALLOW,
    DIST_OPT_HB,
    DIST_OPT_WINDOW,
    DIST_OPT_QUEUE,
    DIST_OPT_REQTO
};

#define DIST_LONGOPTS \
    {"policy-endpoint", required_argument, 0, DIST_OPT_PEP}, {"broker", required_argument, 0, DIST_OPT_BROKER}, \
        {"backend", required_argument, 0, DIST_OPT_BACKEND}, {"worker", required_argument, 0, DIST_OPT_WORKER}, \
        {"remote", required_argument, 0, DIST_OPT_REMOTE}, {"key", required_argument, 0, DIST_OPT_KEY}, \
        {"server-key", required_argument, 0, DIST_OPT_SKEY}, {"allow", required_argument, 0, DIST_OPT_ALLOW}, \
        {"heartbeat", required_argument, 0, DIST_OPT_HB}, {"window", required_argument, 0, DIST_OPT_WINDOW}, \
        {"queue", required_argument, 0, DIST_OPT_QUEUE}, { \
        "request-timeout", required_argument, 0, DIST_OPT_REQTO \
    }

#define DIST_HELP \
    "Remote policy and distributed generation (docs/cluster.md):\n" \
    "      --policy-endpoint EP  ask the remask service at EP (remask --serve) each step;\n" \
    "                            the service's policy replaces --remasking\n" \
    "      --remote EP           client: send records to the broker at EP, write results\n" \
    "                            in input order (no model loaded here)\n" \
    "      --window N            client: requests in flight, 1..1000 (default 64)\n" \
    "      --broker EP --backend EP2  run a broker: clients connect to EP, workers to EP2\n" \
    "      --queue N             broker: queued requests before clients are held back (1024)\n" \
    "      --request-timeout MS  broker: a worker's deadline per request; then the request\n" \
    "                            goes to another worker, and a worker that misses it twice\n" \
    "                            is dropped (default 5000 x steps, at least 60000)\n" \
    "      --worker EP           serve generations for the broker backend at EP; --batch N\n" \
    "                            is the number of slots (requests per forward)\n" \
    "      --heartbeat MS        heartbeat interval, 3 missed = dead (default 1000)\n" \
    "      --key FILE            CURVE key pair of this process (remask --keygen)\n" \
    "      --server-key FILE     CURVE public key of the broker / remask service\n" \
    "      --allow LIST          broker: client and worker public keys admitted\n"

/* Handle a DIST_OPT_* option: 1 handled, 0 not ours; dies on a bad value. */
int dist_option(dist_opts_t *d, const cli_t *cli, int opt, const char *arg);
/* The remote policy for --policy-endpoint (dies on failure: EXIT_PEER when unreachable). */
rm_policy_t *dist_remote_policy(const dist_opts_t *d, const cli_t *cli);
/* Roles without a model: --broker or --remote. Returns the exit code, or -1 if neither. */
int dist_main_nomodel(const dist_opts_t *d, cli_t *cli);

/* Cluster frames (docs/cluster.md). Every message starts with a command frame. */
#define DIST_READY "READY" /* worker -> broker: [READY][slots u32]([heartbeat ms u32]) */
#define DIST_HB "HB"       /* both ways: [HB] (worker adds [free slots u32])          */
#define DIST_REQ "REQ"     /* client -> broker: [REQ][seq u64][record]                */
#define DIST_JOB "JOB"     /* broker -> worker: [JOB][job u64][seq u64][record]       */
#define DIST_REP "REP"     /* worker -> broker [REP][job][result]; broker -> client [REP][seq][result] */
#define DIST_ERR "ERR"     /* like REP with [code u8 + one-line message] as the body  */
#define DIST_LIVENESS 3    /* heartbeats missed before a peer is declared dead       */

/* The broker (broker.c): runs until SIGINT/SIGTERM. */
int dist_broker(const dist_opts_t *d, cli_t *cli);
/* A worker (worker.c) owning model m; `spec` holds the sampler options of the command line
 * and the model's generation_config.json, resolved per batch by so_resolve exactly as a
 * local denoise run resolves them (denoise/options.h). Never returns
 * on success paths other than a signal; returns the exit code. */
int dist_worker(const dist_opts_t *d, cli_t *cli, const model_t *m, rm_policy_t *pol, const so_spec_t *spec, int slots);
/* The client stage (client.c): input records -> broker -> results in input order. */
int dist_client(const dist_opts_t *d, cli_t *cli);

/* Little-endian u64/u32 in frames. */
static inline void dist_put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t dist_get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static inline void dist_put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t dist_get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}

#endif
