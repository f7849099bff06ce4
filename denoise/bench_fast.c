/* bench_fast.c — `denoise --bench-fast P:G:B`: what the KV cache and the precision modes buy on
 * a canvas of P prompt + G generated tokens in blocks of B (issue 12 §4).
 *
 * For each precision (f32, then bf16 and int8 when built with oneDNN; model_set_precision
 * switches in-run) it times, best of `reps`, interleaved:
 *   full    model_forward_hidden over the whole canvas + the LM head on B rows: one step of
 *           the exact sampler (--cache none);
 *   refresh model_forward_cached over the whole canvas (fills the cache): a block's first step;
 *   prefix  model_forward_cached on [block start, end) + head: a later step of --cache prefix;
 *   dual    model_forward_cached on the block + head: a later step of --cache dual;
 *   head    the LM head alone on B rows;
 * the block being the middle one of the generation. Then GEMM ceilings on exactly the products
 * of one full forward (projections, attention per head, LM head): OpenBLAS sgemm (f32), oneDNN
 * bf16 matmul with prepacked operands, and this toolkit's own bf16-weight path (matmul(): AMX,
 * or panels + sgemm without AMX, AVX512-BF16 up to 16 rows) on the linear shapes. The oneDNN
 * bf16 ceiling is timed inside each bf16 repetition, followed by two whole bf16 forwards
 * (bf16_full_paired_s: the better; bf16_full_first_s: the first alone). One JSON
 * line on stdout; bench/fast.sh turns it into per-token times. `only` >= 0 times that
 * precision alone (denoise --bench-fast with --precision bf16|int8: what an 8B-shaped layer
 * needs of a shared core for the bf16 rate line) and skips the sgemm / own-kernel ceilings
 * (reported as -1). Times are the process's CPU time with one thread, wall time with more
 * ("clock"). The model's precision is f32 again on return.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"

/* The bench's clock: the process's CPU time with one thread (on a shared machine that counts
 * the work, not the time spent waiting for a core), wall time with several (CPU time would
 * sum the threads). Set by denoise_bench_fast; "clock" in the JSON says which. */
static clockid_t g_clock = CLOCK_MONOTONIC;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    int M, N, K, count, linear;
} gshape_t;

static int shapes(const llada_config_t *c, int L, int hrows, gshape_t *s) {
    int n = 0, d = c->d_model, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim, f = c->mlp_hidden_size,
        Ly = c->n_layers;
    s[n++] = (gshape_t){L, qd, d, Ly, 1};
    s[n++] = (gshape_t){L, kvd, d, 2 * Ly, 1};
    s[n++] = (gshape_t){L, d, qd, Ly, 1};
    s[n++] = (gshape_t){L, f, d, 2 * Ly, 1};
    s[n++] = (gshape_t){L, d, f, Ly, 1};
    s[n++] = (gshape_t){L, L, c->head_dim, Ly * c->n_heads, 0}; /* q kᵀ */
    s[n++] = (gshape_t){L, c->head_dim, L, Ly * c->n_heads, 0}; /* p v */
    s[n++] = (gshape_t){hrows, c->embedding_size, d, 1, 1};     /* LM head on the block */
    return n;
}

static double flops(const gshape_t *s, int n, bool linear_only) {
    double f = 0;
    for (int i = 0; i < n; i++)
        if (s[i].linear || !linear_only) f += 2.0 * s[i].M * s[i].N * s[i].K * s[i].count;
    return f;
}

static void fill(float *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (float)((int)((i * 2654435761u + seed) % 2001) - 1000) * 1e-3f;
}

/* Seconds of one pass over the shapes: kind 0 sgemm, 1 oneDNN bf16 (prepacked outside the
 * timing), 2 matmul() on bf16 weights (linear shapes only). -1 on OOM. */
static double time_shapes(const gshape_t *s, int n, int kind) {
    double t = 0;
    for (int i = 0; i < n; i++) {
        if (kind == 2 && !s[i].linear) continue;
        size_t a = (size_t)s[i].M * s[i].K, b = (size_t)s[i].N * s[i].K, c = (size_t)s[i].M * s[i].N;
        float *A = malloc(a * 4), *B = malloc(b * 4), *C = malloc(c * 4);
        uint16_t *Bh = kind == 2 ? malloc(b * 2) : NULL;
        kpack_t *P = NULL;
        if (!A || !B || !C || (kind == 2 && !Bh)) {
            free(A);
            free(B);
            free(C);
            free(Bh);
            return -1;
        }
        fill(A, a, 1);
        fill(B, b, 2);
        wtensor_t W = {WT_F32, B, s[i].N, s[i].K};
        if (kind == 1 && !(P = kpack_new(&W, KPREC_BF16))) {
            free(A);
            free(B);
            free(C);
            return -1;
        }
        if (kind == 2) {
            for (size_t j = 0; j < b; j++) Bh[j] = f32_to_bf16(B[j]);
            W = (wtensor_t){WT_BF16, Bh, s[i].N, s[i].K};
        }
        for (int r = -1; r < s[i].count; r++) { /* r = -1: warm-up, untimed */
            double t0 = now_s();
            if (kind == 0) kgemm_nt(s[i].M, s[i].N, s[i].K, 1, A, s[i].K, B, s[i].K, 0, C, s[i].N);
            else if (kind == 1) kpack_matmul(C, A, P, s[i].M, false);
            else matmul(C, A, &W, s[i].M, false);
            if (r >= 0) t += now_s() - t0;
        }
        kpack_free(&P);
        free(A);
        free(B);
        free(C);
        free(Bh);
    }
    return t;
}

static double mn(double a, double b) { return a < b ? a : b; }

int denoise_bench_fast(model_t *m, int P, int G, int blk, int reps, int only, const char *corename, lerr_t *e) {
    const llada_config_t *c = &m->cfg;
    if (P < 1 || G < blk || blk < 1 || G % blk)
        return lerr_set(e, EXIT_USAGE, "--bench-fast P:G:B needs P >= 1 and G a multiple of B");
    g_clock = kern_threads() == 1 ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
    int L = P + G, d = c->d_model, V = c->embedding_size, bs = P + (G / blk / 2) * blk, be = bs + blk;
    int32_t *tok = malloc((size_t)L * sizeof *tok);
    float *h = malloc((size_t)L * d * sizeof *h), *lg = malloc((size_t)blk * V * sizeof *lg);
    fwd_scratch_t *s = fwd_scratch_new(m, 1, L, e);
    fwd_cache_t *kv = s ? fwd_cache_new(m, 1, L, e) : NULL;
    int rc = -1;
    if (!tok || !h || !lg || !s || !kv) {
        if (tok && h && lg) goto out; /* e set by the constructor */
        lerr_set(e, EXIT_INTERNAL, "out of memory for the benchmark");
        goto out;
    }
    for (int i = 0; i < L; i++) tok[i] = i < P ? (int32_t)((i * 7919u) % (unsigned)c->vocab_size) : c->mask_token_id;
    printf("{\"prompt\":%d,\"gen\":%d,\"block\":%d,\"layers\":%d,\"d_model\":%d,\"ffn\":%d,\"vocab\":%d,"
           "\"dtype\":\"%s\",\"blas_core\":\"%s\",\"threads\":%d,\"clock\":\"%s\",\"cache_bytes\":%zu,"
           "\"modes\":{",
           P, G, blk, c->n_layers, d, c->mlp_hidden_size, V, wtype_name(c->dtype), corename, kern_threads(),
           g_clock == CLOCK_MONOTONIC ? "wall" : "cpu", fwd_cache_bytes(c, 1, L));
    static const char *const PN[] = {"f32", "bf16", "int8"};
    int nprec = kpack_available() ? 3 : 1;
    gshape_t sh[16];
    int ns = shapes(c, L, blk, sh);
    /* the interleaved pair: ceiling, full bf16 forward (best of the two after each ceiling;
     * f_first: the first of them alone, which also pays for the ceiling's memory churn) */
    double g_dnnl = 1e30, f_bf16 = 1e30, f_first = 1e30;
    for (int p = 0, first = 1; p < nprec; p++) {
        if (only >= 0 && p != only) continue;
        if (model_precision(m) != p && model_set_precision(m, p, e)) goto out;
        double tf = 1e30, tr = 1e30, tp = 1e30, td = 1e30, th = 1e30;
        if (model_forward_cached(m, s, kv, tok, NULL, 1, L, 0, L, h, e)) goto out; /* warm-up */
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            if (model_forward_hidden(m, s, tok, NULL, 1, L, h, e)) goto out;
            model_head(m, h + (size_t)bs * d, blk, lg);
            double t1 = now_s();
            if (model_forward_cached(m, s, kv, tok, NULL, 1, L, 0, L, h, e)) goto out;
            double t2 = now_s();
            if (model_forward_cached(m, s, kv, tok, NULL, 1, L, bs, L, h, e)) goto out;
            model_head(m, h + (size_t)bs * d, blk, lg);
            double t3 = now_s();
            if (model_forward_cached(m, s, kv, tok, NULL, 1, L, bs, be, h, e)) goto out;
            model_head(m, h + (size_t)bs * d, blk, lg);
            double t4 = now_s();
            model_head(m, h + (size_t)bs * d, blk, lg);
            double t5 = now_s();
            if (p == MODEL_PREC_BF16) { /* the ceiling, then the forward alone twice, back to back */
                double tc = time_shapes(sh, ns, 1);
                for (int k = 0; k < 2; k++) {
                    double t6 = now_s();
                    if (model_forward_hidden(m, s, tok, NULL, 1, L, h, e)) goto out;
                    model_head(m, h + (size_t)bs * d, blk, lg);
                    double t7 = now_s() - t6;
                    f_bf16 = mn(f_bf16, t7);
                    if (!k) f_first = mn(f_first, t7);
                }
                if (tc >= 0) g_dnnl = mn(g_dnnl, tc);
            }
            tf = mn(tf, t1 - t0);
            tr = mn(tr, t2 - t1);
            tp = mn(tp, t3 - t2);
            td = mn(td, t4 - t3);
            th = mn(th, t5 - t4);
        }
        printf("%s\"%s\":{\"full_s\":%.5f,\"refresh_s\":%.5f,\"prefix_s\":%.5f,\"dual_s\":%.5f,\"head_s\":%.5f,"
               "\"packed_bytes\":%zu}",
               first ? "" : ",", PN[p], tf, tr, tp, td, th, model_precision_bytes(m));
        first = 0;
        fflush(stdout);
    }
    if (model_set_precision(m, MODEL_PREC_F32, e)) goto out;
    double g_sgemm = -1, g_own = -1; /* -1: not timed (only one precision asked for) */
    for (int r = 0; only < 0 && r < (reps < 2 ? reps : 2); r++) {
        if (!r) g_sgemm = g_own = 1e30;
        double t = time_shapes(sh, ns, 0);
        if (t >= 0) g_sgemm = mn(g_sgemm, t);
        if ((t = time_shapes(sh, ns, 2)) >= 0) g_own = mn(g_own, t);
    }
    printf(
        "},\"forward_flops\":%.4g,\"linear_flops\":%.4g,\"sgemm_s\":%.5f,\"dnnl_bf16_s\":%.5f,"
        "\"bf16_full_paired_s\":%.5f,\"bf16_full_first_s\":%.5f,\"own_bf16_linear_s\":%.5f,\"bf16_kernels\":\"%s\"}\n",
        flops(sh, ns, false), flops(sh, ns, true), g_sgemm, g_dnnl < 1e30 ? g_dnnl : -1.0,
        f_bf16 < 1e30 ? f_bf16 : -1.0, f_first < 1e30 ? f_first : -1.0, g_own,
        matmul_amx_available()    ? "amx"
        : matmul_bf16_available() ? "avx512-bf16 (<= 16 rows), panels + sgemm"
                                  : "panels + sgemm");
    rc = 0;
out:
    free(tok);
    free(h);
    free(lg);
    fwd_cache_destroy(&kv);
    fwd_scratch_destroy(&s);
    return rc;
}
