/* attention.c — bidirectional multi-head attention with a key padding mask and
 * grouped-query heads, as LLaDA computes it: softmax(q·kᵀ/sqrt(hd) + bias)·v where
 * bias is a huge negative number on padding keys; optionally causal (query i sees keys
 * j <= i only: an AR checkpoint run by denoise --causal). The fast path runs heads in parallel on
 * the kernel threads, each doing its two products with single-threaded sgemm (per-head
 * products are too small to split well), a tile of ATT_ROWS query rows at a time so the
 * tile's scores stay in L2 between the two products and the softmax (a whole L x L score
 * matrix is 4 MB at L = 1024); each thread's tile lives in the caller's scratch
 * (attention_scratch_floats), so a call allocates nothing. attention_rows is the same for
 * a subset of query rows against all L keys (the KV-cache steps of denoise --cache: the
 * block's queries against the cached canvas keys). attention_ref / attention_rows_ref are
 * the plain double-precision loops the tests compare to. */
#include <math.h>
#include <float.h>
#include <stdlib.h>
#include <cblas.h>
#include "kernels.h"
#include "blas_env.h"

#define ATT_ROWS 64 /* query rows per tile: 64 x L scores = 256 KB at L = 1024 */

/* Scores of `rows` queries r0.. -> probabilities in place (row-wise, keys masked by `keep`;
 * causal: keys after the query too, and the query's own key is never hidden, so a padding
 * query, whose earlier keys are all padding, still has one key). */
static void masked_softmax(float *s, int r0, int rows, int L, const uint8_t *keep, int causal) {
    for (int i = 0; (keep || causal) && i < rows; i++) {
        float *r = s + (size_t)i * L;
        int q = r0 + i;
        for (int j = 0; keep && j < L; j++)
            if (!keep[j] && !(causal && j == q)) r[j] = -INFINITY;
        for (int j = q + 1; causal && j < L; j++) r[j] = -INFINITY;
    }
    softmax_rows(s, rows, L);
}

typedef struct {
    float *out, *scratch, *probs_out;
    const float *q, *k, *v;
    const uint8_t *keep;
    int Lq, L, Hq, Hkv, hd, nthreads; /* Lq query rows against L keys */
    int causal;                       /* query row i sees keys j <= i only (Lq == L) */
    size_t tile;                      /* floats of one thread's score tile */
} att_job_t;

static int tile_rows(int L) { return L < ATT_ROWS ? L : ATT_ROWS; }

size_t attention_scratch_floats(int L, int Hq) {
    KERN_ASSERT(L >= 0 && Hq > 0);
    return (size_t)(Hq < KERN_MAX_THREADS ? Hq : KERN_MAX_THREADS) * tile_rows(L) * L;
}

/* Head h, tile by tile. p: ATT_ROWS x L scratch, or with probs_out head h's Lq x L block. */
static void one_head(const att_job_t *j, int h, float *p) {
    int group = j->Hq / j->Hkv, qs = j->Hq * j->hd, ks = j->Hkv * j->hd, kh = h / group, L = j->L;
    float scale = 1.0f / sqrtf((float)j->hd);
    for (int r0 = 0; r0 < j->Lq; r0 += ATT_ROWS) {
        int m = j->Lq - r0 < ATT_ROWS ? j->Lq - r0 : ATT_ROWS;
        float *pt = j->probs_out ? p + (size_t)r0 * L : p;
        kgemm_nt(m, L, j->hd, scale, j->q + (size_t)r0 * qs + (size_t)h * j->hd, qs, j->k + (size_t)kh * j->hd, ks,
                 0.0f, pt, L);
        masked_softmax(pt, r0, m, L, j->keep, j->causal);
        kgemm_nn(m, j->hd, L, 1.0f, pt, L, j->v + (size_t)kh * j->hd, ks, 0.0f,
                 j->out + (size_t)r0 * qs + (size_t)h * j->hd, qs);
    }
}

/* Thread t handles heads t, t+nt, ... with its own score buffer. */
static void head_worker(int t, void *arg) {
    const att_job_t *j = arg;
    for (int h = t; h < j->Hq; h += j->nthreads) {
        float *p = j->probs_out ? j->probs_out + (size_t)h * j->Lq * j->L : j->scratch + (size_t)t * j->tile;
        one_head(j, h, p);
    }
}

static void attention_any(float *out, const float *q, int Lq, const float *k, const float *v, int L, int Hq, int Hkv,
                          int hd, const uint8_t *keep, int causal, float *att, float *probs_out) {
    KERN_ASSERT(L >= 0 && Lq >= 0 && Lq <= L && hd > 0 && Hq > 0 && Hkv > 0 && Hq % Hkv == 0);
    KERN_ASSERT(!causal || Lq == L);
    KERN_ASSERT(out && q && k && v && (att || probs_out));
    int nt = kern_threads() < Hq ? kern_threads() : Hq; /* <= KERN_MAX_THREADS: scratch fits */
    att_job_t j = {out, att, probs_out, q, k, v, keep, Lq, L, Hq, Hkv, hd, 1, causal != 0, (size_t)tile_rows(L) * L};
    if (nt <= 1) { /* sequential, BLAS threads inside */
        head_worker(0, &j);
        return;
    }
    j.nthreads = nt;
    int bt = blas_get_threads();
    blas_set_threads(1);
    kern_parallel_for(nt, head_worker, &j);
    blas_set_threads(bt);
}

void attention(float *out, const float *q, const float *k, const float *v, int L, int Hq, int Hkv, int hd,
               const uint8_t *keep, int causal, float *att, float *probs_out) {
    attention_any(out, q, L, k, v, L, Hq, Hkv, hd, keep, causal, att, probs_out);
}

void attention_rows(float *out, const float *q, int Lq, const float *k, const float *v, int L, int Hq, int Hkv, int hd,
                    const uint8_t *keep, float *att) {
    KERN_ASSERT(att);
    attention_any(out, q, Lq, k, v, L, Hq, Hkv, hd, keep, 0, att, NULL);
}

/* The plain loops: Lq query rows against L keys (causal only with Lq == L). */
static void attention_ref_any(float *out, const float *q, int Lq, const float *k, const float *v, int L, int Hq,
                              int Hkv, int hd, const uint8_t *keep, int causal) {
    KERN_ASSERT(L >= 0 && Lq >= 0 && hd > 0 && Hq > 0 && Hkv > 0 && Hq % Hkv == 0);
    KERN_ASSERT(!causal || Lq == L);
    int group = Hq / Hkv, qs = Hq * hd, ks = Hkv * hd;
    double scale = 1.0 / sqrt((double)hd);
    double w[L > 0 ? L : 1];
    for (int h = 0; h < Hq; h++) {
        int kh = h / group;
        for (int i = 0; i < Lq; i++) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < L; j++) {
                double s = 0;
                for (int d = 0; d < hd; d++)
                    s += (double)q[(size_t)i * qs + h * hd + d] * k[(size_t)j * ks + kh * hd + d];
                s *= scale;
                if (keep && !keep[j] && !(causal && j == i)) s += -FLT_MAX; /* LLaDA: finfo(float32).min bias */
                if (causal && j > i) s = -INFINITY;
                w[j] = s;
                if (s > mx) mx = s;
            }
            for (int j = 0; j < L; j++) {
                w[j] = exp(w[j] - mx);
                sum += w[j];
            }
            for (int d = 0; d < hd; d++) {
                double o = 0;
                for (int j = 0; j < L; j++) o += w[j] * v[(size_t)j * ks + kh * hd + d];
                out[(size_t)i * qs + h * hd + d] = (float)(o / sum);
            }
        }
    }
}

void attention_ref(float *out, const float *q, const float *k, const float *v, int L, int Hq, int Hkv, int hd,
                   const uint8_t *keep, int causal) {
    attention_ref_any(out, q, L, k, v, L, Hq, Hkv, hd, keep, causal);
}

void attention_rows_ref(float *out, const float *q, int Lq, const float *k, const float *v, int L, int Hq, int Hkv,
                        int hd, const uint8_t *keep) {
    attention_ref_any(out, q, Lq, k, v, L, Hq, Hkv, hd, keep, 0);
}
