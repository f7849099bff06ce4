/* recjson.c — the JSON-lines view of records (--json), via jansson.
 *
 * A record becomes one JSON object on one line. Typed arrays become
 * {"dtype":"i4","shape":[n],"data":[...]} (floats printed so they round-trip exactly; NaN and
 * infinities as the strings "nan", "inf", "-inf"). Other msgpack values map to JSON naturally;
 * a bin that is not a typed array becomes {"$bin":"<hex>"} and an ext {"$ext":[type,"<hex>"]}.
 * A map key that is not a str is shown under its JSON text, and a non-str key inside that key
 * as "$mp:<hex of its msgpack bytes>" (mp_to_json), so the line stays within a constant factor
 * of the record's size.
 * The reverse direction accepts exactly these forms, so msgpack -> JSON -> msgpack keeps every
 * typed array and value (a float32 scalar comes back as float64).
 */
#include <jansson.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "record.h"
#include "mpscan.h"

/* ---------------------------------------------------------------- bf16 / f16 */

static float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fff + ((u >> 16) & 1);                                          /* round to nearest even */
    return (uint16_t)(u >> 16);
}
static float f16_to_f32(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, ex = (h >> 10) & 0x1f, m = h & 0x3ff, u;
    if (ex == 0) {
        float f = ldexpf((float)m, -24);
        return s ? -f : f;
    }
    if (ex == 31) u = s | 0x7f800000 | (m << 13);
    else u = s | ((ex + 112) << 23) | (m << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint16_t f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t s = (uint16_t)((u >> 16) & 0x8000);
    float a = fabsf(f);
    if (isnan(f)) return s | 0x7e00;
    if (a >= 65520.0f) return s | 0x7c00;
    if (a < 6.103515625e-05f) return s | (uint16_t)lrintf(a * 16777216.0f); /* subnormal */
    int ex;
    float m = frexpf(a, &ex); /* a = m * 2^ex, m in [0.5,1) */
    uint32_t mant = (uint32_t)lrintf((m * 2.0f - 1.0f) * 1024.0f);
    int e16 = ex - 1 + 15;
    if (mant == 1024) {
        mant = 0;
        e16++;
    }
    if (e16 >= 31) return s | 0x7c00;
    return s | (uint16_t)(e16 << 10) | (uint16_t)mant;
}

/* ---------------------------------------------------------------- to JSON */

static int put(buf_t *b, const char *s) { return buf_append(b, s, strlen(s)); }

static int put_double(buf_t *b, double v, int prec) {
    char tmp[40];
    if (isnan(v)) return put(b, "\"nan\"");
    if (isinf(v)) return put(b, v > 0 ? "\"inf\"" : "\"-inf\"");
    snprintf(tmp, sizeof tmp, "%.*g", prec, v);
    /* keep a float recognisable as a float */
    if (!strpbrk(tmp, ".eEn")) strcat(tmp, ".0");
    return put(b, tmp);
}

static double elem_f(const tensor_t *t, size_t i, int *prec) {
    const uint8_t *p = (const uint8_t *)t->data + i * dtype_size(t->dtype);
    uint16_t h;
    float f;
    double d;
    switch (t->dtype) {
    case DT_F16:
        memcpy(&h, p, 2);
        *prec = 9;
        return f16_to_f32(h);
    case DT_BF16:
        memcpy(&h, p, 2);
        *prec = 9;
        return bf16_to_f32(h);
    case DT_F32:
        memcpy(&f, p, 4);
        *prec = 9;
        return f;
    default:
        memcpy(&d, p, 8);
        *prec = 17;
        return d;
    }
}

static int put_elem_int(buf_t *b, const tensor_t *t, size_t i) {
    const uint8_t *p = (const uint8_t *)t->data + i * dtype_size(t->dtype);
    char tmp[32];
    int64_t v = 0;
    uint64_t u = 0;
    switch (t->dtype) {
    case DT_U8: v = *p; break;
    case DT_I8: v = (int8_t)*p; break;
    case DT_U16: {
        uint16_t x;
        memcpy(&x, p, 2);
        v = x;
        break;
    }
    case DT_I16: {
        int16_t x;
        memcpy(&x, p, 2);
        v = x;
        break;
    }
    case DT_U32: {
        uint32_t x;
        memcpy(&x, p, 4);
        v = x;
        break;
    }
    case DT_I32: {
        int32_t x;
        memcpy(&x, p, 4);
        v = x;
        break;
    }
    case DT_I64: memcpy(&v, p, 8); break;
    case DT_U64:
        memcpy(&u, p, 8);
        snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)u);
        return put(b, tmp);
    default: break;
    }
    snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    return put(b, tmp);
}

static int tensor_to_json(const tensor_t *t, buf_t *b) {
    char tmp[64];
    snprintf(tmp, sizeof tmp, "{\"dtype\":\"%s\",\"shape\":[", dtype_name(t->dtype));
    if (put(b, tmp)) return -1;
    for (int i = 0; i < t->ndim; i++) {
        snprintf(tmp, sizeof tmp, "%s%lld", i ? "," : "", (long long)t->shape[i]);
        if (put(b, tmp)) return -1;
    }
    if (put(b, "],\"data\":[")) return -1;
    bool is_float = t->dtype == DT_F16 || t->dtype == DT_BF16 || t->dtype == DT_F32 || t->dtype == DT_F64;
    for (size_t i = 0; i < t->numel; i++) {
        if (i && put(b, ",")) return -1;
        int rc;
        if (is_float) {
            int prec;
            double v = elem_f(t, i, &prec);
            rc = put_double(b, v, prec);
        } else {
            rc = put_elem_int(b, t, i);
        }
        if (rc) return -1;
    }
    return put(b, "]}");
}

static json_t *hex_obj(const char *tag, const uint8_t *p, size_t n, int ext_type, bool is_ext) {
    char *hex = malloc(2 * n + 1);
    if (!hex) return NULL;
    for (size_t i = 0; i < n; i++) sprintf(hex + 2 * i, "%02x", p[i]);
    hex[2 * n] = 0;
    json_t *v = is_ext ? json_pack("{s:[i,s]}", tag, ext_type, hex) : json_pack("{s:s}", tag, hex);
    free(hex);
    return v;
}

/* Bytes of the msgpack value at p (complete, validated: every count is backed by bytes, the
 * nesting is within MP_MAX_DEPTH); 0 if it is not. */
static size_t mp_skip(const uint8_t *p, size_t len) {
    mp_hdr_t h;
    if (mp_header(p, len, &h) != 1) return 0;
    size_t pos = h.hlen;
    uint64_t items = 0;
    switch (h.type) {
    case MP_STR:
    case MP_BIN:
    case MP_EXT:
        if (h.size > len - pos) return 0;
        return pos + h.size;
    case MP_ARRAY: items = h.count; break;
    case MP_MAP: items = 2 * h.count; break;
    default: return pos;
    }
    for (uint64_t i = 0; i < items; i++) {
        size_t u = mp_skip(p + pos, len - pos);
        if (!u) return 0;
        pos += u;
    }
    return pos;
}

/* msgpack value at p (complete, validated) -> jansson value; *used = bytes consumed.
 * in_key: the value is a non-string map key, to be shown by its JSON text (JSON objects need
 * string keys). A non-string key inside it is not stringified again: each stringification
 * escapes the text of the ones inside it once more (every '\' and '"' doubles), so a chain of
 * maps keyed by maps grew as 4 x 2^depth bytes (a 292-byte record of 22 levels made 94 MB of
 * JSON; a 55-byte chain of 24 levels 64 MB in 3.6 s; 30 levels, the most the default depth
 * limit allows, would make 4 GB). It is shown as "$mp:<hex of its msgpack bytes>" instead, and the JSON
 * view stays within a constant factor of the record's size. */
static json_t *mp_to_json(const uint8_t *p, size_t len, size_t *used, bool in_key) {
    mp_hdr_t h;
    if (mp_header(p, len, &h) != 1) return NULL;
    size_t pos = h.hlen;
    json_t *v = NULL;
    switch (h.type) {
    case MP_NIL: v = json_null(); break;
    case MP_BOOL: v = json_boolean(h.u); break;
    case MP_UINT: v = h.u <= INT64_MAX ? json_integer((json_int_t)h.u) : json_real((double)h.u); break;
    case MP_INT: v = json_integer(h.i); break;
    case MP_FLOAT:
        v = isfinite(h.f) ? json_real(h.f) : json_string(isnan(h.f) ? "nan" : h.f > 0 ? "inf" : "-inf");
        break;
    case MP_STR:
        v = json_stringn((const char *)p + pos, h.size);
        if (!v) v = hex_obj("$bin", p + pos, h.size, 0, false); /* invalid UTF-8 */
        pos += h.size;
        break;
    case MP_BIN:
        v = hex_obj("$bin", p + pos, h.size, 0, false);
        pos += h.size;
        break;
    case MP_EXT:
        v = hex_obj("$ext", p + pos, h.size, h.ext_type, true);
        pos += h.size;
        break;
    case MP_ARRAY:
        v = json_array();
        for (uint64_t i = 0; v && i < h.count; i++) {
            size_t u;
            json_t *x = mp_to_json(p + pos, len - pos, &u, in_key);
            if (!x || json_array_append_new(v, x)) {
                json_decref(v);
                return NULL;
            }
            pos += u;
        }
        break;
    case MP_MAP:
        v = json_object();
        for (uint64_t i = 0; v && i < h.count; i++) {
            size_t u = 0;
            mp_hdr_t kh;
            bool str_key = mp_header(p + pos, len - pos, &kh) == 1 && kh.type == MP_STR;
            char *d = NULL; /* the key's text when it is not a string */
            json_t *k = NULL;
            if (!str_key && in_key) { /* a key inside a key: its bytes in hex */
                u = mp_skip(p + pos, len - pos);
                d = u ? malloc(5 + 2 * u) : NULL;
                if (d) {
                    memcpy(d, "$mp:", 4);
                    for (size_t b = 0; b < u; b++) sprintf(d + 4 + 2 * b, "%02x", p[pos + b]);
                }
            } else {
                k = mp_to_json(p + pos, len - pos, &u, in_key || !str_key);
            }
            pos += u;
            json_t *x = (k || d) ? mp_to_json(p + pos, len - pos, &u, in_key) : NULL;
            pos += x ? u : 0;
            const char *ks = k && json_is_string(k) ? json_string_value(k) : NULL;
            /* a non-string key (or a string key that is not UTF-8) is shown under its whole
             * JSON text; a fixed buffer cut long ones inside a UTF-8 sequence, which jansson
             * then refused */
            if (k && !ks) d = json_dumps(k, JSON_ENCODE_ANY | JSON_COMPACT);
            if (d) ks = d;
            if (!x || !ks || json_object_set_new(v, ks, x)) {
                free(d);
                json_decref(k);
                json_decref(v);
                return NULL;
            }
            free(d);
            json_decref(k);
        }
        break;
    }
    *used = pos;
    return v;
}

int rec_to_json(const rec_t *r, buf_t *out) {
    if (put(out, "{")) return -1;
    for (size_t i = 0; i < rec_nfields(r); i++) {
        const char *key = rec_key(r, i);
        json_t *k = json_string(key);
        char *ks = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
        json_decref(k);
        if (!ks) return -1;
        int rc = put(out, i ? "," : "") || put(out, ks) || put(out, ":");
        free(ks);
        if (rc) return -1;
        tensor_t *t = rec_tensor_at(r, i);
        if (t) {
            if (tensor_to_json(t, out)) return -1;
            continue;
        }
        const uint8_t *mp;
        size_t n, used;
        rec_raw_at(r, i, &mp, &n);
        json_t *v = mp_to_json(mp, n, &used, false);
        char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(v);
        if (!s) return -1;
        rc = put(out, s);
        free(s);
        if (rc) return -1;
    }
    return put(out, "}\n");
}

/* ---------------------------------------------------------------- from JSON */

typedef struct {
    lerr_t *e;
    size_t line;
    const char *key;
} jctx_t;

static int jerr(jctx_t *c, const char *what) {
    return lerr_set(c->e, EXIT_DATA, "line %zu: field '%s': %s", c->line, c->key, what);
}

static int hex_decode(const char *s, uint8_t **out, size_t *n) {
    size_t len = strlen(s);
    if (len % 2) return -1;
    uint8_t *p = malloc(len / 2 + 1);
    if (!p) return -1;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            free(p);
            return -1;
        }
        p[i] = (uint8_t)v;
    }
    *out = p;
    *n = len / 2;
    return 0;
}

static int buf_write_cb(void *data, const char *p, size_t n) { return buf_append(data, p, n); }

static int pack_json(msgpack_packer *pk, json_t *v, int depth, jctx_t *c) {
    if (depth > MP_MAX_DEPTH) return jerr(c, "nesting too deep");
    switch (json_typeof(v)) {
    case JSON_NULL: return msgpack_pack_nil(pk);
    case JSON_TRUE: return msgpack_pack_true(pk);
    case JSON_FALSE: return msgpack_pack_false(pk);
    case JSON_INTEGER: return msgpack_pack_int64(pk, json_integer_value(v));
    case JSON_REAL: return msgpack_pack_double(pk, json_real_value(v));
    case JSON_STRING: return msgpack_pack_str_with_body(pk, json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        if (msgpack_pack_array(pk, json_array_size(v))) return -1;
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) if (pack_json(pk, x, depth + 1, c)) return -1;
        return 0;
    }
    case JSON_OBJECT: {
        json_t *bin = json_object_get(v, "$bin"), *ext = json_object_get(v, "$ext");
        if (json_object_size(v) == 1 && (json_is_string(bin) || json_is_array(ext))) {
            const char *hex = bin ? json_string_value(bin) : json_string_value(json_array_get(ext, 1));
            uint8_t *p;
            size_t n;
            if (!hex || hex_decode(hex, &p, &n)) return jerr(c, "bad hex in $bin/$ext");
            int rc = bin ? (msgpack_pack_bin(pk, n) || msgpack_pack_bin_body(pk, p, n))
                         : (msgpack_pack_ext(pk, n, (int8_t)json_integer_value(json_array_get(ext, 0))) ||
                            msgpack_pack_ext_body(pk, p, n));
            free(p);
            return rc;
        }
        if (msgpack_pack_map(pk, json_object_size(v))) return -1;
        for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
            if (msgpack_pack_str_with_body(pk, json_object_iter_key(it), json_object_iter_key_len(it)) ||
                pack_json(pk, json_object_iter_value(it), depth + 1, c))
                return -1;
        }
        return 0;
    }
    }
    return -1;
}

static int json_num(json_t *x, double *d) {
    if (json_is_number(x)) {
        *d = json_number_value(x);
        return 0;
    }
    const char *s = json_string_value(x);
    if (!s) return -1;
    if (!strcmp(s, "nan")) *d = NAN;
    else if (!strcmp(s, "inf")) *d = INFINITY;
    else if (!strcmp(s, "-inf")) *d = -INFINITY;
    else return -1;
    return 0;
}

static int set_elem(tensor_t *t, size_t i, json_t *x, jctx_t *c) {
    uint8_t *p = (uint8_t *)t->data + i * dtype_size(t->dtype);
    double d;
    if (t->dtype >= DT_F16) {
        if (json_num(x, &d)) return jerr(c, "typed array element is not a number");
        float f = (float)d;
        uint16_t h;
        switch (t->dtype) {
        case DT_F16:
            h = f32_to_f16(f);
            memcpy(p, &h, 2);
            break;
        case DT_BF16:
            h = f32_to_bf16(f);
            memcpy(p, &h, 2);
            break;
        case DT_F32: memcpy(p, &f, 4); break;
        default: memcpy(p, &d, 8); break;
        }
        return 0;
    }
    if (!json_is_integer(x)) return jerr(c, "integer typed array element is not an integer");
    json_int_t v = json_integer_value(x);
    static const long long lo[] = {0, -128, 0, -32768, 0, INT32_MIN, 0, INT64_MIN};
    static const long long hi[] = {255, 127, 65535, 32767, UINT32_MAX, INT32_MAX, INT64_MAX, INT64_MAX};
    if (v < lo[t->dtype] || v > hi[t->dtype]) return jerr(c, "typed array element out of range for its dtype");
    uint64_t u = (uint64_t)v;
    memcpy(p, &u, dtype_size(t->dtype)); /* little-endian host */
    return 0;
}

/* 1 = stored as tensor, 0 = not a tensor object, -1 = error. */
static int json_tensor(rec_t *r, const char *key, json_t *v, jctx_t *c) {
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"), *da = json_object_get(v, "data");
    if (json_object_size(v) != 3 || !json_is_string(dt) || !json_is_array(sh) || !json_is_array(da)) return 0;
    dtype_t t;
    if (dtype_parse(json_string_value(dt), json_string_length(dt), &t)) return jerr(c, "unknown dtype");
    int64_t shape[REC_MAX_DIM];
    size_t nd = json_array_size(sh);
    if (nd > REC_MAX_DIM) return jerr(c, "too many dimensions");
    size_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *x = json_array_get(sh, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0) return jerr(c, "bad shape");
        shape[i] = json_integer_value(x);
        if (shape[i] && numel > SIZE_MAX / (size_t)shape[i]) return jerr(c, "bad shape");
        numel *= (size_t)shape[i];
    }
    if (numel != json_array_size(da)) return jerr(c, "data length does not match shape");
    tensor_t *tt = rec_set_tensor(r, key, t, (int)nd, shape);
    if (!tt) return lerr_set(c->e, EXIT_INTERNAL, "out of memory");
    for (size_t i = 0; i < numel; i++)
        if (set_elem(tt, i, json_array_get(da, i), c)) return -1;
    return 1;
}

rec_t *rec_from_json(const char *line, size_t len, const rec_limits_t *lim, size_t lineno, lerr_t *e) {
    if (!lim) lim = &REC_LIMITS_DEFAULT;
    lerr_t local;
    if (!e) e = &local;
    e->code = 0;
    json_error_t je;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root) {
        lerr_set(e, EXIT_DATA, "line %zu: invalid JSON at byte %d: %s", lineno, je.position, je.text);
        return NULL;
    }
    rec_t *r = rec_new();
    if (!r) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto fail;
    }
    if (!json_is_object(root)) {
        lerr_set(e, EXIT_DATA, "line %zu: a record must be a JSON object", lineno);
        goto fail;
    }
    if (json_object_size(root) > rec_max_keys(lim)) {
        lerr_set(e, EXIT_DATA, "line %zu: %zu keys exceed the limit of %zu (--max-keys)", lineno,
                 json_object_size(root), rec_max_keys(lim));
        goto fail;
    }
    rec_append_mode(r, true); /* JSON_REJECT_DUPLICATES: keys are unique, no lookups needed */
    for (void *it = json_object_iter(root); it; it = json_object_iter_next(root, it)) {
        const char *key = json_object_iter_key(it);
        json_t *v = json_object_iter_value(it);
        jctx_t c = {e, lineno, key};
        /* string values may hold U+0000 (JSON_ALLOW_NUL); keys may not */
        if (!*key || strlen(key) > 255 || strlen(key) != json_object_iter_key_len(it)) {
            lerr_set(e, EXIT_DATA, "line %zu: bad key", lineno);
            goto fail;
        }
        int t = json_is_object(v) ? json_tensor(r, key, v, &c) : 0;
        if (t < 0) goto fail;
        if (t) continue;
        buf_t b = {0};
        msgpack_packer pk;
        msgpack_packer_init(&pk, &b, buf_write_cb);
        int rc = pack_json(&pk, v, 1, &c);
        lerr_t scan_e;
        if (!rc && mp_scan(b.data, b.len, lim, 0, &scan_e) != (long)b.len) {
            *e = scan_e;
            lerr_wrap(e, "line %zu: field '%s'", lineno, key);
            rc = -1;
        } else if (!rc && json_is_object(v)) {
            /* an object may be a tensor map in msgpack form ("data": {"$bin": ...}): stored
             * as the msgpack decoder would store it, so the record decodes the same way after
             * it is written (a map with a bad shape must fail here, not in the next tool) */
            rc = rec_set_value(r, key, b.data, b.len, e);
            if (rc) lerr_wrap(e, "line %zu", lineno);
        } else if (!rc) rc = rec_set_raw(r, key, b.data, b.len);
        if (rc && !e->code) lerr_set(e, EXIT_DATA, "line %zu: field '%s' could not be converted", lineno, key);
        buf_free(&b);
        if (rc) goto fail;
    }
    rec_append_mode(r, false);
    json_decref(root);
    return r;
fail:
    json_decref(root);
    rec_destroy(&r);
    return NULL;
}
