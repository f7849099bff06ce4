/* dnnl_env.h — how the kernels reach oneDNN (dnnl_env.c): libdnnl is loaded with dlopen on
 * the first reduced-precision pack (denoise --precision bf16|int8), never at process start,
 * so runs that use no oneDNN GEMM do not pay for loading it and its OpenMP runtime. The
 * functions gemm_dnnl.c calls are reached through one table, typed from <oneapi/dnnl/dnnl.h>.
 * Built without oneDNN's header (no LLADA_DNNL) this file declares nothing. */
#ifndef LLADA_DNNL_ENV_H
#define LLADA_DNNL_ENV_H
#ifdef LLADA_DNNL

#include <oneapi/dnnl/dnnl.h>

/* Every oneDNN entry point gemm_dnnl.c uses. */
// clang-format off
#define DNNL_ENV_FUNCS(X) \
    X(dnnl_engine_create) \
    X(dnnl_stream_create) \
    X(dnnl_stream_wait) \
    X(dnnl_memory_desc_init_by_tag) \
    X(dnnl_memory_desc_init_by_strides) \
    X(dnnl_memory_desc_get_size) \
    X(dnnl_matmul_desc_init) \
    X(dnnl_primitive_attr_create) \
    X(dnnl_primitive_attr_destroy) \
    X(dnnl_primitive_attr_set_post_ops) \
    X(dnnl_primitive_attr_set_scratchpad_mode) \
    X(dnnl_post_ops_create) \
    X(dnnl_post_ops_append_sum) \
    X(dnnl_post_ops_destroy) \
    X(dnnl_primitive_desc_create) \
    X(dnnl_primitive_desc_destroy) \
    X(dnnl_primitive_desc_query) \
    X(dnnl_primitive_desc_query_md) \
    X(dnnl_reorder_primitive_desc_create) \
    X(dnnl_primitive_create) \
    X(dnnl_primitive_destroy) \
    X(dnnl_primitive_execute) \
    X(dnnl_memory_create) \
    X(dnnl_memory_destroy) \
    X(dnnl_memory_set_data_handle)
// clang-format on

typedef struct {
#define DNNL_ENV_FIELD(f) __typeof__(f) *f;
    DNNL_ENV_FUNCS(DNNL_ENV_FIELD)
#undef DNNL_ENV_FIELD
    void (*omp_set_num_threads)(int); /* libgomp, oneDNN's threading runtime; NULL if absent */
} dnnl_env_t;

/* The loaded table (first call loads libdnnl.so.2; thread-safe), or NULL when the library is
 * missing or lacks an entry point: dnnl_env_error() says which, in one line. */
const dnnl_env_t *dnnl_env(void);
const char *dnnl_env_error(void);

#endif
#endif
