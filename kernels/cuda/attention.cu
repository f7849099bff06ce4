/* attention.cu — fused attention (see attention.cuh): the WMMA flash kernel for bf16
 * (attention_flash.cuh), a scalar kernel for f32, and their launchers. */
#include <math.h>
#include <mma.h>
#include "attention.cuh"

using namespace nvcuda;

#include "attention_flash.cuh"

/* f32 validation kernel: one block per (query, head, sequence); scores in shared memory.
 * Queries q_off + blockIdx.x, output rows [B][nq]. */
__global__ void attn_f32_kernel(float *ao, const float *qkv, const uint8_t *keep, int L, int q_off, int nq, int Hq,
                                int Hkv, int hd, float scale) {
    extern __shared__ float sc[]; /* [L] scores, then [hd] query */
    __shared__ double shd[32];
    __shared__ float shf[32];
    int qi = q_off + blockIdx.x, h = blockIdx.y, b = blockIdx.z, kh = h / (Hq / Hkv);
    size_t stride = (size_t)(Hq + 2 * Hkv) * hd;
    const float *base = qkv + (size_t)b * L * stride;
    float *qv = sc + L;
    for (int c = threadIdx.x; c < hd; c += blockDim.x) qv[c] = base[(size_t)qi * stride + h * hd + c];
    __syncthreads();
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < L; j += blockDim.x) {
        const float *kr = base + (size_t)j * stride + (Hq + kh) * hd;
        float s = 0;
        for (int c = 0; c < hd; c++) s += qv[c] * kr[c];
        s = (keep && !keep[(size_t)b * L + j]) ? -INFINITY : s * scale;
        sc[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = block_max(mx, shf);
    double sum = 0;
    for (int j = threadIdx.x; j < L; j += blockDim.x) {
        float p = mx == -INFINITY ? 0.0f : expf(sc[j] - mx);
        sc[j] = p;
        sum += p;
    }
    sum = block_sum(sum, shd);
    for (int c = threadIdx.x; c < hd; c += blockDim.x) {
        const float *vc = base + (Hq + Hkv + kh) * hd + c;
        float o = 0;
        for (int j = 0; j < L; j++) o += sc[j] * vc[(size_t)j * stride];
        ao[((size_t)b * nq + blockIdx.x) * Hq * hd + (size_t)h * hd + c] = sum > 0 ? (float)(o / sum) : 0.0f;
    }
}

template <int HDP> static int flash_init(void) {
    CU_CHECK(cudaFuncSetAttribute(flash_kernel<HDP>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  (int)att_layout<HDP>::bytes));
    return 0;
}

static bool g_init;

int cu_attention_init(void) {
    if (flash_init<16>() || flash_init<32>() || flash_init<64>() || flash_init<128>()) return -1;
    CU_CHECK(cudaFuncSetAttribute(attn_f32_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024));
    g_init = true;
    return 0;
}

template <int HDP>
static void flash_launch(__nv_bfloat16 *ao, const __nv_bfloat16 *qkv, const uint8_t *keep, int B, int L, int q_off,
                         int nq, int Hq, int Hkv, int hd, cudaStream_t st) {
    dim3 grid(cu_div_up(nq, ABQ), Hq, B);
    float scale_log2 = (float)(1.4426950408889634 / sqrt((double)hd));
    flash_kernel<HDP><<<grid, ATH, att_layout<HDP>::bytes, st>>>(ao, qkv, keep, L, q_off, nq, Hq, Hkv, hd, scale_log2);
}

int cu_attention(void *ao, const void *qkv, cu_dtype_t t, const uint8_t *keep, int B, int L, int Hq, int Hkv, int hd,
                 cudaStream_t st) {
    return cu_attention_rows(ao, qkv, t, keep, B, L, 0, L, Hq, Hkv, hd, st);
}

int cu_attention_rows(void *ao, const void *qkv, cu_dtype_t t, const uint8_t *keep, int B, int L, int q_off, int nq,
                      int Hq, int Hkv, int hd, cudaStream_t st) {
    CU_REQUIRE(g_init);
    CU_REQUIRE(ao && qkv && B > 0 && L > 0 && Hq > 0 && Hkv > 0 && Hq % Hkv == 0 && hd > 0);
    CU_REQUIRE(q_off >= 0 && nq > 0 && q_off + nq <= L);
    CU_REQUIRE(B <= 65535 && Hq <= 65535);
    if (t == CU_BF16) {
        CU_REQUIRE(hd <= 128);
        __nv_bfloat16 *o = (__nv_bfloat16 *)ao;
        const __nv_bfloat16 *x = (const __nv_bfloat16 *)qkv;
        if (hd <= 16) flash_launch<16>(o, x, keep, B, L, q_off, nq, Hq, Hkv, hd, st);
        else if (hd <= 32) flash_launch<32>(o, x, keep, B, L, q_off, nq, Hq, Hkv, hd, st);
        else if (hd <= 64) flash_launch<64>(o, x, keep, B, L, q_off, nq, Hq, Hkv, hd, st);
        else flash_launch<128>(o, x, keep, B, L, q_off, nq, Hq, Hkv, hd, st);
    } else {
        size_t sh = ((size_t)L + hd) * sizeof(float);
        CU_REQUIRE(sh <= 64 * 1024 && L <= 65535);
        dim3 grid(nq, Hq, B);
        attn_f32_kernel<<<grid, 128, sh, st>>>((float *)ao, (const float *)qkv, keep, L, q_off, nq, Hq, Hkv, hd,
                                               (float)(1.0 / sqrt((double)hd)));
    }
    CU_LAUNCHED();
    return 0;
}
