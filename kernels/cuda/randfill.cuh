/* randfill.cuh — device-side random weights for benchmarks: dst[i] = mean + std·z_i with
 * z_i uniform on [-√3, √3] (unit variance) from the counter RNG (kernels/crng.h) keyed by
 * (seed, i), so an 8B-shaped model is generated on the GPU in milliseconds without host
 * memory or a checkpoint. Never zeros: benchmarks on zeros run faster than on real data. */
#ifndef LLADA_CU_RANDFILL_CUH
#define LLADA_CU_RANDFILL_CUH
#include "common.cuh"

int cu_randfill(void *dst, cu_dtype_t t, size_t n, uint64_t seed, float mean, float std, cudaStream_t st);

#endif
