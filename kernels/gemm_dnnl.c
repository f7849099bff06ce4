/* gemm_dnnl.c — the reduced-precision GEMMs of denoise --precision on oneDNN (Debian
 * libdnnl-dev; kernels.h "reduced-precision GEMMs"). A kpack_t holds one weight matrix W [N][K]
 * prepacked once, at load, into the layout oneDNN's matmul picks for it (the layout depends on
 * N, K and the data types only, not on the number of rows M, so one pack serves every call):
 *   KPREC_BF16: W in bf16; each call rounds x to bf16 and runs the bf16 x bf16 -> f32 matmul
 *               (fp32 accumulation; AMX / AVX512-BF16 / AVX-512 by oneDNN's run-time dispatch);
 *   KPREC_INT8: W quantised per output row (quant_row_s8, scales kept), each call quantises x
 *               per row, runs s8 x s8 -> s32 (VNNI / AMX-int8) and scales y = acc * sx * sw.
 * Primitives are created per (M, accumulate) and kept in a small per-pack table (oneDNN's own
 * primitive cache makes a re-creation cheap too); a mutex guards a pack's table, so a pack may
 * be shared by threads. oneDNN is not linked: dnnl_env.c loads it with dlopen on the first
 * kpack_available() / kpack_new(), so runs without --precision never load it. Built without
 * oneDNN's header (no LLADA_DNNL), or with libdnnl missing at run time, kpack_new returns
 * NULL and kpack_available() is false (kpack_unavailable() says why). oneDNN threads with
 * OpenMP: kpack_matmul asks for kern_threads() of them. kpack_in_prepare converts an
 * activation matrix once (bf16, or int8 + row scales, in the thread's KERN_SCRATCH_SPLIT
 * buffer) for every pack that reads it (Q/K/V, gate/up); kpack_matmul_in runs a pack on it
 * (int8's int32 sums in KERN_SCRATCH_QUANT). The plain references are in prec_ref.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

#ifdef LLADA_DNNL
#include <pthread.h>
#include "dnnl_env.h"

enum { KP_SLOTS = 8 };

typedef struct {
    int M; /* 0: empty */
    bool acc;
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst;
    unsigned long used;
} kp_slot_t;

struct kpack {
    int prec, N, K;
    dnnl_memory_desc_t wmd; /* the packed layout */
    void *w;                /* packed weights */
    float *sw;              /* int8: per-row scales [N] */
    kp_slot_t slot[KP_SLOTS];
    unsigned long tick;
    pthread_mutex_t mu;
    char impl[64];
};

static dnnl_engine_t g_eng;
static dnnl_stream_t g_stream;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_ok;
static const dnnl_env_t *D; /* oneDNN, loaded by init_engine */
static char g_err[300];

static void init_engine(void) {
    if (!(D = dnnl_env())) {
        snprintf(g_err, sizeof g_err, "%s", dnnl_env_error());
        return;
    }
    g_ok = D->dnnl_engine_create(&g_eng, dnnl_cpu, 0) == dnnl_success &&
           D->dnnl_stream_create(&g_stream, g_eng, dnnl_stream_default_flags) == dnnl_success;
    if (!g_ok) snprintf(g_err, sizeof g_err, "oneDNN could not create its CPU engine");
}

bool kpack_available(void) {
    pthread_once(&g_once, init_engine);
    return g_ok;
}

const char *kpack_unavailable(void) { return kpack_available() ? "" : g_err; }

static dnnl_data_type_t src_dt(int prec) { return prec == KPREC_BF16 ? dnnl_bf16 : dnnl_s8; }
static dnnl_data_type_t dst_dt(int prec) { return prec == KPREC_BF16 ? dnnl_f32 : dnnl_s32; }

/* A matmul primitive desc for M rows (weights in `wmd`, or format any when NULL). */
static dnnl_primitive_desc_t make_pd(const kpack_t *P, int M, bool acc, const dnnl_memory_desc_t *wmd) {
    dnnl_dims_t sd = {M, P->K}, wd = {P->K, P->N}, dd = {M, P->N};
    dnnl_memory_desc_t smd, any, dmd;
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (D->dnnl_memory_desc_init_by_tag(&smd, 2, sd, src_dt(P->prec), dnnl_ab) ||
        D->dnnl_memory_desc_init_by_tag(&any, 2, wd, src_dt(P->prec), dnnl_format_tag_any) ||
        D->dnnl_memory_desc_init_by_tag(&dmd, 2, dd, dst_dt(P->prec), dnnl_ab) ||
        D->dnnl_matmul_desc_init(&md, &smd, wmd ? wmd : &any, NULL, &dmd) || D->dnnl_primitive_attr_create(&attr))
        return NULL;
    if (acc && P->prec == KPREC_BF16) { /* int8 accumulates in the scaling pass instead */
        if (D->dnnl_post_ops_create(&po) || D->dnnl_post_ops_append_sum(po, 1.0f) ||
            D->dnnl_primitive_attr_set_post_ops(attr, po))
            goto out;
    }
    if (D->dnnl_primitive_desc_create(&pd, &md, attr, g_eng, NULL)) pd = NULL;
out:
    if (po) D->dnnl_post_ops_destroy(po);
    D->dnnl_primitive_attr_destroy(attr);
    return pd;
}

static void slot_clear(kp_slot_t *s) {
    if (s->prim) D->dnnl_primitive_destroy(s->prim);
    if (s->src) D->dnnl_memory_destroy(s->src);
    if (s->wei) D->dnnl_memory_destroy(s->wei);
    if (s->dst) D->dnnl_memory_destroy(s->dst);
    memset(s, 0, sizeof *s);
}

/* The slot for (M, acc), created on first use (least recently used one replaced). */
static kp_slot_t *get_slot(kpack_t *P, int M, bool acc) {
    kp_slot_t *s = NULL, *lru = &P->slot[0];
    for (int i = 0; i < KP_SLOTS && !s; i++) {
        if (P->slot[i].M == M && P->slot[i].acc == acc) s = &P->slot[i];
        else if (P->slot[i].used < lru->used) lru = &P->slot[i];
    }
    if (!s) {
        slot_clear(lru);
        dnnl_primitive_desc_t pd = make_pd(P, M, acc, &P->wmd);
        if (!pd) return NULL;
        const dnnl_memory_desc_t *smd = D->dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
                                 *dmd = D->dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
        bool ok = D->dnnl_primitive_create(&lru->prim, pd) == dnnl_success &&
                  D->dnnl_memory_create(&lru->src, smd, g_eng, DNNL_MEMORY_NONE) == dnnl_success &&
                  D->dnnl_memory_create(&lru->wei, &P->wmd, g_eng, P->w) == dnnl_success &&
                  D->dnnl_memory_create(&lru->dst, dmd, g_eng, DNNL_MEMORY_NONE) == dnnl_success;
        D->dnnl_primitive_desc_destroy(pd);
        if (!ok) {
            slot_clear(lru);
            return NULL;
        }
        lru->M = M;
        lru->acc = acc;
        s = lru;
    }
    s->used = ++P->tick;
    return s;
}

kpack_t *kpack_new(const wtensor_t *W, int prec) {
    KERN_ASSERT_WEIGHT(W);
    KERN_ASSERT(prec == KPREC_BF16 || prec == KPREC_INT8);
    if (!kpack_available()) return NULL;
    kpack_t *P = calloc(1, sizeof *P);
    if (!P) return NULL;
    P->prec = prec;
    P->N = (int)W->rows;
    P->K = (int)W->cols;
    pthread_mutex_init(&P->mu, NULL);
    size_t N = P->N, K = P->K;
    dnnl_primitive_desc_t pd = make_pd(P, 64, false, NULL);
    void *plain = NULL;
    dnnl_memory_desc_t pmd;
    dnnl_memory_t pm = NULL, wm = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t rp = NULL;
    if (!pd) goto fail;
    const char *impl = "";
    D->dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(P->impl, sizeof P->impl, "%s", impl);
    P->wmd = *D->dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    D->dnnl_primitive_desc_destroy(pd);
    /* W [N][K] row-major is the matmul's weights [K][N] in format "ba" */
    dnnl_dims_t wd = {P->K, P->N};
    if (D->dnnl_memory_desc_init_by_tag(&pmd, 2, wd, src_dt(prec), dnnl_ba)) goto fail;
    if (!(P->w = aligned_alloc(64, (D->dnnl_memory_desc_get_size(&P->wmd) + 63) & ~(size_t)63))) goto fail;
    const void *src = NULL; /* the reorder's source: W itself when it is bf16, else `plain` */
    if (prec == KPREC_BF16 && W->type == WT_BF16) src = W->data; /* no transient copy of W */
    else if (prec == KPREC_BF16) {
        uint16_t *b = plain = malloc(N * K * 2);
        float *row = malloc(K * sizeof *row);
        if (!b || !row) {
            free(row);
            goto fail;
        }
        for (size_t n = 0; n < N; n++) {
            wconvert_f32(row, (const char *)W->data + n * wtype_bytes(W->type, K), W->type, K);
            for (size_t k = 0; k < K; k++) b[n * K + k] = f32_to_bf16(row[k]);
        }
        free(row);
    } else {
        int8_t *q = plain = malloc(N * K);
        float *row = malloc(K * sizeof *row);
        if (!q || !row || !(P->sw = malloc(N * sizeof *P->sw))) {
            free(row);
            goto fail;
        }
        for (size_t n = 0; n < N; n++) {
            wconvert_f32(row, (const char *)W->data + n * wtype_bytes(W->type, K), W->type, K);
            P->sw[n] = quant_row_s8(q + n * K, row, (int)K);
        }
        free(row);
    }
    if (D->dnnl_memory_create(&pm, &pmd, g_eng, (void *)(src ? src : plain)) ||
        D->dnnl_memory_create(&wm, &P->wmd, g_eng, P->w) ||
        D->dnnl_reorder_primitive_desc_create(&rpd, &pmd, g_eng, &P->wmd, g_eng, NULL) ||
        D->dnnl_primitive_create(&rp, rpd))
        goto fail;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, pm}, {DNNL_ARG_TO, wm}};
    if (D->dnnl_primitive_execute(rp, g_stream, 2, args) || D->dnnl_stream_wait(g_stream)) goto fail;
    D->dnnl_primitive_destroy(rp);
    D->dnnl_primitive_desc_destroy(rpd);
    D->dnnl_memory_destroy(pm);
    D->dnnl_memory_destroy(wm);
    free(plain);
    return P;
fail:
    if (rp) D->dnnl_primitive_destroy(rp);
    if (rpd) D->dnnl_primitive_desc_destroy(rpd);
    if (pm) D->dnnl_memory_destroy(pm);
    if (wm) D->dnnl_memory_destroy(wm);
    free(plain);
    kpack_free(&P);
    return NULL;
}

void kpack_free(kpack_t **pp) {
    kpack_t *P = pp ? *pp : NULL;
    if (!P) return;
    for (int i = 0; i < KP_SLOTS; i++) slot_clear(&P->slot[i]);
    pthread_mutex_destroy(&P->mu);
    free(P->w);
    free(P->sw);
    free(P);
    *pp = NULL;
}

size_t kpack_bytes(const kpack_t *P) {
    return D->dnnl_memory_desc_get_size(&P->wmd) + (P->sw ? (size_t)P->N * sizeof(float) : 0);
}
const char *kpack_impl(const kpack_t *P) { return P->impl; }

typedef struct {
    const float *x;
    int8_t *q;
    float *sx;
    int K;
} qjob_t;

static void quant_one(int m, void *arg) {
    qjob_t *j = arg;
    j->sx[m] = quant_row_s8(j->q + (size_t)m * j->K, j->x + (size_t)m * j->K, j->K);
}

typedef struct {
    float *y;
    const int32_t *acc;
    const float *sx, *sw;
    int N;
    bool accumulate;
} sjob_t;

static void scale_one(int m, void *arg) {
    sjob_t *j = arg;
    float *y = j->y + (size_t)m * j->N, sx = j->sx[m];
    const int32_t *a = j->acc + (size_t)m * j->N;
    if (j->accumulate)
        for (int n = 0; n < j->N; n++) y[n] += (float)a[n] * sx * j->sw[n];
    else
        for (int n = 0; n < j->N; n++) y[n] = (float)a[n] * sx * j->sw[n];
}

/* f32_to_bf16 over n values, branch-free so the compiler vectorises it (same bits: round to
 * nearest even, NaN kept quiet). */
static void to_bf16(uint16_t *restrict b, const float *restrict x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, q = (u >> 16) | 0x40u;
        b[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? q : r);
    }
}

int kpack_in_prepare(kpack_in_t *in, const float *x, int M, int K, int prec) {
    KERN_ASSERT(in && x && M >= 0 && K > 0 && (prec == KPREC_BF16 || prec == KPREC_INT8));
    *in = (kpack_in_t){prec, M, K, NULL, NULL};
    if (M == 0) return 0;
    if (prec == KPREC_BF16) {
        uint16_t *b = kern_scratch(KERN_SCRATCH_SPLIT, (size_t)M * K * 2);
        if (!b) return -1;
        to_bf16(b, x, (size_t)M * K);
        in->src = b;
    } else {
        size_t qb = ((size_t)M * K + 63) & ~(size_t)63;
        char *buf = kern_scratch(KERN_SCRATCH_SPLIT, qb + (size_t)M * 4);
        if (!buf) return -1;
        qjob_t qj = {x, (int8_t *)buf, (float *)(buf + qb), K};
        kern_parallel_for(M, quant_one, &qj);
        in->src = buf;
        in->sx = qj.sx;
    }
    return 0;
}

int kpack_matmul_in(float *y, const kpack_in_t *in, kpack_t *P, bool accumulate) {
    KERN_ASSERT(y && in && P && in->prec == P->prec && in->K == P->K);
    int M = in->M;
    if (M == 0) return 0;
    int32_t *acc = NULL;
    if (P->prec == KPREC_INT8 && !(acc = kern_scratch(KERN_SCRATCH_QUANT, (size_t)M * P->N * 4))) return -1;
    pthread_mutex_lock(&P->mu);
    kp_slot_t *s = get_slot(P, M, accumulate && P->prec == KPREC_BF16);
    int rc = -1;
    if (s) {
        if (D->omp_set_num_threads) D->omp_set_num_threads(kern_threads());
        D->dnnl_memory_set_data_handle(s->src, (void *)in->src);
        D->dnnl_memory_set_data_handle(s->dst, acc ? (void *)acc : (void *)y);
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, s->src}, {DNNL_ARG_WEIGHTS, s->wei}, {DNNL_ARG_DST, s->dst}};
        rc = D->dnnl_primitive_execute(s->prim, g_stream, 3, args) || D->dnnl_stream_wait(g_stream) ? -1 : 0;
    }
    pthread_mutex_unlock(&P->mu);
    if (rc == 0 && acc) {
        sjob_t sj = {y, acc, in->sx, P->sw, P->N, accumulate};
        kern_parallel_for(M, scale_one, &sj);
    }
    return rc;
}

int kpack_matmul(float *y, const float *x, kpack_t *P, int M, bool accumulate) {
    KERN_ASSERT(y && x && P && M >= 0);
    kpack_in_t in;
    if (kpack_in_prepare(&in, x, M, P->K, P->prec)) return -1;
    return kpack_matmul_in(y, &in, P, accumulate);
}

#else /* built without oneDNN */

bool kpack_available(void) { return false; }
const char *kpack_unavailable(void) { return "this build lacks oneDNN (rebuild with libdnnl-dev installed)"; }
kpack_t *kpack_new(const wtensor_t *W, int prec) {
    (void)W;
    (void)prec;
    return NULL;
}
void kpack_free(kpack_t **pp) {
    if (pp) *pp = NULL;
}
size_t kpack_bytes(const kpack_t *P) {
    (void)P;
    return 0;
}
const char *kpack_impl(const kpack_t *P) {
    (void)P;
    return "none";
}
int kpack_matmul(float *y, const float *x, kpack_t *P, int M, bool accumulate) {
    (void)y;
    (void)x;
    (void)P;
    (void)M;
    (void)accumulate;
    return -1;
}
int kpack_in_prepare(kpack_in_t *in, const float *x, int M, int K, int prec) {
    (void)in;
    (void)x;
    (void)M;
    (void)K;
    (void)prec;
    return -1;
}
int kpack_matmul_in(float *y, const kpack_in_t *in, kpack_t *P, bool accumulate) {
    (void)y;
    (void)in;
    (void)P;
    (void)accumulate;
    return -1;
}

#endif
