/* attn_bench.c — the fused attention (attention_flash) against the tiled one (attention /
 * attention_rows: sgemm + masked softmax over 64 x L score tiles) in the same run, on one
 * thread: full-canvas attention (Lq = L), one tile of 64 queries (the unit both kernels work
 * in; short enough that the best of many runs escapes the neighbours on a shared machine:
 * its rate is the uncontended rate of the full call) and a cache step's band of 32 queries.
 * Usage: attn_bench HQ HKV HD L [reps]   One JSON line on stdout: best-of-reps seconds of
 * each kernel, GFLOP/s (4 L Lq hd Hq flops), and the largest relative difference of the two
 * outputs. bench/attn.sh runs it at canvases 256, 1024, 2048. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <math.h>
#include "kernels.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: attn_bench HQ HKV HD L [reps]\n");
        return 2;
    }
    int Hq = atoi(argv[1]), Hkv = atoi(argv[2]), hd = atoi(argv[3]), L = atoi(argv[4]),
        reps = argc > 5 ? atoi(argv[5]) : 3;
    if (Hq < 1 || Hkv < 1 || Hq % Hkv || hd < 1 || L < 32 || reps < 1) {
        fprintf(stderr, "attn_bench: error: bad shape\n");
        return 2;
    }
    kern_set_threads(1);
    size_t nq = (size_t)L * Hq * hd, nk = (size_t)L * Hkv * hd;
    float *q = malloc(4 * nq), *k = malloc(4 * nk), *v = malloc(4 * nk), *o1 = malloc(4 * nq), *o2 = malloc(4 * nq),
          *att = malloc(4 * attention_scratch_floats(L, Hq));
    uint8_t *keep = malloc(L);
    if (!q || !k || !v || !o1 || !o2 || !att || !keep) {
        fprintf(stderr, "attn_bench: error: out of memory\n");
        return 5;
    }
    unsigned s = 1;
    for (size_t i = 0; i < nq; i++) {
        s = s * 1103515245u + 12345u;
        q[i] = ((s >> 8) & 0xffff) / 16384.0f - 2;
    }
    for (size_t i = 0; i < nk; i++) {
        s = s * 1103515245u + 12345u;
        k[i] = ((s >> 8) & 0xffff) / 16384.0f - 2;
        s = s * 1103515245u + 12345u;
        v[i] = ((s >> 8) & 0xffff) / 32768.0f - 1;
    }
    for (int j = 0; j < L; j++) keep[j] = j >= 8; /* a few padding keys, as a left-padded batch row has */
    int band[3] = {L, 64, 32}; /* full canvas; one query tile (short: best of many, scaled to L); a cache step */
    printf("{\"Hq\":%d,\"Hkv\":%d,\"hd\":%d,\"L\":%d,\"isa\":%d", Hq, Hkv, hd, L, attention_flash_isa());
    static const char *const nm[3] = {"full", "tile", "band"};
    for (int b = 0; b < 3; b++) {
        int Lq = band[b];
        const float *qb = q + (size_t)(L - Lq) * Hq * hd;
        double tt = 1e30, tf = 1e30;
        int nr = b ? reps * 10 : reps;
        for (int r = -1; r < nr; r++) { /* r = -1: warm-up */
            double t0 = now_s();
            if (Lq == L) attention(o1, q, k, v, L, Hq, Hkv, hd, keep, 0, att, NULL);
            else attention_rows(o1, qb, Lq, k, v, L, Hq, Hkv, hd, keep, att);
            double t1 = now_s();
            attention_flash(o2, qb, Lq, k, v, L, Hq, Hkv, hd, keep);
            double t2 = now_s();
            if (r >= 0) {
                tt = fmin(tt, t1 - t0);
                tf = fmin(tf, t2 - t1);
            }
        }
        double m = 0, ref = 0;
        for (size_t i = 0; i < (size_t)Lq * Hq * hd; i++) {
            m = fmax(m, fabs(o1[i] - o2[i]));
            ref = fmax(ref, fabs(o1[i]));
        }
        double fl = 4.0 * L * Lq * hd * Hq;
        printf(",\"%s\":{\"Lq\":%d,\"tiled_s\":%.6f,\"flash_s\":%.6f,\"tiled_gflops\":%.2f,\"flash_gflops\":%.2f,\"max_"
               "rel\":%.3g}",
               nm[b], Lq, tt, tf, fl / tt * 1e-9, fl / tf * 1e-9, ref > 0 ? m / ref : m);
    }
    printf("}\n");
    free(q);
    free(k);
    free(v);
    free(o1);
    free(o2);
    free(att);
    free(keep);
    return 0;
}
