/* serve.h — the state of one `serve` process, shared by its parts: HTTP front (http.c),
 * request -> job (generate.c), generation threads (batch.c local, remote.c cluster).
 * Docs: docs/serve.md. */
#ifndef LLADA_SERVE_SERVE_H
#define LLADA_SERVE_SERVE_H
#include <pthread.h>
#include "model/model.h"
#include "model/gencfg.h"
#include "tok/bundle.h"
#include "dist/dist.h"
#include "denoise/device.h"
#include "request.h"
#include "sched.h"

typedef struct {
    /* configuration */
    char model_id[128]; /* the one model name served (/v1/models) */
    char **keys;
    int n_keys;      /* API keys (Bearer); none: no authentication */
    size_t max_body; /* request body limit, bytes */
    sreq_limits_t lim;
    int default_gen;         /* generation length when max_tokens is absent */
    int max_prompt;          /* prompt tokens per choice */
    int max_batch;           /* rows per forward (local) / in flight (remote) */
    const dist_opts_t *dist; /* --remote and its CURVE keys */
    int timeout_ms;          /* remote: broker silent this long fails the requests */
    /* model side */
    model_t *m;           /* NULL with --remote */
    denoise_device_t dev; /* --device: CPU or the CUDA backend */
    tok_bundle_t *b;
    pthread_mutex_t tok_mu; /* the tokenizer is not thread-safe */
    gencfg_t gc;
    int mask_id, vocab;
    sched_t sched;
    long long started;
} serve_t;

/* Generation threads (sched_start bodies, arg: serve_t *). */
void *serve_local_thread(void *arg);
void *serve_remote_thread(void *arg);

/* Build a job from a parsed request: model name, sampler options (request > the model's
 * generation_config.json > defaults), prompt ids (tokenizer / chat template). NULL with
 * err set (4xx/5xx). */
sjob_t *serve_job_from_request(serve_t *sv, const sreq_t *r, serr_t *err);
#endif
