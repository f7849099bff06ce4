/* records.c — reading pairs from records and building the masked record (records.h). */
#include <string.h>
#include "records.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Optional 1-D i4 tensor: NULL if absent; -1 if present with another type. */
static int opt_i32(const rec_t *r, const char *key, const tensor_t **t, lerr_t *e) {
    *t = NULL;
    if (!rec_has(r, key)) return 0;
    *t = rec_need_tensor(r, key, DT_I32, 1, e);
    return *t ? 0 : -1;
}

int pair_from_rec(const rec_t *r, pair_t *out, lerr_t *e) {
    const tensor_t *pr, *tk, *an;
    if (opt_i32(r, "prompt", &pr, e) || opt_i32(r, "tokens", &tk, e)) return -1;
    an = NULL; /* "answer" is a pair field only as a token array (else a user field) */
    if (rec_is_tensor(r, "answer") && opt_i32(r, "answer", &an, e)) return -1;
    if (pr && an) tk = an;
    if (!tk) return lerr_set(e, EXIT_DATA, "record has no \"tokens\" (or \"answer\") i4 array");
    memset(out, 0, sizeof *out);
    out->answer = tk->data;
    out->na = tk->numel;
    if (pr) {
        out->prompt = pr->data;
        out->np = pr->numel;
        return 0;
    }
    int64_t pl;
    int rc = rec_get_int(r, "prompt_len", &pl);
    if (rc == -2 || (rc == 0 && (pl < 0 || (uint64_t)pl > tk->numel)))
        return lerr_set(e, EXIT_DATA, "\"prompt_len\" is not an integer in [0, %zu]", tk->numel);
    if (rc == 0) {
        out->prompt = tk->data;
        out->np = (size_t)pl;
        out->answer = (const int32_t *)tk->data + pl;
        out->na = tk->numel - (size_t)pl;
    }
    return 0;
}

static const char *const CONSUMED[] = {"kind",     "v",       "tokens",  "prompt",     "answer", "prompt_len", "x0",
                                       "xt",       "t",       "p",       "answer_len", "group",  "mc",         "n_mc",
                                       "n_masked", "mask_id", "cropped", "ce",         NULL};

static bool consumed(const char *k) {
    for (int i = 0; CONSUMED[i]; i++)
        if (!strcmp(k, CONSUMED[i])) return true;
    return false;
}

/* A user field copied into `dst` can only meet an existing key if `dst` holds a field that is
 * not consumed (or an "answer", which may be a user field): src's keys are unique, and every
 * consumed key is skipped. Both builders write only consumed keys before copying, so the copy
 * appends without a lookup per field (linear; a lookup each made it O(n^2) in the number of
 * user fields). A `dst` with any other key takes the lookup path. */
static bool may_collide(const rec_t *dst) {
    for (size_t i = 0; i < rec_nfields(dst); i++) {
        const char *k = rec_key(dst, i);
        if (!consumed(k) || !strcmp(k, "answer")) return true;
    }
    return false;
}

int rec_copy_user_fields(rec_t *dst, const rec_t *src, lerr_t *e) {
    bool append = !may_collide(dst);
    if (append) rec_append_mode(dst, true);
    int rc = 0;
    for (size_t i = 0; src && !rc && i < rec_nfields(src); i++) {
        const char *k = rec_key(src, i);
        /* "answer" is consumed as a token array (a pair) but kept as a user field otherwise
         * (e.g. the correct choice index of a question). */
        const tensor_t *t = rec_tensor_at(src, i); /* by position: no lookup per field */
        if (consumed(k) && !(!strcmp(k, "answer") && !t)) continue;
        if (t) {
            rc = rec_set_tensor_copy(dst, k, t->dtype, t->ndim, t->shape, t->data) ? 0 : -1;
        } else {
            const uint8_t *mp;
            size_t len;
            rc = rec_raw_at(src, i, &mp, &len);
            if (!rc) rc = rec_set_raw(dst, k, mp, len);
        }
        if (rc) lerr_set(e, EXIT_INTERNAL, "out of memory copying field \"%s\"", k);
    }
    if (append) rec_append_mode(dst, false);
    return rc ? -1 : 0;
}

int masked_to_rec(rec_t *out, const masked_t *m, const rec_t *src, lerr_t *e) {
    rec_clear(out);
    int bad = rec_set_str(out, "kind", "masked") || rec_set_int(out, "v", PROTOCOL_VERSION) ||
              !rec_set_i32(out, "x0", m->x0, m->n) || (!m->bitmap && !rec_set_i32(out, "xt", m->xt, m->n)) ||
              rec_set_f64(out, "t", m->t) || rec_set_f64(out, "p", m->p) ||
              rec_set_int(out, "prompt_len", (int64_t)m->prompt_len) ||
              rec_set_int(out, "answer_len", (int64_t)m->answer_len) ||
              rec_set_int(out, "n_masked", (int64_t)m->n_masked) || rec_set_int(out, "mask_id", m->mask_id) ||
              rec_set_int(out, "group", m->group);
    if (!bad && m->mc >= 0) bad = rec_set_int(out, "mc", m->mc);
    if (!bad && m->n_mc >= 0) bad = rec_set_int(out, "n_mc", m->n_mc);
    if (!bad && m->cropped >= 0) bad = rec_set_bool(out, "cropped", m->cropped != 0);
    if (bad) return lerr_set(e, EXIT_INTERNAL, "out of memory building a masked record");
    if (rec_copy_user_fields(out, src, e)) return -1;
    if (!m->bitmap) return 0;
    int64_t nb = (int64_t)((m->n + 7) / 8);
    tensor_t *b = rec_set_tensor(out, "mask", DT_U8, 1, &nb);
    if (!b) return lerr_set(e, EXIT_INTERNAL, "out of memory building a masked record");
    mask_bitmap(m->xt, m->n, m->mask_id, b->data);
    return 0;
}

#if defined(__x86_64__)
/* 16 tokens per compare; the 16-bit compare mask is two bitmap bytes, low token first. */
__attribute__((target("avx512f"))) static size_t mask_bitmap_avx512(const int32_t *xt, size_t n, int32_t mask_id,
                                                                    uint8_t *bits) {
    const __m512i mid = _mm512_set1_epi32(mask_id);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint16_t m = _mm512_cmpeq_epi32_mask(_mm512_loadu_si512((const void *)(xt + i)), mid);
        bits[i >> 3] = (uint8_t)m;
        bits[(i >> 3) + 1] = (uint8_t)(m >> 8);
    }
    return i;
}
#endif

void mask_bitmap(const int32_t *xt, size_t n, int32_t mask_id, uint8_t *bits) {
    size_t i = 0;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) i = mask_bitmap_avx512(xt, n, mask_id, bits);
#endif
    for (; i + 8 <= n; i += 8) {
        const int32_t *v = xt + i;
        bits[i >> 3] = (uint8_t)((v[0] == mask_id) | (v[1] == mask_id) << 1 | (v[2] == mask_id) << 2 |
                                 (v[3] == mask_id) << 3 | (v[4] == mask_id) << 4 | (v[5] == mask_id) << 5 |
                                 (v[6] == mask_id) << 6 | (v[7] == mask_id) << 7);
    }
    if (i < n) {
        uint8_t last = 0;
        for (size_t k = 0; i + k < n; k++) last |= (uint8_t)((xt[i + k] == mask_id) << k);
        bits[i >> 3] = last;
    }
}
