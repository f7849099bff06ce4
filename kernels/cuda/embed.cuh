/* embed.cuh — embedding gather into the fp32 residual stream: x[t][:] = float(E[tok[t]][:]).
 * Token ids are validated on the host before upload (the backend rejects ids >= rows). */
#ifndef LLADA_CU_EMBED_CUH
#define LLADA_CU_EMBED_CUH
#include "common.cuh"

int cu_embed(float *x, const void *E, cu_dtype_t et, const int32_t *tok, int T, int d, cudaStream_t st);

#endif
