/* summarise.cuh — per-position sampling summaries over the full vocabulary, on the GPU.
 *
 * For each of n logits rows (f32, already CFG-combined) this computes exactly what
 * denoise/sampler.c sampler_summarise() computes on the CPU, so only an rm_cand_t per
 * position crosses to the host each step:
 *   token    argmax of the logits (T = 0, first index on ties) or the Gumbel-max pick
 *            argmax_i (double)l_i - T·log(-log u_i) in float64 with u_i from kernels/crng.h
 *            (crng_u01_from(prefix[row], i)): the same bits as the CPU draws
 *   prob     softmax probability of the pick, margin = top-1 minus top-2 probability,
 *   entropy  in nats: all in float64 over the (EOS-modified) logits
 *   conf     prob, or the official EOS/EOT quirk's renormalised probability, or -inf for an
 *            EOS/EOT pick under the fixed variant (see sampler.h for the flags)
 * The EOS/EOT modifications are applied virtually (the logits are not written). One block
 * per row, two passes over the row (pick, maxima and top-2; then the exp sums in double);
 * the per-element and merge arithmetic is summarise_row.h, shared with a host-side test.
 * `pos` of each output is left untouched (the sampler sets it).
 */
#ifndef LLADA_CU_SUMMARISE_CUH
#define LLADA_CU_SUMMARISE_CUH
#include "common.cuh"
#include "summarise_row.h"

/* logits [n][ld] (V used); prefix [n] device; out [n] device. */
int cu_summarise(rm_cand_t *out, const float *logits, int n, int V, int ld, const uint64_t *prefix,
                 const cu_summ_opts_t *o, cudaStream_t st);
/* dst[i][:] = src[rows[i]][:] for i < n (rows device, [n]); d elements per row. */
int cu_gather_rows(void *dst, const void *src, cu_dtype_t t, const int32_t *rows, int n, int d, cudaStream_t st);
/* lc = lu + s1·(lc - lu), elementwise in fp32 with the CPU's rounding (no FMA contraction). */
int cu_cfg_combine(float *lc, const float *lu, float s1, size_t n, cudaStream_t st);

#endif
