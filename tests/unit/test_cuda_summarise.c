/* test_cuda_summarise.c — the GPU sampling-summary arithmetic (kernels/cuda/summarise_row.h,
 * the functions the CUDA kernel runs per element, per merge and at the end) executed on the
 * host in the kernel's exact order (512 strided "threads", the shared-memory tree merge, the
 * warp-shuffle butterfly sums, the per-warp totals), against denoise/sampler.c
 * sampler_summarise(), the CPU reference. Needs no GPU or nvcc: it pins the reduction logic
 * (first-index ties, top-2 multiset, -inf columns, the EOS/EOT flags and the official quirk,
 * Gumbel draws from the shared crng) on every machine; tests/gpu/gpu_check.c then compares
 * the real kernel with the CPU on a GPU. Tokens must be identical; conf/prob/margin/entropy
 * agree to 1e-12 relative (only the order of the float64 sums differs). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testlib.h"
#include "kernels/cuda/summarise_row.h"
#include "denoise/sampler.h"

enum { STH = 512 };

/* The kernel's two passes and reductions, serialised. */
static void emulate(const float *l, int V, uint64_t pre, const cu_summ_opts_t *o, rm_cand_t *c) {
    static summ_p1_t sh[STH];
    static summ_p2_t p[STH];
    bool he = summ_has_eot(o, V);
    for (int t = 0; t < STH; t++) {
        sh[t] = summ_p1_init();
        for (int i = t; i < V; i += STH) summ_p1_add(&sh[t], l, i, pre, o, he);
    }
    for (int s = STH / 2; s > 0; s >>= 1)
        for (int t = 0; t < s; t++) summ_p1_merge(&sh[t], &sh[t + s]);
    summ_p1_t a = sh[0];
    for (int t = 0; t < STH; t++) {
        p[t] = (summ_p2_t){0, 0, 0};
        for (int i = t; i < V; i += STH) summ_p2_add(&p[t], l, i, a.mx, a.mx2, o, he);
    }
    summ_p2_t tot = {0, 0, 0};
    for (int w = 0; w < STH / 32; w++) {
        summ_p2_t v[32], n[32];
        memcpy(v, p + w * 32, sizeof v);
        for (int off = 16; off > 0; off >>= 1) { /* __shfl_xor butterfly */
            for (int ln = 0; ln < 32; ln++) {
                n[ln].s = v[ln].s + v[ln ^ off].s;
                n[ln].sl = v[ln].sl + v[ln ^ off].sl;
                n[ln].s2 = v[ln].s2 + v[ln ^ off].s2;
            }
            memcpy(v, n, sizeof v);
        }
        tot.s += v[0].s;
        tot.sl += v[0].sl;
        tot.s2 += v[0].s2;
    }
    summ_finish(&a, &tot, l, o, he, c);
}

static bool close_d(double a, double b) {
    if (isinf(a) || isinf(b)) return a == b;
    return fabs(a - b) <= 1e-12 * (1 + fabs(b));
}

static uint64_t g_s = 88172645463325252ull;
static double urand(void) {
    g_s ^= g_s << 13;
    g_s ^= g_s >> 7;
    g_s ^= g_s << 17;
    return (g_s >> 11) * (1.0 / 9007199254740992.0);
}

/* Row kinds: 0 gaussian-ish, 1 heavy ties (integers 0..3), 2 with -inf columns, 3 all -inf,
 * 4 the max at EOS, 5 the max at EOT */
static void make_row(float *l, int V, int kind, int eos, int eot) {
    for (int i = 0; i < V; i++) {
        double u = urand();
        l[i] = kind == 1 ? (float)(int)(u * 4) : (float)(6 * (u - 0.5) * (urand() + 0.2));
        if (kind == 2 && urand() < 0.3) l[i] = -INFINITY;
        if (kind == 3) l[i] = -INFINITY;
    }
    if (kind == 4) l[eos] = 40;
    if (kind == 5 && eot >= 0 && eot < V) l[eot] = 40;
}

static int g_cases;

static void one(int V, int kind, double T, int flags, int eot) {
    llada_config_t c;
    llada_config_default(&c);
    c.eos_token_id = V > 3 ? V - 3 : 0;
    c.eot_token_id = eot;
    sampler_opts_t so = {.temperature = T,
                         .logits_eos_inf = flags & 1,
                         .conf_eos_eot_inf = (flags >> 1) & 1,
                         .fixed_eos = (flags >> 2) & 1};
    cu_summ_opts_t o = {T, so.logits_eos_inf, so.conf_eos_eot_inf, so.fixed_eos, c.eos_token_id, eot};
    float *l = malloc((size_t)V * sizeof *l), *cp = malloc((size_t)V * sizeof *cp);
    make_row(l, V, kind, c.eos_token_id, eot);
    memcpy(cp, l, (size_t)V * sizeof *l);
    uint64_t pre = crng_prefix(5, CRNG_GUMBEL, (uint64_t)kind, (uint64_t)flags, (uint64_t)V);
    rm_cand_t ref, got;
    sampler_summarise(&so, &c, cp, V, pre, &ref);
    emulate(l, V, pre, &o, &got);
    CHECK(got.token == ref.token && close_d(got.conf, ref.conf) && close_d(got.prob, ref.prob) &&
              close_d(got.margin, ref.margin) && close_d(got.entropy, ref.entropy),
          "V=%d kind=%d T=%g flags=%d eot=%d: token %d/%d conf %.17g/%.17g prob %g/%g margin %g/%g ent %g/%g", V, kind,
          T, flags, eot, got.token, ref.token, got.conf, ref.conf, got.prob, ref.prob, got.margin, ref.margin,
          got.entropy, ref.entropy);
    g_cases++;
    free(l);
    free(cp);
}

int main(void) {
    static const int Vs[] = {1, 7, 53, 1000, 4099};
    static const double Ts[] = {0, 0.5, 1.3};
    for (size_t v = 0; v < sizeof Vs / sizeof *Vs; v++)
        for (int kind = 0; kind < 6; kind++)
            for (size_t t = 0; t < sizeof Ts / sizeof *Ts; t++)
                for (int flags = 0; flags < 8; flags++) {
                    int V = Vs[v];
                    one(V, kind, Ts[t], flags, V > 2 ? V - 2 : -1);
                    if (flags == 3) one(V, kind, Ts[t], flags, -1); /* no EOT column */
                }
    one(126464, 0, 0, 0, 126348 % 126464); /* LLaDA's vocabulary */
    one(126464, 0, 1.0, 2, 126348);
    one(126464, 1, 0, 3, 126348);
    printf("%d rows compared\n", g_cases);
    return TEST_SUMMARY();
}
