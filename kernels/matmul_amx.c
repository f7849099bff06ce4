/* matmul_amx.c — y = x · Wᵀ for bf16 weights on the AMX tile units (many rows).
 *
 * The activations are split into two bf16 parts, x ≈ hi + lo (relative error ~2^-16), and
 * each tile product is done for both, accumulating in fp32, so results stay close to the
 * fp32 path (test_kernels: rel < 1e-4 vs the double reference) while the bf16 weights are
 * read as stored. Weights are repacked per block of 32 output columns into the VNNI layout
 * AMX wants (pairs of k interleaved per column), a pass of the same cost as the f32
 * conversion of the panel path. Tiles: 2 x 2 accumulators of 16 x 16 floats, 2 weight
 * tiles, 1 activation tile. Threads split the column blocks; each thread configures its
 * tiles. Needs the kernel's permission (arch_prctl ARCH_REQ_XCOMP_PERM), asked once.
 * Operand copies and the workers' blocks live in per-thread buffers (kern_scratch).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <immintrin.h>
#include "kernels.h"

#define TGT __attribute__((target("amx-tile,amx-bf16,avx512f")))
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

bool matmul_amx_available(void) {
    static int h = -1;
    if (h < 0) {
        __builtin_cpu_init();
        h = __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-bf16") &&
            syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
    }
    return h;
}

typedef struct __attribute__((packed, aligned(64))) {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg_t;

typedef struct {
    float *y;
    const uint16_t *w, *xh, *xl; /* xh/xl [Mp][Kp] bf16, zero padded */
    int M, N, K, Mp, Kp, nblocks, nthreads;
    bool acc;
    uint8_t *work; /* nthreads x work_bytes: each worker's bp + ct */
    size_t work_bytes;
} ajob_t;

/* A worker's packed weight block bp [Kp/32][16][32][2] bf16, then its tile output ct
 * [32][32] f32; both 64-byte multiples. */
static size_t bp_bytes(int Kp) { return (size_t)(Kp / 32) * 16 * 32 * 2 * 2; }

/* VNNI-pack 32 weight rows n0.. into bp[kt][16 pairs][32 cols][2] (zero beyond N, K):
 * each (k, k+1) pair of a row is one 32-bit word, moved whole. */
static void pack_block(const ajob_t *j, int n0, uint16_t *bp) {
    int nkt = j->Kp / 32, kfull = j->K & ~31;
    uint32_t *b32 = (uint32_t *)bp;
    if (kfull < j->Kp || n0 + 32 > j->N) memset(bp, 0, (size_t)nkt * 16 * 32 * 4);
    for (int c = 0; c < 32 && n0 + c < j->N; c++) {
        const uint16_t *wr = j->w + (size_t)(n0 + c) * j->K;
        for (int kt = 0; kt < kfull / 32; kt++) {
            uint32_t v[16];
            memcpy(v, wr + kt * 32, sizeof v);
            uint32_t *d = b32 + (size_t)kt * 16 * 32 + c;
            for (int r = 0; r < 16; r++) d[r * 32] = v[r];
        }
        for (int k = kfull; k < j->K; k++) {
            int kt = k >> 5, r = (k & 31) >> 1, e = k & 1;
            bp[(((size_t)kt * 16 + r) * 32 + c) * 2 + e] = wr[k];
        }
    }
}

TGT static void block_product(const ajob_t *j, int n0, const uint16_t *bp, float *ct) {
    int nkt = j->Kp / 32;
    size_t xs = (size_t)j->Kp * 2; /* activation row stride, bytes */
    for (int m0 = 0; m0 < j->Mp; m0 += 32) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int kt = 0; kt < nkt; kt++) {
            const uint16_t *b = bp + (size_t)kt * 16 * 64;
            _tile_loadd(4, b, 128);      /* columns 0..15: first 64 bytes of each pair row */
            _tile_loadd(5, b + 32, 128); /* columns 16..31 */
            const uint16_t *h = j->xh + (size_t)m0 * j->Kp + kt * 32, *l = j->xl + (size_t)m0 * j->Kp + kt * 32;
            _tile_loadd(6, h, xs);
            _tile_dpbf16ps(0, 6, 4);
            _tile_dpbf16ps(1, 6, 5);
            _tile_loadd(6, l, xs);
            _tile_dpbf16ps(0, 6, 4);
            _tile_dpbf16ps(1, 6, 5);
            _tile_loadd(6, h + (size_t)16 * j->Kp, xs);
            _tile_dpbf16ps(2, 6, 4);
            _tile_dpbf16ps(3, 6, 5);
            _tile_loadd(6, l + (size_t)16 * j->Kp, xs);
            _tile_dpbf16ps(2, 6, 4);
            _tile_dpbf16ps(3, 6, 5);
        }
        _tile_stored(0, ct, 128);
        _tile_stored(1, ct + 16, 128);
        _tile_stored(2, ct + 512, 128);
        _tile_stored(3, ct + 512 + 16, 128);
        for (int r = 0; r < 32 && m0 + r < j->M; r++)
            for (int c = 0; c < 32 && n0 + c < j->N; c++) {
                float *o = j->y + (size_t)(m0 + r) * j->N + n0 + c;
                *o = j->acc ? *o + ct[r * 32 + c] : ct[r * 32 + c];
            }
    }
}

TGT static void worker(int t, void *arg) {
    const ajob_t *j = arg;
    tilecfg_t cfg = {0};
    cfg.palette = 1;
    for (int i = 0; i < 7; i++) {
        cfg.colsb[i] = 64;
        cfg.rows[i] = 16;
    }
    uint16_t *bp = (uint16_t *)(j->work + (size_t)t * j->work_bytes);
    float *ct = (float *)((uint8_t *)bp + bp_bytes(j->Kp));
    _tile_loadconfig(&cfg);
    int lo = (int)((long)j->nblocks * t / j->nthreads), hi = (int)((long)j->nblocks * (t + 1) / j->nthreads);
    for (int nb = lo; nb < hi; nb++) {
        pack_block(j, nb * 32, bp);
        block_product(j, nb * 32, bp, ct);
    }
    _tile_release();
}

/* x -> hi = bf16(x), lo = bf16(x - hi), rows padded to Kp (AVX-512 BF16 conversions). */
__attribute__((target("avx512f,avx512bf16,avx512bw"))) static void split_rows(const float *x, int M, int K, int Kp,
                                                                              uint16_t *xh, uint16_t *xl) {
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * K;
        int k = 0;
        for (; k + 16 <= K; k += 16) {
            __m512 v = _mm512_loadu_ps(xr + k);
            __m256bh h = _mm512_cvtneps_pbh(v);
            __m512 hf = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)h), 16));
            __m256bh l = _mm512_cvtneps_pbh(_mm512_sub_ps(v, hf));
            _mm256_storeu_si256((__m256i *)(xh + (size_t)m * Kp + k), (__m256i)h);
            _mm256_storeu_si256((__m256i *)(xl + (size_t)m * Kp + k), (__m256i)l);
        }
        for (; k < K; k++) {
            uint16_t h = f32_to_bf16(xr[k]);
            xh[(size_t)m * Kp + k] = h;
            xl[(size_t)m * Kp + k] = f32_to_bf16(xr[k] - bf16_to_f32(h));
        }
    }
}

int matmul_amx(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    KERN_ASSERT_WEIGHT(W);
    KERN_ASSERT(W->type == WT_BF16 && M >= 0 && (M == 0 || (x && y)));
    int N = (int)W->rows, K = (int)W->cols, Kp = (K + 31) & ~31, Mp = (M + 31) & ~31;
    size_t xb = (size_t)Mp * Kp * 2; /* bytes of each of xh, xl (a multiple of 64) */
    uint16_t *xh = kern_scratch(KERN_SCRATCH_SPLIT, 2 * xb), *xl = xh ? xh + xb / 2 : NULL;
    ajob_t j = {y,
                W->data,
                xh,
                xl,
                M,
                N,
                K,
                Mp,
                Kp,
                (N + 31) / 32,
                kern_threads(),
                accumulate,
                NULL,
                bp_bytes(Kp) + 32 * 32 * sizeof(float)};
    if (j.nthreads > j.nblocks) j.nthreads = j.nblocks;
    j.work = kern_scratch(KERN_SCRATCH_AMX, (size_t)j.nthreads * j.work_bytes);
    if (!xh || !j.work) return -1;
    memset(xh, 0, 2 * xb);
    split_rows(x, M, K, Kp, xh, xl);
    kern_parallel_for(j.nthreads, worker, &j);
    return 0;
}
