/* bench.h — forward-pass benchmark against the in-run GEMM ceiling (denoise --bench). */
#ifndef LLADA_DENOISE_BENCH_H
#define LLADA_DENOISE_BENCH_H
#include "model/model.h"
/* Print one JSON line: tokens/s, GFLOP/s, sgemm ceiling on the same shapes, ratio, profile. */
int denoise_bench(const model_t *m, int L, int reps, const char *corename, lerr_t *e);
#endif
