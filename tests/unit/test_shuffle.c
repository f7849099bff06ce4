/* test_shuffle.c — the byte-shuffle filter: fast paths against the plain loops for element
 * sizes 1, 2, 4, 8 and every length around the 16-element SIMD blocks; records written with
 * REC_ENC_SHUFFLE (checked with msgpack-c as the reference decoder: 4-key tensor map, the
 * planes in "data"), decoding back to the same record, and bad filters refused; and mask's
 * bitmap (AVX-512 path) against a plain loop. */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include "mask/records.h"
#include "record.h"
#include "shuffle.h"
#include "testlib.h"

static void test_paths(void) {
    size_t sizes[] = {1, 2, 4, 8};
    int bad = 0, runs = 0;
    for (size_t si = 0; si < 4; si++)
        for (size_t n = 0; n <= 70; n++) {
            size_t es = sizes[si], nb = n * es;
            uint8_t *src = malloc(nb + 1), *a = malloc(nb + 1), *b = malloc(nb + 1), *c = malloc(nb + 1);
            for (size_t i = 0; i < nb; i++) src[i] = (uint8_t)(i * 131 + n * 7 + 3);
            shuffle_bytes(a, src, n, es);
            shuffle_bytes_ref(b, src, n, es);
            unshuffle_bytes(c, a, n, es);
            bad += nb && (memcmp(a, b, nb) || memcmp(c, src, nb));
            unshuffle_bytes_ref(c, b, n, es);
            bad += nb && memcmp(c, src, nb);
            runs++;
            free(src);
            free(a);
            free(b);
            free(c);
        }
    CHECK(bad == 0, "shuffle/unshuffle equal the reference and invert (%d of %d cases differ)", bad, runs);
    /* the layout itself: planes of low bytes first */
    int32_t v[16];
    for (int i = 0; i < 16; i++) v[i] = 0x04030201 + i * 0x01010101;
    uint8_t p[64];
    shuffle_bytes(p, (const uint8_t *)v, 16, 4);
    CHECK(p[0] == 0x01 && p[15] == 0x10 && p[16] == 0x02 && p[48] == 0x04 && p[63] == 0x13,
          "byte planes, low byte first");
}

static void test_records(void) {
    enum { N = 1000 };
    rec_t *r = rec_new();
    rec_set_str(r, "kind", "masked");
    int32_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = (i * 7919) % 126464;
    rec_set_i32(r, "x0", ids, N);
    uint8_t small[5] = {1, 2, 3, 4, 5};
    rec_set_u8(r, "mask", small, 5);
    int32_t few[3] = {7, 8, 9};
    rec_set_i32(r, "prompt", few, 3);
    buf_t plain = {0}, sh = {0};
    CHECK(rec_encode(r, &plain) == 0 && rec_encode_ex(r, &sh, REC_ENC_SHUFFLE) == 0, "encode both ways");
    CHECK(sh.len == plain.len + 15, "shuffled adds only the filter key (%zu vs %zu bytes)", sh.len, plain.len);

    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    CHECK(msgpack_unpack_next(&u, (const char *)sh.data, sh.len, &off) == MSGPACK_UNPACK_SUCCESS && off == sh.len,
          "msgpack-c parses the shuffled record");
    msgpack_object x0 = u.data.via.map.ptr[1].val, mk = u.data.via.map.ptr[2].val, pr = u.data.via.map.ptr[3].val;
    CHECK(x0.type == MSGPACK_OBJECT_MAP && x0.via.map.size == 4, "i4 tensor of 1000 is a 4-key map");
    CHECK(mk.via.map.size == 3 && pr.via.map.size == 3, "u1 tensors and tensors under 16 elements stay unfiltered");
    const char *filter = NULL;
    size_t fl = 0;
    const uint8_t *data = NULL;
    for (uint32_t i = 0; i < x0.via.map.size; i++) {
        msgpack_object_kv kv = x0.via.map.ptr[i];
        if (kv.key.via.str.size == 6 && !memcmp(kv.key.via.str.ptr, "filter", 6)) {
            filter = kv.val.via.str.ptr;
            fl = kv.val.via.str.size;
        }
        if (kv.key.via.str.size == 4 && !memcmp(kv.key.via.str.ptr, "data", 4))
            data = (const uint8_t *)kv.val.via.bin.ptr;
    }
    CHECK(filter && fl == 7 && !memcmp(filter, "shuffle", 7), "filter is \"shuffle\"");
    int planes_ok = data != NULL;
    for (int i = 0; data && i < N; i++)
        for (int k = 0; k < 4; k++) planes_ok &= data[k * N + i] == ((uint32_t)ids[i] >> (8 * k) & 0xff);
    CHECK(planes_ok, "data holds the byte planes of the ids");
    msgpack_unpacked_destroy(&u);

    lerr_t e = {0};
    rec_t *d = rec_decode(sh.data, sh.len, NULL, 0, &e);
    buf_t again = {0};
    CHECK(d && rec_encode(d, &again) == 0 && again.len == plain.len && !memcmp(again.data, plain.data, plain.len),
          "decoding the shuffled record gives the plain one back: %s", e.msg);

    /* a filter we do not know is an error naming it; "filter" in a 3-key map is not a tensor */
    size_t at = 0;
    for (size_t i = 0; i + 7 <= sh.len; i++)
        if (!memcmp(sh.data + i, "shuffle", 7)) {
            at = i;
            break;
        }
    CHECK(at > 0, "found the filter value");
    sh.data[at] = 'X';
    rec_t *bad = rec_decode(sh.data, sh.len, NULL, 0, &e);
    CHECK(!bad && e.code == EXIT_DATA && strstr(e.msg, "unknown filter 'Xhuffle'"), "unknown filter refused: %s",
          e.msg);
    const uint8_t three[] = {0x81, 0xa1, 't',  0x83, 0xa6, 'f', 'i', 'l',  't',  'e',  'r', 0xa7,
                             's',  'h',  'u',  'f',  'f',  'l', 'e', 0xa5, 's',  'h',  'a', 'p',
                             'e',  0x91, 0x01, 0xa4, 'd',  'a', 't', 'a',  0xc4, 0x01, 9};
    rec_t *raw = rec_decode(three, sizeof three, NULL, 0, &e);
    CHECK(raw && !rec_is_tensor(raw, "t"), "a map with filter but no dtype passes through as a plain map");
    rec_destroy(&raw);
    rec_destroy(&bad);
    rec_destroy(&d);
    rec_destroy(&r);
    buf_free(&plain);
    buf_free(&sh);
    buf_free(&again);
}

static void test_bitmap(void) {
    int bad = 0;
    for (size_t n = 0; n <= 100; n++) {
        int32_t *xt = malloc((n + 1) * sizeof *xt);
        for (size_t i = 0; i < n; i++) xt[i] = (i * 2654435761u >> 7) % 3 ? 17 : 4092;
        uint8_t got[16], want[16];
        memset(got, 0xee, sizeof got);
        memset(want, 0, sizeof want);
        for (size_t i = 0; i < n; i++) want[i / 8] |= (uint8_t)((xt[i] == 4092) << (i % 8));
        mask_bitmap(xt, n, 4092, got);
        bad += memcmp(got, want, (n + 7) / 8) != 0;
        bad += got[(n + 7) / 8] != 0xee; /* nothing written past the last byte */
        free(xt);
    }
    CHECK(bad == 0, "mask_bitmap equals the plain loop for n = 0..100 (%d differ)", bad);
}

int main(void) {
    test_paths();
    test_records();
    test_bitmap();
    return TEST_SUMMARY();
}
