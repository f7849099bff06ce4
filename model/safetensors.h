/* safetensors.h — read (mmap) and write the safetensors format, with full validation.
 *
 * Format: u64 little-endian header length N, then N bytes of JSON
 *   {"__metadata__": {str: str}, "NAME": {"dtype": "BF16"|"F16"|"F32"|..., "shape": [..],
 *    "data_offsets": [begin, end]}, ...}
 * then the data section; offsets are relative to its start. Validation: header length
 * within the file and <= 100 MB, valid JSON object, each entry's dtype known, shape
 * non-negative with no overflow, end - begin == numel * itemsize, end within the file.
 */
#ifndef LLADA_SAFETENSORS_H
#define LLADA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "lerr.h"
#include "kernels.h"

typedef struct {
    char *name;
    char dtype[8]; /* as in the file: "BF16", "F16", "F32", "I32", ... */
    int ndim;
    int64_t shape[8];
    const void *data; /* inside the mapping */
    size_t nbytes;
} st_tensor_t;

typedef struct {
    char *path;
    void *map;
    size_t map_len;
    st_tensor_t *t;
    int n;
} st_file_t;

/* Map and validate one file. NULL with e set (EXIT_IO open/map, EXIT_DATA format). */
st_file_t *st_open(const char *path, lerr_t *e);
void st_close(st_file_t **f);
const st_tensor_t *st_find(const st_file_t *f, const char *name);
/* wtype of a dtype string; -1 if not a float type this engine stores weights in. */
int st_wtype(const char *dtype);

/* Writer: describe tensors, then write header and data in one pass. */
typedef struct {
    const char *name;
    wtype_t type; /* stored type */
    int ndim;
    int64_t shape[2];
    const void *src; /* source elements of src_type */
    wtype_t src_type;
} st_out_t;
/* Write `path` with metadata {"format":"pt"}; converts src_type -> type on the fly.
 * EXIT_IO on failure (partial file removed). */
int st_write(const char *path, const st_out_t *t, int n, lerr_t *e);

#endif
