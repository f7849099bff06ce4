/* fuzz_gguf.c — libFuzzer target for the GGUF reader (model/gguf.c) and what model_load does
 * with a parsed file before the forward pass (model/gguf_source.c): metadata -> config, every
 * tensor found under its family name (Q/K un-permuted). Any input must give a result or one
 * error, never a crash, leak or out-of-bounds read (ASan/UBSan). Every value and tensor byte
 * range the reader accepts is touched, so a range it validated wrongly shows up as a read past
 * libFuzzer's exactly-sized buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/family.h"
#include "model/gguf.h"
#include "model/source.h"

static volatile uint64_t g_sink;

static void touch(const void *p, size_t n) {
    const uint8_t *b = p;
    if (n) g_sink += b[0] + b[n - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lerr_t e = {0};
    gguf_file_t *f = gguf_parse(data, size, "fuzz.gguf", &e);
    if (!f) {
        if (!e.code || !e.msg[0] || strchr(e.msg, '\n')) abort(); /* one line, with a code */
        return 0;
    }
    for (int64_t i = 0; i < f->nkv; i++) {
        const gguf_kv_t *kv = &f->kv[i];
        if (kv->type == GGUF_STRING) touch(kv->v.str.s, kv->v.str.len);
        if (kv->type != GGUF_ARRAY) continue;
        for (uint64_t j = 0; j < kv->arr_n; j++) {
            if (kv->arr_type == GGUF_STRING) {
                gguf_str_t s = gguf_arr_str(kv, j);
                touch(s.s, s.len);
            } else {
                double v = gguf_arr_num(kv, j);
                uint64_t bits;
                memcpy(&bits, &v, 8);
                g_sink += bits;
            }
            /* (the bits: converting a negative or NaN double to an integer is undefined) */
        }
    }
    for (int64_t i = 0; i < f->nt; i++) touch(f->t[i].data, f->t[i].nbytes);
    llada_config_t c;
    const model_family_t *fam = NULL;
    if (gguf_model_config(f, &c, &fam, &e) || c.n_layers > 64) {
        gguf_close(&f);
        return 0;
    }
    model_source_t src;
    if (gguf_source_open(&src, f, &c, &e)) return 0;
    for (int i = 0; i < src.count(src.ctx); i++) {
        model_tview_t t;
        if (src.find(src.ctx, src.name_at(src.ctx, i), &t, &e) == 1) touch(t.data, t.nbytes);
    }
    src.close(src.ctx);
    return 0;
}
