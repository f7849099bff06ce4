/* dnnl_env.c — loads oneDNN with dlopen on first use (see dnnl_env.h): the table of its entry
 * points gemm_dnnl.c calls, and the reason in one line when it cannot be loaded. */
#ifdef LLADA_DNNL
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include "dnnl_env.h"

static dnnl_env_t D;
static const dnnl_env_t *D_ok;
static char D_err[256];
static pthread_once_t D_once = PTHREAD_ONCE_INIT;

static void load(void) {
    static const char *const names[] = {"libdnnl.so.2", "libdnnl.so"};
    void *h = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !h; i++) h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(D_err, sizeof D_err, "cannot load oneDNN (libdnnl.so.2; Debian: libdnnl2): %s",
                 why ? why : "not found");
        return;
    }
#define DNNL_ENV_LOAD(f) \
    if (!(D.f = (__typeof__(D.f))dlsym(h, #f))) { \
        snprintf(D_err, sizeof D_err, "libdnnl.so.2 lacks %s: not oneDNN 2.x?", #f); \
        return; \
    }
    DNNL_ENV_FUNCS(DNNL_ENV_LOAD)
#undef DNNL_ENV_LOAD
    D.omp_set_num_threads = (void (*)(int))dlsym(h, "omp_set_num_threads"); /* from its libgomp */
    D_ok = &D;
}

const dnnl_env_t *dnnl_env(void) {
    pthread_once(&D_once, load);
    return D_ok;
}

const char *dnnl_env_error(void) {
    pthread_once(&D_once, load);
    return D_ok ? "" : D_err;
}
#else
typedef int dnnl_env_unused_t; /* ISO C: a translation unit is not empty */
#endif
