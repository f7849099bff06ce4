/* wire.c — encode/decode the remask service records (see wire.h). The select request
 * carries the step state as flat integer fields and the candidates as six typed arrays,
 * so a policy in any language reads them with numpy.frombuffer. */
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>
#include "wire.h"

// clang-format off
#define ST_FIELDS(X) \
    X(step) \
    X(steps) \
    X(block) \
    X(n_blocks) \
    X(block_step) \
    X(steps_per_block) \
    X(block_start) \
    X(block_end) \
    X(prompt_len) \
    X(canvas_len) \
    X(n_masked) \
    X(n_commit)
// clang-format on

rec_t *rmw_select_new(int64_t id, const char *policy, const rm_state_t *st, const rm_cand_t *c, int n, lerr_t *e) {
    rec_t *r = rec_new();
    int32_t *pos = malloc((size_t)(n ? n : 1) * 8), *tok = pos + (n ? n : 1);
    float *pf = malloc((size_t)(n ? n : 1) * 3 * sizeof(float));
    double *conf = malloc((size_t)(n ? n : 1) * sizeof(double));
    int bad = !r || !pos || !pf || !conf;
    if (!bad) {
        for (int i = 0; i < n; i++) {
            pos[i] = c[i].pos;
            tok[i] = c[i].token;
            conf[i] = c[i].conf;
            pf[i] = c[i].prob;
            pf[n + i] = c[i].margin;
            pf[2 * n + i] = c[i].entropy;
        }
        bad |= rec_set_str(r, "kind", "remask_select") | rec_set_int(r, "v", 1) | rec_set_int(r, "id", id);
        if (policy) bad |= rec_set_str(r, "policy", policy);
        bad |= rec_set_int(r, "seed", (int64_t)st->seed) | rec_set_int(r, "record", st->record);
#define SET(f) bad |= rec_set_int(r, #f, st->f);
        ST_FIELDS(SET)
#undef SET
        int64_t sh[1] = {n};
        bad |=
            !rec_set_tensor_copy(r, "pos", DT_I32, 1, sh, pos) | !rec_set_tensor_copy(r, "token", DT_I32, 1, sh, tok);
        bad |=
            !rec_set_tensor_copy(r, "conf", DT_F64, 1, sh, conf) | !rec_set_tensor_copy(r, "prob", DT_F32, 1, sh, pf);
        bad |= !rec_set_tensor_copy(r, "margin", DT_F32, 1, sh, pf + n) |
               !rec_set_tensor_copy(r, "entropy", DT_F32, 1, sh, pf + 2 * n);
    }
    free(pos);
    free(pf);
    free(conf);
    if (bad) {
        rec_destroy(&r);
        lerr_set(e, EXIT_INTERNAL, "out of memory building a remask request");
    }
    return r;
}

static int get_i(const rec_t *r, const char *k, int64_t lo, int64_t hi, int64_t *v, lerr_t *e) {
    if (rec_get_int(r, k, v) || *v < lo || *v > hi)
        return lerr_set(e, EXIT_DATA, "remask_select: field \"%s\" missing or out of range", k);
    return 0;
}

static const tensor_t *need(const rec_t *r, const char *k, dtype_t dt, size_t n, lerr_t *e) {
    tensor_t *t = rec_need_tensor(r, k, dt, 1, e);
    if (t && t->numel != n) {
        lerr_set(e, EXIT_DATA, "remask_select: \"%s\" has %zu elements, \"pos\" %zu", k, t->numel, n);
        return NULL;
    }
    return t;
}

int rmw_select_parse(const rec_t *r, rm_state_t *st, rm_cand_t **cp, int *np, lerr_t *e) {
    int64_t v;
    memset(st, 0, sizeof *st);
    *cp = NULL;
    if (!rec_kind_is(r, "remask_select")) return lerr_set(e, EXIT_DATA, "expected a remask_select record");
    if (rec_get_int(r, "seed", &v)) return lerr_set(e, EXIT_DATA, "remask_select: field \"seed\" missing");
    st->seed = (uint64_t)v;
    if (get_i(r, "record", INT64_MIN, INT64_MAX, &v, e)) return -1;
    st->record = v;
#define GET(f) \
    if (get_i(r, #f, -1, INT32_MAX, &v, e)) return -1; \
    st->f = (int)v;
    ST_FIELDS(GET)
#undef GET
    const tensor_t *pos = rec_need_tensor(r, "pos", DT_I32, 1, e);
    if (!pos) return -1;
    size_t n = pos->numel;
    if (n > (size_t)INT32_MAX / 2) return lerr_set(e, EXIT_DATA, "remask_select: too many candidates");
    const tensor_t *tok = need(r, "token", DT_I32, n, e), *conf = tok ? need(r, "conf", DT_F64, n, e) : NULL,
                   *prob = conf ? need(r, "prob", DT_F32, n, e) : NULL,
                   *mar = prob ? need(r, "margin", DT_F32, n, e) : NULL,
                   *ent = mar ? need(r, "entropy", DT_F32, n, e) : NULL;
    if (!ent) return -1;
    rm_cand_t *c = malloc((n ? n : 1) * sizeof *c);
    if (!c) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        c[i].pos = ((const int32_t *)pos->data)[i];
        c[i].token = ((const int32_t *)tok->data)[i];
        c[i].conf = ((const double *)conf->data)[i];
        c[i].prob = ((const float *)prob->data)[i];
        c[i].margin = ((const float *)mar->data)[i];
        c[i].entropy = ((const float *)ent->data)[i];
        if (i && c[i].pos <= c[i - 1].pos) {
            free(c);
            return lerr_set(e, EXIT_DATA, "remask_select: \"pos\" not strictly ascending");
        }
    }
    *cp = c;
    *np = (int)n;
    return 0;
}

/* "chosen" as a plain msgpack array of ints. */
static int chosen_array(const uint8_t *mp, size_t len, int32_t *out, int cap, lerr_t *e) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int k = -1;
    if (msgpack_unpack_next(&u, (const char *)mp, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size <= (uint32_t)cap) {
        k = (int)u.data.via.array.size;
        for (int i = 0; i < k; i++) {
            msgpack_object o = u.data.via.array.ptr[i];
            if (o.type == MSGPACK_OBJECT_POSITIVE_INTEGER && o.via.u64 <= INT32_MAX) out[i] = (int32_t)o.via.u64;
            else {
                k = -1;
                break;
            }
        }
    }
    msgpack_unpacked_destroy(&u);
    if (k < 0) lerr_set(e, EXIT_PEER, "remask service: \"chosen\" is not an array of at most %d positions", cap);
    return k;
}

int rmw_chosen_parse(const rec_t *r, int32_t *out, int cap, lerr_t *e) {
    if (rec_kind_is(r, "remask_error")) {
        char *msg = rec_get_strdup(r, "error");
        lerr_set(e, EXIT_PEER, "remask service: %s", msg ? msg : "error without a message");
        free(msg);
        return -1;
    }
    if (!rec_kind_is(r, "remask_chosen")) return lerr_set(e, EXIT_PEER, "remask service sent an unexpected record");
    tensor_t *t = rec_tensor(r, "chosen");
    if (t) {
        if (t->dtype != DT_I32 || t->ndim != 1 || t->numel > (size_t)cap)
            return lerr_set(e, EXIT_PEER, "remask service: \"chosen\" must be i4 with at most %d positions", cap);
        if (t->numel) memcpy(out, t->data, t->numel * sizeof(int32_t)); /* an empty tensor may have no data */
        return (int)t->numel;
    }
    const uint8_t *mp;
    size_t len;
    if (rec_get_raw(r, "chosen", &mp, &len)) return lerr_set(e, EXIT_PEER, "remask service: reply without \"chosen\"");
    return chosen_array(mp, len, out, cap, e);
}

rec_t *rmw_error_new(int64_t id, int code, const char *msg) {
    rec_t *r = rec_new();
    if (!r) return NULL;
    if (rec_set_str(r, "kind", "remask_error") || rec_set_int(r, "v", 1) || rec_set_int(r, "id", id) ||
        rec_set_int(r, "code", code) || rec_set_str(r, "error", msg))
        rec_destroy(&r);
    return r;
}
