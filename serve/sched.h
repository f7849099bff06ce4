/* sched.h — the bounded queue between HTTP connections and the generation side.
 *
 * Connections submit jobs; one generation thread (batch.c: the local model; remote.c: a
 * cluster broker) takes them. sched_take hands out the oldest job together with every
 * queued job that can share its sampler batch (same generation length and sampler options
 * except the seed, which is per row), up to a number of rows. A full queue refuses new jobs
 * (the server answers 503 with Retry-After). Cancelled jobs are dropped when taken.
 */
#ifndef LLADA_SERVE_SCHED_H
#define LLADA_SERVE_SCHED_H
#include <pthread.h>
#include <stdatomic.h>
#include "job.h"

typedef struct sched {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sjob_t *head, *tail;
    int queued, max_queue;
    int gather_ms; /* a batch with room waits this long for more jobs */
    bool stop;
    pthread_t th;
    bool started;
    /* counters for /health */
    atomic_long served, batches, batched_rows, cancelled_rows, refused;
    atomic_int rows_running;
} sched_t;

void sched_init(sched_t *s, int max_queue);
/* Start the generation thread body(arg); 0 or -1. */
int sched_start(sched_t *s, void *(*body)(void *), void *arg);
/* Queue j (a reference is taken). 0, or -1 when the queue is full. */
int sched_submit(sched_t *s, sjob_t *j);
/* Block until a job is queued (or timeout_ms passes, < 0: forever, or stop), then move the
 * oldest job and the queued jobs that share its batch, up to max_rows rows in all (the
 * first job always), into out[0..cap). While those fill fewer than max_rows rows it waits up
 * to gather_ms for more (clients answered together tend to ask again together; without the
 * wait the first of them would run alone). Returns the count; 0 on timeout or stop. */
int sched_take(sched_t *s, sjob_t **out, int cap, int max_rows, long timeout_ms);
bool sched_stopping(sched_t *s);
/* Stop the thread (joined) and fail every queued job with 503. */
void sched_shutdown(sched_t *s);
/* Two jobs can share one sampler batch. */
bool sched_same_batch(const sjob_t *a, const sjob_t *b);
#endif
