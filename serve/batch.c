/* batch.c — the local generation thread: jobs taken together from the queue run as one
 * sampler batch (one forward per step for all their rows, prompts left-padded).
 *
 * Row r of a job (its OpenAI choice index) is sampled with record index r and the job's
 * seed (canvas_batch_t.seed), so its tokens are those of `denoise --seed S` on the same
 * prompts whatever else shares the batch (the sampler is batch invariant; cluster workers
 * rely on the same property). After every step the on_step hook reports each row's
 * committed prefix to its job (streaming, EOS and stop strings), sends stream_steps
 * canvases, and drops the rows whose answer is complete or whose client went away.
 */
#include <stdlib.h>
#include <string.h>
#include "serve.h"
#include "denoise/records.h"

typedef struct {
    sjob_t *job;
    int row;
} rowref_t;

typedef struct {
    serve_t *sv;
    rowref_t *map; /* [B] batch row -> (job, choice), compacted like the canvas */
    int lp, gen;   /* padded prompt length, generation length */
} hook_t;

/* First masked position of ids[0..n), or n. */
static size_t committed(const int32_t *ids, size_t n, int mask) {
    size_t k = 0;
    while (k < n && ids[k] != mask) k++;
    return k;
}

static int on_step(canvas_batch_t *cb, int step, uint8_t *drop, void *arg, lerr_t *e) {
    hook_t *h = arg;
    serve_t *sv = h->sv;
    int mask = sv->mask_id, k = 0;
    if (sched_stopping(&sv->sched)) return lerr_set(e, EXIT_INTERNAL, "the server is shutting down");
    pthread_mutex_lock(&sv->tok_mu);
    for (int r = 0; r < cb->B; r++) {
        sjob_t *j = h->map[r].job;
        const int32_t *ids = cb->x + (size_t)r * cb->L + h->lp;
        if (atomic_load(&j->cancelled)) {
            drop[r] = 1;
            atomic_fetch_add(&sv->sched.cancelled_rows, 1);
            continue;
        }
        if (j->stream_steps) job_row_canvas(j, sv->b, h->map[r].row, step + 1, j->so.steps, ids, (size_t)h->gen);
        if (job_row_update(j, sv->b, h->map[r].row, ids, committed(ids, (size_t)h->gen, mask), false, step + 1))
            drop[r] = 1;
    }
    pthread_mutex_unlock(&sv->tok_mu);
    for (int r = 0; r < cb->B; r++) /* compact the map as the sampler compacts rows */
        if (!drop[r]) h->map[k++] = h->map[r];
    atomic_store(&sv->sched.rows_running, k);
    return 0;
}

/* Run jobs[0..n) (sharing one batch key) as one sampler batch. */
static void run(serve_t *sv, sjob_t **jobs, int n) {
    int rows = 0;
    for (int i = 0; i < n; i++) rows += jobs[i]->rows;
    rec_canvas_t *rc = calloc((size_t)rows, sizeof *rc);
    int64_t *idx = calloc((size_t)rows, sizeof *idx);
    uint64_t *seed = calloc((size_t)rows, sizeof *seed);
    rowref_t *map = calloc((size_t)rows, sizeof *map);
    canvas_batch_t cb = {0};
    lerr_t e = {0};
    rm_policy_t *pol = NULL;
    const sjob_t *j0 = jobs[0];
    int rc_run = -1;
    if (!rc || !idx || !seed || !map) {
        lerr_set(&e, EXIT_INTERNAL, "out of memory");
        goto out;
    }
    for (int i = 0, r = 0; i < n; i++)
        for (int c = 0; c < jobs[i]->rows; c++, r++) {
            int p = c / jobs[i]->n;
            rc[r] = (rec_canvas_t){.tok = jobs[i]->prompt[p],
                                   .n = jobs[i]->prompt_len[p],
                                   .prompt_len = jobs[i]->prompt_len[p],
                                   .gen = jobs[i]->gen};
            idx[r] = c;
            seed[r] = jobs[i]->so.seed;
            map[r] = (rowref_t){jobs[i], c};
        }
    if (!(pol = rm_policy_new(j0->policy, &e)) || canvas_batch_build(&cb, rc, idx, rows, sv->m, &e)) goto out;
    hook_t h = {sv, map, cb.L - j0->gen, j0->gen};
    cb.seed = seed;
    cb.on_step = on_step;
    cb.on_step_arg = &h;
    atomic_store(&sv->sched.rows_running, rows);
    atomic_fetch_add(&sv->sched.batches, 1);
    atomic_fetch_add(&sv->sched.batched_rows, rows);
    rc_run = sampler_run(sv->m, pol, &j0->so, &cb, NULL, NULL, &e);
    if (rc_run == 0) {
        pthread_mutex_lock(&sv->tok_mu);
        for (int r = 0; r < cb.B; r++)
            job_row_update(map[r].job, sv->b, map[r].row, cb.x + (size_t)r * cb.L + h.lp, (size_t)j0->gen, true,
                           cb.steps_done);
        pthread_mutex_unlock(&sv->tok_mu);
    }
out:
    atomic_store(&sv->sched.rows_running, 0);
    bool bad = e.code == EXIT_DATA || e.code == EXIT_USAGE;
    int status = bad ? 400 : sched_stopping(&sv->sched) ? 503 : 500;
    for (int i = 0; i < n; i++) {
        if (rc_run)
            job_fail(jobs[i], status, bad ? "invalid_request_error" : "server_error", "%s",
                     e.msg[0] ? e.msg : "generation failed");
        atomic_fetch_add(&sv->sched.served, 1);
        job_unref(&jobs[i]);
    }
    canvas_batch_free(&cb);
    rm_policy_destroy(&pol);
    free(rc);
    free(idx);
    free(seed);
    free(map);
}

void *serve_local_thread(void *arg) {
    serve_t *sv = arg;
    sjob_t **jobs = calloc((size_t)sv->max_batch, sizeof *jobs);
    if (!jobs) return NULL;
    for (;;) {
        int n = sched_take(&sv->sched, jobs, sv->max_batch, sv->max_batch, -1);
        if (n == 0) break; /* stopping */
        run(sv, jobs, n);
    }
    free(jobs);
    return NULL;
}
