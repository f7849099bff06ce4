/* fuzz_tokenizer.c — libFuzzer target for the tokenizer.json loader (tok/load.c and what it
 * builds: normalizers, pre-tokenizers, BPE/added tokens, decoders). Arbitrary bytes as a
 * tokenizer.json: refused with a message, or accepted and then usable: a fixed text encodes to
 * non-negative ids (or fails with a message), and those ids decode without error.
 * Never a crash, leak or out-of-bounds read (ASan + UBSan). Build: make fuzz; run:
 * tests/fuzz/run.sh.
 */
#include <stdlib.h>
#include <string.h>
#include "tok/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    lerr_t e = {0};
    tokenizer_t *t = tok_load_json((const char *)d, n, &e);
    if (!t) {
        if (!e.msg[0]) abort();
        return 0;
    }
    static const char text[] = "Hello, world! 123 \xc3\xa9t\xc3\xa9 <|eot_id|>\n\tx";
    tok_ids_t ids = {0};
    tok_str_t s = {0};
    lerr_t e2 = {0};
    if (tok_encode(t, text, sizeof text - 1, 0, &ids, &e2) == 0) {
        for (size_t i = 0; i < ids.n; i++)
            if (ids.v[i] < 0) abort();
        if (tok_decode(t, ids.v, ids.n, 0, &s, &e2)) abort();
    } else if (!e2.msg[0]) abort();
    tok_ids_free(&ids);
    tok_str_free(&s);
    tok_destroy(&t);
    return 0;
}
