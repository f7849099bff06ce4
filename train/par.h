/* par.h — a tiny fork-join parallel for over pthreads, for the training step's non-BLAS work
 * (attention heads, cross-entropy rows). The BLAS runs its own threads between these regions.
 */
#ifndef LLADA_TRAIN_PAR_H
#define LLADA_TRAIN_PAR_H

/* Run fn(i, arg) for i in [0, n) on `threads` threads (contiguous chunks; threads <= 1 runs
 * inline). Returns after all calls finished. Falls back to running inline if a thread cannot
 * be created. */
void par_for(int n, int threads, void (*fn)(int i, void *arg), void *arg);

#endif
