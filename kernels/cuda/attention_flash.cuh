/* attention_flash.cuh — the bf16 flash-attention kernel of attention.cu, in a header of its
 * own so that tests/unit/test_cuda_flash_emu.cpp can compile the very same code on the host
 * against an emulation of the CUDA subset it uses (threads, barriers, shuffles, WMMA) and
 * compare it with the CPU attention on machines without a GPU. The includer provides the
 * CUDA (or emulated) headers and `using namespace nvcuda;`.
 *
 * Shared layout (rows padded to dodge bank conflicts, every fragment pointer 32-byte aligned):
 *   Qs, Ks, Vs  [64][HDP+8] bf16     S [64][64+4] f32     P [64][64+8] bf16
 *   O [64][HDP+4] f32 (output accumulator)     m, l [64] f32     kok [64] (key usable)
 * Per key tile: all threads load K/V; each warp computes its 16 rows of S = Q·Kᵀ, the
 * online-softmax update (two lanes per row), rescales its O rows and adds P·V. */
#ifndef LLADA_CU_ATTENTION_FLASH_CUH
#define LLADA_CU_ATTENTION_FLASH_CUH

enum { ABQ = 64, ABK = 64, AWARPS = 4, ATH = AWARPS * 32, LDS = ABK + 4, LDP = ABK + 8 };

template <int HDP> struct att_layout {
    static constexpr int LDK = HDP + 8, LDO = HDP + 4;
    static constexpr size_t q = 0, k = q + (size_t)ABQ * LDK * 2, v = k + (size_t)ABK * LDK * 2,
                            s = v + (size_t)ABK * LDK * 2, p = s + (size_t)ABQ * LDS * 4, o = p + (size_t)ABQ * LDP * 2,
                            m = o + (size_t)ABQ * LDO * 4, l = m + ABQ * 4, kok = l + ABQ * 4, bytes = kok + ABK * 4;
};

/* rows [r0, r0+64) of one head (columns col0..col0+hd) into a zero-padded [64][HDP] tile;
 * rows >= L are zeros */
template <int HDP>
__device__ void load_tile(__nv_bfloat16 *dst, const __nv_bfloat16 *src, size_t stride, int col0, int r0, int L,
                          int hd) {
    constexpr int LDK = HDP + 8;
    if (hd % 8 == 0 && stride % 8 == 0 && col0 % 8 == 0) {
        int nv = HDP / 8;
        for (int i = threadIdx.x; i < ABQ * nv; i += ATH) {
            int r = i / nv, c = (i % nv) * 8;
            uint4 val = make_uint4(0, 0, 0, 0);
            if (r0 + r < L && c < hd) val = *(const uint4 *)(src + (size_t)(r0 + r) * stride + col0 + c);
            *(uint4 *)(dst + r * LDK + c) = val;
        }
    } else {
        for (int i = threadIdx.x; i < ABQ * HDP; i += ATH) {
            int r = i / HDP, c = i % HDP;
            dst[r * LDK + c] =
                (r0 + r < L && c < hd) ? src[(size_t)(r0 + r) * stride + col0 + c] : __float2bfloat16_rn(0.0f);
        }
    }
}

/* Online-softmax update of this warp's 16 rows for one key tile (two lanes per row). */
template <int HDP>
__device__ void softmax_tile(float *S, __nv_bfloat16 *P, float *O, float *m, float *l, const int *kok, int w,
                             float scale_log2) {
    constexpr int LDO = HDP + 4;
    int lane = threadIdx.x & 31, r = w * 16 + lane / 2, half = lane & 1;
    const float *sr = S + r * LDS + half * 32;
    float mt = -INFINITY;
    for (int c = 0; c < 32; c++)
        if (kok[half * 32 + c]) mt = fmaxf(mt, sr[c] * scale_log2);
    mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 1));
    float m_old = m[r], m_new = fmaxf(m_old, mt);
    float alpha = m_new == -INFINITY ? 1.0f : exp2f(m_old - m_new);
    float sum = 0;
    for (int c = 0; c < 32; c++) {
        float p = (m_new == -INFINITY || !kok[half * 32 + c]) ? 0.0f : exp2f(sr[c] * scale_log2 - m_new);
        __nv_bfloat16 pb = __float2bfloat16_rn(p);
        P[r * LDP + half * 32 + c] = pb;
        sum += __bfloat162float(pb);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    float *orow = O + r * LDO + half * (HDP / 2);
    for (int c = 0; c < HDP / 2; c++) orow[c] *= alpha;
    __syncwarp();
    if (!half) {
        m[r] = m_new;
        l[r] = l[r] * alpha + sum;
    }
    __syncwarp();
}

/* Queries [q_off, q_off + nq) of each sequence (blockIdx.x tiles them) against all L keys;
 * output rows [B][nq] (q_off = 0, nq = L: the whole canvas). */
template <int HDP>
__global__ void __launch_bounds__(ATH)
    flash_kernel(__nv_bfloat16 *ao, const __nv_bfloat16 *qkv, const uint8_t *keep, int L, int q_off, int nq, int Hq,
                 int Hkv, int hd, float scale_log2) {
    typedef att_layout<HDP> LY;
    extern __shared__ __align__(128) unsigned char sm[];
    __nv_bfloat16 *Qs = (__nv_bfloat16 *)(sm + LY::q), *Ks = (__nv_bfloat16 *)(sm + LY::k),
                  *Vs = (__nv_bfloat16 *)(sm + LY::v), *P = (__nv_bfloat16 *)(sm + LY::p);
    float *S = (float *)(sm + LY::s), *O = (float *)(sm + LY::o), *m = (float *)(sm + LY::m),
          *l = (float *)(sm + LY::l);
    int *kok = (int *)(sm + LY::kok);
    int q0 = q_off + blockIdx.x * ABQ, h = blockIdx.y, b = blockIdx.z, w = threadIdx.x >> 5;
    int kh = h / (Hq / Hkv);
    size_t stride = (size_t)(Hq + 2 * Hkv) * hd;
    const __nv_bfloat16 *base = qkv + (size_t)b * L * stride;
    const uint8_t *kp = keep ? keep + (size_t)b * L : nullptr;

    load_tile<HDP>(Qs, base, stride, h * hd, q0, q_off + nq, hd);
    for (int i = threadIdx.x; i < ABQ * LY::LDO; i += ATH) O[i] = 0.0f;
    for (int i = threadIdx.x; i < ABQ; i += ATH) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    __syncthreads();
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> qf[HDP / 16];
    for (int kk = 0; kk < HDP / 16; kk++) wmma::load_matrix_sync(qf[kk], Qs + w * 16 * LY::LDK + kk * 16, LY::LDK);

    for (int k0 = 0; k0 < L; k0 += ABK) {
        load_tile<HDP>(Ks, base, stride, (Hq + kh) * hd, k0, L, hd);
        load_tile<HDP>(Vs, base, stride, (Hq + Hkv + kh) * hd, k0, L, hd);
        for (int i = threadIdx.x; i < ABK; i += ATH) kok[i] = k0 + i < L && (!kp || kp[k0 + i]);
        __syncthreads();
        for (int j = 0; j < ABK / 16; j++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
            for (int kk = 0; kk < HDP / 16; kk++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> kf;
                wmma::load_matrix_sync(kf, Ks + j * 16 * LY::LDK + kk * 16, LY::LDK);
                wmma::mma_sync(acc, qf[kk], kf, acc);
            }
            wmma::store_matrix_sync(S + w * 16 * LDS + j * 16, acc, LDS, wmma::mem_row_major);
        }
        __syncwarp();
        softmax_tile<HDP>(S, P, O, m, l, kok, w, scale_log2);
        for (int n = 0; n < HDP / 16; n++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            float *op = O + w * 16 * LY::LDO + n * 16;
            wmma::load_matrix_sync(acc, op, LY::LDO, wmma::mem_row_major);
            for (int kk = 0; kk < ABK / 16; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> pf;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> vf;
                wmma::load_matrix_sync(pf, P + w * 16 * LDP + kk * 16, LDP);
                wmma::load_matrix_sync(vf, Vs + kk * 16 * LY::LDK + n * 16, LY::LDK);
                wmma::mma_sync(acc, pf, vf, acc);
            }
            wmma::store_matrix_sync(op, acc, LY::LDO, wmma::mem_row_major);
        }
        __syncthreads();
    }
    size_t ostride = (size_t)Hq * hd;
    for (int i = threadIdx.x & 31; i < 16 * hd; i += 32) {
        int r = w * 16 + i / hd, c = i % hd, q = q0 + r;
        if (q >= q_off + nq) continue;
        float lr = l[r];
        ao[((size_t)b * nq + (q - q_off)) * ostride + (size_t)h * hd + c] =
            __float2bfloat16_rn(lr > 0 ? O[r * LY::LDO + c] / lr : 0.0f);
    }
}

#endif
