/* par.c — fork-join parallel for (see par.h). Threads are created per call: the regions it
 * serves last milliseconds, so the ~20 µs spawn cost does not matter and nothing lingers. */
#include <pthread.h>
#include "par.h"

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

void par_for(int n, int threads, void (*fn)(int i, void *arg), void *arg) {
    enum { MAXT = 64 };
    if (threads > MAXT) threads = MAXT;
    if (threads > n) threads = n;
    if (threads <= 1) {
        for (int i = 0; i < n; i++) fn(i, arg);
        return;
    }
    chunk_t ch[MAXT];
    pthread_t tid[MAXT];
    int started[MAXT] = {0};
    for (int t = 0; t < threads; t++) {
        ch[t] = (chunk_t){(int)((long)n * t / threads), (int)((long)n * (t + 1) / threads), fn, arg};
        if (t > 0) started[t] = pthread_create(&tid[t], NULL, run_chunk, &ch[t]) == 0;
    }
    run_chunk(&ch[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else run_chunk(&ch[t]);
    }
}
