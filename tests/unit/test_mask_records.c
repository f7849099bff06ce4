/* test_mask_records.c — mask's record layer: the pair forms, the masked record's fields and
 * pass-through, the likelihood reducer (hand-computed mean and standard error, interleaved
 * groups, errors), the multiple-choice chooser, question expansion (lm-eval's whitespace
 * rule) and context/whole joining. Runs under ASan/UBSan with `make test SAN=1`. */
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include "testlib.h"
#include "eval/choices.h"
#include "mask/records.h"
#include "eval/reduce.h"

static rec_t *tok_rec(const char *key, const int32_t *v, size_t n) {
    rec_t *r = rec_new();
    rec_set_str(r, "kind", "tokens");
    rec_set_i32(r, key, v, n);
    return r;
}

static void test_pairs(void) {
    int32_t p[] = {1, 2, 3}, a[] = {4, 5};
    lerr_t e = {0};
    pair_t pr;
    rec_t *r = tok_rec("prompt", p, 3);
    rec_set_i32(r, "tokens", a, 2);
    CHECK(pair_from_rec(r, &pr, &e) == 0 && pr.np == 3 && pr.na == 2 && pr.answer[1] == 5, "prompt + tokens");
    rec_set_int(r, "answer", 1); /* a user field, not a pair field */
    CHECK(pair_from_rec(r, &pr, &e) == 0 && pr.na == 2, "integer answer is a user field");
    rec_set_i32(r, "answer", p, 1);
    CHECK(pair_from_rec(r, &pr, &e) == 0 && pr.na == 1 && pr.answer[0] == 1, "prompt + answer tensor");
    rec_destroy(&r);
    int32_t all[] = {1, 2, 3, 4, 5};
    r = tok_rec("tokens", all, 5);
    CHECK(pair_from_rec(r, &pr, &e) == 0 && pr.np == 0 && pr.na == 5, "tokens only: no prompt");
    rec_set_int(r, "prompt_len", 2);
    CHECK(pair_from_rec(r, &pr, &e) == 0 && pr.np == 2 && pr.na == 3 && pr.answer[0] == 3, "tokens + prompt_len");
    rec_set_int(r, "prompt_len", 6);
    CHECK(pair_from_rec(r, &pr, &e) == -1 && e.code == EXIT_DATA, "prompt_len too large");
    rec_destroy(&r);
    r = rec_new();
    rec_set_f32(r, "tokens", (float[]){1}, 1);
    e.code = 0;
    CHECK(pair_from_rec(r, &pr, &e) == -1 && e.code == EXIT_DATA && strstr(e.msg, "tokens"), "wrong dtype: %s", e.msg);
    rec_destroy(&r);
}

static void test_masked(void) {
    int32_t x0[] = {7, 8, 9}, xt[] = {7, 99, 9};
    rec_t *src = tok_rec("tokens", x0, 3);
    rec_set_str(src, "id", "doc-1");
    rec_set_int(src, "prompt_len", 1);
    rec_t *out = rec_new();
    lerr_t e = {0};
    masked_t m = {.x0 = x0,
                  .xt = xt,
                  .n = 3,
                  .prompt_len = 1,
                  .answer_len = 2,
                  .n_masked = 1,
                  .t = 0.25,
                  .p = 0.5,
                  .group = 4,
                  .mc = 2,
                  .n_mc = 8,
                  .cropped = -1};
    CHECK(masked_to_rec(out, &m, src, &e) == 0, "masked_to_rec");
    int64_t v;
    double d;
    char *id = rec_get_strdup(out, "id");
    CHECK(rec_kind_is(out, "masked") && id && !strcmp(id, "doc-1"), "kind and user field");
    free(id);
    CHECK(!rec_get_int(out, "prompt_len", &v) && v == 1 && !rec_get_int(out, "group", &v) && v == 4 &&
              !rec_get_int(out, "n_mc", &v) && v == 8 && !rec_get_f64(out, "p", &d) && d == 0.5,
          "numbers");
    CHECK(!rec_has(out, "tokens") && !rec_has(out, "cropped"), "consumed fields dropped, cropped omitted");
    tensor_t *t = rec_tensor(out, "xt");
    CHECK(t && t->numel == 3 && ((int32_t *)t->data)[1] == 99, "xt");
    rec_destroy(&out);
    rec_destroy(&src);
}

/* issue 18: copying the user fields was O(n^2) in their number (a key lookup per copied field).
 * Counted in key comparisons (rec_key_compares), not timed: 20,000 user fields made 2e8 before,
 * now a fixed handful per field (the builders' own setters, the consumed-key check is not a
 * record lookup). The copy keeps every field, in order, with its value. */
static void test_many_user_fields(void) {
    enum { N = 20000 };
    int32_t x0[] = {7, 8, 9}, xt[] = {7, 99, 9};
    rec_t *src = tok_rec("tokens", x0, 3);
    rec_append_mode(src, true); /* distinct keys: build the input without lookups */
    for (int i = 0; i < N; i++) {
        char k[16];
        snprintf(k, sizeof k, "u%06d", i);
        rec_set_int(src, k, i);
    }
    rec_append_mode(src, false);
    rec_t *out = rec_new();
    lerr_t e = {0};
    masked_t m = {.x0 = x0,
                  .xt = xt,
                  .n = 3,
                  .prompt_len = 1,
                  .answer_len = 2,
                  .n_masked = 1,
                  .t = 0.25,
                  .p = 0.5,
                  .group = 4,
                  .mc = -1,
                  .n_mc = -1,
                  .cropped = -1,
                  .bitmap = true,
                  .mask_id = 99};
    uint64_t c0 = rec_key_compares();
    CHECK(masked_to_rec(out, &m, src, &e) == 0, "masked_to_rec with %d user fields", N);
    uint64_t c = rec_key_compares() - c0;
    /* the bitmap's "mask" is set after the copy with one lookup over all N + 12 fields */
    CHECK(c <= 4 * (uint64_t)N,
          "masked_to_rec: %llu key comparisons for %d user fields (<= %d; a lookup "
          "per field makes %llu)",
          (unsigned long long)c, N, 4 * N, (unsigned long long)N * (N - 1) / 2);
    size_t nf = rec_nfields(out), first = nf;
    for (size_t i = 0; i < nf; i++)
        if (!strcmp(rec_key(out, i), "u000000")) {
            first = i;
            break;
        }
    bool ok = first + N < nf + 1;
    for (int i = 0; ok && i < N; i++) {
        char k[16];
        snprintf(k, sizeof k, "u%06d", i);
        const uint8_t *mp;
        size_t len;
        ok = !strcmp(rec_key(out, first + i), k) && !rec_raw_at(out, first + i, &mp, &len);
        if (ok) {
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            ok = msgpack_unpack_next(&u, (const char *)mp, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
                 u.data.type == MSGPACK_OBJECT_POSITIVE_INTEGER && u.data.via.u64 == (uint64_t)i;
            msgpack_unpacked_destroy(&u);
        }
    }
    size_t dup;
    CHECK(ok && rec_find_duplicate(out, &dup) == 0 && rec_has(out, "mask") && !rec_has(out, "xt"),
          "all %d user fields copied in order with their values, no duplicate key", N);
    rec_destroy(&out);
    /* a destination that already holds a user key: the copy replaces it, no second field */
    rec_t *few = tok_rec("tokens", x0, 3);
    rec_set_int(few, "id", 5);
    rec_set_int(few, "score", 6);
    out = rec_new();
    rec_set_int(out, "score", -1);
    CHECK(rec_copy_user_fields(out, few, &e) == 0 && rec_nfields(out) == 2 && rec_find_duplicate(out, &dup) == 0,
          "copy into a record holding one of the keys: %zu fields, no duplicate", rec_nfields(out));
    int64_t v;
    CHECK(!rec_get_int(out, "score", &v) && v == 6, "the existing key takes the source's value");
    rec_destroy(&out);
    rec_destroy(&few);
    rec_destroy(&src);
}

static rec_t *sample(int64_t group, int64_t n_mc, double p, double ce) {
    rec_t *r = rec_new();
    rec_set_str(r, "kind", "masked");
    rec_set_int(r, "group", group);
    rec_set_int(r, "n_mc", n_mc);
    rec_set_f64(r, "p", p);
    rec_set_f64(r, "ce", ce);
    rec_set_int(r, "answer_len", 5);
    rec_set_str(r, "id", group ? "b" : "a");
    return r;
}

static void test_reducer(void) {
    lerr_t e = {0};
    reducer_t *rd = reducer_new(&e);
    /* group 0: ce/p = 2/0.5, 4/1, 6/0.25 -> w = -4, -4, -24: mean -32/3, se = sqrt(400/3/3) */
    double g0[][2] = {{0.5, 2}, {1, 4}, {0.25, 6}}, g1[][2] = {{1, 1}, {0.5, 1}, {0.2, 1}};
    rec_t *done = NULL, *got0 = NULL, *got1 = NULL;
    int rc = 0, emitted = 0;
    for (int i = 0; i < 3; i++) { /* interleaved groups */
        rec_t *s = sample(1, 3, g1[i][0], g1[i][1]);
        rc |= reducer_add(rd, s, &done, &e);
        rec_destroy(&s);
        if (done) got1 = done, emitted++;
        s = sample(0, 3, g0[i][0], g0[i][1]);
        rc |= reducer_add(rd, s, &done, &e);
        rec_destroy(&s);
        if (done) got0 = done, emitted++;
    }
    CHECK(rc == 0 && emitted == 2 && got0 && got1, "two groups emitted");
    double b, se;
    CHECK(got0 && !rec_get_f64(got0, "bound", &b) && fabs(b - (-32.0 / 3)) < 1e-12, "bound = -mean(ce/p)");
    CHECK(got0 && !rec_get_f64(got0, "se", &se) && fabs(se - sqrt(400.0 / 9)) < 1e-12, "se: %g", se);
    CHECK(got1 && !rec_get_f64(got1, "bound", &b) && fabs(b - (-(1 + 2 + 5) / 3.0)) < 1e-12, "group 1 bound");
    char *id = got1 ? rec_get_strdup(got1, "id") : NULL;
    CHECK(id && !strcmp(id, "b") && rec_kind_is(got1, "likelihood") && !rec_has(got1, "ce"), "user fields, kind");
    free(id);
    rec_destroy(&got0);
    rec_destroy(&got1);
    CHECK(reducer_finish(rd, &e) == 0, "nothing pending");
    rec_t *s = sample(2, 2, 0.5, 1);
    reducer_add(rd, s, &done, &e);
    rec_destroy(&s);
    s = sample(2, 3, 0.5, 1);
    CHECK(reducer_add(rd, s, &done, &e) == -1 && e.code == EXIT_DATA, "n_mc disagreement");
    rec_destroy(&s);
    CHECK(reducer_finish(rd, &e) == -1 && strstr(e.msg, "incomplete"), "incomplete group: %s", e.msg);
    s = sample(3, 1, 0.5, 1);
    rec_del(s, "ce");
    CHECK(reducer_add(rd, s, &done, &e) == -1 && strstr(e.msg, "ce"), "missing ce");
    rec_set_f64(s, "ce", 1);
    rec_set_f64(s, "p", 0);
    CHECK(reducer_add(rd, s, &done, &e) == -1 && strstr(e.msg, "\"p\""), "p = 0 refused");
    rec_destroy(&s);
    reducer_destroy(&rd);
    CHECK(rd == NULL, "destroy NULLs");
}

static rec_t *lik(int64_t q, int64_t choice, int64_t answer, double bound) {
    rec_t *r = rec_new();
    rec_set_str(r, "kind", "likelihood");
    rec_set_int(r, "question", q);
    rec_set_int(r, "choice", choice);
    rec_set_int(r, "answer", answer);
    rec_set_f64(r, "bound", bound);
    return r;
}

static void test_chooser(void) {
    lerr_t e = {0};
    chooser_t *c = chooser_new(&e);
    double b[2][3] = {{-5, -2, -9}, {-1, -3, -0.5}};
    int64_t ans[2] = {1, 0};
    rec_t *done, *outs[3] = {0};
    int n = 0;
    for (int q = 0; q < 2; q++)
        for (int j = 0; j < 3; j++) {
            rec_t *r = lik(q, j, ans[q], b[q][j]);
            chooser_add(c, r, &done, &e);
            rec_destroy(&r);
            if (done) outs[n++] = done;
        }
    chooser_finish(c, &done, &e);
    if (done) outs[n++] = done;
    int64_t pred0 = -1, pred1 = -1;
    bool ok0 = false, ok1 = true;
    CHECK(n == 2, "one choice record per question");
    if (n == 2) {
        rec_get_int(outs[0], "pred", &pred0);
        rec_get_bool(outs[0], "correct", &ok0);
        rec_get_int(outs[1], "pred", &pred1);
        rec_get_bool(outs[1], "correct", &ok1);
        tensor_t *t = rec_tensor(outs[0], "bounds");
        CHECK(t && t->numel == 3 && ((double *)t->data)[2] == -9, "bounds array");
    }
    CHECK(pred0 == 1 && ok0 && pred1 == 2 && !ok1, "highest bound wins: %lld %lld", (long long)pred0, (long long)pred1);
    uint64_t nq, nc;
    chooser_score(c, &nq, &nc);
    CHECK(nq == 2 && nc == 1, "score 1/2");
    for (int i = 0; i < n; i++) rec_destroy(&outs[i]);
    rec_t *bad = lik(0, 0, 0, 0);
    rec_del(bad, "choice");
    CHECK(chooser_add(c, bad, &done, &e) == -1 && e.code == EXIT_DATA, "missing choice");
    rec_destroy(&bad);
    chooser_destroy(&c);
}

typedef struct {
    rec_t *r[8];
    int n;
} sink_t;
static int sink(void *ctx, rec_t *r, lerr_t *e) {
    (void)e;
    sink_t *s = ctx;
    if (s->n < 8) s->r[s->n++] = r;
    else rec_destroy(&r);
    return 0;
}

static rec_t *question(const char *ctx, const char *c0, const char *c1, int64_t answer) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_str_with_body(&pk, c0, strlen(c0));
    msgpack_pack_str_with_body(&pk, c1, strlen(c1));
    rec_t *r = rec_new();
    rec_set_str(r, "context", ctx);
    rec_set_raw(r, "choices", sb.data, sb.size);
    rec_set_int(r, "answer", answer);
    rec_set_str(r, "id", "q7");
    msgpack_sbuffer_destroy(&sb);
    return r;
}

static bool text_is(const rec_t *r, const char *want) {
    const char *s;
    size_t n;
    return r && !rec_get_str(r, "text", &s, &n) && n == strlen(want) && !memcmp(s, want, n);
}

static void test_choices(void) {
    lerr_t e = {0};
    sink_t s = {{0}, 0};
    rec_t *q = question("Question: 2+2 =  ", "4", "5", 0);
    CHECK(choices_expand(q, 3, sink, &s, &e) == 0 && s.n == 4, "2 records per choice");
    CHECK(text_is(s.r[0], "Question: 2+2 =") && text_is(s.r[1], "Question: 2+2 =  4") &&
              text_is(s.r[3], "Question: 2+2 =  5"),
          "trailing space moves to the continuation");
    int64_t v = -1;
    CHECK(s.n == 4 && !rec_get_int(s.r[3], "question", &v) && v == 3 && !rec_get_int(s.r[3], "choice", &v) && v == 1 &&
              rec_has(s.r[3], "id") && !rec_has(s.r[3], "choices"),
          "question/choice/id fields");
    for (int i = 0; i < s.n; i++) rec_destroy(&s.r[i]);
    rec_destroy(&q);
    s.n = 0;
    q = question("c", "a", "b", 2);
    CHECK(choices_expand(q, 0, sink, &s, &e) == -1 && e.code == EXIT_DATA && s.n == 0, "answer out of range");
    rec_destroy(&q);
    /* join: whole[len(ctx):] */
    int32_t c[] = {10, 11}, w[] = {10, 11, 12, 13};
    rec_t *rc = tok_rec("tokens", c, 2), *rw = tok_rec("tokens", w, 4);
    rec_set_int(rw, "question", 5);
    rec_set_str(rw, "part", "whole");
    rec_t *pair = pair_join(rc, rw, &e);
    pair_t pr;
    CHECK(pair && !pair_from_rec(pair, &pr, &e) && pr.np == 2 && pr.na == 2 && pr.answer[0] == 12, "join slices");
    CHECK(pair && rec_has(pair, "question") && !rec_has(pair, "part"), "join keeps user fields");
    rec_destroy(&pair);
    CHECK(pair_join(rw, rc, &e) == NULL && e.code == EXIT_DATA, "whole shorter than context");
    rec_destroy(&rc);
    rec_destroy(&rw);
}

int main(void) {
    test_pairs();
    test_masked();
    test_many_user_fields();
    test_reducer();
    test_chooser();
    test_choices();
    return TEST_SUMMARY();
}
