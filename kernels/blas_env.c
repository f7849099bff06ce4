/* blas_env.c — how the tools reach OpenBLAS: loaded with dlopen on the first BLAS call, after
 * OPENBLAS_CORETYPE is set for this CPU (see blas_env.h for why: Debian's OpenBLAS misdetects
 * these Xeons and reads the variable only at library load time). Loading it ourselves instead
 * of linking it replaces the old re-execution of the whole tool, and tools or modes that run
 * no GEMM (--version, --help, a cluster client or broker, tok) never load it at all.
 *
 * cblas_sgemm is defined here with the prototype of OpenBLAS's own <cblas.h>, forwarding to
 * the loaded library; openblas_{set,get}_num_threads and openblas_get_corename are reached
 * through blas_set_threads, blas_get_threads and blas_corename. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cblas.h>
#include "blas_env.h"

/* openblas_* prototypes come from OpenBLAS's <cblas.h> (pkg-config openblas); another
 * vendor's cblas.h first on the include path would leave them undeclared. */
#ifndef OPENBLAS_VERSION
#error "<cblas.h> is not OpenBLAS's: install libopenblas-dev (pkg-config openblas)"
#endif

const char *blas_wanted_coretype(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

/* Core types acceptable on this CPU when the user chose one: the wanted one, or a newer
 * kernel set the CPU supports. */
static int acceptable(const char *have, const char *want) {
    if (!strcasecmp(have, want)) return 1;
    if (!strcmp(want, "SkylakeX")) return !strcasecmp(have, "Cooperlake") || !strcasecmp(have, "SapphireRapids");
    return 0;
}

static void set_coretype(void) {
    const char *want = blas_wanted_coretype(), *have = getenv("OPENBLAS_CORETYPE"), *keep = getenv("LLADA_NO_REEXEC");
    if (!want || (have && acceptable(have, want)) || (keep && !strcmp(keep, "1"))) return;
    setenv("OPENBLAS_CORETYPE", want, 1);
}

void blas_ensure_coretype(char **argv) {
    (void)argv;
    set_coretype();
}

static struct {
    __typeof__(cblas_sgemm) *sgemm;
    __typeof__(openblas_set_num_threads) *set_threads;
    __typeof__(openblas_get_num_threads) *get_threads;
    __typeof__(openblas_get_corename) *corename;
    char err[512];
} B;
static pthread_once_t B_once = PTHREAD_ONCE_INIT;

static void load(void) {
    static const char *const names[] = {"libopenblas.so.0", "libopenblas.so"};
    set_coretype(); /* no-op when main already called blas_ensure_coretype */
    void *h = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !h; i++) h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(B.err, sizeof B.err, "cannot load OpenBLAS (libopenblas.so.0): %s", dlerror());
        return;
    }
    B.sgemm = (__typeof__(B.sgemm))dlsym(h, "cblas_sgemm");
    B.set_threads = (__typeof__(B.set_threads))dlsym(h, "openblas_set_num_threads");
    B.get_threads = (__typeof__(B.get_threads))dlsym(h, "openblas_get_num_threads");
    B.corename = (__typeof__(B.corename))dlsym(h, "openblas_get_corename");
    if (!B.sgemm || !B.set_threads || !B.get_threads || !B.corename) {
        snprintf(B.err, sizeof B.err, "libopenblas.so.0 lacks cblas_sgemm or openblas_*: not OpenBLAS?");
        B.sgemm = NULL;
    }
}

int blas_load(lerr_t *e) {
    pthread_once(&B_once, load);
    return B.sgemm ? 0 : lerr_set(e, EXIT_INTERNAL, "%s", B.err);
}

/* The forwarding entry points cannot return an error: a missing OpenBLAS (a broken install;
 * the package depends on it) ends the process with the reason, once. */
static void need(void) {
    lerr_t e = {0};
    if (blas_load(&e)) {
        fprintf(stderr, "error: %s\n", e.msg);
        exit(EXIT_INTERNAL);
    }
}

void cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER Order, OPENBLAS_CONST enum CBLAS_TRANSPOSE TransA,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE TransB, OPENBLAS_CONST blasint M, OPENBLAS_CONST blasint N,
                 OPENBLAS_CONST blasint K, OPENBLAS_CONST float alpha, OPENBLAS_CONST float *A,
                 OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *Bm, OPENBLAS_CONST blasint ldb,
                 OPENBLAS_CONST float beta, float *C, OPENBLAS_CONST blasint ldc) {
    need();
    B.sgemm(Order, TransA, TransB, M, N, K, alpha, A, lda, Bm, ldb, beta, C, ldc);
}

void blas_set_threads(int n) {
    need();
    B.set_threads(n);
}
int blas_get_threads(void) {
    need();
    return B.get_threads();
}

const char *blas_corename(void) {
    need();
    const char *n = B.corename();
    return n ? n : "unknown";
}
