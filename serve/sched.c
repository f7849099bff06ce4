/* sched.c — bounded job queue and batch selection (see sched.h). */
#include <string.h>
#include <time.h>
#include "sched.h"

void sched_init(sched_t *s, int max_queue) {
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    cond_init_monotonic(&s->cv);
    s->max_queue = max_queue;
}

int sched_start(sched_t *s, void *(*body)(void *), void *arg) {
    if (pthread_create(&s->th, NULL, body, arg)) return -1;
    s->started = true;
    return 0;
}

int sched_submit(sched_t *s, sjob_t *j) {
    pthread_mutex_lock(&s->mu);
    if (s->stop || s->queued >= s->max_queue) {
        pthread_mutex_unlock(&s->mu);
        atomic_fetch_add(&s->refused, 1);
        return -1;
    }
    job_ref(j);
    j->next = NULL;
    if (s->tail) s->tail->next = j;
    else s->head = j;
    s->tail = j;
    s->queued++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

bool sched_same_batch(const sjob_t *a, const sjob_t *b) {
    const sampler_opts_t *x = &a->so, *y = &b->so;
    return a->gen == b->gen && x->steps == y->steps && x->block_length == y->block_length &&
           x->temperature == y->temperature && x->cfg_scale == y->cfg_scale && x->logits_eos_inf == y->logits_eos_inf &&
           x->conf_eos_eot_inf == y->conf_eos_eot_inf && x->fixed_eos == y->fixed_eos && x->cache == y->cache &&
           x->cache_refresh == y->cache_refresh && !strcmp(a->policy, b->policy);
}

/* Unlink j (prev: its predecessor or NULL). Under mu. */
static void unlink_job(sched_t *s, sjob_t *prev, sjob_t *j) {
    if (prev) prev->next = j->next;
    else s->head = j->next;
    if (s->tail == j) s->tail = prev;
    j->next = NULL;
    s->queued--;
}

static bool before(const struct timespec *a, const struct timespec *b) {
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Rows the head job's batch would have now (capped at max_rows). Under mu. */
static int batch_rows(const sched_t *s, int cap, int max_rows) {
    int rows = 0, n = 0;
    for (const sjob_t *j = s->head; j && n < cap; j = j->next)
        if (j == s->head || (sched_same_batch(s->head, j) && rows + j->rows <= max_rows)) {
            rows += j->rows;
            n++;
        }
    return rows;
}

int sched_take(sched_t *s, sjob_t **out, int cap, int max_rows, long timeout_ms) {
    pthread_mutex_lock(&s->mu);
    struct timespec ts = deadline_ms(timeout_ms), gather = {0};
    bool gathering = false;
    int n = 0, rows = 0;
    while (!s->stop && n == 0) {
        /* drop cancelled jobs first */
        for (sjob_t *p = NULL, *j = s->head; j;) {
            sjob_t *next = j->next;
            if (atomic_load(&j->cancelled)) {
                unlink_job(s, p, j);
                atomic_fetch_add(&s->cancelled_rows, j->rows);
                job_unref(&j);
            } else p = j;
            j = next;
        }
        if (s->head && s->gather_ms > 0 && batch_rows(s, cap, max_rows) < max_rows) {
            struct timespec now = deadline_ms(0);
            if (!gathering) {
                gathering = true;
                gather = deadline_ms(s->gather_ms);
            }
            if (before(&now, &gather)) {
                pthread_cond_timedwait(&s->cv, &s->mu, &gather);
                continue;
            }
        }
        if (s->head) {
            sjob_t *first = s->head;
            for (sjob_t *p = NULL, *j = s->head; j && n < cap;) {
                sjob_t *next = j->next;
                if (j == first || (sched_same_batch(first, j) && rows + j->rows <= max_rows)) {
                    unlink_job(s, p, j);
                    out[n++] = j;
                    rows += j->rows;
                } else p = j;
                j = next;
            }
            break;
        }
        if (timeout_ms < 0) pthread_cond_wait(&s->cv, &s->mu);
        else if (pthread_cond_timedwait(&s->cv, &s->mu, &ts)) break;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

bool sched_stopping(sched_t *s) {
    pthread_mutex_lock(&s->mu);
    bool st = s->stop;
    pthread_mutex_unlock(&s->mu);
    return st;
}

void sched_shutdown(sched_t *s) {
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->started) pthread_join(s->th, NULL);
    s->started = false;
    for (sjob_t *j = s->head; j;) {
        sjob_t *next = j->next;
        job_fail(j, 503, "server_error", "the server is shutting down");
        job_unref(&j);
        j = next;
    }
    s->head = s->tail = NULL;
    s->queued = 0;
}
