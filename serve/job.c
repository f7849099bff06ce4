/* job.c — a request in flight: progress from the generation side, waiting on the
 * connection side (see job.h). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "job.h"
#include "api.h"

enum { WAIT_SLICE_MS = 100 }; /* how often a waiting connection looks at its socket */

void cond_init_monotonic(pthread_cond_t *cv) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

struct timespec deadline_ms(long ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

sjob_t *job_new(void) {
    sjob_t *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->mu, NULL);
    cond_init_monotonic(&j->cv);
    j->refs = 1;
    return j;
}

void job_ref(sjob_t *j) {
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
}

void job_unref(sjob_t **jp) {
    sjob_t *j = *jp;
    if (!j) return;
    *jp = NULL;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left) return;
    for (int i = 0; i < j->n_prompts; i++) free(j->prompt ? j->prompt[i] : NULL);
    free(j->prompt);
    free(j->prompt_len);
    for (int i = 0; i < j->n_stop; i++) free((char *)j->stop[i].p);
    if (j->text)
        for (int i = 0; i < j->rows; i++) stext_free(&j->text[i]);
    free(j->text);
    buf_free(&j->out);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

int job_set_stop(sjob_t *j, const sstr_t *stop, int n) {
    for (int i = 0; i < n; i++) {
        char *s = malloc(stop[i].n + 1);
        if (!s) return -1;
        memcpy(s, stop[i].p, stop[i].n);
        s[stop[i].n] = 0;
        j->stop[j->n_stop++] = (sstr_t){s, stop[i].n};
    }
    return 0;
}

int job_begin(sjob_t *j) {
    if (!(j->text = calloc((size_t)j->rows, sizeof *j->text))) return -1;
    if (j->stream && j->kind == SREQ_CHAT)
        for (int i = 0; i < j->rows; i++)
            if (api_chunk(j, i, true, "", 0, FINISH_NONE, &j->out)) return -1;
    return 0;
}

static void oom(sjob_t *j) { serr_set(&j->err, 500, "server_error", NULL, NULL, "out of memory"); }

/* Every choice has ended: the body, or the stream's tail. Under mu. */
static void complete(sjob_t *j) {
    j->nfe = j->steps_done * (j->so.cfg_scale > 0 ? 2 : 1);
    int rc =
        j->stream ? (j->include_usage && api_usage_chunk(j, &j->out)) || api_done(&j->out) : api_response(j, &j->out);
    if (rc) oom(j);
    j->done = true;
}

int job_row_update(sjob_t *j, const tok_bundle_t *b, int row, const int32_t *ids, size_t k, bool final,
                   int steps_done) {
    pthread_mutex_lock(&j->mu);
    stext_t *t = &j->text[row];
    if (j->done || t->finish) {
        pthread_mutex_unlock(&j->mu);
        return 1;
    }
    const char *d;
    size_t dn;
    lerr_t e = {0};
    bool was = t->diverged;
    int rc = stext_update(t, b, ids, k, final, j->stop, j->n_stop, &d, &dn, &e);
    if (!rc && j->stream && dn) rc = api_chunk(j, row, false, d, dn, FINISH_NONE, &j->out);
    if (!rc && j->stream && t->finish) rc = api_chunk(j, row, false, NULL, 0, t->finish, &j->out);
    j->diverged += t->diverged && !was;
    if (rc) {
        oom(j);
        j->done = true;
        t->finish = FINISH_STOP;
    } else if (t->finish) {
        if (steps_done > j->steps_done) j->steps_done = steps_done;
        if (++j->rows_done == j->rows) complete(j);
    }
    int ended = t->finish != FINISH_NONE;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return ended;
}

void job_row_canvas(sjob_t *j, const tok_bundle_t *b, int row, int step, int steps, const int32_t *ids, size_t n) {
    tok_str_t s = {0};
    lerr_t e = {0};
    int masked = 0, rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        size_t r = i;
        while (r < n && ids[r] != j->mask_id) r++;
        if (r > i) rc = tok_decode(b->tok, ids + i, r - i, TOK_SKIP_SPECIAL, &s, &e);
        for (; r < n && ids[r] == j->mask_id && !rc; r++, masked++) rc = tok_str_append(&s, "\xE2\x96\x91", 3);
        i = r;
    }
    pthread_mutex_lock(&j->mu);
    if (!j->done && !j->text[row].finish) {
        if (rc || api_step_event(j, row, step, steps, s.p, s.n, masked, &j->out)) oom(j);
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&j->mu);
    tok_str_free(&s);
}

void job_fail(sjob_t *j, int status, const char *type, const char *fmt, ...) {
    pthread_mutex_lock(&j->mu);
    if (!j->done) {
        va_list ap;
        va_start(ap, fmt);
        char msg[256];
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        serr_set(&j->err, status, type, NULL, NULL, "%s", msg);
        if (j->stream) {
            api_error_event(&j->err, &j->out);
            api_done(&j->out);
        }
        j->done = true;
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&j->mu);
}

bool job_peer_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) return true;
    char c;
    ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Wait on cv for one slice; true when the client is gone (then the job is cancelled). Under mu. */
static bool wait_slice(sjob_t *j, int fd) {
    struct timespec ts = deadline_ms(WAIT_SLICE_MS);
    pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    if (job_peer_gone(fd)) {
        atomic_store(&j->cancelled, 1);
        return true;
    }
    return false;
}

int job_wait(sjob_t *j, int fd) {
    pthread_mutex_lock(&j->mu);
    int rc = 0;
    while (!j->done && !rc)
        if (wait_slice(j, fd) && !j->done) rc = -1;
    pthread_mutex_unlock(&j->mu);
    return rc;
}

ssize_t job_read(sjob_t *j, int fd, char *buf, size_t max) {
    pthread_mutex_lock(&j->mu);
    ssize_t n = 0;
    while (j->out_pos == j->out.len && !j->done)
        if (wait_slice(j, fd)) {
            n = -1;
            break;
        }
    if (n == 0 && j->out_pos < j->out.len) {
        size_t k = j->out.len - j->out_pos < max ? j->out.len - j->out_pos : max;
        memcpy(buf, j->out.data + j->out_pos, k);
        j->out_pos += k;
        if (j->out_pos == j->out.len) j->out.len = j->out_pos = 0;
        n = (ssize_t)k;
    }
    pthread_mutex_unlock(&j->mu);
    return n;
}
