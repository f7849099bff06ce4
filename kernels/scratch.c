/* scratch.c — per-thread working buffers kept between kernel calls (kernels.h: kern_scratch),
 * so the matmul paths allocate only when a call is larger than any before it on that thread.
 * The buffers live in thread-local storage; a pthread key's destructor frees them when their
 * thread exits (the main thread's are released by the process exit). */
#include <pthread.h>
#include <stdlib.h>
#include "kernels.h"

typedef struct {
    void *p[KERN_SCRATCH_N];
    size_t cap[KERN_SCRATCH_N];
    bool registered;
} tls_bufs_t;

static __thread tls_bufs_t t_bufs;
static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_key_ok;

static void free_bufs(void *v) {
    tls_bufs_t *b = v;
    for (int i = 0; i < KERN_SCRATCH_N; i++) {
        free(b->p[i]);
        b->p[i] = NULL;
        b->cap[i] = 0;
    }
}

static void make_key(void) { g_key_ok = pthread_key_create(&g_key, free_bufs) == 0; }

void *kern_scratch(kern_scratch_slot_t slot, size_t bytes) {
    KERN_ASSERT((unsigned)slot < KERN_SCRATCH_N);
    tls_bufs_t *b = &t_bufs;
    if (!b->registered) { /* so the buffers go when this thread does */
        pthread_once(&g_once, make_key);
        b->registered = g_key_ok && pthread_setspecific(g_key, b) == 0;
    }
    if (bytes <= b->cap[slot] && b->p[slot]) return b->p[slot];
    size_t n = (bytes + 63) & ~(size_t)63;
    free(b->p[slot]);
    b->p[slot] = aligned_alloc(64, n ? n : 64);
    b->cap[slot] = b->p[slot] ? n : 0;
    return b->p[slot];
}
