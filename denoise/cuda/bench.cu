/* bench.cu — benchmark of the CUDA backend on an 8B-shaped LLaDA with random bf16 weights
 * made on the device (see cuda_bench_run in denoise/backend_cuda.h).
 *
 * Reference rate: a cuBLAS bf16 GEMM 8192³ (fp32 accumulate) on random data, median of 10,
 * measured in the same run. Per canvas L and batch B: forward ms (graph replay, median of 5
 * after warm-up), MFU = forward FLOPs (2·T·linear params + 4·B·L²·Hq·hd per layer) / time /
 * reference rate; the split into GEMM, attention and other kernels from eager runs that
 * leave phases out; one full step (tokens up, forward, LM head on L/2 masked positions per
 * row, Gumbel summaries at T = 1, summaries down) on the host clock, and the LM-head GEMM and
 * summary kernels alone with events. Memory: the plan for 8B + a 4096 canvas, and the
 * allocator's measured use against the plan of the largest shape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <algorithm>
#include "backend.cuh"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/randfill.cuh"
#include "kernels/cuda/summarise.cuh"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static double median(double *v, int n) {
    std::sort(v, v + n);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median over reps of the event time of fn(b) on b->st (after `warm` untimed runs). */
template <typename F> static int time_events(cuda_backend_t *b, int warm, int reps, double *ms, F fn) {
    cudaEvent_t e0, e1;
    double t[64];
    CU_REQUIRE(reps > 0 && reps <= 64);
    CU_CHECK(cudaEventCreate(&e0));
    CU_CHECK(cudaEventCreate(&e1));
    for (int i = 0; i < warm; i++)
        if (fn()) return -1;
    for (int i = 0; i < reps; i++) {
        float f;
        CU_CHECK(cudaEventRecord(e0, b->st));
        if (fn()) return -1;
        CU_CHECK(cudaEventRecord(e1, b->st));
        CU_CHECK(cudaEventSynchronize(e1));
        CU_CHECK(cudaEventElapsedTime(&f, e0, e1));
        t[i] = f;
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    *ms = median(t, reps);
    return 0;
}

/* cuBLAS bf16 rate (TFLOP/s) on an n³ product of random matrices. */
static int gemm_rate(cuda_backend_t *b, int n, double *tflops) {
    void *A, *B, *C;
    size_t nn = (size_t)n * n;
    CU_CHECK(cudaMalloc(&A, nn * 2));
    CU_CHECK(cudaMalloc(&B, nn * 2));
    CU_CHECK(cudaMalloc(&C, nn * 2));
    double ms = 0;
    int rc = cu_randfill(A, CU_BF16, nn, 11, 0, 1, b->st) || cu_randfill(B, CU_BF16, nn, 12, 0, 1, b->st) ||
             time_events(b, 3, 10, &ms, [&] { return cu_gemm(b->blas, C, CU_BF16, A, n, B, CU_BF16, n, n, n, 0.0f); });
    cudaFree(A);
    cudaFree(B);
    cudaFree(C);
    if (rc) return -1;
    *tflops = 2.0 * nn * n / (ms * 1e9);
    return 0;
}

static double fwd_flops(const llada_config_t *c, int B, int L) {
    double T = (double)B * L, d = c->d_model, hd = c->head_dim, qd = c->n_heads * hd,
           nqkv = qd + 2.0 * c->n_kv_heads * hd, F = c->mlp_hidden_size;
    double lin = nqkv * d + d * qd + 3 * F * d, att = 4.0 * B * (double)L * L * qd;
    return c->n_layers * (2 * T * lin + att);
}

typedef struct {
    double fwd, mfu, gemm, attn, other, step, head, summ;
} row_t;

/* Eager forward time with the phases in `skip` left out. */
static int time_phase(cuda_backend_t *b, int B, int L, int skip, double *ms) {
    b->skip = skip;
    int rc = time_events(b, 1, 3, ms, [&] { return forward_enqueue(b, B, L); });
    b->skip = 0;
    return rc;
}

static int bench_step(cuda_backend_t *b, int B, int L, row_t *r, lerr_t *e) {
    const llada_config_t *c = &b->cfg;
    size_t T = (size_t)B * L;
    int nc = (int)(T / 2), V = c->embedding_size;
    int32_t *tok = (int32_t *)malloc(T * 4);
    int *crow = (int *)malloc(nc * sizeof(int)), *cpos = (int *)malloc(nc * sizeof(int));
    uint64_t *pre = (uint64_t *)malloc(nc * 8);
    rm_cand_t *out = (rm_cand_t *)calloc(nc, sizeof *out);
    if (!tok || !crow || !cpos || !pre || !out) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    for (size_t i = 0; i < T; i++) tok[i] = (int32_t)((i * 2654435761u) % c->vocab_size);
    for (int i = 0; i < nc; i++) {
        crow[i] = i / (L / 2);
        cpos[i] = L / 2 + i % (L / 2);
        tok[(size_t)crow[i] * L + cpos[i]] = c->mask_token_id;
        pre[i] = 0x9E3779B97F4A7C15ull * (i + 1);
    }
    sampler_opts_t o;
    memset(&o, 0, sizeof o);
    o.temperature = 1.0;
    double t[3];
    int rc = 0;
    for (int i = 0; i < 4 && !rc; i++) { /* first run: warm-up */
        double t0 = now_ms();
        rc = cuda_backend_step(b, &o, tok, NULL, B, B, L, crow, cpos, pre, nc, out, e);
        if (i) t[i - 1] = now_ms() - t0;
    }
    if (!rc) r->step = median(t, 3);
    cu_summ_opts_t so = {1.0, 0, 0, 0, c->eos_token_id, c->eot_token_id};
    int d = c->d_model;
    if (!rc &&
        (time_events(b, 1, 3, &r->head,
                     [&] {
                         for (int c0 = 0; c0 < nc; c0 += HEAD_ROWS)
                             if (cu_gemm(b->blas, b->lc, CU_F32, b->hid, d, b->head, b->wt,
                                         std::min((int)HEAD_ROWS, nc - c0), V, d, 0.0f))
                                 return -1;
                         return 0;
                     }) ||
         time_events(b, 1, 3, &r->summ, [&] {
             for (int c0 = 0; c0 < nc; c0 += HEAD_ROWS)
                 if (cu_summarise(b->cand, b->lc, std::min((int)HEAD_ROWS, nc - c0), V, V, b->prefix, &so, b->st))
                     return -1;
             return 0;
         })))
        rc = backend_error(e, "bench (head/summaries)");
    free(tok);
    free(crow);
    free(cpos);
    free(pre);
    free(out);
    return rc;
}

static int bench_one(cuda_backend_t *b, int B, int L, double rate, row_t *r, lerr_t *e) {
    size_t T = (size_t)B * L;
    int32_t *tok = (int32_t *)malloc(T * 4);
    if (!tok) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    for (size_t i = 0; i < T; i++) tok[i] = (int32_t)((i * 40503u + 7) % b->cfg.vocab_size);
    int rc = upload_inputs(b, tok, NULL, B, L, e);
    free(tok);
    if (rc) return -1;
    if (time_events(b, 2, 5, &r->fwd, [&] { return forward_run(b, B, L); }) ||
        time_phase(b, B, L, SKIP_ATTN | SKIP_OTHER, &r->gemm) ||
        time_phase(b, B, L, SKIP_GEMM | SKIP_OTHER, &r->attn) || time_phase(b, B, L, SKIP_GEMM | SKIP_ATTN, &r->other))
        return backend_error(e, "bench (forward)");
    r->mfu = fwd_flops(&b->cfg, B, L) / (r->fwd * 1e9) / rate;
    return bench_step(b, B, L, r, e);
}

static void print_row(FILE *out, int L, int B, const row_t *r) {
    double ph = r->gemm + r->attn + r->other;
    fprintf(out, "| %5d | %2d | %9.2f | %5.1f%% | %5.1f%% | %5.1f%% | %5.1f%% | %9.2f | %7.2f | %7.2f | %5.2f%% |\n", L,
            B, r->fwd, 100 * r->mfu, 100 * r->gemm / ph, 100 * r->attn / ph, 100 * r->other / ph, r->step, r->head,
            r->summ, 100 * r->summ / r->step);
}

static int bench_all(cuda_backend_t *b, const int *Ls, int nL, const int *Bs, int nBs, double rate, FILE *out,
                     lerr_t *e) {
    fprintf(out, "| canvas | B | fwd ms | MFU | GEMM | attn | other | step ms | head ms | summ ms | summ/step |\n"
                 "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nL; i++)
        for (int j = 0; j < nBs; j++) {
            row_t r;
            memset(&r, 0, sizeof r);
            if (bench_one(b, Bs[j], Ls[i], rate, &r, e)) return -1;
            print_row(out, Ls[i], Bs[j], &r);
            fflush(out);
        }
    return 0;
}

int cuda_bench_run(const llada_config_t *c, const int *Ls, int nL, const int *Bs, int nBs, FILE *out, lerr_t *e) {
    int maxL = 0, maxB = 0;
    for (int i = 0; i < nL; i++) maxL = std::max(maxL, Ls[i]);
    for (int i = 0; i < nBs; i++) maxB = std::max(maxB, Bs[i]);
    double plan24 = cuda_plan_bytes(c, CUDA_PREC_BF16, 1, 4096) / 1073741824.0;
    cuda_backend_t *b = cuda_backend_new_random(c, CUDA_PREC_BF16, 1, e);
    if (!b) return -1;
    double rate = 0;
    size_t f0 = 0, f1 = 0, tot = 0;
    int rc = -1;
    cu_clear_error();
    if (gemm_rate(b, 8192, &rate)) {
        backend_error(e, "bench (cuBLAS rate)");
        goto out;
    }
    fprintf(out, "device: %s\ncuBLAS bf16 GEMM 8192^3: %.1f TFLOP/s (reference for MFU)\n", b->device, rate);
    fprintf(out, "memory plan, 8B + 4096 canvas, batch 1: %.2f GiB (%s 24 GiB)\n", plan24,
            plan24 <= 24.0 ? "fits" : "EXCEEDS");
    cudaMemGetInfo(&f0, &tot);
    if (cuda_backend_reserve(b, maxB, maxL, e)) goto out;
    cudaMemGetInfo(&f1, &tot);
    fprintf(out, "activations %d x %d: measured %.2f GiB, plan %.2f GiB (without weights)\n", maxB, maxL,
            (f0 - f1) / 1073741824.0,
            (cuda_plan_bytes(c, CUDA_PREC_BF16, maxB, maxL) - plan_sizes(c, CU_BF16, 1, 1).weights_bytes -
             CUBLAS_WS_BYTES) /
                1073741824.0);
    rc = bench_all(b, Ls, nL, Bs, nBs, rate, out, e);
out:
    cuda_backend_destroy(&b);
    return rc;
}
