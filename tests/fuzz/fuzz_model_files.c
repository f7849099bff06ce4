/* fuzz_model_files.c — libFuzzer target for the checkpoint readers: the safetensors reader
 * (model/safetensors.c, through st_open on a memfd holding the input) and the LLaDA
 * config.json parser (model/llada.c). The first input byte picks the reader (even:
 * safetensors, odd: config.json), the rest is the file. Accepted safetensors files must have
 * every tensor inside the mapping with nbytes = numel x itemsize; accepted configs must
 * serialise and parse back to the same values. Never a crash, leak or out-of-bounds read
 * (ASan + UBSan). Build: make fuzz; run: tests/fuzz/run.sh.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "model/model.h"
#include "model/safetensors.h"

static size_t itemsize(const char *dt) {
    static const struct {
        const char *n;
        size_t s;
    } T[] = {{"F64", 8}, {"F32", 4},  {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},     {"I16", 2},    {"I8", 1},
             {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4},  {"U64", 8}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (!strcmp(T[i].n, dt)) return T[i].s;
    return 0;
}

static void fuzz_safetensors(const uint8_t *d, size_t n) {
    int fd = memfd_create("st", 0);
    if (fd < 0) return;
    if (n && write(fd, d, n) != (ssize_t)n) {
        close(fd);
        return;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    lerr_t e = {0};
    st_file_t *f = st_open(path, &e);
    if (!f && !e.msg[0]) abort(); /* a refusal says why */
    if (f) {
        const uint8_t *lo = f->map, *hi = lo + f->map_len;
        for (int i = 0; i < f->n; i++) {
            const st_tensor_t *t = &f->t[i];
            size_t numel = 1, is = itemsize(t->dtype);
            for (int k = 0; k < t->ndim; k++) numel *= (size_t)t->shape[k];
            if (is && t->nbytes != numel * is) abort();
            if (t->nbytes && ((const uint8_t *)t->data < lo || (const uint8_t *)t->data + t->nbytes > hi)) abort();
            if (st_find(f, t->name) == NULL) abort();
            volatile uint8_t sink = 0; /* touch the first and last byte: inside the mapping */
            if (t->nbytes) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
            (void)sink;
        }
        st_close(&f);
    }
    close(fd);
}

static void fuzz_config(const uint8_t *d, size_t n) {
    llada_config_t c, c2;
    lerr_t e = {0};
    llada_config_default(&c);
    if (llada_config_parse(&c, (const char *)d, n, &e)) {
        if (!e.msg[0]) abort();
        return;
    }
    char *js = llada_config_to_json(&c);
    if (!js) return;
    llada_config_default(&c2);
    lerr_t e2 = {0};
    if (llada_config_parse(&c2, js, strlen(js), &e2)) abort(); /* what we write we read */
    if (c2.d_model != c.d_model || c2.n_layers != c.n_layers || c2.n_heads != c.n_heads ||
        c2.vocab_size != c.vocab_size)
        abort();
    free(js);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    if (d[0] & 1) fuzz_config(d + 1, n - 1);
    else fuzz_safetensors(d + 1, n - 1);
    return 0;
}
