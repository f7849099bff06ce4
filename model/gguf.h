/* gguf.h — reader for GGUF files (llama.cpp's single-file checkpoints, versions 2 and 3).
 *
 * Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 key/value count; the
 * key/values (string key, u32 value type, value); the tensor infos (string name, u32 n_dims,
 * u64 ne[n_dims] innermost first, u32 ggml type, u64 offset); padding to `general.alignment`
 * (u32, default 32); the tensor data, each tensor at data start + offset (a multiple of the
 * alignment). Strings are u64 length + bytes (no NUL). Value types: 0 u8, 1 i8, 2 u16, 3 i16,
 * 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array (u32 element type, u64 count, elements),
 * 10 u64, 11 i64, 12 f64.
 *
 * The reader trusts nothing: every count, length and offset is checked against the bytes
 * present before use; keys and tensor names must be unique; a tensor's extent (its ne and
 * type's block size) must lie inside the file, aligned, without overlapping another; a type
 * whose size is unknown, a nested array, absurd counts or dimensions are errors. Errors are
 * one line (EXIT_DATA; EXIT_IO when the file cannot be opened or mapped). The file is
 * memory-mapped read-only; tensor data and string values point into the mapping.
 */
#ifndef LLADA_MODEL_GGUF_H
#define LLADA_MODEL_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include "lerr.h"

enum {
    GGUF_U8,
    GGUF_I8,
    GGUF_U16,
    GGUF_I16,
    GGUF_U32,
    GGUF_I32,
    GGUF_F32,
    GGUF_BOOL,
    GGUF_STRING,
    GGUF_ARRAY,
    GGUF_U64,
    GGUF_I64,
    GGUF_F64,
    GGUF_NTYPES
};

/* ggml tensor types this reader knows the size of (others are refused). */
enum {
    GGML_F32 = 0,
    GGML_F16 = 1,
    GGML_Q4_0 = 2,
    GGML_Q4_1 = 3,
    GGML_Q5_0 = 6,
    GGML_Q5_1 = 7,
    GGML_Q8_0 = 8,
    GGML_Q8_1 = 9,
    GGML_Q2_K = 10,
    GGML_Q3_K = 11,
    GGML_Q4_K = 12,
    GGML_Q5_K = 13,
    GGML_Q6_K = 14,
    GGML_Q8_K = 15,
    GGML_I8 = 24,
    GGML_I16 = 25,
    GGML_I32 = 26,
    GGML_I64 = 27,
    GGML_F64 = 28,
    GGML_BF16 = 30
};

typedef struct {
    const char *s; /* into the mapping, not NUL-terminated */
    uint64_t len;
} gguf_str_t;

typedef struct {
    char *key;     /* owned, NUL-terminated */
    uint32_t type; /* GGUF_* */
    union {
        uint64_t u;
        int64_t i;
        double f;
        gguf_str_t str;
    } v;               /* scalars and strings */
    uint32_t arr_type; /* arrays: element type (never GGUF_ARRAY) */
    uint64_t arr_n;
    const uint8_t *arr_data; /* fixed-size elements: raw little-endian values */
    uint64_t *arr_off;       /* string arrays: offset of each element's length field from
                                 * arr_data (owned) */
} gguf_kv_t;

typedef struct {
    char *name;       /* owned, NUL-terminated */
    int ndim;         /* 1..4 */
    int64_t ne[4];    /* innermost (contiguous) dimension first */
    uint32_t type;    /* GGML_* */
    const void *data; /* in the mapping */
    size_t nbytes;
} gguf_tensor_t;

typedef struct gguf_file {
    char *path;
    uint32_t version, alignment;
    gguf_kv_t *kv;
    int64_t nkv;
    gguf_tensor_t *t;
    int64_t nt;
    const uint8_t *map; /* the whole file */
    size_t size;
    int mapped; /* map is an mmap (gguf_open) rather than a caller's buffer */
} gguf_file_t;

/* Map and validate `path`. NULL with `e` set on error. */
gguf_file_t *gguf_open(const char *path, lerr_t *e);
/* Validate a GGUF image in memory (borrowed: must outlive the result). `name` prefixes
 * messages. The fuzz target's entry. */
gguf_file_t *gguf_parse(const void *buf, size_t len, const char *name, lerr_t *e);
void gguf_close(gguf_file_t **f);

/* Lookups (NULL when absent). */
const gguf_kv_t *gguf_find_kv(const gguf_file_t *f, const char *key);
const gguf_tensor_t *gguf_find_tensor(const gguf_file_t *f, const char *name);
/* Integer value of any integer or bool type: 1 found, 0 absent, -1 with `e` (wrong type). */
int gguf_get_int(const gguf_file_t *f, const char *key, int64_t *out, lerr_t *e);
/* Float value of f32/f64 (integers accepted): 1, 0, -1 as above. */
int gguf_get_num(const gguf_file_t *f, const char *key, double *out, lerr_t *e);
/* String value: 1, 0, -1 as above. */
int gguf_get_str(const gguf_file_t *f, const char *key, gguf_str_t *out, lerr_t *e);
/* Element i of an array: string arrays / integer arrays (any integer type). */
gguf_str_t gguf_arr_str(const gguf_kv_t *kv, uint64_t i);
int64_t gguf_arr_int(const gguf_kv_t *kv, uint64_t i);
double gguf_arr_num(const gguf_kv_t *kv, uint64_t i);
/* Name of a ggml type ("Q4_K"), "?" when unknown; bytes of a block and elements per block
 * (0 when unknown). */
const char *ggml_type_name(uint32_t type);
int ggml_type_block(uint32_t type);
int ggml_type_block_bytes(uint32_t type);

#endif
