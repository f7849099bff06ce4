/* bench.h — forward-pass benchmark against the in-run GEMM ceiling (denoise --bench). */
#ifndef LLADA_DENOISE_BENCH_H
#define LLADA_DENOISE_BENCH_H
#include "model/model.h"
/* Print one JSON line: tokens/s, GFLOP/s, sgemm ceiling on the same shapes, ratio, profile. */
int denoise_bench(const model_t *m, int L, int reps, const char *corename, lerr_t *e);
/* denoise --bench-fast P:G:B (bench_fast.c): per-step times of the exact, refresh, prefix and
 * dual steps in each precision, and GEMM ceilings (sgemm, oneDNN bf16, own bf16 path) on the
 * same shapes; one JSON line. only: -1 every precision, else that MODEL_PREC_* alone (without
 * the sgemm / own-path ceilings). Leaves the model at f32. */
int denoise_bench_fast(model_t *m, int P, int G, int blk, int reps, int only, const char *corename, lerr_t *e);
#endif
