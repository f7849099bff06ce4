/* test_remask_wire.c — the remask service records: a select request survives encode ->
 * msgpack bytes -> decode with every state field and candidate intact (checked field by
 * field against the msgpack-c object model, independently of record.h's decoder), bad
 * requests are refused with EXIT_DATA, and replies parse from both an i4 typed array and
 * a plain msgpack int array, never beyond the caller's capacity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>
#include "testlib.h"
#include "remask/wire.h"

static const msgpack_object *field(const msgpack_object *map, const char *k) {
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(k) &&
            !memcmp(kv->key.via.str.ptr, k, strlen(k)))
            return &kv->val;
    }
    return NULL;
}

static void test_roundtrip(void) {
    rm_state_t st = {.seed = 0xfedcba9876543210ULL,
                     .record = 41,
                     .step = 7,
                     .steps = 64,
                     .block = 1,
                     .n_blocks = 2,
                     .block_step = 3,
                     .steps_per_block = 32,
                     .block_start = 40,
                     .block_end = 72,
                     .prompt_len = 40,
                     .canvas_len = 104,
                     .n_masked = 50,
                     .n_commit = 2};
    rm_cand_t c[5];
    for (int i = 0; i < 5; i++)
        c[i] = (rm_cand_t){.pos = 40 + 3 * i,
                           .token = 1000 + i,
                           .conf = i == 2 ? -INFINITY : 0.1 * i + 1e-13,
                           .prob = 0.25f * i,
                           .margin = 0.01f * i,
                           .entropy = 2.5f - i};
    lerr_t e = {0};
    rec_t *r = rmw_select_new(17, "threshold:0.5", &st, c, 5, &e);
    CHECK(r != NULL, "build: %s", e.msg);
    buf_t b = {0};
    CHECK(rec_encode(r, &b) == 0, "encode");
    /* independent view with msgpack-c */
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    CHECK(msgpack_unpack_next(&u, (const char *)b.data, b.len, NULL) == MSGPACK_UNPACK_SUCCESS, "msgpack parses");
    const msgpack_object *o = &u.data, *f;
    CHECK(o->type == MSGPACK_OBJECT_MAP, "a map");
    CHECK((f = field(o, "kind")) && f->via.str.size == 13 && !memcmp(f->via.str.ptr, "remask_select", 13), "kind");
    CHECK((f = field(o, "id")) && f->via.u64 == 17, "id");
    CHECK((f = field(o, "n_commit")) && f->via.u64 == 2, "n_commit");
    CHECK((f = field(o, "block_end")) && f->via.u64 == 72, "block_end");
    CHECK((f = field(o, "seed")) && (uint64_t)f->via.i64 == 0xfedcba9876543210ULL, "seed bits");
    f = field(o, "conf");
    const msgpack_object *d = f ? field(f, "data") : NULL, *dt = f ? field(f, "dtype") : NULL;
    CHECK(d && d->type == MSGPACK_OBJECT_BIN && d->via.bin.size == 40, "conf is 5 f8 bytes");
    CHECK(dt && dt->via.str.size == 2 && !memcmp(dt->via.str.ptr, "f8", 2), "conf dtype f8");
    if (d) {
        double x;
        memcpy(&x, d->via.bin.ptr + 8, 8);
        CHECK(x == 0.1 + 1e-13, "conf[1] exact: %.17g", x);
    }
    msgpack_unpacked_destroy(&u);
    /* and back */
    rec_t *back = rec_decode(b.data, b.len, &REC_LIMITS_DEFAULT, 0, &e);
    rm_state_t s2;
    rm_cand_t *c2 = NULL;
    int n2 = 0;
    CHECK(back && rmw_select_parse(back, &s2, &c2, &n2, &e) == 0, "parse: %s", e.msg);
    CHECK(n2 == 5 && memcmp(&s2, &st, sizeof st) == 0, "state round trip");
    for (int i = 0; c2 && i < 5; i++)
        CHECK(c2[i].pos == c[i].pos && c2[i].token == c[i].token && (c2[i].conf == c[i].conf) &&
                  c2[i].prob == c[i].prob && c2[i].margin == c[i].margin && c2[i].entropy == c[i].entropy,
              "cand %d", i);
    free(c2);
    /* inconsistent lengths and disorder are data errors */
    tensor_t *t = rec_tensor(back, "pos");
    ((int32_t *)t->data)[3] = 10;
    lerr_t e2 = {0};
    CHECK(rmw_select_parse(back, &s2, &c2, &n2, &e2) < 0 && e2.code == EXIT_DATA && c2 == NULL, "unsorted pos refused");
    int32_t four[4] = {1, 2, 3, 4};
    rec_set_i32(back, "token", four, 4);
    lerr_t e3 = {0};
    CHECK(rmw_select_parse(back, &s2, &c2, &n2, &e3) < 0 && e3.code == EXIT_DATA && strstr(e3.msg, "token"),
          "length mismatch: %s", e3.msg);
    rec_del(back, "n_commit");
    lerr_t e4 = {0};
    CHECK(rmw_select_parse(back, &s2, &c2, &n2, &e4) < 0 && strstr(e4.msg, "n_commit"), "missing field named: %s",
          e4.msg);
    rec_destroy(&back);
    rec_destroy(&r);
    buf_free(&b);
}

static rec_t *reply_from(const char *json) {
    lerr_t e = {0};
    return rec_from_json(json, strlen(json), &REC_LIMITS_DEFAULT, 1, &e);
}

static void test_replies(void) {
    int32_t out[4];
    lerr_t e = {0};
    rec_t *r = reply_from("{\"kind\":\"remask_chosen\",\"id\":3,\"chosen\":[7,2,9]}");
    CHECK(r && rmw_chosen_parse(r, out, 4, &e) == 3 && out[0] == 7 && out[1] == 2 && out[2] == 9, "plain array: %s",
          e.msg);
    lerr_t e1 = {0};
    CHECK(rmw_chosen_parse(r, out, 2, &e1) < 0 && e1.code == EXIT_PEER, "more than the capacity refused");
    rec_destroy(&r);
    r = reply_from("{\"kind\":\"remask_chosen\",\"id\":3,\"chosen\":[7,-2]}");
    lerr_t e2 = {0};
    CHECK(r && rmw_chosen_parse(r, out, 4, &e2) < 0, "negative position refused");
    rec_destroy(&r);
    r = reply_from("{\"kind\":\"remask_chosen\",\"id\":3,\"chosen\":{\"dtype\":\"i4\",\"shape\":[2],\"data\":[5,6]}}");
    lerr_t e3 = {0};
    CHECK(r && rmw_chosen_parse(r, out, 4, &e3) == 2 && out[0] == 5 && out[1] == 6, "typed array: %s", e3.msg);
    rec_destroy(&r);
    /* an empty typed array (a block whose masks are all committed; the origin policy over the
     * wire sent it): 0 positions, and no memcpy from the tensor's NULL data (UBSan) */
    r = reply_from("{\"kind\":\"remask_chosen\",\"id\":3,\"chosen\":{\"dtype\":\"i4\",\"shape\":[0],\"data\":[]}}");
    lerr_t e5 = {0};
    CHECK(r && rmw_chosen_parse(r, NULL, 0, &e5) == 0, "empty typed array: %s", e5.msg);
    rec_destroy(&r);
    r = reply_from("{\"kind\":\"remask_error\",\"id\":3,\"code\":1,\"error\":\"boom\"}");
    lerr_t e4 = {0};
    CHECK(r && rmw_chosen_parse(r, out, 4, &e4) < 0 && e4.code == EXIT_PEER && strstr(e4.msg, "boom"),
          "error reply: %s", e4.msg);
    rec_destroy(&r);
    rec_t *er = rmw_error_new(5, 2, "bad");
    CHECK(er && rec_kind_is(er, "remask_error"), "error record");
    rec_destroy(&er);
}

int main(void) {
    test_roundtrip();
    test_replies();
    return TEST_SUMMARY();
}
