/* bench.c — `denoise --bench L`: forward-pass speed against the machine's GEMM ceiling.
 *
 * Times model_forward_hidden + the LM head on a random canvas of L tokens, then times plain
 * f32 sgemm (OpenBLAS, same core type and threads) on exactly the matrix shapes the forward
 * multiplies (projections, attention scores and values per head, LM head), so the ratio
 * ceiling_time / forward_time says how close the whole forward is to pure GEMM. Also
 * reports the per-stage profile. Prints one JSON object per call on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    int M, N, K, count, nt;
} shape_t; /* nt: B transposed */

/* The GEMMs of one forward over L tokens. */
static int forward_shapes(const llada_config_t *c, int L, shape_t *s) {
    int n = 0, d = c->d_model, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim, f = c->mlp_hidden_size,
        Ly = c->n_layers;
    s[n++] = (shape_t){L, qd, d, Ly, 1};
    s[n++] = (shape_t){L, kvd, d, 2 * Ly, 1};
    s[n++] = (shape_t){L, d, qd, Ly, 1};
    s[n++] = (shape_t){L, f, d, 2 * Ly, 1};
    s[n++] = (shape_t){L, d, f, Ly, 1};
    s[n++] = (shape_t){L, L, c->head_dim, Ly * c->n_heads, 1}; /* q kᵀ */
    s[n++] = (shape_t){L, c->head_dim, L, Ly * c->n_heads, 0}; /* p v */
    s[n++] = (shape_t){L, c->embedding_size, d, 1, 1};         /* LM head */
    return n;
}

static double shapes_flops(const shape_t *s, int n) {
    double f = 0;
    for (int i = 0; i < n; i++) f += 2.0 * s[i].M * s[i].N * s[i].K * s[i].count;
    return f;
}

/* Seconds for one pass of plain sgemm over all shapes. */
static double time_gemms(const shape_t *s, int n) {
    double t = 0;
    for (int i = 0; i < n; i++) {
        size_t a = (size_t)s[i].M * s[i].K, b = (size_t)s[i].N * s[i].K, c = (size_t)s[i].M * s[i].N;
        float *A = malloc(a * 4), *B = malloc(b * 4), *C = malloc(c * 4);
        if (!A || !B || !C) {
            free(A);
            free(B);
            free(C);
            return -1;
        }
        for (size_t j = 0; j < a; j++) A[j] = (float)((j * 7 % 13) - 6) * 0.01f;
        for (size_t j = 0; j < b; j++) B[j] = (float)((j * 5 % 11) - 5) * 0.01f;
        if (s[i].nt) kgemm_nt(s[i].M, s[i].N, s[i].K, 1, A, s[i].K, B, s[i].K, 0, C, s[i].N); /* warm */
        double t0 = now_s();
        for (int r = 0; r < s[i].count; r++) {
            if (s[i].nt) kgemm_nt(s[i].M, s[i].N, s[i].K, 1, A, s[i].K, B, s[i].K, 0, C, s[i].N);
            else kgemm_nn(s[i].M, s[i].N, s[i].K, 1, A, s[i].K, B, s[i].N, 0, C, s[i].N);
        }
        t += now_s() - t0;
        free(A);
        free(B);
        free(C);
    }
    return t;
}

int denoise_bench(const model_t *m, int L, int reps, const char *corename, lerr_t *e) {
    const llada_config_t *c = &m->cfg;
    int32_t *tok = malloc((size_t)L * sizeof *tok);
    float *h = malloc((size_t)L * c->d_model * sizeof *h), *lg = malloc((size_t)L * c->embedding_size * sizeof *lg);
    fwd_scratch_t *s = fwd_scratch_new(m, 1, L, e);
    if (!tok || !h || !lg || !s) {
        free(tok);
        free(h);
        free(lg);
        fwd_scratch_destroy(&s);
        return lerr_set(e, EXIT_INTERNAL, "out of memory for the benchmark");
    }
    for (int i = 0; i < L; i++) tok[i] = (int32_t)((i * 7919u) % (unsigned)c->vocab_size);
    model_forward_hidden(m, s, tok, NULL, 1, L, h, e); /* warm-up */
    model_head(m, h, L, lg);
    fwd_profile_reset();
    shape_t sh[16];
    int ns = forward_shapes(c, L, sh);
    double flops = shapes_flops(sh, ns), gbest = 1e30, best = 1e30;
    /* interleaved, best of reps: other load on the machine hits both sides alike */
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        model_forward_hidden(m, s, tok, NULL, 1, L, h, e);
        model_head(m, h, L, lg);
        double t = now_s() - t0;
        if (t < best) best = t;
        t = time_gemms(sh, ns);
        if (t >= 0 && t < gbest) gbest = t;
    }
    const char *const *names;
    const double *prof = fwd_profile(&names);
    double tot = 0;
    for (int i = 0; i < FWD_PROF_N; i++) tot += prof[i];
    printf("{\"canvas\":%d,\"params\":%lld,\"dtype\":\"%s\",\"blas_core\":\"%s\",\"threads\":%d,"
           "\"forward_s\":%.4f,\"tokens_per_s\":%.1f,\"gflops\":%.1f,\"gemm_s\":%.4f,"
           "\"gemm_gflops\":%.1f,\"ratio\":%.3f,\"profile\":{",
           L, (long long)model_n_params(c), wtype_name(c->dtype), corename, kern_threads(), best, L / best,
           flops / best * 1e-9, gbest, flops / gbest * 1e-9, gbest / best);
    for (int i = 0; i < FWD_PROF_N; i++) printf("%s\"%s\":%.3f", i ? "," : "", names[i], tot > 0 ? prof[i] / tot : 0);
    printf("}}\n");
    free(tok);
    free(h);
    free(lg);
    fwd_scratch_destroy(&s);
    return 0;
}
