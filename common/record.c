/* record.c — records: ordered fields, tensors decoded, everything else kept as raw msgpack.
 *
 * Workload: a record carries a handful of fields, one to four of which are large typed arrays
 * (token ids, masks, logits). Fields are a small array searched linearly by the getters and
 * setters; tensor payloads are copied once into 64-byte aligned memory on decode and written
 * with one memcpy on encode. Input is untrusted, so decoding must not be quadratic in the number
 * of keys: decoders append fields without a lookup (append mode) and check for duplicate keys
 * once, by sorting, in O(n log n).
 */
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "record.h"
#include "mpscan.h"
#include "shuffle.h"

const rec_limits_t REC_LIMITS_DEFAULT = {(size_t)1 << 30, (size_t)1 << 20, 32, (size_t)1 << 16};
/* For re-validating values that already passed the caller's limits. */
static const rec_limits_t LIMITS_NONE = {SIZE_MAX, SIZE_MAX, MP_MAX_DEPTH, SIZE_MAX};

typedef struct {
    char *key;
    bool is_tensor;
    uint8_t *raw; /* !is_tensor: one msgpack value */
    size_t raw_len;
    tensor_t t; /* is_tensor */
} field_t;

struct rec {
    field_t *f;
    size_t n, cap;
    bool append; /* setters add fields without looking for the key (rec_append_mode) */
};

static const char *const DT_NAMES[DT__COUNT] = {"u1", "i1", "u2", "i2",   "u4", "i4",
                                                "u8", "i8", "f2", "bf16", "f4", "f8"};
static const size_t DT_SIZES[DT__COUNT] = {1, 1, 2, 2, 4, 4, 8, 8, 2, 2, 4, 8};

const char *dtype_name(dtype_t t) { return (unsigned)t < DT__COUNT ? DT_NAMES[t] : "?"; }
size_t dtype_size(dtype_t t) { return (unsigned)t < DT__COUNT ? DT_SIZES[t] : 0; }

int dtype_parse(const char *s, size_t len, dtype_t *out) {
    for (int i = 0; i < DT__COUNT; i++)
        if (strlen(DT_NAMES[i]) == len && memcmp(DT_NAMES[i], s, len) == 0) {
            *out = (dtype_t)i;
            return 0;
        }
    return -1;
}

/* ---------------------------------------------------------------- buffers */

/* Buffers of 2 MB and more are advised for transparent huge pages (the kernel's default is
 * "madvise" on many machines) before their first touch: a document-sized tensor or encode
 * buffer then faults 2 MB at a time instead of 4 kB (a fault costs ~10 us on the VMs measured;
 * docs/tokenizer.md, CLI cost). Only the 2 MB-aligned part of [p, p + n) can be advised. */
#define HUGE_PAGE ((size_t)2 << 20)
static void advise_huge(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
    uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
    (void)p, (void)n;
#endif
}

int buf_reserve(buf_t *b, size_t extra) {
    if (b->cap - b->len >= extra) return 0;
    size_t need = b->len + extra;
    if (need < b->len) return -1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) cap = cap * 2 > cap ? cap * 2 : need;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return -1;
    if (cap >= HUGE_PAGE) advise_huge(p + b->len, cap - b->len);
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(buf_t *b, const void *p, size_t n) {
    if (buf_reserve(b, n)) return -1;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void buf_free(buf_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---------------------------------------------------------------- lifecycle */

rec_t *rec_new(void) { return calloc(1, sizeof(rec_t)); }

static void field_free(field_t *f) {
    free(f->key);
    free(f->raw);
    free(f->t.data);
    memset(f, 0, sizeof *f);
}

void rec_clear(rec_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) field_free(&r->f[i]);
    r->n = 0;
}

void rec_destroy(rec_t **rp) {
    if (!rp || !*rp) return;
    rec_clear(*rp);
    free((*rp)->f);
    free(*rp);
    *rp = NULL;
}

static void *alloc_aligned(size_t n) {
    if (n == 0) return NULL;
    size_t rounded = (n + 63) & ~(size_t)63;
    if (rounded < HUGE_PAGE) return aligned_alloc(64, rounded);
    rounded = (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    if (rounded < n) return NULL;
    void *p = aligned_alloc(HUGE_PAGE, rounded);
    if (p) advise_huge(p, rounded);
    return p;
}

rec_t *rec_dup(const rec_t *r) {
    rec_t *d = rec_new();
    if (!d) return NULL;
    d->append = true; /* r's keys are unique: no lookups, so copying is linear */
    for (size_t i = 0; i < r->n; i++) {
        const field_t *f = &r->f[i];
        int rc;
        if (f->is_tensor) rc = rec_set_tensor_copy(d, f->key, f->t.dtype, f->t.ndim, f->t.shape, f->t.data) ? 0 : -1;
        else rc = rec_set_raw(d, f->key, f->raw, f->raw_len);
        if (rc) {
            rec_destroy(&d);
            return NULL;
        }
    }
    d->append = false;
    return d;
}

void rec_append_mode(rec_t *r, bool on) { r->append = on; }

static _Thread_local uint64_t key_cmps; /* rec_key_compares: per thread, so no contention */
uint64_t rec_key_compares(void) { return key_cmps; }

typedef struct {
    const char *key;
    size_t i;
} keyref_t;
static int keyref_cmp(const void *a, const void *b) {
    const keyref_t *x = a, *y = b;
    key_cmps++;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

int rec_find_duplicate(const rec_t *r, size_t *dup) {
    if (r->n < 2) return 0;
    if (r->n <= 8) { /* the common case: a handful of fields */
        for (size_t i = 1; i < r->n; i++)
            for (size_t j = 0; j < i; j++) {
                key_cmps++;
                if (!strcmp(r->f[i].key, r->f[j].key)) {
                    *dup = i;
                    return 1;
                }
            }
        return 0;
    }
    keyref_t *k = malloc(r->n * sizeof *k);
    if (!k) return -1;
    for (size_t i = 0; i < r->n; i++) k[i] = (keyref_t){r->f[i].key, i};
    qsort(k, r->n, sizeof *k, keyref_cmp);
    /* in each run of equal keys every entry after the first (lowest index) is a repeat; the
     * earliest repeat is the one a one-pass decoder would have stopped at */
    size_t best = SIZE_MAX;
    key_cmps += r->n - 1;
    for (size_t i = 1; i < r->n; i++)
        if (!strcmp(k[i].key, k[i - 1].key) && k[i].i < best) best = k[i].i;
    free(k);
    if (best == SIZE_MAX) return 0;
    *dup = best;
    return 1;
}

/* ---------------------------------------------------------------- fields */

size_t rec_nfields(const rec_t *r) { return r->n; }
const char *rec_key(const rec_t *r, size_t i) { return i < r->n ? r->f[i].key : NULL; }
tensor_t *rec_tensor_at(const rec_t *r, size_t i) { return i < r->n && r->f[i].is_tensor ? &r->f[i].t : NULL; }
int rec_raw_at(const rec_t *r, size_t i, const uint8_t **mp, size_t *len) {
    if (i >= r->n || r->f[i].is_tensor) return -1;
    *mp = r->f[i].raw;
    *len = r->f[i].raw_len;
    return 0;
}

static field_t *find(const rec_t *r, const char *key) {
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->f[i].key, key) == 0) {
            key_cmps += i + 1;
            return &r->f[i];
        }
    key_cmps += r->n;
    return NULL;
}

bool rec_has(const rec_t *r, const char *key) { return find(r, key) != NULL; }
bool rec_is_tensor(const rec_t *r, const char *key) {
    field_t *f = find(r, key);
    return f && f->is_tensor;
}

int rec_del(rec_t *r, const char *key) {
    field_t *f = find(r, key);
    if (!f) return -1;
    size_t i = (size_t)(f - r->f);
    field_free(f);
    memmove(&r->f[i], &r->f[i + 1], (r->n - i - 1) * sizeof *f);
    r->n--;
    return 0;
}

int rec_rename(rec_t *r, const char *from, const char *to) {
    field_t *f = find(r, from);
    if (!f) return -1;
    if (strcmp(from, to) == 0) return 0;
    char *k = strdup(to);
    if (!k) return -1;
    rec_del(r, to);
    f = find(r, from); /* the array may have shifted */
    free(f->key);
    f->key = k;
    return 0;
}

/* Returns the field for `key`, emptied for a new value (created at the end if absent). */
static field_t *slot(rec_t *r, const char *key) {
    field_t *f = r->append ? NULL : find(r, key);
    if (f) {
        free(f->raw);
        free(f->t.data);
        f->raw = NULL;
        f->raw_len = 0;
        f->is_tensor = false;
        memset(&f->t, 0, sizeof f->t);
        return f;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        field_t *nf = realloc(r->f, cap * sizeof *nf);
        if (!nf) return NULL;
        r->f = nf;
        r->cap = cap;
    }
    f = &r->f[r->n];
    memset(f, 0, sizeof *f);
    if (!(f->key = strdup(key))) return NULL;
    r->n++;
    return f;
}

static int set_raw_owned(rec_t *r, const char *key, uint8_t *mp, size_t len) {
    field_t *f = slot(r, key);
    if (!f) {
        free(mp);
        return -1;
    }
    f->raw = mp;
    f->raw_len = len;
    return 0;
}

int rec_set_raw(rec_t *r, const char *key, const void *mp, size_t len) {
    lerr_t e;
    if (len == 0 || mp_scan(mp, len, &LIMITS_NONE, 0, &e) != (long)len) return -1;
    uint8_t *copy = malloc(len);
    if (!copy) return -1;
    memcpy(copy, mp, len);
    return set_raw_owned(r, key, copy, len);
}

static int buf_write_cb(void *data, const char *p, size_t n) { return buf_append(data, p, n); }

/* Pack one scalar with msgpack-c into a fresh buffer, then store it. */
#define SET_PACKED(r, key, PACK_STMT) \
    do { \
        buf_t b_ = {0}; \
        msgpack_packer pk; \
        msgpack_packer_init(&pk, &b_, buf_write_cb); \
        if (PACK_STMT) { \
            buf_free(&b_); \
            return -1; \
        } \
        return set_raw_owned(r, key, b_.data, b_.len); \
    } while (0)

int rec_set_strn(rec_t *r, const char *key, const char *s, size_t len) {
    if (len > UINT32_MAX) return -1;
    SET_PACKED(r, key, msgpack_pack_str_with_body(&pk, s, len));
}
int rec_set_str(rec_t *r, const char *key, const char *s) { return rec_set_strn(r, key, s, strlen(s)); }
int rec_set_int(rec_t *r, const char *key, int64_t v) { SET_PACKED(r, key, msgpack_pack_int64(&pk, v)); }
int rec_set_f64(rec_t *r, const char *key, double v) { SET_PACKED(r, key, msgpack_pack_double(&pk, v)); }
int rec_set_bool(rec_t *r, const char *key, bool v) {
    SET_PACKED(r, key, v ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk));
}
int rec_set_nil(rec_t *r, const char *key) { SET_PACKED(r, key, msgpack_pack_nil(&pk)); }

/* ---------------------------------------------------------------- getters */

static int raw_hdr(const rec_t *r, const char *key, mp_hdr_t *h, const uint8_t **p) {
    field_t *f = find(r, key);
    if (!f) return -1;
    if (f->is_tensor) return -2;
    if (mp_header(f->raw, f->raw_len, h) != 1) return -2;
    if (p) *p = f->raw;
    return 0;
}

int rec_get_int(const rec_t *r, const char *key, int64_t *out) {
    mp_hdr_t h;
    int rc = raw_hdr(r, key, &h, NULL);
    if (rc) return rc;
    if (h.type == MP_INT) {
        *out = h.i;
        return 0;
    }
    if (h.type == MP_UINT && h.u <= INT64_MAX) {
        *out = (int64_t)h.u;
        return 0;
    }
    return -2;
}

int rec_get_f64(const rec_t *r, const char *key, double *out) {
    mp_hdr_t h;
    int rc = raw_hdr(r, key, &h, NULL);
    if (rc) return rc;
    switch (h.type) {
    case MP_FLOAT: *out = h.f; return 0;
    case MP_INT: *out = (double)h.i; return 0;
    case MP_UINT: *out = (double)h.u; return 0;
    default: return -2;
    }
}

int rec_get_bool(const rec_t *r, const char *key, bool *out) {
    mp_hdr_t h;
    int rc = raw_hdr(r, key, &h, NULL);
    if (rc) return rc;
    if (h.type != MP_BOOL) return -2;
    *out = h.u != 0;
    return 0;
}

int rec_get_str(const rec_t *r, const char *key, const char **s, size_t *len) {
    mp_hdr_t h;
    const uint8_t *p;
    int rc = raw_hdr(r, key, &h, &p);
    if (rc) return rc;
    if (h.type != MP_STR) return -2;
    *s = (const char *)p + h.hlen;
    *len = h.size;
    return 0;
}

char *rec_get_strdup(const rec_t *r, const char *key) {
    const char *s;
    size_t n;
    if (rec_get_str(r, key, &s, &n)) return NULL;
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

int rec_get_raw(const rec_t *r, const char *key, const uint8_t **mp, size_t *len) {
    field_t *f = find(r, key);
    if (!f) return -1;
    if (f->is_tensor) return -2;
    *mp = f->raw;
    *len = f->raw_len;
    return 0;
}

bool rec_kind_is(const rec_t *r, const char *kind) {
    const char *s;
    size_t n;
    return rec_get_str(r, "kind", &s, &n) == 0 && n == strlen(kind) && memcmp(s, kind, n) == 0;
}

/* ---------------------------------------------------------------- tensors */

static int shape_numel(int ndim, const int64_t *shape, size_t *numel) {
    if (ndim < 0 || ndim > REC_MAX_DIM) return -1;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] && n > SIZE_MAX / (size_t)shape[i]) return -1;
        n *= (size_t)shape[i];
    }
    *numel = n;
    return 0;
}

/* A new tensor field; its bytes are zeroed when `zero`, else left for the caller to fill. */
static tensor_t *set_tensor(rec_t *r, const char *key, dtype_t dt, int ndim, const int64_t *shape, bool zero) {
    size_t numel;
    if ((unsigned)dt >= DT__COUNT || shape_numel(ndim, shape, &numel)) return NULL;
    if (numel > SIZE_MAX / dtype_size(dt)) return NULL;
    size_t nbytes = numel * dtype_size(dt);
    void *data = alloc_aligned(nbytes);
    if (nbytes && !data) return NULL;
    if (nbytes && zero) memset(data, 0, nbytes);
    field_t *f = slot(r, key);
    if (!f) {
        free(data);
        return NULL;
    }
    f->is_tensor = true;
    f->t.dtype = dt;
    f->t.ndim = ndim;
    memset(f->t.shape, 0, sizeof f->t.shape);
    for (int i = 0; i < ndim; i++) f->t.shape[i] = shape[i];
    f->t.numel = numel;
    f->t.nbytes = nbytes;
    f->t.data = data;
    return &f->t;
}

tensor_t *rec_set_tensor(rec_t *r, const char *key, dtype_t dt, int ndim, const int64_t *shape) {
    return set_tensor(r, key, dt, ndim, shape, true);
}

tensor_t *rec_set_tensor_copy(rec_t *r, const char *key, dtype_t dt, int ndim, const int64_t *shape, const void *data) {
    tensor_t *t = set_tensor(r, key, dt, ndim, shape, false);
    if (t && t->nbytes) memcpy(t->data, data, t->nbytes);
    return t;
}

tensor_t *rec_set_i32(rec_t *r, const char *key, const int32_t *v, size_t n) {
    int64_t s = (int64_t)n;
    return rec_set_tensor_copy(r, key, DT_I32, 1, &s, v);
}
tensor_t *rec_set_f32(rec_t *r, const char *key, const float *v, size_t n) {
    int64_t s = (int64_t)n;
    return rec_set_tensor_copy(r, key, DT_F32, 1, &s, v);
}
tensor_t *rec_set_u8(rec_t *r, const char *key, const uint8_t *v, size_t n) {
    int64_t s = (int64_t)n;
    return rec_set_tensor_copy(r, key, DT_U8, 1, &s, v);
}

tensor_t *rec_tensor(const rec_t *r, const char *key) {
    field_t *f = find(r, key);
    return f && f->is_tensor ? &f->t : NULL;
}

tensor_t *rec_need_tensor(const rec_t *r, const char *key, dtype_t dt, int ndim, lerr_t *e) {
    field_t *f = find(r, key);
    if (!f) {
        lerr_set(e, EXIT_DATA, "record has no '%s' field", key);
        return NULL;
    }
    if (!f->is_tensor) {
        lerr_set(e, EXIT_DATA, "field '%s' is not a typed array", key);
        return NULL;
    }
    if (f->t.dtype != dt) {
        lerr_set(e, EXIT_DATA, "field '%s' has dtype %s, expected %s", key, dtype_name(f->t.dtype), dtype_name(dt));
        return NULL;
    }
    if (ndim >= 0 && f->t.ndim != ndim) {
        lerr_set(e, EXIT_DATA, "field '%s' has %d dimensions, expected %d", key, f->t.ndim, ndim);
        return NULL;
    }
    return &f->t;
}

/* ---------------------------------------------------------------- encode */

static int pack_key(msgpack_packer *pk, const char *k) { return msgpack_pack_str_with_body(pk, k, strlen(k)); }

/* Tensors of at least this many multi-byte elements are shuffled under REC_ENC_SHUFFLE;
 * smaller ones gain nothing from it. */
#define SHUFFLE_MIN_ELEMENTS 16

static int encode_tensor(msgpack_packer *pk, buf_t *out, const tensor_t *t, unsigned flags) {
    if (t->nbytes > UINT32_MAX) return -1; /* msgpack bin32 limit; packing would truncate */
    const char *dn = dtype_name(t->dtype);
    size_t es = dtype_size(t->dtype);
    bool shuffle = (flags & REC_ENC_SHUFFLE) && es > 1 && t->numel >= SHUFFLE_MIN_ELEMENTS;
    if (msgpack_pack_map(pk, shuffle ? 4 : 3) || pack_key(pk, "dtype") ||
        msgpack_pack_str_with_body(pk, dn, strlen(dn)) || pack_key(pk, "shape") ||
        msgpack_pack_array(pk, (size_t)t->ndim))
        return -1;
    for (int i = 0; i < t->ndim; i++)
        if (msgpack_pack_int64(pk, t->shape[i])) return -1;
    if (shuffle && (pack_key(pk, "filter") || msgpack_pack_str_with_body(pk, "shuffle", 7))) return -1;
    if (pack_key(pk, "data") || msgpack_pack_bin(pk, t->nbytes)) return -1;
    if (!shuffle) return buf_append(out, t->data, t->nbytes);
    if (buf_reserve(out, t->nbytes)) return -1;
    shuffle_bytes(out->data + out->len, t->data, t->numel, es);
    out->len += t->nbytes;
    return 0;
}

int rec_encode_ex(const rec_t *r, buf_t *out, unsigned flags) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write_cb);
    if (msgpack_pack_map(&pk, r->n)) return -1;
    for (size_t i = 0; i < r->n; i++) {
        const field_t *f = &r->f[i];
        if (pack_key(&pk, f->key)) return -1;
        if (f->is_tensor ? encode_tensor(&pk, out, &f->t, flags) : buf_append(out, f->raw, f->raw_len)) return -1;
    }
    return 0;
}

int rec_encode(const rec_t *r, buf_t *out) { return rec_encode_ex(r, out, 0); }

/* ---------------------------------------------------------------- decode */

typedef struct {
    const uint8_t *p;
    size_t len, pos, base;
    const rec_limits_t *lim;
    lerr_t *e;
} dec_t;

/* Extent of the value at d->pos (already known complete: the whole record was scanned). */
static long value_len(dec_t *d) {
    long n = mp_scan(d->p + d->pos, d->len - d->pos, d->lim, d->base + d->pos, d->e);
    if (n == 0) lerr_set(d->e, EXIT_DATA, "truncated value at byte %zu", d->base + d->pos);
    return n > 0 ? n : -1;
}

static int read_str(dec_t *d, const char **s, size_t *n) {
    mp_hdr_t h;
    if (mp_header(d->p + d->pos, d->len - d->pos, &h) != 1 || h.type != MP_STR) return -1;
    *s = (const char *)d->p + d->pos + h.hlen;
    *n = h.size;
    d->pos += h.hlen + h.size;
    return 0;
}

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
static bool utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
        if (!len || c > 0xf4 || i + len > n) return false;
        uint32_t cp = c & (0x7f >> len);
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static int key_is(const char *k, size_t n, const char *want) { return strlen(want) == n && memcmp(k, want, n) == 0; }

/* Try to read the value at d->pos as a tensor map ({"dtype","shape","data"} and optionally
 * "filter": "shuffle"). 1 = tensor stored, 0 = not a tensor map (d->pos unchanged), -1 = a
 * tensor map with bad contents (error set). */
static int try_tensor(dec_t *d, rec_t *r, const char *key) {
    size_t start = d->pos;
    mp_hdr_t h;
    if (mp_header(d->p + d->pos, d->len - d->pos, &h) != 1 || h.type != MP_MAP || (h.count != 3 && h.count != 4))
        return 0;
    d->pos += h.hlen;
    const char *dts = NULL, *data = NULL, *filter = NULL;
    size_t dtn = 0, datan = 0, filtern = 0;
    int ndim = -1, shape_bad = 0; /* 1: an entry is not a non-negative integer; 2: too many */
    size_t shape_at = 0;
    uint64_t shape_n = 0;
    int64_t shape[REC_MAX_DIM];
    for (int i = 0; i < (int)h.count; i++) {
        const char *k;
        size_t kn;
        if (read_str(d, &k, &kn)) goto not_tensor;
        mp_hdr_t v;
        if (mp_header(d->p + d->pos, d->len - d->pos, &v) != 1) goto not_tensor;
        if (key_is(k, kn, "dtype") && v.type == MP_STR) {
            dts = (const char *)d->p + d->pos + v.hlen;
            dtn = v.size;
            d->pos += v.hlen + v.size;
        } else if (key_is(k, kn, "filter") && v.type == MP_STR && h.count == 4) {
            filter = (const char *)d->p + d->pos + v.hlen;
            filtern = v.size;
            d->pos += v.hlen + v.size;
        } else if (key_is(k, kn, "data") && v.type == MP_BIN) {
            data = (const char *)d->p + d->pos + v.hlen;
            datan = v.size;
            d->pos += v.hlen + v.size;
        } else if (key_is(k, kn, "shape") && v.type == MP_ARRAY) {
            /* a bad shape is an error only once the map has proved to be a tensor (the right
             * keys and types): {"dtype": "x", "shape": [2.5], "other": 1} is a user value */
            size_t arr = d->pos;
            long an = value_len(d); /* the whole array, to step over whatever it holds */
            if (an < 0) return -1;
            shape_at = d->base + d->pos;
            shape_bad = v.count > REC_MAX_DIM ? 2 : 0;
            ndim = shape_bad ? 0 : (int)v.count;
            d->pos += v.hlen;
            for (int j = 0; j < ndim && !shape_bad; j++) {
                mp_hdr_t s;
                shape_at = d->base + d->pos;
                if (mp_header(d->p + d->pos, d->len - d->pos, &s) != 1) {
                    shape_bad = 1;
                    break;
                }
                if (s.type == MP_UINT && s.u <= INT64_MAX) shape[j] = (int64_t)s.u;
                else if (s.type == MP_INT && s.i >= 0) shape[j] = s.i;
                else shape_bad = 1;
                d->pos += s.hlen;
            }
            if (shape_bad == 2) shape_at = arr + d->base;
            d->pos = arr + (size_t)an;
            shape_n = v.count;
        } else goto not_tensor;
    }
    if (!dts || !data || ndim < 0 || (h.count == 4 && !filter)) goto not_tensor;
    if (shape_bad == 2)
        return lerr_set(d->e, EXIT_DATA, "field '%s': %llu dimensions (max %d) at byte %zu", key,
                        (unsigned long long)shape_n, REC_MAX_DIM, shape_at);
    if (shape_bad) return lerr_set(d->e, EXIT_DATA, "field '%s': bad shape entry at byte %zu", key, shape_at);
    if (filter && !key_is(filter, filtern, "shuffle"))
        return lerr_set(d->e, EXIT_DATA, "field '%s': unknown filter '%.*s' at byte %zu", key,
                        (int)(filtern > 16 ? 16 : filtern), filter, d->base + start);
    dtype_t dt;
    if (dtype_parse(dts, dtn, &dt))
        return lerr_set(d->e, EXIT_DATA, "field '%s': unknown dtype '%.*s' at byte %zu", key,
                        (int)(dtn > 16 ? 16 : dtn), dts, d->base + start);
    size_t numel;
    if (shape_numel(ndim, shape, &numel) || numel > SIZE_MAX / dtype_size(dt) || numel * dtype_size(dt) != datan)
        return lerr_set(d->e, EXIT_DATA, "field '%s': %zu data bytes do not match shape and dtype %s at byte %zu", key,
                        datan, dtype_name(dt), d->base + start);
    tensor_t *t = set_tensor(r, key, dt, ndim, shape, false);
    if (!t) return lerr_set(d->e, EXIT_INTERNAL, "out of memory for field '%s' (%zu bytes)", key, datan);
    if (datan && filter) unshuffle_bytes(t->data, (const uint8_t *)data, numel, dtype_size(dt));
    else if (datan) memcpy(t->data, data, datan);
    return 1;
not_tensor:
    d->pos = start;
    return 0;
}

int rec_set_value(rec_t *r, const char *key, const uint8_t *mp, size_t len, lerr_t *e) {
    if (len == 0 || mp_scan(mp, len, &LIMITS_NONE, 0, e) != (long)len)
        return lerr_set(e, EXIT_DATA, "field '%s': not one msgpack value", key);
    dec_t d = {mp, len, 0, 0, &LIMITS_NONE, e};
    int t = try_tensor(&d, r, key);
    if (t < 0) return -1;
    if (t == 0 && rec_set_raw(r, key, mp, len)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    return 0;
}

rec_t *rec_decode(const uint8_t *buf, size_t len, const rec_limits_t *lim, size_t base, lerr_t *e) {
    if (!lim) lim = &REC_LIMITS_DEFAULT;
    long n = mp_scan(buf, len, lim, base, e);
    if (n < 0) return NULL;
    if (n == 0) {
        lerr_set(e, EXIT_DATA, "truncated record at byte %zu", base + len);
        return NULL;
    }
    if ((size_t)n != len) {
        lerr_set(e, EXIT_DATA, "trailing bytes after record at byte %zu", base + (size_t)n);
        return NULL;
    }
    mp_hdr_t h;
    mp_header(buf, len, &h);
    if (h.type != MP_MAP) {
        lerr_set(e, EXIT_DATA, "record is not a msgpack map at byte %zu", base);
        return NULL;
    }
    dec_t d = {buf, len, h.hlen, base, lim, e};
    rec_t *r = rec_new();
    size_t *at_of = h.count > 8 ? malloc(h.count * sizeof *at_of) : NULL; /* key offsets, for the duplicate message */
    size_t at_small[8];
    if (h.count <= 8) at_of = at_small;
    if (!r || !at_of) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto fail;
    }
    r->append = true;
    for (uint64_t i = 0; i < h.count; i++) {
        const char *k;
        size_t kn;
        size_t at = d.pos;
        if (read_str(&d, &k, &kn)) {
            lerr_set(e, EXIT_DATA, "record key is not a string at byte %zu", base + at);
            goto fail;
        }
        if (kn == 0 || kn > 255 || memchr(k, 0, kn) || !utf8_valid((const uint8_t *)k, kn)) {
            lerr_set(e, EXIT_DATA, "bad record key at byte %zu", base + at);
            goto fail;
        }
        char key[256];
        memcpy(key, k, kn);
        key[kn] = 0;
        at_of[i] = at;
        int t = try_tensor(&d, r, key);
        if (t < 0) goto fail;
        if (t == 0) {
            long vn = value_len(&d);
            if (vn < 0 || rec_set_raw(r, key, buf + d.pos, (size_t)vn)) {
                if (vn >= 0) lerr_set(e, EXIT_INTERNAL, "out of memory");
                goto fail;
            }
            d.pos += (size_t)vn;
        }
    }
    r->append = false;
    size_t dup;
    int drc = rec_find_duplicate(r, &dup);
    if (drc < 0) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto fail;
    }
    if (drc > 0) {
        lerr_set(e, EXIT_DATA, "duplicate key '%s' at byte %zu", r->f[dup].key, base + at_of[dup]);
        goto fail;
    }
    if (at_of != at_small) free(at_of);
    return r;
fail:
    if (at_of != at_small) free(at_of);
    rec_destroy(&r);
    return NULL;
}
