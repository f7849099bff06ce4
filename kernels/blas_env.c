/* blas_env.c — re-execute the tool with OPENBLAS_CORETYPE set for this CPU (see
 * blas_env.h for why: Debian's OpenBLAS misdetects these Xeons and reads the variable only
 * at library load time). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <cblas.h>
#include "blas_env.h"

/* openblas_* prototypes come from OpenBLAS's <cblas.h> (pkg-config openblas); another
 * vendor's cblas.h first on the include path would leave them undeclared. */
#ifndef OPENBLAS_VERSION
#error "<cblas.h> is not OpenBLAS's: install libopenblas-dev (pkg-config openblas)"
#endif

const char *blas_wanted_coretype(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

/* Core types acceptable on this CPU when the user chose one: the wanted one, or a newer
 * kernel set the CPU supports. */
static int acceptable(const char *have, const char *want) {
    if (!strcasecmp(have, want)) return 1;
    if (!strcmp(want, "SkylakeX"))
        return !strcasecmp(have, "Cooperlake") || !strcasecmp(have, "SapphireRapids");
    return 0;
}

void blas_ensure_coretype(char **argv) {
    const char *want = blas_wanted_coretype();
    const char *have = getenv("OPENBLAS_CORETYPE");
    const char *nore = getenv("LLADA_NO_REEXEC");
    if (!want || (have && acceptable(have, want))) {
        unsetenv("LLADA_BLAS_REEXEC"); /* children with a wrong setting get fixed again */
        return;
    }
    if ((nore && !strcmp(nore, "1")) || getenv("LLADA_BLAS_REEXEC")) return;
    setenv("OPENBLAS_CORETYPE", want, 1);
    setenv("LLADA_BLAS_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "%s: notice: could not re-execute with OPENBLAS_CORETYPE=%s; BLAS may be slow\n",
            argv && argv[0] ? argv[0] : "llada", want);
}

const char *blas_corename(void) {
    const char *n = openblas_get_corename();
    return n ? n : "unknown";
}
