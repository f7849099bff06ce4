/* mpscan.c — a bounds-checking msgpack scanner that never allocates.
 *
 * msgpack-c has no size limits: a container header makes it allocate count*16 bytes before the
 * elements arrive. Every byte stream we accept therefore goes through mp_scan first, which finds
 * the extent of one complete value while checking the limits (record size, array length, depth)
 * against bytes actually present. Only then is a value decoded.
 */
#include <string.h>
#include "record.h"
#include "mpscan.h"

static uint64_t be(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* Header of the value at p[0..len): 1 ok, 0 need more bytes, -1 invalid (0xc1). */
int mp_header(const uint8_t *p, size_t len, mp_hdr_t *h) {
    if (len < 1) return 0;
    uint8_t b = p[0];
    int ext = 0, n = 0; /* bytes of length field */
    memset(h, 0, sizeof *h);
    h->hlen = 1;
    if (b <= 0x7f) {
        h->type = MP_UINT;
        h->u = b;
        return 1;
    }
    if (b >= 0xe0) {
        h->type = MP_INT;
        h->i = (int8_t)b;
        return 1;
    }
    if ((b & 0xf0) == 0x80) {
        h->type = MP_MAP;
        h->count = b & 0x0f;
        return 1;
    }
    if ((b & 0xf0) == 0x90) {
        h->type = MP_ARRAY;
        h->count = b & 0x0f;
        return 1;
    }
    if ((b & 0xe0) == 0xa0) {
        h->type = MP_STR;
        h->size = b & 0x1f;
        return 1;
    }
    switch (b) {
    case 0xc0: h->type = MP_NIL; return 1;
    case 0xc2:
    case 0xc3:
        h->type = MP_BOOL;
        h->u = b & 1;
        return 1;
    case 0xc4:
        h->type = MP_BIN;
        n = 1;
        break;
    case 0xc5:
        h->type = MP_BIN;
        n = 2;
        break;
    case 0xc6:
        h->type = MP_BIN;
        n = 4;
        break;
    case 0xc7:
        h->type = MP_EXT;
        n = 1;
        ext = 1;
        break;
    case 0xc8:
        h->type = MP_EXT;
        n = 2;
        ext = 1;
        break;
    case 0xc9:
        h->type = MP_EXT;
        n = 4;
        ext = 1;
        break;
    case 0xca:
    case 0xcb: {
        int w = b == 0xca ? 4 : 8;
        if (len < (size_t)1 + w) return 0;
        h->hlen = 1 + w;
        uint64_t bits = be(p + 1, w);
        if (w == 4) {
            float f;
            uint32_t u = (uint32_t)bits;
            memcpy(&f, &u, 4);
            h->f = f;
        } else memcpy(&h->f, &bits, 8);
        h->type = MP_FLOAT;
        return 1;
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: {
        int w = 1 << (b - 0xcc);
        if (len < (size_t)1 + w) return 0;
        h->hlen = 1 + w;
        h->type = MP_UINT;
        h->u = be(p + 1, w);
        return 1;
    }
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        int w = 1 << (b - 0xd0);
        if (len < (size_t)1 + w) return 0;
        uint64_t u = be(p + 1, w);
        h->hlen = 1 + w;
        h->type = MP_INT;
        if (w < 8 && (u >> (8 * w - 1))) u |= ~0ULL << (8 * w); /* sign-extend */
        h->i = (int64_t)u;
        return 1;
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        if (len < 2) return 0;
        h->type = MP_EXT;
        h->hlen = 2;
        h->size = (size_t)1 << (b - 0xd4);
        h->ext_type = (int8_t)p[1];
        return 1;
    case 0xd9:
        h->type = MP_STR;
        n = 1;
        break;
    case 0xda:
        h->type = MP_STR;
        n = 2;
        break;
    case 0xdb:
        h->type = MP_STR;
        n = 4;
        break;
    case 0xdc:
        h->type = MP_ARRAY;
        n = -2;
        break;
    case 0xdd:
        h->type = MP_ARRAY;
        n = -4;
        break;
    case 0xde:
        h->type = MP_MAP;
        n = -2;
        break;
    case 0xdf:
        h->type = MP_MAP;
        n = -4;
        break;
    default: return -1; /* 0xc1 never used */
    }
    if (n < 0) { /* container with 2/4-byte count */
        n = -n;
        if (len < (size_t)1 + n) return 0;
        h->hlen = 1 + n;
        h->count = be(p + 1, n);
        return 1;
    }
    if (len < (size_t)1 + n + ext) return 0;
    h->size = be(p + 1, n);
    if (ext) h->ext_type = (int8_t)p[1 + n];
    h->hlen = 1 + n + ext;
    return 1;
}

long mp_scan(const uint8_t *buf, size_t len, const rec_limits_t *lim, size_t base, lerr_t *e) {
    if (!lim) lim = &REC_LIMITS_DEFAULT;
    int maxd = lim->max_depth > 0 && lim->max_depth <= MP_MAX_DEPTH ? lim->max_depth : MP_MAX_DEPTH;
    uint64_t left[MP_MAX_DEPTH + 1];
    int sp = 0;
    size_t pos = 0;
    left[sp++] = 1;
    while (sp > 0) {
        if (left[sp - 1] == 0) {
            sp--;
            continue;
        }
        left[sp - 1]--;
        if (pos >= len) goto need_more;
        mp_hdr_t h;
        int r = mp_header(buf + pos, len - pos, &h);
        if (r < 0) return lerr_set(e, EXIT_DATA, "invalid msgpack byte 0x%02x at byte %zu", buf[pos], base + pos);
        if (r == 0) goto need_more;
        size_t at = pos;
        pos += h.hlen;
        if (h.type == MP_STR || h.type == MP_BIN || h.type == MP_EXT) {
            if (h.size > lim->max_record_bytes || pos + h.size > lim->max_record_bytes)
                return lerr_set(e, EXIT_DATA,
                                "record larger than the limit of %zu bytes (a %zu-byte payload) at byte %zu",
                                lim->max_record_bytes, (size_t)h.size, base + at);
            if (h.size > len - pos) goto need_more;
            pos += h.size;
        } else if (h.type == MP_ARRAY || h.type == MP_MAP) {
            uint64_t items = h.type == MP_MAP ? 2 * h.count : h.count;
            size_t cap = h.type == MP_MAP ? rec_max_keys(lim) : lim->max_array_len;
            if (h.count > cap)
                return lerr_set(e, EXIT_DATA, "msgpack %s of %llu entries exceeds the limit of %zu (%s) at byte %zu",
                                h.type == MP_MAP ? "map" : "array", (unsigned long long)h.count, cap,
                                h.type == MP_MAP ? "--max-keys" : "--max-array", base + at);
            if (items == 0) continue;
            if (sp >= maxd + 1 || sp > MP_MAX_DEPTH)
                return lerr_set(e, EXIT_DATA, "nesting deeper than %d at byte %zu", maxd, base + at);
            left[sp++] = items;
        }
        if (pos > lim->max_record_bytes)
            return lerr_set(e, EXIT_DATA, "record larger than the limit of %zu bytes at byte %zu",
                            lim->max_record_bytes, base + at);
    }
    return (long)pos;
need_more:
    if (len >= lim->max_record_bytes)
        return lerr_set(e, EXIT_DATA, "record larger than the limit of %zu bytes at byte %zu", lim->max_record_bytes,
                        base);
    return 0;
}
