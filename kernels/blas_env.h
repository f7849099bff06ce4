/* blas_env.h — keep OpenBLAS off its slow misdetected path on these Xeons, without paying
 * for it at start-up.
 *
 * Debian 12's OpenBLAS 0.3.21 does not recognise Sapphire-Rapids-class CPUs and falls back
 * to its Prescott (SSE3) kernels, ~6x slower. It reads OPENBLAS_CORETYPE only when the
 * library is loaded, so the tools do not link it: blas_env.c loads it with dlopen on the
 * first BLAS call (cblas_sgemm, openblas_*), after setting the variable. Tools that run GEMMs
 * call blas_ensure_coretype() first thing in main() (while single-threaded).
 */
#ifndef LLADA_BLAS_ENV_H
#define LLADA_BLAS_ENV_H

#include "lerr.h"

/* The core type this CPU should use: "SkylakeX" (AVX-512), "Haswell" (AVX2) or NULL. */
const char *blas_wanted_coretype(void);
/* If OPENBLAS_CORETYPE is unset or names a core this CPU should not use, set it to
 * blas_wanted_coretype() (LLADA_NO_REEXEC=1 keeps the user's setting; the name is from when
 * this re-executed the tool). Loads nothing; argv is unused (kept for the callers). */
void blas_ensure_coretype(char **argv);
/* Load OpenBLAS now (idempotent, thread-safe); -1 with e (EXIT_INTERNAL) when it cannot be
 * loaded. BLAS calls made without it load it themselves and exit with the reason on failure. */
int blas_load(lerr_t *e);
/* openblas_set_num_threads / openblas_get_num_threads of the loaded library. */
void blas_set_threads(int n);
int blas_get_threads(void);
/* openblas_get_corename() of the loaded library (e.g. "SkylakeX", "Prescott"). */
const char *blas_corename(void);

#endif
