/* blas_env.h — keep OpenBLAS off its slow misdetected path on these Xeons.
 *
 * Debian 12's OpenBLAS 0.3.21 does not recognise Sapphire-Rapids-class CPUs and falls back
 * to its Prescott (SSE3) kernels, ~6x slower. It reads OPENBLAS_CORETYPE only when the
 * library is loaded, before main(), so the only fix from inside the program is to set the
 * variable and re-execute itself. Every tool that runs GEMMs calls blas_ensure_coretype()
 * first thing in main().
 */
#ifndef LLADA_BLAS_ENV_H
#define LLADA_BLAS_ENV_H

/* The core type this CPU should use: "SkylakeX" (AVX-512), "Haswell" (AVX2) or NULL. */
const char *blas_wanted_coretype(void);
/* If OPENBLAS_CORETYPE is unset or names a core this CPU should not use, set it to
 * blas_wanted_coretype() and execv("/proc/self/exe", argv). Returns normally when the
 * environment is already right, when re-exec is impossible (a notice on stderr), or when
 * LLADA_NO_REEXEC=1 is set. Loop-safe (a marker variable stops a second re-exec). */
void blas_ensure_coretype(char **argv);
/* openblas_get_corename() of the loaded library (e.g. "SkylakeX", "Prescott"). */
const char *blas_corename(void);

#endif
