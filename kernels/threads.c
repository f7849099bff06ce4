/* threads.c — a minimal parallel-for over the machine's cores for the CPU kernels.
 * Each call starts n-1 pthreads and runs one static chunk itself; the per-call cost
 * (~tens of microseconds) is small next to the row operations it is used for. */
#include <pthread.h>
#include <cblas.h>
#include <unistd.h>
#include "kernels.h"
#include "blas_env.h"

static int g_threads;

int kern_threads(void) {
    if (g_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        g_threads = n < 1 ? 1 : n > KERN_MAX_THREADS ? KERN_MAX_THREADS : (int)n;
    }
    return g_threads;
}

void kern_set_threads(int n) {
    g_threads = n < 1 ? 1 : n > KERN_MAX_THREADS ? KERN_MAX_THREADS : n;
    blas_set_threads(g_threads); /* BLAS uses the same number of cores */
}

typedef struct {
    int lo, hi;
    void (*fn)(int, void *);
    void *arg;
} chunk_t;

static void *run_chunk(void *p) {
    chunk_t *c = p;
    for (int i = c->lo; i < c->hi; i++) c->fn(i, c->arg);
    return NULL;
}

void kern_parallel_for(int n, void (*fn)(int i, void *arg), void *arg) {
    int nt = kern_threads();
    if (nt > n) nt = n;
    if (nt <= 1) {
        for (int i = 0; i < n; i++) fn(i, arg);
        return;
    }
    chunk_t c[KERN_MAX_THREADS];
    pthread_t th[KERN_MAX_THREADS];
    int started[KERN_MAX_THREADS] = {0};
    for (int t = 0; t < nt; t++) { c[t] = (chunk_t){(int)((long)n * t / nt), (int)((long)n * (t + 1) / nt), fn, arg}; }
    for (int t = 1; t < nt; t++) started[t] = pthread_create(&th[t], NULL, run_chunk, &c[t]) == 0;
    run_chunk(&c[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else run_chunk(&c[t]); /* could not start a thread: do its share here */
    }
}
