/* choices.c — question expansion and context/whole token joining (see choices.h). */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include "choices.h"
#include "mask/records.h"

/* One text record of question q. Takes nothing; returns a new record or NULL (OOM). */
static rec_t *text_rec(const rec_t *in, const char *s, size_t n, uint64_t q, int64_t j, int64_t answer,
                       const char *part, lerr_t *e) {
    rec_t *r = rec_new();
    if (!r || rec_set_str(r, "kind", "text") || rec_set_int(r, "v", PROTOCOL_VERSION) ||
        rec_set_strn(r, "text", s, n) || rec_set_int(r, "question", (int64_t)q) || rec_set_int(r, "choice", j) ||
        rec_set_int(r, "answer", answer) || rec_set_str(r, "part", part) || rec_copy_user_fields(r, in, e)) {
        rec_destroy(&r);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    rec_del(r, "context");
    rec_del(r, "choices");
    return r;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Emit the context and context+continuation records of choice j. */
static int expand_one(const rec_t *in, uint64_t q, int64_t j, int64_t answer, const char *ctx, size_t nc,
                      const char *cont, size_t nk, choice_emit_fn emit, void *arg, lerr_t *e) {
    size_t trail = 0;
    while (trail < nc && is_space(ctx[nc - 1 - trail])) trail++;
    char *whole = malloc(nc + nk + 1);
    if (!whole) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    if (nc) memcpy(whole, ctx, nc); /* (ctx − trailing space) + (trailing space + cont) */
    if (nk) memcpy(whole + nc, cont, nk);
    rec_t *a = text_rec(in, ctx, nc - trail, q, j, answer, "context", e);
    rec_t *b = a ? text_rec(in, whole, nc + nk, q, j, answer, "whole", e) : NULL;
    free(whole);
    if (!a || !b) return rec_destroy(&a), -1;
    if (emit(arg, a, e)) return rec_destroy(&b), -1;
    return emit(arg, b, e);
}

/* {"prompt": str, "answer": str}: one pair, choice 0. */
static int expand_pair(const rec_t *in, uint64_t q, choice_emit_fn emit, void *arg, lerr_t *e) {
    const char *pr, *an;
    size_t np, na;
    if (rec_get_str(in, "prompt", &pr, &np) || rec_get_str(in, "answer", &an, &na))
        return lerr_set(e, EXIT_DATA,
                        "need {\"context\", \"choices\", \"answer\"} or {\"prompt\": str, \"answer\": str}");
    return expand_one(in, q, 0, 0, pr, np, an, na, emit, arg, e);
}

int choices_expand(const rec_t *in, uint64_t q, choice_emit_fn emit, void *arg, lerr_t *e) {
    const char *ctx;
    size_t nc;
    int64_t answer;
    const uint8_t *mp;
    size_t len;
    if (!rec_has(in, "choices")) return expand_pair(in, q, emit, arg, e);
    if (rec_get_str(in, "context", &ctx, &nc)) return lerr_set(e, EXIT_DATA, "question needs a \"context\" string");
    if (rec_get_int(in, "answer", &answer)) return lerr_set(e, EXIT_DATA, "question needs an integer \"answer\"");
    if (rec_get_raw(in, "choices", &mp, &len))
        return lerr_set(e, EXIT_DATA, "question needs a \"choices\" array of strings");
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int rc = 0;
    if (msgpack_unpack_next(&u, (const char *)mp, len, NULL) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size == 0) {
        rc = lerr_set(e, EXIT_DATA, "\"choices\" must be a non-empty array of strings");
    } else if (answer < 0 || (uint64_t)answer >= u.data.via.array.size) {
        rc = lerr_set(e, EXIT_DATA, "\"answer\" %lld is not a choice index", (long long)answer);
    }
    for (uint32_t j = 0; !rc && j < u.data.via.array.size; j++) {
        msgpack_object *o = &u.data.via.array.ptr[j];
        if (o->type != MSGPACK_OBJECT_STR) rc = lerr_set(e, EXIT_DATA, "choice %u is not a string", j);
        else rc = expand_one(in, q, j, answer, ctx, nc, o->via.str.ptr, o->via.str.size, emit, arg, e);
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

rec_t *pair_join(const rec_t *ctx, const rec_t *whole, lerr_t *e) {
    const tensor_t *c = rec_need_tensor(ctx, "tokens", DT_I32, 1, e);
    const tensor_t *w = c ? rec_need_tensor(whole, "tokens", DT_I32, 1, e) : NULL;
    if (!w) return NULL;
    if (w->numel <= c->numel) {
        lerr_set(e, EXIT_DATA, "whole text has %zu tokens, not more than its context's %zu", w->numel, c->numel);
        return NULL;
    }
    rec_t *r = rec_new();
    if (!r || rec_set_str(r, "kind", "tokens") || rec_set_int(r, "v", PROTOCOL_VERSION) ||
        !rec_set_i32(r, "prompt", c->data, c->numel) ||
        !rec_set_i32(r, "tokens", (const int32_t *)w->data + c->numel, w->numel - c->numel) ||
        rec_copy_user_fields(r, whole, e)) {
        rec_destroy(&r);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    rec_del(r, "text");
    rec_del(r, "part");
    return r;
}
