/* safetensors.c — mmap reader and streaming writer for .safetensors files.
 *
 * The reader trusts nothing: every length and offset is checked against the bytes present
 * before it is used, so truncated or corrupt files give an error, never a crash. The writer
 * emits {"__metadata__":{"format":"pt"}, tensors...} with the header padded to 8 bytes (so
 * every tensor is aligned for its element size) and converts data on the fly.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "safetensors.h"

#define ST_MAX_HEADER (100u << 20)

static const struct {
    const char *name;
    int size;
} ST_DTYPES[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
    {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8},
};

static int dtype_size_of(const char *s) {
    for (size_t i = 0; i < sizeof ST_DTYPES / sizeof *ST_DTYPES; i++)
        if (!strcmp(s, ST_DTYPES[i].name)) return ST_DTYPES[i].size;
    return -1;
}

int st_wtype(const char *dtype) {
    if (!strcmp(dtype, "F32")) return WT_F32;
    if (!strcmp(dtype, "BF16")) return WT_BF16;
    if (!strcmp(dtype, "F16")) return WT_F16;
    return -1;
}

/* Parse one header entry into t; data_len = size of the data section. */
static int parse_entry(st_tensor_t *t, const char *name, json_t *v, const uint8_t *data, size_t data_len, lerr_t *e) {
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    if (!json_is_object(v) || !json_is_string(dt) || !json_is_array(sh) || !json_is_array(off) ||
        json_array_size(off) != 2)
        return lerr_set(e, EXIT_DATA, "tensor \"%s\": header entry needs dtype, shape, data_offsets", name);
    int es = dtype_size_of(json_string_value(dt));
    if (es < 0 || strlen(json_string_value(dt)) >= sizeof t->dtype)
        return lerr_set(e, EXIT_DATA, "tensor \"%s\": unknown dtype \"%s\"", name, json_string_value(dt));
    strcpy(t->dtype, json_string_value(dt));
    if (json_array_size(sh) > 8) return lerr_set(e, EXIT_DATA, "tensor \"%s\": more than 8 dimensions", name);
    t->ndim = (int)json_array_size(sh);
    unsigned __int128 numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        json_t *x = json_array_get(sh, d);
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return lerr_set(e, EXIT_DATA, "tensor \"%s\": bad shape", name);
        t->shape[d] = json_integer_value(x);
        numel *= (unsigned __int128)t->shape[d];
        if (numel > ((unsigned __int128)1 << 62)) return lerr_set(e, EXIT_DATA, "tensor \"%s\": shape overflows", name);
    }
    json_t *b = json_array_get(off, 0), *en = json_array_get(off, 1);
    if (!json_is_integer(b) || !json_is_integer(en) || json_integer_value(b) < 0 ||
        json_integer_value(en) < json_integer_value(b))
        return lerr_set(e, EXIT_DATA, "tensor \"%s\": bad data_offsets", name);
    uint64_t lo = (uint64_t)json_integer_value(b), hi = (uint64_t)json_integer_value(en);
    if (hi > data_len)
        return lerr_set(
            e, EXIT_DATA,
            "tensor \"%s\": data_offsets [%llu, %llu] beyond the end of the file (data section %zu bytes; truncated?)",
            name, (unsigned long long)lo, (unsigned long long)hi, data_len);
    if ((unsigned __int128)(hi - lo) != numel * (unsigned)es)
        return lerr_set(e, EXIT_DATA, "tensor \"%s\": %llu data bytes but shape x dtype needs %llu", name,
                        (unsigned long long)(hi - lo), (unsigned long long)(numel * (unsigned)es));
    t->data = data + lo;
    t->nbytes = hi - lo;
    t->name = strdup(name);
    return t->name ? 0 : lerr_set(e, EXIT_INTERNAL, "out of memory");
}

static int parse_header(st_file_t *f, const char *hdr, size_t n, const uint8_t *data, size_t data_len, lerr_t *e) {
    json_error_t je;
    json_t *o = json_loadb(hdr, n, 0, &je);
    if (!o) return lerr_set(e, EXIT_DATA, "bad header JSON: %s", je.text);
    int rc = -1;
    if (!json_is_object(o)) {
        lerr_set(e, EXIT_DATA, "header is not a JSON object");
        goto out;
    }
    f->t = calloc(json_object_size(o) + 1, sizeof *f->t);
    if (!f->t) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!strcmp(k, "__metadata__")) continue;
        if (parse_entry(&f->t[f->n], k, v, data, data_len, e)) goto out;
        f->n++;
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}

st_file_t *st_open(const char *path, lerr_t *e) {
    st_file_t *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    f->map_len = (size_t)st.st_size;
    if (f->map_len < 8) {
        lerr_set(e, EXIT_DATA, "%s: too short for a safetensors file (%zu bytes)", path, f->map_len);
        goto fail;
    }
    f->map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        lerr_set(e, EXIT_IO, "%s: mmap: %s", path, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    const uint8_t *p = f->map;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | p[i];
    if (n > ST_MAX_HEADER || n > f->map_len - 8) {
        lerr_set(e, EXIT_DATA, "%s: header length %llu exceeds the file (%zu bytes) or 100 MB", path,
                 (unsigned long long)n, f->map_len);
        goto fail;
    }
    if (parse_header(f, (const char *)p + 8, (size_t)n, p + 8 + n, f->map_len - 8 - n, e)) {
        lerr_wrap(e, "%s", path);
        goto fail;
    }
    return f;
fail:
    if (fd >= 0) close(fd);
    st_close(&f);
    return NULL;
}

void st_close(st_file_t **fp) {
    st_file_t *f = fp ? *fp : NULL;
    if (!f) return;
    if (f->map) munmap(f->map, f->map_len);
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    free(f->t);
    free(f->path);
    free(f);
    *fp = NULL;
}

const st_tensor_t *st_find(const st_file_t *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

static const char *st_dtype_name(wtype_t t) { return t == WT_F32 ? "F32" : t == WT_BF16 ? "BF16" : "F16"; }

/* Header JSON padded with spaces to a multiple of 8 bytes (malloc'd; *len set). */
static char *build_header(const st_out_t *t, int n, size_t *len) {
    json_t *o = json_object(), *meta = json_object();
    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(o, "__metadata__", meta);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        json_t *ent = json_object(), *sh = json_array();
        uint64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            json_array_append_new(sh, json_integer(t[i].shape[d]));
            numel *= (uint64_t)t[i].shape[d];
        }
        uint64_t end = off + numel * wtype_size(t[i].type);
        json_t *offs = json_array();
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)end));
        json_object_set_new(ent, "dtype", json_string(st_dtype_name(t[i].type)));
        json_object_set_new(ent, "shape", sh);
        json_object_set_new(ent, "data_offsets", offs);
        json_object_set_new(o, t[i].name, ent);
        off = end;
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return NULL;
    size_t l = strlen(s), pl = (l + 7) & ~(size_t)7;
    char *r = realloc(s, pl + 1);
    if (!r) {
        free(s);
        return NULL;
    }
    memset(r + l, ' ', pl - l);
    r[pl] = 0;
    *len = pl;
    return r;
}

/* Write one tensor's elements converted from src_type to type, in chunks. */
static int write_tensor(FILE *fp, const st_out_t *t) {
    size_t numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= (size_t)t->shape[d];
    if (t->type == t->src_type) return fwrite(t->src, wtype_size(t->type), numel, fp) == numel ? 0 : -1;
    enum { CH = 16384 };
    float tmp[CH];
    uint16_t out16[CH];
    for (size_t i = 0; i < numel; i += CH) {
        size_t k = numel - i < CH ? numel - i : CH;
        wconvert_f32(tmp, (const uint8_t *)t->src + wtype_bytes(t->src_type, i), t->src_type, k);
        if (t->type == WT_F32) {
            if (fwrite(tmp, 4, k, fp) != k) return -1;
            continue;
        }
        for (size_t j = 0; j < k; j++) out16[j] = t->type == WT_BF16 ? f32_to_bf16(tmp[j]) : f32_to_f16(tmp[j]);
        if (fwrite(out16, 2, k, fp) != k) return -1;
    }
    return 0;
}

int st_write(const char *path, const st_out_t *t, int n, lerr_t *e) {
    size_t hl = 0;
    char *hdr = build_header(t, n, &hl);
    if (!hdr) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        free(hdr);
        return lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno));
    }
    uint8_t lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    int bad = fwrite(lenb, 1, 8, fp) != 8 || fwrite(hdr, 1, hl, fp) != hl;
    free(hdr);
    for (int i = 0; i < n && !bad; i++) bad = write_tensor(fp, &t[i]);
    int err = errno;
    if (fclose(fp) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    if (bad) {
        unlink(path);
        return lerr_set(e, EXIT_IO, "%s: write failed: %s", path, strerror(err));
    }
    return 0;
}
