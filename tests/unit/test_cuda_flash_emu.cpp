/* test_cuda_flash_emu.cpp — the bf16 flash-attention kernel (kernels/cuda/attention_flash.cuh,
 * the very source nvcc compiles) run on the host against an emulation of the CUDA subset it
 * uses, then compared with the CPU reference attention_ref (double) — no GPU needed.
 *
 * Emulation: one std::thread per CUDA thread (128 per block, blocks one after another),
 * __syncthreads / __syncwarp as std::barrier over the block / warp, __shfl_xor_sync through a
 * per-warp exchange array between warp barriers, the dynamic shared memory as one buffer, and
 * WMMA as warp-collective operations on whole 16x16 tiles (every lane computes the tile, lane 0
 * stores it, warp barriers around each call, so a load never sees a later store: the
 * hardware's collective semantics). Inputs are rounded to bf16 once; the reference sees the
 * same rounded values, so the tolerance (2e-2 relative L2) covers the bf16 rounding of P and
 * of the output. Shapes: L = 136 (three key tiles, the last partial), GQA 4/2 heads (h / 2
 * and h % 2 differ), batch 2 with row 1 left-padded by 70 (the first key tile all hidden,
 * the second in part), head dims 4 (the scalar-load path, zero-padded to 16) and 128 (LLaDA's:
 * vector loads, the 128-wide instantiation). Outputs are poisoned with NaN first, so an
 * unwritten element fails. Catches indexing, layout, masking,
 * online-softmax and barrier mistakes before a GPU run. */
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>
#include <cuda_bf16.h>
#include <vector_types.h>
#include <vector_functions.h>
extern "C" {
#include "kernels.h"
}
#include "testlib.h"

/* ---- the emulated CUDA subset ---- */
#undef __global__
#undef __launch_bounds__
#undef __shared__
#undef __align__
#undef __forceinline__
#define __global__
#define __launch_bounds__(n)
#define __shared__
#define __align__(n)
#define __forceinline__ inline

struct emu_dim {
    unsigned x, y, z;
};
static thread_local emu_dim threadIdx, blockIdx;
static std::barrier<> *g_block;
static std::barrier<> *g_warp[4];
static float g_xchg[4][32];
alignas(128) unsigned char sm[160 * 1024]; /* the block's dynamic shared memory */

static void __syncthreads() { g_block->arrive_and_wait(); }
static void __syncwarp(unsigned = 0xffffffffu) { g_warp[threadIdx.x / 32]->arrive_and_wait(); }
static float __shfl_xor_sync(unsigned, float v, int o) {
    unsigned w = threadIdx.x / 32, l = threadIdx.x % 32;
    __syncwarp();
    g_xchg[w][l] = v;
    __syncwarp();
    float r = g_xchg[w][l ^ (unsigned)o];
    __syncwarp();
    return r;
}

namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };
template <class Use, int M, int N, int K, class T, class Lay = void> struct fragment { float v[16][16]; };
static inline float tf(float x) { return x; }
static inline float tf(__nv_bfloat16 x) { return __bfloat162float(x); }
template <class U, class T, class Lay>
void load_matrix_sync(fragment<U, 16, 16, 16, T, Lay> &f, const T *p, unsigned ldm) {
    __syncwarp();
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++)
            f.v[r][c] = tf(std::is_same<Lay, row_major>::value ? p[r * ldm + c] : p[c * ldm + r]);
    __syncwarp();
}
static void load_matrix_sync(fragment<accumulator, 16, 16, 16, float> &f, const float *p, unsigned ldm, layout_t l) {
    __syncwarp();
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) f.v[r][c] = l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r];
    __syncwarp();
}
static void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float> &f, unsigned ldm, layout_t l) {
    __syncwarp();
    if (threadIdx.x % 32 == 0)
        for (int r = 0; r < 16; r++)
            for (int c = 0; c < 16; c++) (l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.v[r][c];
    __syncwarp();
}
static void fill_fragment(fragment<accumulator, 16, 16, 16, float> &f, float v) {
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) f.v[r][c] = v;
}
template <class LA, class LB>
void mma_sync(fragment<accumulator, 16, 16, 16, float> &d, const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LA> &a,
              const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LB> &b,
              const fragment<accumulator, 16, 16, 16, float> &c) {
    float t[16][16];
    for (int r = 0; r < 16; r++)
        for (int n = 0; n < 16; n++) {
            float s = c.v[r][n];
            for (int k = 0; k < 16; k++) s += a.v[r][k] * b.v[k][n];
            t[r][n] = s;
        }
    memcpy(d.v, t, sizeof t);
}
} // namespace wmma
} // namespace nvcuda
using namespace nvcuda;

#include "kernels/cuda/attention_flash.cuh"

/* ---- harness ---- */
template <int HDP>
static void run_flash(__nv_bfloat16 *ao, const __nv_bfloat16 *qkv, const uint8_t *keep, int B, int L, int Hq, int Hkv,
                      int hd, int q_off = 0, int nq = -1) {
    if (nq < 0) nq = L;
    float scale_log2 = (float)(1.4426950408889634 / sqrt((double)hd));
    CHECK(att_layout<HDP>::bytes <= sizeof sm, "shared layout %zu bytes", (size_t)att_layout<HDP>::bytes);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < Hq; h++)
            for (int qt = 0; qt * ABQ < nq; qt++) {
                std::barrier<> blk(ATH), w0(32), w1(32), w2(32), w3(32);
                g_block = &blk;
                g_warp[0] = &w0;
                g_warp[1] = &w1;
                g_warp[2] = &w2;
                g_warp[3] = &w3;
                memset(sm, 0xff, sizeof sm); /* garbage, as on a GPU */
                std::vector<std::thread> th;
                for (unsigned t = 0; t < ATH; t++)
                    th.emplace_back([=] {
                        threadIdx = {t, 0, 0};
                        blockIdx = {(unsigned)qt, (unsigned)h, (unsigned)b};
                        flash_kernel<HDP>(ao, qkv, keep, L, q_off, nq, Hq, Hkv, hd, scale_log2);
                    });
                for (auto &x : th) x.join();
            }
}

static uint32_t g_r = 12345;
static float frand() {
    g_r = g_r * 1664525u + 1013904223u;
    return (float)((g_r >> 8) & 0xffff) / 32768.0f - 1.0f;
}

template <int HDP> static void check(int hd) {
    const int B = 2, L = 136, Hq = 4, Hkv = 2, pad = 70, S = (Hq + 2 * Hkv) * hd;
    size_t n = (size_t)B * L * S, no = (size_t)B * L * Hq * hd;
    __nv_bfloat16 *qkv = (__nv_bfloat16 *)aligned_alloc(64, (n * 2 + 63) / 64 * 64);
    __nv_bfloat16 *ao = (__nv_bfloat16 *)aligned_alloc(64, (no * 2 + 63) / 64 * 64);
    std::vector<float> f(n), ref(no);
    std::vector<uint8_t> keep(B * L);
    for (size_t i = 0; i < n; i++) {
        qkv[i] = __float2bfloat16_rn(2.0f * frand());
        f[i] = __bfloat162float(qkv[i]);
    }
    for (int j = 0; j < B; j++)
        for (int p = 0; p < L; p++) keep[j * L + p] = !(j == 1 && p < pad);
    for (size_t i = 0; i < no; i++) ao[i] = __float2bfloat16_rn(NAN);
    run_flash<HDP>(ao, qkv, keep.data(), B, L, Hq, Hkv, hd);
    /* reference: per sequence, q/k/v split out of the fused rows */
    std::vector<float> q((size_t)L * Hq * hd), k((size_t)L * Hkv * hd), v((size_t)L * Hkv * hd);
    for (int b = 0; b < B; b++) {
        for (int p = 0; p < L; p++) {
            const float *row = &f[((size_t)b * L + p) * S];
            memcpy(&q[(size_t)p * Hq * hd], row, sizeof(float) * Hq * hd);
            memcpy(&k[(size_t)p * Hkv * hd], row + Hq * hd, sizeof(float) * Hkv * hd);
            memcpy(&v[(size_t)p * Hkv * hd], row + (Hq + Hkv) * hd, sizeof(float) * Hkv * hd);
        }
        attention_ref(&ref[(size_t)b * L * Hq * hd], q.data(), k.data(), v.data(), L, Hq, Hkv, hd,
                      b == 1 ? &keep[L] : nullptr, 0);
    }
    double num = 0, den = 0;
    size_t bad = 0;
    for (size_t i = 0; i < no; i++) {
        float g = __bfloat162float(ao[i]);
        if (!std::isfinite(g)) {
            bad++;
            continue;
        }
        num += ((double)g - ref[i]) * ((double)g - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    double err = sqrt(num / den);
    printf("flash HDP=%d hd=%d: rel err %.2e, %zu unwritten/non-finite\n", HDP, hd, err, bad);
    CHECK(bad == 0, "hd=%d: %zu outputs unwritten or not finite", hd, bad);
    CHECK(err <= 2e-2, "hd=%d: flash vs reference rel err %.3e", hd, err);
    /* a band of queries (the KV-cache steps): rows [37, 107) of each sequence, written packed
     * [B][70], must be those rows of the whole run bit for bit (same tiles of keys, same order) */
    const int q_off = 37, nq = 70;
    __nv_bfloat16 *ab = (__nv_bfloat16 *)aligned_alloc(64, ((size_t)B * nq * Hq * hd * 2 + 63) / 64 * 64);
    run_flash<HDP>(ab, qkv, keep.data(), B, L, Hq, Hkv, hd, q_off, nq);
    size_t diff = 0, rs = (size_t)Hq * hd;
    for (int b = 0; b < B; b++)
        for (int r = 0; r < nq; r++)
            diff += memcmp(ab + ((size_t)b * nq + r) * rs, ao + ((size_t)b * L + q_off + r) * rs, rs * 2) != 0;
    CHECK(diff == 0, "hd=%d: query band [%d, %d) differs from the whole run in %zu rows", hd, q_off, q_off + nq, diff);
    free(ab);
    free(qkv);
    free(ao);
}

int main() {
    check<16>(4);    /* scalar-load path, head dim zero-padded to 16 */
    check<128>(128); /* LLaDA's head dim, 16-byte vector loads */
    return TEST_SUMMARY();
}
