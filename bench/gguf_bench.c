/* gguf_bench.c — matmul on GGUF block-quantised weights vs bf16/f32 weights, and the machine's
 * streaming-read bandwidth (bench/gguf.sh builds and runs it).
 *
 *   gguf_bench stream MB                       GB/s of summing MB of memory (1 and all threads), wall
 *                                              and per CPU-second, best over 1/2/4/8 interleaved
 *                                              streams per reader (and each of those)
 * GGUF_BENCH_THREADS=N caps the threads, GGUF_BENCH_QISA=2 selects the per-row int8 kernels
 * instead of matmul_qk (3) for the comparison; GGUF_BENCH_ROWS=V picks matmul_qk's kernel at 1-8 rows
 * (matmul_qk_set_rows: 0 its 16-row tile, 1 the first matmul_qk_rows kernels, 2 the current ones).
 *   gguf_bench matmul TYPE M N K REPS          ms per y = x·Wᵀ and weight-read GB/s
 *   gguf_bench vnni                            VPDPBUSD throughput of one thread (16 independent
 *                                              accumulator chains, register operands): G instr.
 *                                              and G int8 multiply-adds per CPU-second
 *   gguf_bench roofline TYPE N K REPS M...     1 thread, y = x·Wᵀ at each row count M: weight GB/s
 *                                              and int8 multiply-adds per CPU-second
 * TYPE: f32 bf16 q8_0 q4_0 q4_k q5_k q6_k. Prints one JSON object per line. */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels.h"
#include "quant.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (every thread): steadier than wall time on a shared machine. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    const uint8_t *p;
    size_t n;
    int nt, ns; /* readers; interleaved streams per reader */
    double sum[64];
    size_t read[64]; /* bytes reader t read (its part, cut to a multiple of 64 * ns) */
} sjob_t;

/* Reader t sums its part of the buffer, cut into ns equal streams read a line of each in turn:
 * one core's misses in flight grow with the streams the hardware prefetcher follows (on the Zen 5
 * this was written on, one stream read 26-32 GB/s, four 33-42), and a matmul over weight rows may
 * run several, so the reference is the best of 1, 2, 4 and 8. */
__attribute__((target("avx2"))) static void sum_part(int t, void *arg) {
    sjob_t *j = arg;
    size_t lo = j->n / 64 * t / j->nt * 64, hi = j->n / 64 * (t + 1) / j->nt * 64;
    size_t len = (hi - lo) / 64 / j->ns * 64;
    __m256i a = _mm256_setzero_si256(), b = a;
    for (size_t i = 0; i < len; i += 64)
        for (int s = 0; s < j->ns; s++) {
            const uint8_t *q = j->p + lo + s * len + i;
            a = _mm256_add_epi64(a, _mm256_load_si256((const __m256i *)q));
            b = _mm256_add_epi64(b, _mm256_load_si256((const __m256i *)(q + 32)));
        }
    a = _mm256_add_epi64(a, b);
    j->sum[t] = (double)_mm256_extract_epi64(a, 0);
    j->read[t] = len * j->ns;
}

/* Per reader count: for 1, 2, 4, 8 interleaved streams per reader, best of 5 (wall and CPU time);
 * gbps / cpu_gbps are the best over the stream counts, the per-count CPU figures beside them.
 * The bytes counted are those the readers report reading. */
static int stream(size_t mb) {
    size_t n = mb << 20;
    uint8_t *p = aligned_alloc(64, n);
    if (!p) return 1;
    memset(p, 1, n);
    int all = kern_threads();
    for (int nt = 1; nt <= all; nt = nt == all ? nt + 1 : all) {
        double best = 0, cbest = 0, by_ns[4] = {0};
        for (int r = 0; r < 5; r++)
            for (int si = 0; si < 4; si++) {
                sjob_t j = {p, n, nt, 1 << si, {0}, {0}};
                double t0 = now_s(), c0 = cpu_s();
                kern_parallel_for(nt, sum_part, &j);
                size_t bytes = 0;
                for (int t = 0; t < nt; t++) bytes += j.read[t];
                double gw = bytes / (now_s() - t0) / 1e9, gc = bytes / (cpu_s() - c0) / 1e9;
                if (gw > best) best = gw;
                if (gc > cbest) cbest = gc;
                if (gc > by_ns[si]) by_ns[si] = gc;
            }
        /* cpu_gbps: bytes per CPU-second of all readers together (1 thread: what it streams while it runs) */
        printf("{\"stream_threads\": %d, \"gbps\": %.2f, \"cpu_gbps\": %.2f, \"cpu_gbps_streams_1_2_4_8\": [%.2f, %.2f, %.2f, %.2f]}\n",
               nt, best, cbest, by_ns[0], by_ns[1], by_ns[2], by_ns[3]);
    }
    free(p);
    return 0;
}

/* VPDPBUSD peak: 16 independent accumulators (zmm16-31, enough to cover latency x pipes) in
 * inline assembly so the compiler keeps them in registers; 2^23 x 16 instructions, best of 3. */
#define DP(r) "vpdpbusd %[b], %[a], %%zmm" #r "\n\t"
__attribute__((target("avx512f,avx512vnni"))) static int vnni_peak(void) {
    if (!__builtin_cpu_supports("avx512vnni")) {
        printf("{\"vnni\": null}\n");
        return 0;
    }
    __m512i a = _mm512_set1_epi32(0x01020304), b = _mm512_set1_epi32(0x05060708);
    double best = 1e9;
    long long n = 1ll << 23;
    for (int r = 0; r < 3; r++) {
        double c0 = cpu_s();
        for (long long i = 0; i < n; i++)
            __asm__ volatile(DP(16) DP(17) DP(18) DP(19) DP(20) DP(21) DP(22) DP(23) DP(24) DP(25) DP(26) DP(27) DP(28)
                                 DP(29) DP(30) DP(31)
                             :
                             : [a] "v"(a), [b] "v"(b)
                             : "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25",
                               "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
        double dc = cpu_s() - c0;
        if (dc < best) best = dc;
    }
    double ins = (double)n * 16;
    printf("{\"vnni_ginstr_per_cpu_s\": %.2f, \"int8_gmacs_per_cpu_s\": %.1f}\n", ins / best / 1e9, ins * 64 / best / 1e9);
    return 0;
}

static const struct {
    const char *n;
    wtype_t t;
} TY[] = {{"f32", WT_F32},   {"bf16", WT_BF16}, {"q8_0", WT_Q8_0},
          {"q4_0", WT_Q4_0}, {"q4_k", WT_Q4_K}, {"q5_k", WT_Q5_K}, {"q6_k", WT_Q6_K}};

static int bench_matmul(const char *ty, int M, int N, int K, int reps) {
    wtype_t t = WT_N;
    for (size_t i = 0; i < sizeof TY / sizeof *TY; i++)
        if (!strcmp(TY[i].n, ty)) t = TY[i].t;
    if (t == WT_N) return 2;
    float *w = malloc((size_t)N * K * 4), *x = malloc((size_t)M * K * 4), *y = malloc((size_t)M * N * 4);
    size_t wb = wtype_bytes(t, (size_t)N * K);
    void *q = aligned_alloc(64, (wb + 63) & ~(size_t)63);
    if (!w || !x || !y || !q) return 1;
    uint64_t s = 1;
    for (size_t i = 0; i < (size_t)N * K; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        w[i] = (float)((int64_t)(s >> 11) % 2001 - 1000) * 1e-4f;
    }
    for (size_t i = 0; i < (size_t)M * K; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((int64_t)(s >> 11) % 2001 - 1000) * 1e-3f;
    }
    if (t == WT_F32) memcpy(q, w, wb);
    else if (t == WT_BF16)
        for (size_t i = 0; i < (size_t)N * K; i++) ((uint16_t *)q)[i] = f32_to_bf16(w[i]);
    else quantize_ref(q, w, t, (size_t)N * K);
    free(w);
    wtensor_t W = {t, q, N, K};
    matmul(y, x, &W, M, false); /* warm: scratch, pages */
    double best = 1e9, tot = 0, cbest = 1e9;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s(), c0 = cpu_s();
        matmul(y, x, &W, M, false);
        double dt = now_s() - t0, dc = cpu_s() - c0;
        tot += dt;
        if (dt < best) best = dt;
        if (dc < cbest) cbest = dc;
    }
    printf("{\"type\": \"%s\", \"M\": %d, \"N\": %d, \"K\": %d, \"ms_best\": %.4f, \"ms_mean\": %.4f, \"weight_mb\": "
           "%.1f, "
           "\"weight_gbps\": %.2f, \"gflops\": %.1f, \"cpu_ms_best\": %.3f, \"threads\": %d, \"qisa\": %d}\n",
           ty, M, N, K, best * 1e3, tot / reps * 1e3, wb / 1e6, wb / best / 1e9, 2.0 * M * N * K / best / 1e9,
           cbest * 1e3, kern_threads(), kern_qisa());
    free(x);
    free(y);
    free(q);
    return 0;
}

/* Per row count M (1 thread): CPU ms of y = x·Wᵀ (best of reps), weight bytes per CPU-second and
 * int8 multiply-adds (M·N·K) per CPU-second. W is N x K random weights, quantised once. */
static int roofline(const char *ty, int N, int K, int reps, int nm, char **ms) {
    wtype_t t = WT_N;
    for (size_t i = 0; i < sizeof TY / sizeof *TY; i++)
        if (!strcmp(TY[i].n, ty)) t = TY[i].t;
    if (t == WT_N || !wtype_is_quant(t)) return 2;
    size_t wb = wtype_bytes(t, (size_t)N * K);
    float *w = malloc((size_t)K * 4 * 64), *x = malloc((size_t)64 * K * 4), *y = malloc((size_t)64 * N * 4);
    void *q = aligned_alloc(64, (wb + 63) & ~(size_t)63);
    if (!w || !x || !y || !q) return 1;
    uint64_t s = 7;
    size_t rb = wtype_bytes(t, (size_t)K);
    for (int n = 0; n < N; n += 64) { /* 64 rows at a time: the f32 copy stays small */
        int rows = N - n < 64 ? N - n : 64;
        for (size_t i = 0; i < (size_t)rows * K; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            w[i] = (float)((int64_t)(s >> 11) % 2001 - 1000) * 1e-4f;
        }
        quantize_ref((uint8_t *)q + (size_t)n * rb, w, t, (size_t)rows * K);
    }
    for (size_t i = 0; i < (size_t)64 * K; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((int64_t)(s >> 11) % 2001 - 1000) * 1e-3f;
    }
    wtensor_t W = {t, q, N, K};
    for (int a = 0; a < nm; a++) {
        int M = atoi(ms[a]);
        if (M < 1 || M > 64) return 2;
        matmul(y, x, &W, M, false);
        double cbest = 1e9;
        for (int r = 0; r < reps; r++) {
            double c0 = cpu_s();
            matmul(y, x, &W, M, false);
            double dc = cpu_s() - c0;
            if (dc < cbest) cbest = dc;
        }
        printf("{\"type\": \"%s\", \"M\": %d, \"N\": %d, \"K\": %d, \"weight_mb\": %.1f, \"cpu_ms_best\": %.3f, "
               "\"weight_gbps_per_cpu_s\": %.2f, \"int8_gmacs_per_cpu_s\": %.1f, \"qisa\": %d, \"rows\": %d, "
               "\"rows_kernel\": %d}\n",
               ty, M, N, K, wb / 1e6, cbest * 1e3, wb / cbest / 1e9, (double)M * N * K / cbest / 1e9, kern_qisa(),
               getenv("GGUF_BENCH_ROWS") ? atoi(getenv("GGUF_BENCH_ROWS")) : -1,
               kern_qisa() >= 3 && matmul_qk_supports(t) && matmul_qk_rows_supports(t, M, K));
        fflush(stdout);
    }
    free(w);
    free(x);
    free(y);
    free(q);
    return 0;
}

int main(int argc, char **argv) {
    if (getenv("GGUF_BENCH_THREADS")) kern_set_threads(atoi(getenv("GGUF_BENCH_THREADS")));
    if (getenv("GGUF_BENCH_QISA")) kern_set_qisa(atoi(getenv("GGUF_BENCH_QISA"))); /* 2: the per-row kernels */
    if (getenv("GGUF_BENCH_ROWS")) matmul_qk_set_rows(atoi(getenv("GGUF_BENCH_ROWS"))); /* 0: no rows kernel */
    if (argc == 3 && !strcmp(argv[1], "stream")) return stream((size_t)atol(argv[2]));
    if (argc == 2 && !strcmp(argv[1], "vnni")) return vnni_peak();
    if (argc >= 7 && !strcmp(argv[1], "roofline"))
        return roofline(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), argc - 6, argv + 6);
    if (argc == 7 && !strcmp(argv[1], "matmul"))
        return bench_matmul(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    fprintf(stderr, "usage: gguf_bench stream MB | matmul TYPE M N K REPS | vnni | roofline TYPE N K REPS M...\n");
    return 2;
}
