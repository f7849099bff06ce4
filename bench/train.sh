#!/usr/bin/env bash
# bench/train.sh — training throughput (tokens/s) and achieved GFLOP/s of train's CPU step
# (forward + backward, diffusion objective, the bundled model's shape) beside the fastest
# correct fp32 GEMM on this machine (OpenBLAS with the right OPENBLAS_CORETYPE) on the step's
# own GEMM shapes, measured in the same process, as a ratio (target >= 0.5); then, when oneDNN
# is available, the same step with --precision bf16 in the same process, the two precisions'
# steps interleaved so both see the same machine load: best wall time and least CPU time
# (CLOCK_PROCESS_CPUTIME_ID) per step, as tokens/s, and the bf16/f32 speed-up.
# Env: THREADS (default "1 2"), SHAPE="d_model layers mlp vocab seq batch" (default the bundled
# model: 256 6 768 4096 128 16), REPS (default 3).
set -eu
root=${LLADA_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/bench_train.c" <<'EOF'
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "blas_env.h"
#include "train/step.h"
#include "kernels.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
/* best GFLOP/s of y = x·Wᵀ (M×K·K×N) over reps, plus a max-rel-error check against double */
static double gemm_rate(int M, int N, int K, int reps, double *relerr) {
    float *a = malloc(4.0 * M * K), *b = malloc(4.0 * N * K), *c = malloc(4.0 * M * N);
    for (long i = 0; i < (long)M * K; i++) a[i] = (float)((i * 7919 % 2001) - 1000) / 1000;
    for (long i = 0; i < (long)N * K; i++) b[i] = (float)((i * 104729 % 2001) - 1000) / 1000;
    double best = 0;
    for (int r = 0; r < reps + 1; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, a, K, b, K, 0, c, N);
        t = now() - t;
        if (r && 2.0 * M * N * K / t / 1e9 > best) best = 2.0 * M * N * K / t / 1e9;
    }
    double worst = 0;
    for (int s = 0; s < 64; s++) {
        int i = (s * 37) % M, j = (s * 101) % N;
        double ref = 0, mag = 0;
        for (int k = 0; k < K; k++) ref += (double)a[(long)i * K + k] * b[(long)j * K + k], mag += fabs((double)a[(long)i * K + k] * b[(long)j * K + k]);
        worst = fmax(worst, fabs(ref - c[(long)i * N + j]) / (mag + 1e-30));
    }
    *relerr = worst;
    free(a); free(b); free(c);
    return best;
}
int main(int argc, char **argv) {
    blas_ensure_coretype(argv);
    int D = atoi(argv[1]), NL = atoi(argv[2]), F = atoi(argv[3]), V = atoi(argv[4]),
        T = atoi(argv[5]), B = atoi(argv[6]), th = atoi(argv[7]), reps = atoi(argv[8]);
    blas_set_threads(th);
    llada_config_t c; memset(&c, 0, sizeof c);
    c.d_model = D; c.n_layers = NL; c.n_heads = D / 64; c.n_kv_heads = D / 64; c.head_dim = 64;
    c.mlp_hidden_size = F; c.vocab_size = V; c.embedding_size = V; c.rope_theta = 10000; c.rms_norm_eps = 1e-5;
    size_t np = tparams_count(&c);
    float *p = malloc(4 * np), *g = calloc(np, 4);
    tparams_init(&c, p, 0.02, 1);
    tview_t pv, gv; tparams_bind(&c, p, &pv); tparams_bind(&c, g, &gv);
    lerr_t e; tstep_t *s = tstep_new(&c, B, T, th, &e);
    int N = B * T, nsel = 0;
    int32_t *ids = malloc(4 * N), *tg = malloc(4 * N); float *w = malloc(4 * N);
    for (int i = 0; i < N; i++) { ids[i] = (i * 31) % V; tg[i] = (i * 17) % V; w[i] = (i % 2) ? 1.0f / N : 0; nsel += i % 2; }
    /* exact GEMM FLOPs of one step: linear layers fwd + 2x bwd, attention 4 fwd + 8 bwd T²·hd per head, head on nsel rows */
    double lin = 2.0 * N * D * (3.0 * D) + 2.0 * N * D * D + 2.0 * N * D * 2 * F + 2.0 * N * F * D;
    double att = (double)B * c.n_heads * 12.0 * T * T * 64;
    double flops = NL * (3 * lin + att) + 6.0 * nsel * D * V;
    tstep_run(s, &pv, &gv, ids, tg, w, B, T, 0, NULL, &e);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = now();
        tstep_run(s, &pv, &gv, ids, tg, w, B, T, 0, NULL, &e);
        t = now() - t; if (t < best) best = t;
    }
    double e1, e2, e3, ceil = fmax(gemm_rate(N, F, D, reps, &e1), fmax(gemm_rate(N, D, F, reps, &e2), gemm_rate(nsel, V, D, reps, &e3)));
    double ach = flops / best / 1e9;
    printf("threads %d (BLAS core %s): %.0f tokens/s, %.1f GFLOP/s achieved; GEMM ceiling %.1f GFLOP/s "
           "(max rel. err %.1e); ratio %.2f\n", th, blas_corename(), N / best, ach, ceil,
           fmax(e1, fmax(e2, e3)), ach / ceil);
    if (!gemm_bf16_available()) { printf("bf16: not measured (%s)\n", gemm_bf16_unavailable()); return 0; }
    /* f32 vs bf16, interleaved step by step: best wall and least CPU seconds of each */
    double bw[2] = {1e30, 1e30}, bc[2] = {1e30, 1e30};
    for (int r = 0; r < reps + 1; r++)
        for (int pr = 0; pr < 2; pr++) {
            if (tstep_set_precision(s, pr ? TPREC_BF16 : TPREC_F32, &e)) { printf("bf16: %s\n", e.msg); return 1; }
            double t = now(), c0 = cpu();
            tstep_run(s, &pv, &gv, ids, tg, w, B, T, 0, NULL, &e);
            t = now() - t; c0 = cpu() - c0;
            if (r && t < bw[pr]) bw[pr] = t;
            if (r && c0 < bc[pr]) bc[pr] = c0;
        }
    printf("threads %d: f32 %.0f tokens/s (%.3f s/step wall, %.3f s CPU); bf16 (%s) %.0f tokens/s (%.3f s wall, "
           "%.3f s CPU); bf16 speed-up %.2fx wall, %.2fx CPU\n", th, N / bw[0], bw[0], bc[0], gemm_bf16_impl(),
           N / bw[1], bw[1], bc[1], bw[0] / bw[1], bc[0] / bc[1]);
    return 0;
}
EOF
cc -std=gnu11 -O2 -march=x86-64-v2 -I"$root" -I"$root/common" -I"$root/kernels" -o "$tmp/bench_train" \
   "$tmp/bench_train.c" -L"$root/build/rel" -Wl,--start-group -ltrain -ldenoise -lmask -lkernels -lcommon \
   -Wl,--end-group $(pkg-config --libs jansson libzmq liblz4 2>/dev/null) -lm -lpthread
read -r d l f v t b <<<"${SHAPE:-256 6 768 4096 128 16}"
echo "train step: d_model $d, $l layers, mlp $f, vocab $v, batch $b x $t tokens (forward + backward)"
for th in ${THREADS:-1 2}; do
    nice "$tmp/bench_train" "$d" "$l" "$f" "$v" "$t" "$b" "$th" "${REPS:-3}"
done
