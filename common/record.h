/* record.h — the record: one msgpack map, the unit every tool reads and writes.
 *
 * A record is an ordered list of fields (str key -> value). Values are either
 *   - a typed array ("tensor"): encoded as the map {"dtype": str, "shape": [ints], "data": bin}
 *     with little-endian element bytes in `data` (or, with "filter": "shuffle", those bytes
 *     byte-shuffled; shuffle.h), decoded into a tensor_t the record owns; or
 *   - any other msgpack value, kept as its raw encoded bytes, so fields a tool does not know
 *     pass through it byte for byte.
 * Scalars are read and written through typed getters/setters. Field order is preserved;
 * setting an existing key replaces its value in place.
 * Wire format and every record kind: docs/protocol.md.
 */
#ifndef LLADA_RECORD_H
#define LLADA_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "lerr.h"

#define PROTOCOL_VERSION 1
#define REC_MAX_DIM 8

typedef enum {
    DT_U8,
    DT_I8,
    DT_U16,
    DT_I16,
    DT_U32,
    DT_I32,
    DT_U64,
    DT_I64,
    DT_F16,
    DT_BF16,
    DT_F32,
    DT_F64,
    DT__COUNT
} dtype_t;

/* "u1" "i1" "u2" "i2" "u4" "i4" "u8" "i8" "f2" "bf16" "f4" "f8" (little-endian). */
const char *dtype_name(dtype_t t);
int dtype_parse(const char *s, size_t len, dtype_t *out); /* 0 ok, -1 unknown */
size_t dtype_size(dtype_t t);

typedef struct {
    dtype_t dtype;
    int ndim;
    int64_t shape[REC_MAX_DIM];
    size_t numel;  /* product of shape (1 for ndim 0) */
    size_t nbytes; /* numel * dtype_size */
    void *data;    /* owned by the record; 64-byte aligned; NULL when nbytes == 0 */
} tensor_t;

/* Decoding limits (configurable by every tool: --max-record, --max-array, --max-depth,
 * --max-keys). */
typedef struct {
    size_t max_record_bytes; /* default 1 GiB */
    size_t max_array_len;    /* elements of one msgpack array (not tensors), default 1<<20 */
    int max_depth;           /* nesting depth of containers, default 32 */
    size_t max_map_keys;     /* keys of one msgpack map (the record itself and nested maps),
                              * default 1<<16; 0 means max_array_len (older initializers) */
} rec_limits_t;
extern const rec_limits_t REC_LIMITS_DEFAULT;
static inline size_t rec_max_keys(const rec_limits_t *l) {
    return l->max_map_keys ? l->max_map_keys : l->max_array_len;
}

typedef struct rec rec_t;

/* Lifecycle. rec_destroy frees everything the record owns and NULLs *r (idempotent). */
rec_t *rec_new(void);
void rec_destroy(rec_t **r);
rec_t *rec_dup(const rec_t *r); /* deep copy; NULL on OOM */
void rec_clear(rec_t *r);       /* drop all fields, keep the object */

/* Fields. Keys are copied. Setters return 0, or -1 on OOM / bad argument. */
size_t rec_nfields(const rec_t *r);
const char *rec_key(const rec_t *r, size_t i);
bool rec_has(const rec_t *r, const char *key);
bool rec_is_tensor(const rec_t *r, const char *key);
int rec_del(rec_t *r, const char *key);                     /* 0 removed, -1 absent */
int rec_rename(rec_t *r, const char *from, const char *to); /* replaces `to` if present */

int rec_set_str(rec_t *r, const char *key, const char *s);
int rec_set_strn(rec_t *r, const char *key, const char *s, size_t len);
int rec_set_int(rec_t *r, const char *key, int64_t v);
int rec_set_f64(rec_t *r, const char *key, double v);
int rec_set_bool(rec_t *r, const char *key, bool v);
int rec_set_nil(rec_t *r, const char *key);
/* Raw: `mp` must be exactly one valid msgpack value (copied; validated). */
int rec_set_raw(rec_t *r, const char *key, const void *mp, size_t len);

/* Getters return 0 and fill *out; -1 if absent; -2 if present with another type/range. */
int rec_get_int(const rec_t *r, const char *key, int64_t *out); /* any msgpack int */
int rec_get_f64(const rec_t *r, const char *key, double *out);  /* float32/64 or int */
int rec_get_bool(const rec_t *r, const char *key, bool *out);
/* String: pointer to the str payload inside the record (NOT NUL-terminated), valid until
 * the field is changed or the record destroyed. */
int rec_get_str(const rec_t *r, const char *key, const char **s, size_t *len);
/* Same, as a new NUL-terminated malloc'd copy owned by the caller; NULL if absent/other type. */
char *rec_get_strdup(const rec_t *r, const char *key);
/* Raw msgpack bytes of a non-tensor field (borrowed). */
int rec_get_raw(const rec_t *r, const char *key, const uint8_t **mp, size_t *len);
/* By position (0 <= i < rec_nfields), for walking every field without a lookup per key:
 * the tensor of field i (NULL if it is not one), or its raw bytes (-1 if it is a tensor). */
tensor_t *rec_tensor_at(const rec_t *r, size_t i);
int rec_raw_at(const rec_t *r, size_t i, const uint8_t **mp, size_t *len);
/* For decoders: while append mode is on, setters add a new field without looking for an
 * existing one (O(1) instead of O(fields)); the caller guarantees the keys are unique or checks
 * afterwards with rec_find_duplicate. */
void rec_append_mode(rec_t *r, bool on);
/* Store one msgpack value (`len` bytes, copied) under `key` as rec_decode stores a field: a
 * tensor map ({"dtype", "shape", "data": bin[, "filter"]}) becomes a tensor, anything else is
 * kept raw. For converters (the JSON reader) whose output must decode the same way again.
 * 0, or -1 with `e` set: a tensor map with bad contents or not one value (EXIT_DATA), OOM. */
int rec_set_value(rec_t *r, const char *key, const uint8_t *mp, size_t len, lerr_t *e);
/* 1 and *dup = index of the earliest field whose key already occurs before it; 0 if all keys
 * are distinct; -1 on OOM. O(n log n). */
int rec_find_duplicate(const rec_t *r, size_t *dup);
/* Key comparisons the record functions have made on the calling thread so far (lookups by key,
 * duplicate checks). An operation count for the tests that decoding and copying stay
 * O(n log n) in the number of keys (a quadratic path makes ~n^2/2). */
uint64_t rec_key_compares(void);
/* True if the field "kind" equals `kind`. */
bool rec_kind_is(const rec_t *r, const char *kind);

/* Tensors. rec_set_tensor creates (or replaces) a zero-filled tensor and returns it for the
 * caller to fill (owned by the record); NULL on OOM or bad shape. */
tensor_t *rec_set_tensor(rec_t *r, const char *key, dtype_t dt, int ndim, const int64_t *shape);
tensor_t *rec_set_tensor_copy(rec_t *r, const char *key, dtype_t dt, int ndim, const int64_t *shape, const void *data);
/* 1-D helpers. */
tensor_t *rec_set_i32(rec_t *r, const char *key, const int32_t *v, size_t n);
tensor_t *rec_set_f32(rec_t *r, const char *key, const float *v, size_t n);
tensor_t *rec_set_u8(rec_t *r, const char *key, const uint8_t *v, size_t n);
/* NULL if absent or not a tensor (borrowed; mutable so tools can edit in place). */
tensor_t *rec_tensor(const rec_t *r, const char *key);
/* Checked access: tensor of dtype `dt` and ndim `ndim` (ndim < 0: any). Sets `e` (EXIT_DATA)
 * with a message naming the key when absent or wrong. */
tensor_t *rec_need_tensor(const rec_t *r, const char *key, dtype_t dt, int ndim, lerr_t *e);

/* Encoding. rec_encode appends the msgpack bytes of `r` to the growable buffer. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} buf_t;
int buf_reserve(buf_t *b, size_t extra); /* 0 ok, -1 OOM */
int buf_append(buf_t *b, const void *p, size_t n);
void buf_free(buf_t *b);
int rec_encode(const rec_t *r, buf_t *out);
/* Same, with flags. REC_ENC_SHUFFLE: typed arrays of >= 16 multi-byte elements are written
 * byte-shuffled with "filter": "shuffle" (shuffle.h; docs/protocol.md). */
#define REC_ENC_SHUFFLE 1u
int rec_encode_ex(const rec_t *r, buf_t *out, unsigned flags);

/* Scan one msgpack value at buf[0..len): returns its byte length (>0), 0 if more bytes are
 * needed, or -1 on malformed input / limits exceeded with `e` set ("... at byte N", offset
 * relative to `base_offset`). Never allocates; checks lengths against bytes present. */
long mp_scan(const uint8_t *buf, size_t len, const rec_limits_t *lim, size_t base_offset, lerr_t *e);

/* Decode exactly one record (a msgpack map with str keys) from buf[0..len). Trailing bytes
 * are an error. Returns a new record or NULL with `e` set (EXIT_DATA). */
rec_t *rec_decode(const uint8_t *buf, size_t len, const rec_limits_t *lim, size_t base_offset, lerr_t *e);

/* JSON view (one JSON object per record; tensors as {"dtype","shape","data":[...]}). */
int rec_to_json(const rec_t *r, buf_t *out); /* appends one line including '\n' */
rec_t *rec_from_json(const char *line, size_t len, const rec_limits_t *lim, size_t lineno, lerr_t *e);

#endif
