/* fuzz_record.c — libFuzzer target for the record decoder and the JSON view.
 *
 * Feeds arbitrary bytes to the scanner + decoder (as a stream of back-to-back records, the
 * way rstream frames them) and, for inputs that decode, checks that encode -> decode is a
 * fixed point, that the shuffle filter (REC_ENC_SHUFFLE) decodes back to the same record, and
 * that the JSON view round-trips. Build: make fuzz; run: tests/fuzz/run.sh.
 */
#include <stdlib.h>
#include <string.h>
#include "record.h"

static const rec_limits_t LIM = {1 << 20, 4096, 32, 4096};

static void roundtrip(rec_t *r) {
    buf_t a = {0}, b = {0}, j = {0};
    if (rec_encode(r, &a)) abort();
    lerr_t e;
    rec_t *d = rec_decode(a.data, a.len, NULL, 0, &e);
    if (!d) abort();
    if (rec_encode(d, &b) || a.len != b.len || memcmp(a.data, b.data, a.len)) abort();
    buf_t s = {0}, u = {0};
    if (rec_encode_ex(d, &s, REC_ENC_SHUFFLE)) abort();
    rec_t *ds = rec_decode(s.data, s.len, NULL, 0, &e);
    if (!ds || rec_encode(ds, &u) || u.len != a.len || memcmp(u.data, a.data, a.len)) abort();
    rec_destroy(&ds);
    buf_free(&s);
    buf_free(&u);
    if (rec_to_json(d, &j)) abort();
    rec_t *dj = rec_from_json((const char *)j.data, j.len - 1, NULL, 1, &e);
    if (dj) rec_destroy(&dj); /* non-UTF-8 keys may not survive JSON; that must not crash */
    rec_destroy(&d);
    buf_free(&a);
    buf_free(&b);
    buf_free(&j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t off = 0;
    while (off < size) {
        lerr_t e;
        long n = mp_scan(data + off, size - off, &LIM, off, &e);
        if (n <= 0) break;
        rec_t *r = rec_decode(data + off, (size_t)n, &LIM, off, &e);
        if (r) {
            roundtrip(r);
            rec_destroy(&r);
        }
        off += (size_t)n;
    }
    /* the same bytes as a JSON line */
    lerr_t e;
    rec_t *r = rec_from_json((const char *)data, size, &LIM, 1, &e);
    if (r) {
        roundtrip(r);
        rec_destroy(&r);
    }
    return 0;
}
