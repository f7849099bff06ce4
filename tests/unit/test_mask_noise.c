/* test_mask_noise.c — statistical tests of mask's forward process against its definition:
 * masking rate vs p, position uniformity (chi-square), independence of neighbours, t ~ U(0,1]
 * (Kolmogorov–Smirnov), eps, the 1% crop rate and crop-length uniformity, the likelihood
 * estimator's stratified counts (hand-computed torch.linspace/round cases) and exact-l masks,
 * SFT invariants, determinism of keyed draws, and document packing. Bounds are ~5 sigma, so a
 * correct implementation fails with negligible probability and a biased one fails reliably. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "testlib.h"
#include "noise.h"
#include "mask/pack.h"

#define MASK 126336

/* Chi-square statistic of counts against equal expectation. */
static double chi2_equal(const double *cnt, int k, double total) {
    double exp = total / k, s = 0;
    for (int i = 0; i < k; i++) s += (cnt[i] - exp) * (cnt[i] - exp) / exp;
    return s;
}
/* A chi-square with `dof` degrees of freedom exceeds dof + 5·sqrt(2·dof) with tiny probability. */
static double chi2_limit(int dof) { return dof + 5.0 * sqrt(2.0 * dof) + 10; }

static void test_rng(void) {
    mrng_t a, b;
    mrng_init(&a, 7, 0, 3, RNG_T);
    mrng_init(&b, 7, 0, 3, RNG_T);
    int same = 1;
    for (int i = 0; i < 100; i++) same &= mrng_u64(&a) == mrng_u64(&b);
    CHECK(same, "same key gives the same stream");
    mrng_init(&a, 7, 0, 3, RNG_T);
    mrng_init(&b, 7, 0, 4, RNG_T);
    CHECK(mrng_u64(&a) != mrng_u64(&b), "index changes the stream");
    mrng_init(&b, 7, 0, 3, RNG_TOKENS);
    mrng_init(&a, 7, 0, 3, RNG_T);
    CHECK(mrng_u64(&a) != mrng_u64(&b), "purpose changes the stream");
    /* below(n): chi-square over 7 values. */
    double cnt[7] = {0};
    mrng_init(&a, 1, 2, 3, RNG_T);
    int in_range = 1;
    for (int i = 0; i < 700000; i++) {
        uint64_t v = mrng_below(&a, 7);
        in_range &= v < 7;
        if (v < 7) cnt[v]++;
    }
    CHECK(in_range, "below(7) in range");
    double c2 = chi2_equal(cnt, 7, 700000);
    CHECK(c2 < chi2_limit(6), "below(7) uniform: chi2 %.1f", c2);
    int ok = 1;
    for (int i = 0; i < 100000; i++) {
        double u = mrng_uniform_open0(&a);
        ok &= u > 0 && u <= 1;
    }
    CHECK(ok, "uniform_open0 in (0,1]");
}

static void test_threshold(void) {
    CHECK(noise_threshold(0) == 0, "p=0 never masks");
    CHECK(noise_threshold(1) == (1ULL << 32), "p=1 always masks");
    CHECK(noise_threshold(0.5) == (1ULL << 31), "p=0.5 threshold");
    CHECK(noise_threshold(-1) == 0 && noise_threshold(2) == (1ULL << 32), "clamped");
}

/* Masking rate vs p over 2^20 tokens; p=1 must mask all, neighbours must be independent. */
static void test_rate(void) {
    const size_t n = 1 << 20;
    int32_t *x0 = malloc(n * 4), *xt = malloc(n * 4);
    for (size_t i = 0; i < n; i++) x0[i] = (int32_t)(i % 1000);
    double ps[] = {0.001, 0.1, 0.37, 0.5, 0.9, 0.999};
    for (size_t k = 0; k < sizeof ps / sizeof *ps; k++) {
        mrng_t r;
        mrng_init(&r, 11, 0, k, RNG_TOKENS);
        size_t m = noise_bernoulli(x0, xt, n, 0, ps[k], MASK, &r);
        size_t m2 = 0, both = 0;
        int consistent = 1;
        for (size_t i = 0; i < n; i++) {
            int mi = xt[i] == MASK;
            m2 += (size_t)mi;
            consistent &= mi || xt[i] == x0[i];
            if (i + 1 < n) both += (size_t)(mi && xt[i + 1] == MASK);
        }
        double sd = sqrt(n * ps[k] * (1 - ps[k]));
        CHECK(m == m2 && consistent, "p=%g: returned count and tokens agree", ps[k]);
        CHECK(fabs(m - n * ps[k]) < 5 * sd + 1, "p=%g: rate %.5f", ps[k], (double)m / n);
        double pb = ps[k] * ps[k], sdb = sqrt((n - 1) * pb * (1 - pb));
        CHECK(fabs(both - (n - 1) * pb) < 6 * sdb + 2, "p=%g: neighbours independent (%zu vs %.0f)", ps[k], both,
              (n - 1) * pb);
    }
    mrng_t r;
    mrng_init(&r, 1, 0, 0, RNG_TOKENS);
    CHECK(noise_bernoulli(x0, xt, 1001, 0, 1.0, MASK, &r) == 1001, "p=1 masks every token (odd n)");
    CHECK(noise_bernoulli(x0, xt, 1001, 0, 0.0, MASK, &r) == 0 && !memcmp(x0, xt, 1001 * 4), "p=0 masks none");
    CHECK(noise_bernoulli(x0, xt, 1001, 1001, 1.0, MASK, &r) == 0, "from=n masks none");
    free(x0);
    free(xt);
}

/* The dispatched kernel (AVX-512 where available) equals the scalar reference bit for bit,
 * and leaves the generator in the same state. */
static void test_simd_vs_ref(void) {
    int32_t x0[4200], a[4200], b[4200];
    for (int i = 0; i < 4200; i++) x0[i] = i * 7 + 1;
    double ps[] = {0, 1e-3, 0.3, 0.5, 0.999, 1};
    size_t ns[] = {0, 1, 15, 16, 17, 31, 33, 100, 4096, 4199};
    int same = 1, state = 1, cnt = 1;
    for (size_t k = 0; k < sizeof ps / sizeof *ps; k++)
        for (size_t j = 0; j < sizeof ns / sizeof *ns; j++)
            for (size_t from = 0; from < 20 && from <= ns[j]; from += 7) {
                mrng_t r1, r2;
                mrng_init(&r1, k, j, from, RNG_TOKENS);
                r2 = r1;
                memset(a, 0, sizeof a);
                memset(b, 0, sizeof b);
                size_t c1 = noise_bernoulli(x0, a, ns[j], from, ps[k], MASK, &r1);
                size_t c2 = noise_bernoulli_ref(x0, b, ns[j], from, ps[k], MASK, &r2);
                same &= !memcmp(a, b, sizeof a);
                state &= r1.state == r2.state;
                cnt &= c1 == c2;
            }
    CHECK(same, "fast kernel = scalar reference, token for token");
    CHECK(state && cnt, "same generator state and count after");
    printf("# avx512 kernel %s\n", __builtin_cpu_supports("avx512dq") ? "tested" : "not available: reference only");
}

/* Per-position mask counts over many sequences at a fixed p: chi-square vs uniform. */
static void test_position_uniformity(void) {
    enum { L = 64, N = 20000 };
    noise_cfg_t c;
    noise_cfg_default(&c);
    c.crop_frac = 0;
    c.seed = 99;
    int32_t x0[L], xt[L];
    for (int i = 0; i < L; i++) x0[i] = i;
    double cnt[L] = {0}, total = 0;
    for (uint64_t u = 0; u < N; u++) {
        double t, p;
        bool cropped;
        size_t nm;
        size_t len = noise_pretrain(&c, u, x0, L, xt, &t, &p, &cropped, &nm);
        if (len != L) continue;
        for (int i = 0; i < L; i++)
            if (xt[i] == MASK) cnt[i]++, total++;
    }
    double c2 = chi2_equal(cnt, L, total);
    CHECK(c2 < chi2_limit(L - 1), "positions uniform: chi2 %.1f (dof %d)", c2, L - 1);
    /* E[fraction masked] = E[p] = (1 - eps)/2 + eps. */
    double mean = total / ((double)N * L), want = (1 - c.eps) / 2 + c.eps;
    CHECK(fabs(mean - want) < 0.01, "mean masking rate %.4f vs %.4f", mean, want);
}

/* t ~ U(0,1]: KS statistic; p = (1-eps) t + eps; eps shifts the rate. */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static void test_t_and_eps(void) {
    enum { N = 20000 };
    noise_cfg_t c;
    noise_cfg_default(&c);
    c.seed = 5;
    c.eps = 0.25;
    double *ts = malloc(N * sizeof *ts);
    int pok = 1;
    for (int i = 0; i < N; i++) {
        double p;
        ts[i] = noise_draw_t(&c, (uint64_t)i, &p);
        pok &= fabs(p - (0.75 * ts[i] + 0.25)) < 1e-15 && p >= 0.25 && p <= 1 && ts[i] > 0 && ts[i] <= 1;
    }
    CHECK(pok, "p = (1-eps) t + eps, t in (0,1]");
    qsort(ts, N, sizeof *ts, cmp_double);
    double d = 0;
    for (int i = 0; i < N; i++) {
        double lo = ts[i] - (double)i / N, hi = (double)(i + 1) / N - ts[i];
        if (lo > d) d = lo;
        if (hi > d) d = hi;
    }
    /* KS: P(D > 1.95/sqrt(N)) ~ 1e-3 ; use 2.3 (~1e-4). */
    CHECK(d < 2.3 / sqrt(N), "t uniform: KS D = %.4f", d);
    free(ts);
    /* With eps = 0.25 a whole sequence of 4096 tokens never has fewer than ~0.25 masked. */
    int32_t x0[4096], xt[4096];
    for (int i = 0; i < 4096; i++) x0[i] = i;
    double minfrac = 1;
    c.crop_frac = 0;
    for (uint64_t u = 0; u < 300; u++) {
        double t, p;
        bool cr;
        size_t nm;
        noise_pretrain(&c, u, x0, 4096, xt, &t, &p, &cr, &nm);
        if ((double)nm / 4096 < minfrac) minfrac = (double)nm / 4096;
    }
    CHECK(minfrac > 0.25 - 5 * sqrt(0.25 * 0.75 / 4096), "eps floor: min masked fraction %.4f", minfrac);
}

static void test_crop(void) {
    enum { N = 400000, L = 4096, BINS = 16 };
    noise_cfg_t c;
    noise_cfg_default(&c);
    c.seed = 3;
    size_t ncrop = 0;
    int range_ok = 1;
    for (uint64_t u = 0; u < N; u++) {
        bool cr;
        size_t len = noise_crop(&c, u, L, &cr);
        ncrop += cr;
        range_ok &= cr ? (len >= 1 && len <= L) : len == L;
    }
    double sd = sqrt(N * 0.01 * 0.99);
    CHECK(range_ok, "crop lengths in [1, L]");
    CHECK(fabs(ncrop - N * 0.01) < 5 * sd, "crop rate %.5f", (double)ncrop / N);
    /* Lengths uniform in [1, L]: crop everything, 16 bins, plus the extremes reachable. */
    c.crop_frac = 1.0;
    double cnt[BINS] = {0};
    for (uint64_t u = 0; u < 160000; u++) {
        bool cr;
        size_t len = noise_crop(&c, u, L, &cr);
        cnt[(len - 1) * BINS / L]++;
    }
    double c2 = chi2_equal(cnt, BINS, 160000);
    CHECK(c2 < chi2_limit(BINS - 1), "crop length uniform: chi2 %.1f", c2);
    int seen1 = 0, seenL = 0;
    for (uint64_t u = 0; u < 20000 && !(seen1 && seenL); u++) {
        bool cr;
        size_t len = noise_crop(&c, u, 3, &cr);
        seen1 |= len == 1;
        seenL |= len == 3;
    }
    CHECK(seen1 && seenL, "crop reaches 1 and L");
}

/* torch: l = round(linspace(k, k + (b-1) L/b, b)) (half to even), ((l-1) mod L) + 1. Expected
 * values computed by hand from that definition. */
static void test_ll_counts(void) {
    size_t l[16];
    ll_counts(10, 4, 3, l); /* 3, 5.5, 8, 10.5 -> 3, 6, 8, 10 */
    CHECK(l[0] == 3 && l[1] == 6 && l[2] == 8 && l[3] == 10, "L=10 b=4 k=3: %zu %zu %zu %zu", l[0], l[1], l[2], l[3]);
    ll_counts(5, 2, 5, l); /* 5, 7.5 -> 5, 8 -> wrap 5, 3 */
    CHECK(l[0] == 5 && l[1] == 3, "L=5 b=2 k=5: %zu %zu", l[0], l[1]);
    ll_counts(3, 4, 2, l); /* 2, 2.75, 3.5, 4.25 -> 2, 3, 4, 4 -> 2, 3, 1, 1 */
    CHECK(l[0] == 2 && l[1] == 3 && l[2] == 1 && l[3] == 1, "L=3 b=4 k=2: %zu %zu %zu %zu", l[0], l[1], l[2], l[3]);
    ll_counts(7, 2, 1, l); /* 1, 4.5 -> 1, 4 (half to even) */
    CHECK(l[0] == 1 && l[1] == 4, "L=7 b=2 k=1 half-even: %zu %zu", l[0], l[1]);
    ll_counts(1, 3, 1, l);
    CHECK(l[0] == 1 && l[1] == 1 && l[2] == 1, "L=1 gives l=1");
    /* Non-power-of-two b: the official float32 linspace lands just above the half where exact
     * arithmetic has it on the half (hand-traced float32: end = fl(k + fl(d)), step =
     * fl((end-start)/(b-1)), value = fl(end - step*j) fused). */
    ll_counts(5, 12, 4, l); /* i = 6: 4 + 2.5 exact, float32 6.5000005 -> 7 -> wrap 2 */
    CHECK(l[5] == 1 && l[6] == 2 && l[7] == 2, "L=5 b=12 k=4 float32: %zu %zu %zu", l[5], l[6], l[7]);
    ll_counts(7, 6, 3, l); /* i = 3: 3 + 3.5 exact, float32 6.5000005 -> 7 */
    CHECK(l[2] == 5 && l[3] == 7 && l[4] == 1, "L=7 b=6 k=3 float32: %zu %zu %zu", l[2], l[3], l[4]);
    /* A power-of-two b is exact: equal to round-half-even of k + i*L/b in double. */
    int pow2_ok = 1;
    size_t lb[128];
    for (size_t b = 1; b <= 128; b *= 2)
        for (size_t L = 1; L <= 300; L += (L < 40 ? 1 : 7))
            for (uint64_t k = 1; k <= L; k++) {
                ll_counts(L, b, k, lb);
                for (size_t i = 0; i < b; i++) {
                    long long x = (long long)nearbyint((double)k + (double)i * ((double)L / (double)b));
                    pow2_ok &= lb[i] == (size_t)(((x - 1) % (long long)L + (long long)L) % (long long)L) + 1;
                }
            }
    CHECK(pow2_ok, "power-of-two b: exact k + i L/b, half to even");
    /* b = L: a permutation of 1..L for every k. */
    int perm_ok = 1;
    for (uint64_t k = 1; k <= 12; k++) {
        int seen[13] = {0};
        ll_counts(12, 12, k, l);
        for (int i = 0; i < 12; i++) perm_ok &= l[i] >= 1 && l[i] <= 12 && !seen[l[i]]++;
    }
    CHECK(perm_ok, "b = L covers 1..L");
    /* Offsets: uniform over 1..L. */
    noise_cfg_t c;
    noise_cfg_default(&c);
    double cnt[9] = {0};
    int range = 1;
    for (uint64_t g = 0; g < 90000; g++) {
        uint64_t k = ll_offset(&c, g / 4, g % 4, 9);
        range &= k >= 1 && k <= 9;
        if (k >= 1 && k <= 9) cnt[k - 1]++;
    }
    double c2 = chi2_equal(cnt, 9, 90000);
    CHECK(range && c2 < chi2_limit(8), "offset k uniform on 1..L: chi2 %.1f", c2);
}

static void test_ll_exact(void) {
    enum { P = 5, L = 20, N = 20000 };
    noise_cfg_t c;
    noise_cfg_default(&c);
    int32_t x0[P + L], xt[P + L];
    uint32_t scratch[L];
    for (int i = 0; i < P + L; i++) x0[i] = 100 + i;
    double cnt[L] = {0};
    int exact = 1, prompt = 1;
    for (uint64_t s = 0; s < N; s++) {
        size_t l = 1 + s % L;
        mrng_t r;
        ll_sample_rng(&c, s / 16, s % 16, &r);
        ll_mask_exact(x0, xt, P, L, l, MASK, &r, scratch);
        size_t m = 0;
        for (int i = 0; i < P; i++) prompt &= xt[i] == x0[i];
        for (int i = 0; i < L; i++) {
            int mi = xt[P + i] == MASK;
            m += (size_t)mi;
            if (l == 7 && mi) cnt[i]++;
            exact &= mi || xt[P + i] == x0[P + i];
        }
        exact &= m == l;
    }
    CHECK(exact, "exactly l answer tokens masked, others kept");
    CHECK(prompt, "prompt never masked");
    double total = 0;
    for (int i = 0; i < L; i++) total += cnt[i];
    double c2 = chi2_equal(cnt, L, total);
    CHECK(c2 < chi2_limit(L - 1), "exact-l positions uniform: chi2 %.1f", c2);
}

static void test_sft(void) {
    enum { N = 2000, P = 30, A = 50 };
    noise_cfg_t c;
    noise_cfg_default(&c);
    c.seed = 8;
    int32_t x0[P + A], xt[P + A];
    for (int i = 0; i < P + A; i++) x0[i] = i;
    int prompt = 1, count_ok = 1;
    double masked = 0, sum_p = 0;
    for (uint64_t u = 0; u < N; u++) {
        double t, p;
        size_t m = noise_sft(&c, u, x0, P + A, P, xt, &t, &p);
        size_t m2 = 0;
        for (int i = 0; i < P; i++) prompt &= xt[i] == x0[i];
        for (int i = P; i < P + A; i++) m2 += xt[i] == MASK;
        count_ok &= m == m2;
        masked += (double)m;
        sum_p += p;
    }
    CHECK(prompt, "SFT prompt never masked");
    CHECK(count_ok, "SFT count");
    /* E[masked] = A * E[p]; given the p's drawn, Var ≤ A * N / 4. */
    CHECK(fabs(masked - A * sum_p) < 5 * sqrt(A * N / 4.0), "SFT answer rate follows p: %.0f vs %.0f", masked,
          A * sum_p);
}

/* Packing: concatenation of sequences == documents with separators. */
typedef struct {
    int32_t *all;
    size_t n, nseq, bad_len, L;
} pk_ctx;
static int pk_emit(void *ctx, const int32_t *seq, size_t n, lerr_t *e) {
    (void)e;
    pk_ctx *c = ctx;
    memcpy(c->all + c->n, seq, n * 4);
    c->n += n;
    c->nseq++;
    if (n != c->L) c->bad_len++;
    return 0;
}
static void test_pack(void) {
    enum { L = 16, SEP = 9999 };
    int32_t docs[2000], want[4000];
    size_t nwant = 0;
    pk_ctx c = {malloc(4000 * 4), 0, 0, 0, L};
    lerr_t e = {0};
    packer_t *p = packer_new(L, SEP, false, pk_emit, &c, &e);
    CHECK(p != NULL, "packer_new");
    size_t sizes[] = {3, 0, 40, 13, 16, 1, 5, 33, 2, 7};
    int32_t v = 1;
    for (size_t d = 0; d < sizeof sizes / sizeof *sizes; d++) {
        for (size_t i = 0; i < sizes[d]; i++) docs[i] = v++;
        if (d == 5) docs[0] = SEP; /* a document already ending with the separator */
        packer_push(p, docs, sizes[d], &e);
        memcpy(want + nwant, docs, sizes[d] * 4);
        nwant += sizes[d];
        if (sizes[d] && docs[sizes[d] - 1] != SEP) want[nwant++] = SEP;
    }
    size_t full = c.nseq;
    packer_finish(p, &e);
    CHECK(c.n == nwant && !memcmp(c.all, want, nwant * 4), "packed stream = documents + separators");
    CHECK(full == nwant / L && c.nseq == (nwant + L - 1) / L, "sequence count %zu", c.nseq);
    CHECK(c.bad_len == (nwant % L ? 1u : 0u), "only the last sequence is short");
    CHECK(packer_count(p) == c.nseq, "packer_count");
    packer_destroy(&p);
    CHECK(p == NULL, "destroy NULLs");
    /* drop_last, no separator. */
    pk_ctx c2 = {malloc(4000 * 4), 0, 0, 0, L};
    p = packer_new(L, -1, true, pk_emit, &c2, &e);
    for (int i = 0; i < 40; i++) docs[i] = i;
    packer_push(p, docs, 40, &e);
    packer_finish(p, &e);
    CHECK(c2.nseq == 2 && c2.bad_len == 0 && c2.n == 32 && !memcmp(c2.all, docs, 32 * 4), "drop_last, no sep");
    packer_destroy(&p);
    CHECK(packer_new(0, -1, false, pk_emit, &c2, &e) == NULL && e.code == EXIT_USAGE, "length 0 refused");
    free(c.all);
    free(c2.all);
}

int main(void) {
    test_rng();
    test_threshold();
    test_rate();
    test_simd_vs_ref();
    test_position_uniformity();
    test_t_and_eps();
    test_crop();
    test_ll_counts();
    test_ll_exact();
    test_sft();
    test_pack();
    return TEST_SUMMARY();
}
