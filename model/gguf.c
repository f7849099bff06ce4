/* gguf.c — mmap reader and validator for GGUF files (gguf.h). Every read goes through a
 * bounds-checked cursor, so a truncated or corrupt file gives one error line, never a crash
 * or an allocation sized by an unchecked count. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "model/gguf.h"

#define GGUF_MAX_COUNT (1 << 24) /* keys, tensors, array elements beyond any real file's */
#define GGUF_MAX_NAME 256
#define GGUF_MAX_KEY 65535

static const struct {
    uint32_t type;
    const char *name;
    int block, bytes;
} TYPES[] = {
    {GGML_F32, "F32", 1, 4},       {GGML_F16, "F16", 1, 2},       {GGML_Q4_0, "Q4_0", 32, 18},
    {GGML_Q4_1, "Q4_1", 32, 20},   {GGML_Q5_0, "Q5_0", 32, 22},   {GGML_Q5_1, "Q5_1", 32, 24},
    {GGML_Q8_0, "Q8_0", 32, 34},   {GGML_Q8_1, "Q8_1", 32, 36},   {GGML_Q2_K, "Q2_K", 256, 84},
    {GGML_Q3_K, "Q3_K", 256, 110}, {GGML_Q4_K, "Q4_K", 256, 144}, {GGML_Q5_K, "Q5_K", 256, 176},
    {GGML_Q6_K, "Q6_K", 256, 210}, {GGML_Q8_K, "Q8_K", 256, 292}, {GGML_I8, "I8", 1, 1},
    {GGML_I16, "I16", 1, 2},       {GGML_I32, "I32", 1, 4},       {GGML_I64, "I64", 1, 8},
    {GGML_F64, "F64", 1, 8},       {GGML_BF16, "BF16", 1, 2},
};

static int type_idx(uint32_t t) {
    for (size_t i = 0; i < sizeof TYPES / sizeof *TYPES; i++)
        if (TYPES[i].type == t) return (int)i;
    return -1;
}
const char *ggml_type_name(uint32_t t) {
    int i = type_idx(t);
    return i < 0 ? "?" : TYPES[i].name;
}
int ggml_type_block(uint32_t t) {
    int i = type_idx(t);
    return i < 0 ? 0 : TYPES[i].block;
}
int ggml_type_block_bytes(uint32_t t) {
    int i = type_idx(t);
    return i < 0 ? 0 : TYPES[i].bytes;
}

/* Size of a fixed-size value type; 0 for string/array/unknown. */
static int vsize(uint32_t t) {
    static const int s[GGUF_NTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < GGUF_NTYPES ? s[t] : 0;
}

typedef struct {
    const uint8_t *p;
    size_t pos, len;
    const char *name;
    lerr_t *e;
} cur_t;

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int need(cur_t *c, uint64_t n, const char *what) {
    if (n > c->len - c->pos)
        return lerr_set(c->e, EXIT_DATA, "%s: truncated at byte %zu reading %s (file is %zu bytes)", c->name, c->pos,
                        what, c->len);
    return 0;
}

static int rd(cur_t *c, int n, uint64_t *v, const char *what) {
    if (need(c, (uint64_t)n, what)) return -1;
    *v = le(c->p + c->pos, n);
    c->pos += (size_t)n;
    return 0;
}

static int rd_str(cur_t *c, gguf_str_t *s, uint64_t max, const char *what) {
    uint64_t n;
    if (rd(c, 8, &n, what)) return -1;
    if (n > max)
        return lerr_set(c->e, EXIT_DATA, "%s: %s of %llu bytes at byte %zu (limit %llu)", c->name, what,
                        (unsigned long long)n, c->pos - 8, (unsigned long long)max);
    if (need(c, n, what)) return -1;
    s->s = (const char *)c->p + c->pos;
    s->len = n;
    c->pos += (size_t)n;
    return 0;
}

/* A key or tensor name as a C string: printable bytes only (they end up in messages). */
static char *dup_str(gguf_str_t s, lerr_t *e) {
    for (uint64_t i = 0; i < s.len; i++)
        if ((uint8_t)s.s[i] < 0x20 || s.s[i] == 0x7f) {
            lerr_set(e, EXIT_DATA, "a key or tensor name contains control byte 0x%02x", (uint8_t)s.s[i]);
            return NULL;
        }
    char *r = malloc(s.len + 1);
    if (!r) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    memcpy(r, s.s, s.len);
    r[s.len] = 0;
    return r;
}

static const char *const VT_NAMES[GGUF_NTYPES] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                                  "bool", "string", "array", "u64", "i64", "f64"};

static int read_scalar(cur_t *c, gguf_kv_t *kv) {
    int n = vsize(kv->type);
    uint64_t raw;
    if (rd(c, n, &raw, kv->key)) return -1;
    switch (kv->type) {
    case GGUF_I8: kv->v.i = (int8_t)raw; break;
    case GGUF_I16: kv->v.i = (int16_t)raw; break;
    case GGUF_I32: kv->v.i = (int32_t)raw; break;
    case GGUF_I64: kv->v.i = (int64_t)raw; break;
    case GGUF_F32: {
        uint32_t u = (uint32_t)raw;
        float f;
        memcpy(&f, &u, 4);
        kv->v.f = f;
        break;
    }
    case GGUF_F64: memcpy(&kv->v.f, &raw, 8); break;
    case GGUF_BOOL:
        if (raw > 1)
            return lerr_set(c->e, EXIT_DATA, "%s: key \"%s\": bool value %llu", c->name, kv->key,
                            (unsigned long long)raw);
        /* fall through */
    default: kv->v.u = raw; break;
    }
    return 0;
}

static int read_kv(cur_t *c, gguf_kv_t *kv) {
    gguf_str_t k;
    uint64_t t;
    if (rd_str(c, &k, GGUF_MAX_KEY, "key")) return -1;
    if (k.len == 0) return lerr_set(c->e, EXIT_DATA, "%s: empty key at byte %zu", c->name, c->pos - 8);
    if (!(kv->key = dup_str(k, c->e))) return lerr_wrap(c->e, "%s", c->name);
    if (rd(c, 4, &t, "value type")) return -1;
    if (t >= GGUF_NTYPES)
        return lerr_set(c->e, EXIT_DATA, "%s: key \"%s\": unknown value type %llu", c->name, kv->key,
                        (unsigned long long)t);
    kv->type = (uint32_t)t;
    if (t == GGUF_STRING) return rd_str(c, &kv->v.str, c->len, kv->key);
    if (t != GGUF_ARRAY) return read_scalar(c, kv);
    uint64_t at, n;
    if (rd(c, 4, &at, "array type") || rd(c, 8, &n, "array length")) return -1;
    if (at >= GGUF_NTYPES || at == GGUF_ARRAY)
        return lerr_set(c->e, EXIT_DATA, "%s: key \"%s\": array of %s", c->name, kv->key,
                        at == GGUF_ARRAY ? "arrays (nested arrays are not supported)" : "an unknown type");
    if (n > GGUF_MAX_COUNT)
        return lerr_set(c->e, EXIT_DATA, "%s: key \"%s\": array of %llu elements (limit %d)", c->name, kv->key,
                        (unsigned long long)n, GGUF_MAX_COUNT);
    kv->arr_type = (uint32_t)at;
    kv->arr_n = n;
    kv->arr_data = c->p + c->pos;
    if (at != GGUF_STRING) {
        if (need(c, n * (uint64_t)vsize((uint32_t)at), kv->key)) return -1;
        c->pos += (size_t)(n * (uint64_t)vsize((uint32_t)at));
        return 0;
    }
    if (need(c, n * 8, kv->key)) return -1; /* every element has at least its length */
    kv->arr_off = malloc((n ? n : 1) * sizeof *kv->arr_off);
    if (!kv->arr_off) return lerr_set(c->e, EXIT_INTERNAL, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        gguf_str_t s;
        kv->arr_off[i] = (uint64_t)(c->p + c->pos - kv->arr_data);
        if (rd_str(c, &s, c->len, kv->key)) return -1;
    }
    return 0;
}

static int read_tensor(cur_t *c, gguf_tensor_t *t, uint64_t *off) {
    gguf_str_t nm;
    uint64_t nd, ty;
    if (rd_str(c, &nm, GGUF_MAX_NAME, "tensor name")) return -1;
    if (nm.len == 0) return lerr_set(c->e, EXIT_DATA, "%s: empty tensor name at byte %zu", c->name, c->pos - 8);
    if (!(t->name = dup_str(nm, c->e))) return lerr_wrap(c->e, "%s", c->name);
    if (rd(c, 4, &nd, "n_dims")) return -1;
    if (nd < 1 || nd > 4)
        return lerr_set(c->e, EXIT_DATA, "%s: tensor \"%s\": %llu dimensions (1 to 4)", c->name, t->name,
                        (unsigned long long)nd);
    t->ndim = (int)nd;
    unsigned __int128 numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t v;
        if (rd(c, 8, &v, "tensor dimension")) return -1;
        numel *= v;
        if (v > ((uint64_t)1 << 62) || numel > ((unsigned __int128)1 << 62))
            return lerr_set(c->e, EXIT_DATA, "%s: tensor \"%s\": dimensions overflow", c->name, t->name);
        t->ne[d] = (int64_t)v;
    }
    for (int d = t->ndim; d < 4; d++) t->ne[d] = 1;
    if (rd(c, 4, &ty, "tensor type") || rd(c, 8, off, "tensor offset")) return -1;
    int blk = ggml_type_block((uint32_t)ty);
    if (ty > UINT32_MAX || !blk)
        return lerr_set(c->e, EXIT_DATA, "%s: tensor \"%s\": unknown ggml type %llu", c->name, t->name,
                        (unsigned long long)ty);
    t->type = (uint32_t)ty;
    if (t->ne[0] % blk)
        return lerr_set(c->e, EXIT_DATA, "%s: tensor \"%s\": %lld columns is not a multiple of the %s block (%d)",
                        c->name, t->name, (long long)t->ne[0], ggml_type_name(t->type), blk);
    unsigned __int128 nb = numel / (unsigned)blk * (unsigned)ggml_type_block_bytes(t->type);
    if (nb > ((unsigned __int128)1 << 62))
        return lerr_set(c->e, EXIT_DATA, "%s: tensor \"%s\": size overflows", c->name, t->name);
    t->nbytes = (size_t)nb;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The first name present twice, or NULL (names sorted in a scratch array). */
static const char *first_dup(char **names, int64_t n) {
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int64_t i = 1; i < n; i++)
        if (!strcmp(names[i - 1], names[i])) return names[i];
    return NULL;
}

typedef struct {
    uint64_t lo, hi;
    int64_t i;
} extent_t;
static int cmp_ext(const void *a, const void *b) {
    const extent_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo ? 1 : 0;
}

static int validate(gguf_file_t *f, cur_t *c, uint64_t *offs) {
    lerr_t *e = c->e;
    int64_t nmax = f->nkv > f->nt ? f->nkv : f->nt;
    char **names = malloc((size_t)(nmax ? nmax : 1) * sizeof *names);
    extent_t *ext = malloc((size_t)(f->nt ? f->nt : 1) * sizeof *ext);
    int rc = -1;
    if (!names || !ext) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto out;
    }
    for (int64_t i = 0; i < f->nkv; i++) names[i] = f->kv[i].key;
    const char *d = first_dup(names, f->nkv);
    if (d) {
        lerr_set(e, EXIT_DATA, "%s: key \"%s\" appears twice", f->path, d);
        goto out;
    }
    for (int64_t i = 0; i < f->nt; i++) names[i] = f->t[i].name;
    if ((d = first_dup(names, f->nt))) {
        lerr_set(e, EXIT_DATA, "%s: tensor \"%s\" appears twice", f->path, d);
        goto out;
    }
    f->alignment = 32;
    const gguf_kv_t *al = gguf_find_kv(f, "general.alignment");
    if (al) {
        if (al->type != GGUF_U32 || al->v.u == 0 || (al->v.u & (al->v.u - 1)) || al->v.u > (1u << 24)) {
            lerr_set(e, EXIT_DATA, "%s: general.alignment must be a u32 power of two (at most 16 MiB)", f->path);
            goto out;
        }
        f->alignment = (uint32_t)al->v.u;
    }
    uint64_t start = ((uint64_t)c->pos + f->alignment - 1) / f->alignment * f->alignment;
    if (f->nt && start > f->size) {
        lerr_set(e, EXIT_DATA,
                 "%s: tensor data would start at byte %llu, past the end of the file (%zu bytes; truncated?)", f->path,
                 (unsigned long long)start, f->size);
        goto out;
    }
    for (int64_t i = 0; i < f->nt; i++) {
        gguf_tensor_t *t = &f->t[i];
        uint64_t room = f->size - start;
        if (offs[i] % f->alignment) {
            lerr_set(e, EXIT_DATA, "%s: tensor \"%s\": offset %llu is not a multiple of the alignment %u", f->path,
                     t->name, (unsigned long long)offs[i], f->alignment);
            goto out;
        }
        if (offs[i] > room || t->nbytes > room - offs[i]) {
            lerr_set(e, EXIT_DATA,
                     "%s: tensor \"%s\": bytes [%llu, %llu) of the data section lie beyond the end of the file (%llu "
                     "data bytes; truncated?)",
                     f->path, t->name, (unsigned long long)offs[i], (unsigned long long)offs[i] + t->nbytes,
                     (unsigned long long)room);
            goto out;
        }
        t->data = f->map + start + offs[i];
        ext[i] = (extent_t){offs[i], offs[i] + t->nbytes, i};
    }
    qsort(ext, (size_t)f->nt, sizeof *ext, cmp_ext);
    for (int64_t i = 1; i < f->nt; i++)
        if (ext[i].lo < ext[i - 1].hi) {
            lerr_set(e, EXIT_DATA, "%s: tensors \"%s\" and \"%s\" overlap", f->path, f->t[ext[i - 1].i].name,
                     f->t[ext[i].i].name);
            goto out;
        }
    rc = 0;
out:
    free(names);
    free(ext);
    return rc;
}

gguf_file_t *gguf_parse(const void *buf, size_t len, const char *name, lerr_t *e) {
    gguf_file_t *f = calloc(1, sizeof *f);
    uint64_t *offs = NULL;
    if (!f || !(f->path = strdup(name ? name : "GGUF"))) {
        free(f);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    f->map = buf;
    f->size = len;
    cur_t c = {buf, 0, len, f->path, e};
    uint64_t ver, nt, nkv;
    if (len < 4 || memcmp(buf, "GGUF", 4)) {
        lerr_set(e, EXIT_DATA, "%s: not a GGUF file (no \"GGUF\" magic)", f->path);
        goto fail;
    }
    c.pos = 4;
    if (rd(&c, 4, &ver, "version")) goto fail;
    if (ver == 1 || (ver != 2 && ver != 3)) {
        lerr_set(e, EXIT_DATA, "%s: GGUF version %llu is not supported (2 or 3%s)", f->path, (unsigned long long)ver,
                 (ver & 0xffff) == 0 && ver ? "; a big-endian file?" : "");
        goto fail;
    }
    f->version = (uint32_t)ver;
    if (rd(&c, 8, &nt, "tensor count") || rd(&c, 8, &nkv, "key/value count")) goto fail;
    /* each key/value takes at least 13 bytes and each tensor info at least 29 */
    if (nkv > GGUF_MAX_COUNT || nkv > (len - c.pos) / 13) {
        lerr_set(e, EXIT_DATA, "%s: %llu key/values cannot fit in %zu bytes", f->path, (unsigned long long)nkv, len);
        goto fail;
    }
    if (nt > GGUF_MAX_COUNT || nt > (len - c.pos) / 29) {
        lerr_set(e, EXIT_DATA, "%s: %llu tensors cannot fit in %zu bytes", f->path, (unsigned long long)nt, len);
        goto fail;
    }
    f->kv = calloc(nkv ? nkv : 1, sizeof *f->kv);
    f->t = calloc(nt ? nt : 1, sizeof *f->t);
    offs = calloc(nt ? nt : 1, sizeof *offs);
    if (!f->kv || !f->t || !offs) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto fail;
    }
    for (uint64_t i = 0; i < nkv; i++, f->nkv++)
        if (read_kv(&c, &f->kv[i])) {
            f->nkv++;
            goto fail;
        }
    for (uint64_t i = 0; i < nt; i++, f->nt++)
        if (read_tensor(&c, &f->t[i], &offs[i])) {
            f->nt++;
            goto fail;
        }
    if (validate(f, &c, offs)) goto fail;
    free(offs);
    return f;
fail:
    free(offs);
    gguf_close(&f);
    return NULL;
}

gguf_file_t *gguf_open(const char *path, lerr_t *e) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        lerr_set(e, EXIT_IO, "%s: %s", path, S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
        close(fd);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    void *m = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (len && m == MAP_FAILED) {
        lerr_set(e, EXIT_IO, "%s: mmap: %s", path, strerror(errno));
        return NULL;
    }
    gguf_file_t *f = gguf_parse(len ? m : "", len, path, e);
    if (!f) {
        if (len) munmap(m, len);
        return NULL;
    }
    f->mapped = 1;
    return f;
}

void gguf_close(gguf_file_t **fp) {
    gguf_file_t *f = fp ? *fp : NULL;
    if (!f) return;
    for (int64_t i = 0; i < f->nkv; i++) {
        free(f->kv[i].key);
        free(f->kv[i].arr_off);
    }
    for (int64_t i = 0; i < f->nt; i++) free(f->t[i].name);
    free(f->kv);
    free(f->t);
    if (f->mapped && f->size) munmap((void *)f->map, f->size);
    free(f->path);
    free(f);
    *fp = NULL;
}

const gguf_kv_t *gguf_find_kv(const gguf_file_t *f, const char *key) {
    for (int64_t i = 0; i < f->nkv; i++)
        if (f->kv[i].key && !strcmp(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const gguf_tensor_t *gguf_find_tensor(const gguf_file_t *f, const char *name) {
    for (int64_t i = 0; i < f->nt; i++)
        if (f->t[i].name && !strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

static int is_int(uint32_t t) { return t <= GGUF_I32 || t == GGUF_BOOL || t == GGUF_U64 || t == GGUF_I64; }
static int is_signed(uint32_t t) { return t == GGUF_I8 || t == GGUF_I16 || t == GGUF_I32 || t == GGUF_I64; }

int gguf_get_int(const gguf_file_t *f, const char *key, int64_t *out, lerr_t *e) {
    const gguf_kv_t *kv = gguf_find_kv(f, key);
    if (!kv) return 0;
    if (!is_int(kv->type) || (kv->type == GGUF_U64 && kv->v.u > INT64_MAX))
        return lerr_set(e, EXIT_DATA, "%s: key \"%s\" is a %s, not an integer", f->path, key, VT_NAMES[kv->type]);
    *out = is_signed(kv->type) ? kv->v.i : (int64_t)kv->v.u;
    return 1;
}

int gguf_get_num(const gguf_file_t *f, const char *key, double *out, lerr_t *e) {
    const gguf_kv_t *kv = gguf_find_kv(f, key);
    if (!kv) return 0;
    if (kv->type == GGUF_F32 || kv->type == GGUF_F64) {
        *out = kv->v.f;
        return 1;
    }
    int64_t v;
    if (gguf_get_int(f, key, &v, e) < 0) return lerr_set(e, EXIT_DATA, "%s: key \"%s\" is not a number", f->path, key);
    *out = (double)v;
    return 1;
}

int gguf_get_str(const gguf_file_t *f, const char *key, gguf_str_t *out, lerr_t *e) {
    const gguf_kv_t *kv = gguf_find_kv(f, key);
    if (!kv) return 0;
    if (kv->type != GGUF_STRING)
        return lerr_set(e, EXIT_DATA, "%s: key \"%s\" is a %s, not a string", f->path, key, VT_NAMES[kv->type]);
    *out = kv->v.str;
    return 1;
}

gguf_str_t gguf_arr_str(const gguf_kv_t *kv, uint64_t i) {
    const uint8_t *p = kv->arr_data + kv->arr_off[i];
    return (gguf_str_t){(const char *)p + 8, le(p, 8)};
}

int64_t gguf_arr_int(const gguf_kv_t *kv, uint64_t i) {
    int n = vsize(kv->arr_type);
    uint64_t raw = le(kv->arr_data + i * (uint64_t)n, n);
    switch (kv->arr_type) {
    case GGUF_I8: return (int8_t)raw;
    case GGUF_I16: return (int16_t)raw;
    case GGUF_I32: return (int32_t)raw;
    default: return (int64_t)raw;
    }
}

double gguf_arr_num(const gguf_kv_t *kv, uint64_t i) {
    if (kv->arr_type == GGUF_F32) {
        uint32_t u = (uint32_t)le(kv->arr_data + 4 * i, 4);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    if (kv->arr_type == GGUF_F64) {
        uint64_t u = le(kv->arr_data + 8 * i, 8);
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    return (double)gguf_arr_int(kv, i);
}
