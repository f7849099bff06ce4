/* test_record.c — records, the msgpack scanner's limits, the JSON view, and streams over
 * pipes, files, LZ4 frames and ZeroMQ (inproc, ipc, tcp), checked against msgpack-c's own
 * decoder as the independent reference. */
#include <math.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "record.h"
#include "stream.h"
#include "testlib.h"

static rec_t *sample(int n) {
    rec_t *r = rec_new();
    rec_set_str(r, "kind", "tokens");
    rec_set_int(r, "v", 1);
    int32_t *ids = malloc(n * sizeof *ids);
    for (int i = 0; i < n; i++) ids[i] = i * 7919 % 126464 - (i % 5 == 0 ? 3 : 0);
    rec_set_i32(r, "tokens", ids, n);
    free(ids);
    rec_set_f64(r, "t", 0.25);
    rec_set_int(r, "neg", -123456789012LL);
    rec_set_bool(r, "flag", true);
    rec_set_nil(r, "none");
    int64_t shape[2] = {2, 3};
    float f[6] = {1.5f, -2.25f, 3e-8f, 1e30f, 0.0f, -0.0f};
    rec_set_tensor_copy(r, "logits", DT_F32, 2, shape, f);
    return r;
}

static void test_roundtrip(void) {
    rec_t *r = sample(1000);
    buf_t b = {0};
    CHECK(rec_encode(r, &b) == 0, "encode");
    /* independent reference: msgpack-c decodes it as a map with the same keys */
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    CHECK(msgpack_unpack_next(&u, (const char *)b.data, b.len, &off) == MSGPACK_UNPACK_SUCCESS && off == b.len,
          "msgpack-c parses our encoding");
    CHECK(u.data.type == MSGPACK_OBJECT_MAP && u.data.via.map.size == rec_nfields(r), "map of all fields");
    msgpack_object tok = u.data.via.map.ptr[2].val;
    CHECK(tok.type == MSGPACK_OBJECT_MAP && tok.via.map.size == 3, "tensor is a 3-key map");
    bool saw_bin = false;
    for (uint32_t i = 0; i < tok.via.map.size; i++)
        if (tok.via.map.ptr[i].val.type == MSGPACK_OBJECT_BIN) saw_bin = tok.via.map.ptr[i].val.via.bin.size == 4000;
    CHECK(saw_bin, "tensor data is one bin of 4000 bytes");
    msgpack_unpacked_destroy(&u);

    lerr_t e = {0};
    rec_t *d = rec_decode(b.data, b.len, NULL, 0, &e);
    CHECK(d != NULL, "decode: %s", e.msg);
    buf_t b2 = {0};
    rec_encode(d, &b2);
    CHECK(b.len == b2.len && !memcmp(b.data, b2.data, b.len), "decode+encode is byte-identical");
    int64_t v;
    double t;
    bool fl;
    CHECK(rec_get_int(d, "neg", &v) == 0 && v == -123456789012LL, "negative int64");
    CHECK(rec_get_int(d, "v", &v) == 0 && v == 1, "positive int decodes as int");
    CHECK(rec_get_f64(d, "t", &t) == 0 && t == 0.25, "double");
    CHECK(rec_get_bool(d, "flag", &fl) == 0 && fl, "bool");
    CHECK(rec_get_int(d, "kind", &v) == -2, "type mismatch is -2");
    CHECK(rec_get_int(d, "absent", &v) == -1, "absent is -1");
    tensor_t *tt = rec_tensor(d, "tokens");
    CHECK(tt && tt->dtype == DT_I32 && tt->numel == 1000 && ((int32_t *)tt->data)[1] == 7919, "tensor content");
    CHECK(((uintptr_t)tt->data & 63) == 0, "tensor data 64-byte aligned");
    CHECK(rec_kind_is(d, "tokens") && !rec_kind_is(d, "token"), "kind");
    /* JSON view round trip */
    buf_t j = {0};
    CHECK(rec_to_json(d, &j) == 0, "to json");
    rec_t *dj = rec_from_json((char *)j.data, j.len - 1, NULL, 1, &e);
    CHECK(dj != NULL, "from json: %s", e.msg);
    buf_t b3 = {0};
    if (dj) rec_encode(dj, &b3);
    CHECK(b3.len == b.len && !memcmp(b3.data, b.data, b.len), "msgpack -> JSON -> msgpack identical");
    /* field edits */
    CHECK(rec_rename(d, "tokens", "prompt") == 0 && rec_tensor(d, "prompt") && !rec_has(d, "tokens"), "rename");
    CHECK(rec_del(d, "prompt") == 0 && rec_del(d, "prompt") == -1, "delete");
    rec_t *dup = rec_dup(r);
    buf_t b4 = {0};
    rec_encode(dup, &b4);
    CHECK(b4.len == b.len && !memcmp(b4.data, b.data, b.len), "dup identical");
    buf_free(&b);
    buf_free(&b2);
    buf_free(&b3);
    buf_free(&b4);
    buf_free(&j);
    rec_destroy(&r);
    rec_destroy(&d);
    rec_destroy(&dj);
    rec_destroy(&dup);
    CHECK(r == NULL, "destroy nulls the pointer");
    rec_destroy(&r); /* idempotent */
}

static int decode_fails(const uint8_t *p, size_t n, const rec_limits_t *lim, const char *want, lerr_t *e) {
    rec_t *r = rec_decode(p, n, lim, 0, e);
    if (r) {
        rec_destroy(&r);
        return 0;
    }
    return strstr(e->msg, want) != NULL;
}

static void test_bad_input(void) {
    lerr_t e = {0};
    /* array of 2^20+1 claimed with 0 bytes present: no allocation, clean error */
    const uint8_t huge_arr[] = {0x81, 0xa1, 'x', 0xdd, 0x00, 0x10, 0x00, 0x01};
    CHECK(decode_fails(huge_arr, sizeof huge_arr, NULL, "exceeds the limit", &e), "array over limit: %s", e.msg);
    const uint8_t claim[] = {0x81, 0xa1, 'x', 0xdd, 0x00, 0x00, 0x10, 0x00};
    CHECK(decode_fails(claim, sizeof claim, NULL, "truncated", &e), "claimed array, bytes absent: %s", e.msg);
    const uint8_t bad[] = {0x81, 0xa1, 'x', 0xc1};
    CHECK(decode_fails(bad, sizeof bad, NULL, "0xc1 at byte 3", &e), "0xc1 with offset: %s", e.msg);
    const uint8_t notmap[] = {0x93, 1, 2, 3};
    CHECK(decode_fails(notmap, sizeof notmap, NULL, "not a msgpack map", &e), "top level not a map");
    const uint8_t trailing[] = {0x80, 0x01};
    CHECK(decode_fails(trailing, sizeof trailing, NULL, "trailing", &e), "trailing bytes");
    const uint8_t bigbin[] = {0x81, 0xa1, 'x', 0xc6, 0x7f, 0xff, 0xff, 0xff};
    rec_limits_t small = {1 << 20, 1 << 20, 32, 1 << 16};
    CHECK(decode_fails(bigbin, sizeof bigbin, &small, "larger than the limit", &e), "bin over record limit");
    const uint8_t dupkey[] = {0x82, 0xa1, 'x', 1, 0xa1, 'x', 2};
    CHECK(decode_fails(dupkey, sizeof dupkey, NULL, "duplicate", &e), "duplicate key");
    const uint8_t intkey[] = {0x81, 0x01, 0x02};
    CHECK(decode_fails(intkey, sizeof intkey, NULL, "not a string", &e), "non-string key");
    /* tensor with data length not matching shape */
    const uint8_t badt[] = {0x81, 0xa1, 't', 0x83, 0xa5, 'd',  't', 'y', 'p', 'e', 0xa2, 'i',  '4', 0xa5, 's', 'h',
                            'a',  'p',  'e', 0x91, 0x02, 0xa4, 'd', 'a', 't', 'a', 0xc4, 0x04, 1,   2,    3,   4};
    CHECK(decode_fails(badt, sizeof badt, NULL, "do not match", &e), "tensor size mismatch: %s", e.msg);
    /* nesting depth: 40 nested arrays */
    uint8_t deep[64] = {0x81, 0xa1, 'x'};
    for (int i = 0; i < 40; i++) deep[3 + i] = 0x91;
    deep[43] = 0x00;
    CHECK(decode_fails(deep, 44, NULL, "nesting deeper", &e), "depth limit: %s", e.msg);
    rec_limits_t d64 = {1 << 30, 1 << 20, 64, 1 << 16};
    rec_t *ok = rec_decode(deep, 44, &d64, 0, &e);
    CHECK(ok != NULL, "depth 41 accepted with --max-depth 64");
    rec_destroy(&ok);
    /* every truncation of a valid record is reported as incomplete, never decoded */
    rec_t *r = sample(10);
    buf_t b = {0};
    rec_encode(r, &b);
    int bad_prefix = 0;
    for (size_t n = 0; n < b.len; n++)
        if (mp_scan(b.data, n, &REC_LIMITS_DEFAULT, 0, &e) != 0) bad_prefix++;
    CHECK(bad_prefix == 0, "all %zu prefixes need more bytes (%d did not)", b.len, bad_prefix);
    /* JSON errors */
    CHECK(!rec_from_json("{\"a\":", 5, NULL, 7, &e) && strstr(e.msg, "line 7"), "bad JSON names the line");
    CHECK(!rec_from_json("[1]", 3, NULL, 1, &e), "JSON array is not a record");
    const char *oob = "{\"t\":{\"dtype\":\"u1\",\"shape\":[1],\"data\":[300]}}";
    CHECK(!rec_from_json(oob, strlen(oob), NULL, 1, &e) && strstr(e.msg, "out of range"), "u1 out of range");
    buf_free(&b);
    rec_destroy(&r);
}

/* ---------------------------------------------------------------- streams */

typedef struct {
    const char *spec;
    int n;
    int rc;
} wjob_t;

static void *writer_thread(void *arg) {
    wjob_t *j = arg;
    stream_opts_t o;
    stream_opts_default(&o, "test");
    o.timeout_ms = 5000;
    lerr_t e = {0};
    wstream_t *w = wstream_open(j->spec, &o, &e);
    j->rc = w ? 0 : -1;
    for (int i = 0; w && i < j->n; i++) {
        rec_t *r = sample(100 + i);
        rec_set_int(r, "i", i);
        if (wstream_write(w, r, &e)) j->rc = -1;
        rec_destroy(&r);
    }
    if (w && wstream_close(&w, &e)) j->rc = -1;
    return NULL;
}

static int read_all(const char *spec, int *count, buf_t *concat) {
    stream_opts_t o;
    stream_opts_default(&o, "test");
    o.timeout_ms = 5000;
    lerr_t e = {0};
    rstream_t *r = rstream_open(spec, &o, &e);
    if (!r) return -1;
    rec_t *x;
    int rc;
    *count = 0;
    while ((rc = rstream_read(r, &x, &e)) == 1) {
        rec_encode(x, concat);
        rec_destroy(&x);
        (*count)++;
    }
    if (rc < 0) printf("# read %s: %s\n", spec, e.msg);
    rstream_destroy(&r);
    return rc;
}

static void test_streams(void) {
    char dir[] = "/tmp/llada-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char plain[128], lz[128], ipc[160];
    snprintf(plain, sizeof plain, "%s/a.mp", dir);
    snprintf(lz, sizeof lz, "%s/a.mp.lz4", dir);
    snprintf(ipc, sizeof ipc, "ipc://%s/sock", dir);
    const int N = 50;
    buf_t ref = {0}, got = {0};
    int n;
    wjob_t j = {plain, N, 0};
    writer_thread(&j);
    CHECK(j.rc == 0 && read_all(plain, &n, &ref) == 0 && n == N, "plain file round trip (%d records)", n);
    j.spec = lz;
    writer_thread(&j);
    CHECK(j.rc == 0 && read_all(lz, &n, &got) == 0 && n == N, "lz4 file round trip");
    CHECK(got.len == ref.len && !memcmp(got.data, ref.data, ref.len), "lz4 records identical to plain");
    char tmpname[200];
    snprintf(tmpname, sizeof tmpname, "%s.tmp-%ld", lz, (long)getpid());
    CHECK(access(tmpname, F_OK) != 0, "no temporary file left behind");
    const char *eps[][2] = {
        {"@inproc://t1", ">inproc://t1"}, {NULL, NULL}, {"@tcp://127.0.0.1:39517", ">tcp://127.0.0.1:39517"}};
    char ipcb[170], ipcc[170];
    snprintf(ipcb, sizeof ipcb, "@%s", ipc);
    snprintf(ipcc, sizeof ipcc, ">%s", ipc);
    eps[1][0] = ipcb;
    eps[1][1] = ipcc;
    for (int k = 0; k < 3; k++) {
        /* the reader binds first, the writer connects from a thread */
        stream_opts_t o;
        stream_opts_default(&o, "test");
        o.timeout_ms = 5000;
        lerr_t e = {0};
        rstream_t *r = rstream_open(eps[k][0], &o, &e);
        CHECK(r != NULL, "bind %s: %s", eps[k][0], e.msg);
        if (!r) continue;
        wjob_t wj = {eps[k][1], N, 0};
        pthread_t th;
        pthread_create(&th, NULL, writer_thread, &wj);
        buf_t sb = {0};
        rec_t *x;
        int rc, cnt = 0;
        while ((rc = rstream_read(r, &x, &e)) == 1) {
            rec_encode(x, &sb);
            rec_destroy(&x);
            cnt++;
        }
        pthread_join(th, NULL);
        CHECK(rc == 0 && cnt == N && wj.rc == 0, "%s: %d records, rc %d (%s)", eps[k][0], cnt, rc, e.msg);
        CHECK(sb.len == ref.len && !memcmp(sb.data, ref.data, ref.len), "%s records identical to the file's",
              eps[k][0]);
        buf_free(&sb);
        rstream_destroy(&r);
    }
    /* a socket reader with no producer times out with a peer error */
    stream_opts_t o;
    stream_opts_default(&o, "test");
    o.timeout_ms = 200;
    lerr_t e = {0};
    rstream_t *r = rstream_open("@inproc://silent", &o, &e);
    rec_t *x;
    CHECK(r && rstream_read(r, &x, &e) == -1 && e.code == EXIT_PEER, "silent peer: exit 4 after timeout (%s)", e.msg);
    rstream_destroy(&r);
    /* truncated file */
    FILE *f = fopen(plain, "r+");
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fclose(f);
    CHECK(truncate(plain, sz - 40) == 0, "truncate");
    buf_t tb = {0};
    CHECK(read_all(plain, &n, &tb) == -1, "truncated file is an error");
    buf_free(&tb);
    buf_free(&ref);
    buf_free(&got);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    stream_zmq_shutdown();
}

static int mp_write_cb(void *data, const char *p, size_t n) { return buf_append(data, p, n); }

/* A record of n keys "k0000000".."k{n-1}" packed by msgpack-c (the reference encoder);
 * dup_of >= 0: key n-1... replaced, i.e. key `dup_at` repeats key `dup_of`. */
static void pack_keys(buf_t *b, size_t n, long dup_at, long dup_of) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, mp_write_cb);
    msgpack_pack_map(&pk, n);
    for (size_t i = 0; i < n; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%07zu", (long)i == dup_at ? (size_t)dup_of : i);
        msgpack_pack_str_with_body(&pk, k, strlen(k));
        msgpack_pack_int(&pk, (int)(i & 127));
    }
}

/* Key comparisons (rec_key_compares) made decoding a record of n keys (msgpack, or its JSON
 * line when json); UINT64_MAX if it does not decode to n fields. */
static uint64_t decode_compares(size_t n, bool json, const rec_limits_t *lim) {
    buf_t b = {0}, j = {0};
    pack_keys(&b, n, -1, -1);
    lerr_t e = {0};
    rec_t *r = rec_decode(b.data, b.len, lim, 0, &e);
    if (json && r) rec_to_json(r, &j);
    rec_destroy(&r);
    uint64_t c0 = rec_key_compares();
    r = json ? rec_from_json((const char *)j.data, j.len - 1, lim, 1, &e) : rec_decode(b.data, b.len, lim, 0, &e);
    uint64_t c = rec_key_compares() - c0;
    if (!r || rec_nfields(r) != n) c = UINT64_MAX;
    rec_destroy(&r);
    buf_free(&b);
    buf_free(&j);
    return c;
}

/* A bound on key comparisons for n keys that a sort (n log2 n, twice over for qsort's
 * merge/quick sort) meets and a per-key search (n^2 / 2: 2e10 for 200,000 keys) breaks by
 * three orders of magnitude. */
static uint64_t nlogn_bound(size_t n) {
    uint64_t lg = 1;
    while (((size_t)1 << lg) < n) lg++;
    return 2 * (uint64_t)n * (lg + 2);
}

/* issue 18 item 2: decoding is not quadratic in the number of keys, duplicates are still found
 * (and reported at the repeat's offset), and --max-keys caps maps apart from --max-array. */
static void test_many_keys(void) {
    rec_limits_t lim = REC_LIMITS_DEFAULT;
    lim.max_map_keys = 1 << 20;
    lerr_t e = {0};
    buf_t b = {0};
    size_t n = 200000;
    /* The old per-key search needed 9-13 s for 48,000 keys, so minutes for 200,000 (both the
     * msgpack and the JSON path). Counted, not timed, so a loaded machine cannot fail it: the
     * old code made n^2/2 = 2e10 key comparisons here, a sort makes n log n (JSON: jansson's
     * hash table checks duplicates, our code must add no lookups). */
    for (int json = 0; json < 2; json++) {
        uint64_t c = decode_compares(n, json, &lim);
        CHECK(c <= nlogn_bound(n), "%s: 200,000 keys decode with %llu key comparisons (<= %llu)",
              json ? "JSON" : "msgpack", (unsigned long long)c, (unsigned long long)nlogn_bound(n));
    }
    pack_keys(&b, n, -1, -1);
    rec_t *r = rec_decode(b.data, b.len, &lim, 0, &e);
    CHECK(r && rec_nfields(r) == n, "200,000 keys decode: %s", e.msg);
    int64_t v;
    CHECK(r && rec_get_int(r, "k0199999", &v) == 0 && v == 199999 % 128, "last key's value");
    /* the counter can fail: 2,000 keys set one by one with a lookup each (not append mode) */
    rec_t *q = rec_new();
    uint64_t c0 = rec_key_compares();
    for (size_t i = 0; q && i < 2000; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%07zu", i);
        rec_set_int(q, k, 1);
    }
    uint64_t qc = rec_key_compares() - c0;
    CHECK(q && qc >= 2000ull * 1999 / 2 && qc > nlogn_bound(2000),
          "the counter sees a per-key search: %llu comparisons for 2,000 lookups", (unsigned long long)qc);
    rec_destroy(&q);
    c0 = rec_key_compares();
    rec_t *d = r ? rec_dup(r) : NULL;
    uint64_t dc = rec_key_compares() - c0;
    CHECK(d && rec_nfields(d) == n && dc == 0, "rec_dup of 200,000 keys: %llu key comparisons (none)",
          (unsigned long long)dc);
    buf_t b2 = {0};
    CHECK(d && rec_encode(d, &b2) == 0 && b2.len == b.len && !memcmp(b2.data, b.data, b.len),
          "dup encodes identically");
    buf_t j = {0};
    c0 = rec_key_compares();
    CHECK(r && rec_to_json(r, &j) == 0 && rec_key_compares() == c0, "to JSON, with no key comparisons");
    rec_destroy(&d);
    rec_destroy(&r);
    buf_free(&j);
    buf_free(&b2);

    /* duplicates, small and large records: the first repeat is named at its own offset */
    for (size_t m = 3; m <= 3000; m *= 10) {
        b.len = 0;
        long at = (long)(m * 2 / 3), of = (long)(m / 3);
        pack_keys(&b, m, at, of);
        char want[64];
        snprintf(want, sizeof want, "duplicate key 'k%07ld'", of);
        e.code = 0;
        e.msg[0] = 0;
        r = rec_decode(b.data, b.len, &lim, 0, &e);
        CHECK(!r && e.code == EXIT_DATA && strstr(e.msg, want), "%zu keys with a repeat: %s", m, e.msg);
        /* the repeat's key starts at 1 (or 3) map-header bytes + at * (9 key + 1 value) bytes */
        size_t hdr = m < 16 ? 1 : m < 65536 ? 3 : 5, off = hdr + (size_t)at * 10;
        snprintf(want, sizeof want, "at byte %zu", off);
        CHECK(strstr(e.msg, want) != NULL, "repeat reported %s: %s", want, e.msg);
        rec_destroy(&r);
    }

    /* the default cap: 65,536 keys pass, 65,537 do not (with --max-array far above) */
    b.len = 0;
    pack_keys(&b, 65536, -1, -1);
    r = rec_decode(b.data, b.len, NULL, 0, &e);
    CHECK(r != NULL, "65,536 keys within the default --max-keys: %s", e.msg);
    rec_destroy(&r);
    b.len = 0;
    pack_keys(&b, 65537, -1, -1);
    r = rec_decode(b.data, b.len, NULL, 0, &e);
    CHECK(!r && strstr(e.msg, "--max-keys"), "65,537 keys refused by default: %s", e.msg);
    lim = REC_LIMITS_DEFAULT;
    lim.max_map_keys = 10;
    b.len = 0;
    pack_keys(&b, 11, -1, -1);
    r = rec_decode(b.data, b.len, &lim, 0, &e);
    CHECK(!r && strstr(e.msg, "map of 11 entries exceeds the limit of 10 (--max-keys)"), "cap 10: %s", e.msg);
    const char *js = "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":10,\"k\":11}";
    r = rec_from_json(js, strlen(js), &lim, 1, &e);
    CHECK(!r && strstr(e.msg, "--max-keys"), "JSON: 11 keys over a cap of 10: %s", e.msg);
    /* nested maps count against it too, arrays do not */
    const char *nest = "{\"m\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":10,\"k\":"
                       "11},\"a\":[1,2,3,4,5,6,7,8,9,10,11,12]}";
    r = rec_from_json(nest, strlen(nest), &lim, 1, &e);
    CHECK(!r && strstr(e.msg, "--max-keys"), "nested map over the cap: %s", e.msg);
    lim.max_map_keys = 11;
    r = rec_from_json(nest, strlen(nest), &lim, 1, &e);
    CHECK(r != NULL, "array of 12 under a key cap of 11: %s", e.msg);
    rec_destroy(&r);
    buf_free(&b);
}

/* Found by fuzz_record (issue 18 item 9): a JSON value shaped almost like a tensor was a user
 * value in rec_from_json but an error ("bad shape entry") in rec_decode of the same record
 * written as msgpack, so a record one tool accepted and wrote, the next refused. A map is a
 * tensor only with exactly the tensor keys and types; only then is a bad shape an error, and
 * the JSON reader stores object values the way the msgpack decoder would. */
static void test_tensor_lookalikes(void) {
    lerr_t e = {0};
    const char *lines[] = {
        /* the fuzzer's input, minimised by hand: "d`ta" is not "data" */
        "{\"x0\":{\"dtype\":\"i1\",\"shape\":[2.2],\"d`ta\":[1,2,3,4]}}",
        "{\"x0\":{\"dtype\":\"i1\",\"shape\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,"
        "28,29,30,31,32,33],\"x\":1}}",
        "{\"x0\":{\"dtype\":\"i1\",\"shape\":[[1],{\"a\":2}],\"y\":1}}",
        "{\"x0\":{\"dtype\":\"i1\",\"shape\":[-1],\"data\":{\"$bin\":\"00\"},\"more\":1}}",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        rec_t *r = rec_from_json(lines[i], strlen(lines[i]), NULL, 1, &e);
        buf_t a = {0}, b = {0};
        rec_t *d = r && !rec_encode(r, &a) ? rec_decode(a.data, a.len, NULL, 0, &e) : NULL;
        CHECK(d && !rec_is_tensor(d, "x0") && !rec_encode(d, &b) && a.len == b.len && !memcmp(a.data, b.data, a.len),
              "lookalike %zu: a user value through JSON, msgpack and back (%s)", i, e.msg);
        rec_destroy(&r);
        rec_destroy(&d);
        buf_free(&a);
        buf_free(&b);
    }
    /* a tensor map in msgpack form inside JSON ({"$bin": hex} is bin) is a tensor, as it will be
     * when decoded; with a bad shape it is refused here, not by the next tool */
    const char *bin = "{\"x\":{\"dtype\":\"u1\",\"shape\":[2],\"data\":{\"$bin\":\"07ff\"}}}";
    rec_t *r = rec_from_json(bin, strlen(bin), NULL, 1, &e);
    tensor_t *t = r ? rec_tensor(r, "x") : NULL;
    CHECK(t && t->numel == 2 && ((uint8_t *)t->data)[1] == 0xff, "a msgpack-form tensor in JSON is a tensor (%s)",
          e.msg);
    rec_destroy(&r);
    const char *badbin = "{\"x\":{\"dtype\":\"u1\",\"shape\":[2.5],\"data\":{\"$bin\":\"07ff\"}}}";
    e.code = 0;
    r = rec_from_json(badbin, strlen(badbin), NULL, 1, &e);
    CHECK(!r && e.code == EXIT_DATA && strstr(e.msg, "line 1") && strstr(e.msg, "bad shape"),
          "a msgpack-form tensor with a bad shape: %s", e.msg);
    rec_destroy(&r);
    /* the msgpack side: {"dtype": "i1", "shape": [2.5], "other": 1} is a user value; with
     * "data" (bin) in place of "other" it is a tensor with a bad shape */
    const uint8_t look[] = {0x81, 0xa1, 'x', 0x83, 0xa5, 'd',  't', 'y',  'p',  'e',  0xa2, 'i',
                            '1',  0xa5, 's', 'h',  'a',  'p',  'e', 0x91, 0xcb, 0x40, 0x04, 0,
                            0,    0,    0,   0,    0,    0xa5, 'o', 't',  'h',  'e',  'r',  0x01};
    r = rec_decode(look, sizeof look, NULL, 0, &e);
    CHECK(r && !rec_is_tensor(r, "x"), "msgpack lookalike decodes as a user value: %s", r ? "" : e.msg);
    rec_destroy(&r);
    uint8_t real[sizeof look + 1];
    memcpy(real, look, 29);
    const uint8_t data[] = {0xa4, 'd', 'a', 't', 'a', 0xc4, 0x01, 0x05};
    memcpy(real + 29, data, sizeof data);
    CHECK(decode_fails(real, 29 + sizeof data, NULL, "bad shape entry at byte 20", &e), "tensor with a float shape: %s",
          e.msg);
}

/* Found by fuzz_record (issue 18 item 9): a nested map whose key is not a string is shown in
 * JSON under its JSON text as key; that text was cut to 63 bytes, inside a UTF-8 sequence,
 * and jansson refused the key, so rec_to_json (rec --json) failed on a record rec_decode had
 * accepted. The key is now kept whole. */
static void test_json_long_nonstring_key(void) {
    buf_t b = {0}, j = {0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, mp_write_cb);
    char s[81];
    for (int i = 0; i < 40; i++) memcpy(s + 2 * i, "\xc3\xa9", 2); /* 40 x U+00E9: 80 bytes */
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "m", 1);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_map(&pk, 1); /* the key: {"s": s} */
    msgpack_pack_str_with_body(&pk, "s", 1);
    msgpack_pack_str_with_body(&pk, s, 80);
    msgpack_pack_int(&pk, 7);
    lerr_t e = {0};
    rec_t *r = rec_decode(b.data, b.len, NULL, 0, &e);
    s[80] = 0;
    char want[160];
    snprintf(want, sizeof want, "{\"m\":{\"{\\\"s\\\":\\\"%s\\\"}\":7}}\n", s);
    CHECK(r && rec_to_json(r, &j) == 0 && j.len == strlen(want) && !memcmp(j.data, want, j.len),
          "a long non-string key in JSON: whole (%.*s)", (int)j.len, j.data ? (const char *)j.data : "");
    rec_destroy(&r);
    buf_free(&b);
    buf_free(&j);
}

/* Found by fuzz_record (a 532-byte input that took ~7.5 s of CPU, tests/fuzz/corpus/record/
 * regress-slow-*): a chain of maps keyed by maps, {"m": {K1: 7}} with K1 = {K2: 7}, ...,
 * KD = {"q": 7}. Each non-string key was shown under its JSON text, which holds the escaped
 * text of the key inside it, escaped once more per level: the JSON view grew 2^D (22 levels:
 * 94 MB from a 292-byte record). A key inside a key is now shown as "$mp:<hex of its msgpack
 * bytes>", so the view stays within a constant factor of the record. */
static void pack_key_chain(buf_t *b, int depth) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, mp_write_cb);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "m", 1);
    for (int i = 0; i <= depth; i++) msgpack_pack_map(&pk, 1); /* M, K1 .. KD */
    msgpack_pack_str_with_body(&pk, "q", 1);
    for (int i = 0; i <= depth; i++) msgpack_pack_int(&pk, 7);
}

static void test_json_nested_nonstring_keys(void) {
    /* the form, with the hex from msgpack-c's bytes of K2 = {"q": 7} */
    buf_t b = {0}, j = {0}, k2 = {0};
    pack_key_chain(&b, 2);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &k2, mp_write_cb);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "q", 1);
    msgpack_pack_int(&pk, 7);
    char hex[64] = "", want[160];
    for (size_t i = 0; i < k2.len; i++) sprintf(hex + 2 * i, "%02x", k2.data[i]);
    snprintf(want, sizeof want, "{\"m\":{\"{\\\"$mp:%s\\\":7}\":7}}\n", hex);
    lerr_t e = {0};
    rec_t *r = rec_decode(b.data, b.len, NULL, 0, &e);
    CHECK(r && rec_to_json(r, &j) == 0 && j.len == strlen(want) && !memcmp(j.data, want, j.len),
          "a key inside a key in JSON: $mp hex (%.*s, want %s)", (int)j.len, j.data ? (const char *)j.data : "", want);
    rec_destroy(&r);
    buf_free(&b);
    buf_free(&j);
    buf_free(&k2);

    /* the size: at most 16 bytes of JSON per record byte at every depth up to the default
     * limit (32 levels: the record and M take 2) */
    for (int depth = 1; depth <= 30; depth++) {
        pack_key_chain(&b, depth);
        r = rec_decode(b.data, b.len, NULL, 0, &e);
        int rc = r ? rec_to_json(r, &j) : -1;
        rec_t *back = rc == 0 ? rec_from_json((const char *)j.data, j.len - 1, NULL, 1, &e) : NULL;
        bool ok = r && rc == 0 && j.len <= 16 * b.len + 64 && back && rec_nfields(back) == 1;
        CHECK(ok, "depth %d: %zu record bytes -> %zu JSON bytes (bound %zu), reads back", depth, b.len, j.len,
              16 * b.len + 64);
        rec_destroy(&back);
        rec_destroy(&r);
        buf_free(&b);
        buf_free(&j);
        if (!ok) break; /* grown 2^depth: stop before it is huge */
    }
}

int main(void) {
    test_json_long_nonstring_key();
    test_json_nested_nonstring_keys();
    test_roundtrip();
    test_tensor_lookalikes();
    test_bad_input();
    test_many_keys();
    test_streams();
    return TEST_SUMMARY();
}
