/* bench/tok_bench.c — tok's side of bench/tok.sh: load time of a tokenizer.json, then encode
 * and decode of a corpus, single thread, best of N repetitions. Prints one JSON line.
 * Times are CPU time of this process (the machines are shared; wall time is printed too).
 * "load_first_s" is the first load of the process (what a tool pays: fresh memory, and the
 * binary cache when $LLADA_TOK_CACHE allows it); "load_s" the best of the repetitions.
 * With corpus "-": only the first load (bench/tok_load.sh's library side). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "tok/tokenizer.h"

static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: tok_bench tokenizer.json corpus [reps]\n");
        return 2;
    }
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    lerr_t e = {0};
    if (!strcmp(argv[2], "-")) {
        double c0 = cpu(), w0 = wall();
        tokenizer_t *t = tok_load_file(argv[1], &e);
        double c = cpu() - c0, w = wall() - w0;
        if (!t) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        printf("{\"load_first_s\": %.6f, \"wall_load_first_s\": %.6f, \"n_ids\": %d}\n", c, w, (int)tok_n_ids(t));
        tok_destroy(&t);
        return 0;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 3;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc(n + 1);
    if (!text || fread(text, 1, n, f) != (size_t)n) {
        fprintf(stderr, "read error\n");
        return 3;
    }
    fclose(f);
    double best_load = 1e9, best_enc = 1e9, best_dec = 1e9, wl = 0, we = 0, wd = 0, first_load = 0;
    tokenizer_t *t = NULL;
    for (int r = 0; r < reps; r++) {
        tok_destroy(&t);
        double c0 = cpu(), w0 = wall();
        if (!(t = tok_load_file(argv[1], &e))) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        if (!r) first_load = cpu() - c0;
        if (cpu() - c0 < best_load) {
            best_load = cpu() - c0;
            wl = wall() - w0;
        }
    }
    tok_ids_t ids = {0};
    tok_str_t out = {0};
    double best_fresh = 1e9;
    for (int r = 0; r < 2 * reps; r++) {
        /* a fresh tokenizer each time (no warm piece cache); even rounds also encode into a new
         * id vector (what a process pays for its output's first touch), odd ones reuse one */
        tok_ids_t fresh = {0}, *o = r & 1 ? &ids : &fresh;
        ids.n = 0;
        tok_destroy(&t);
        t = tok_load_file(argv[1], &e);
        double c0 = cpu(), w0 = wall();
        if (tok_encode(t, text, n, 0, o, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        double c = cpu() - c0;
        if (!(r & 1)) {
            if (c < best_fresh) best_fresh = c;
            tok_ids_free(&fresh);
        } else if (c < best_enc) {
            best_enc = c;
            we = wall() - w0;
        }
    }
    for (int r = 0; r < reps * 5; r++) {
        out.n = 0;
        double c0 = cpu(), w0 = wall();
        if (tok_decode(t, ids.v, ids.n, 0, &out, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        if (cpu() - c0 < best_dec) {
            best_dec = cpu() - c0;
            wd = wall() - w0;
        }
    }
    printf("{\"bytes\": %ld, \"tokens\": %zu, \"load_s\": %.6f, \"load_first_s\": %.6f, \"encode_s\": %.6f, "
           "\"encode_fresh_s\": %.6f, \"decode_s\": %.6f, "
           "\"decoded_bytes\": %zu, \"wall_load_s\": %.6f, \"wall_encode_s\": %.6f, \"wall_decode_s\": %.6f}\n",
           n, ids.n, best_load, first_load, best_enc, best_fresh, best_dec, out.n, wl, we, wd);
    tok_ids_free(&ids);
    tok_str_free(&out);
    tok_destroy(&t);
    free(text);
    return 0;
}
