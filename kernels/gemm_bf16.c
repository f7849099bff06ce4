/* gemm_bf16.c — a general bf16 GEMM with fp32 accumulation on oneDNN's matmul, for the
 * training step of `train --precision bf16` (kernels.h "bf16 GEMM for training"). Unlike
 * gemm_dnnl.c's packs (weights fixed at load), both operands change every call here (weights
 * are updated every optimiser step), so operands stay in plain row-major layouts, optionally
 * transposed ("ba" tags: oneDNN copies them into its blocked form inside the primitive).
 * Primitives are cached per shape (M, N, K, transposes, accumulate) in a small LRU table (a
 * training step uses a few dozen distinct shapes); a mutex serialises calls. The primitives
 * use one scratchpad buffer kept here (oneDNN's own would be allocated and freed around every
 * call: a page fault storm on large shapes). oneDNN's run-time
 * dispatch picks AMX, AVX512-BF16 (here: brg:avx512_core_bf16) or an AVX-512 emulation.
 * oneDNN is loaded with dlopen on first use (dnnl_env.c). gemm_bf16_ref is the plain reference
 * (double sums of the same bf16 inputs) that tests/unit/test_gemm_bf16.c compares against. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>
#include "kernels.h"
#include "simd512.h"

/* The same rounding 16 at a time with AVX-512 integer ops, or VCVTNEPS2BF16 on AVX512-BF16
 * (simd512.h: the same bits either way). */
__attribute__((target("avx512f,avx512bw"))) static void round_avx512(uint16_t *b, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm256_storeu_si256((__m256i *)(b + i), bf16_round16(_mm512_loadu_ps(x + i)));
    for (; i < n; i++) b[i] = f32_to_bf16(x[i]);
}

__attribute__((target("avx512f,avx512bw,avx512bf16"))) static void round_avx512bf16(uint16_t *b, const float *x,
                                                                                    size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm256_storeu_si256((__m256i *)(b + i), bf16_round16_hw(_mm512_loadu_ps(x + i)));
    for (; i < n; i++) b[i] = f32_to_bf16(x[i]);
}

void bf16_round_n(uint16_t *restrict b, const float *restrict x, size_t n) {
    static int avx512 = -1;
    if (avx512 < 0) {
        avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
        if (avx512 && __builtin_cpu_supports("avx512bf16")) avx512 = 2;
    }
    if (avx512) {
        (avx512 == 2 ? round_avx512bf16 : round_avx512)(b, x, n);
        return;
    }
    /* branch-free f32_to_bf16 (round to nearest even, NaN kept quiet), so it vectorises */
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, q = (u >> 16) | 0x40u;
        b[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? q : r);
    }
}

void gemm_bf16_ref(float *C, const uint16_t *A, const uint16_t *B, int M, int N, int K, bool ta, bool tb,
                   bool accumulate) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                uint16_t a = ta ? A[(size_t)k * M + m] : A[(size_t)m * K + k];
                uint16_t b = tb ? B[(size_t)n * K + k] : B[(size_t)k * N + n];
                s += (double)bf16_to_f32(a) * bf16_to_f32(b);
            }
            float *c = &C[(size_t)m * N + n];
            *c = (float)(s + (accumulate ? *c : 0));
        }
}

void gemm_bf16_batched_ref(float *C, const uint16_t *A, const uint16_t *B, const gemm_bf16_shape_t *g,
                           bool accumulate) {
    for (int64_t i0 = 0; i0 < g->batch[0]; i0++)
        for (int64_t i1 = 0; i1 < g->batch[1]; i1++)
            for (int m = 0; m < g->M; m++)
                for (int n = 0; n < g->N; n++) {
                    const uint16_t *a = A + i0 * g->sa[0] + i1 * g->sa[1] + m * g->sa[2];
                    const uint16_t *b = B + i0 * g->sb[0] + i1 * g->sb[1] + n * g->sb[3];
                    double sum = 0;
                    for (int k = 0; k < g->K; k++)
                        sum += (double)bf16_to_f32(a[k * g->sa[3]]) * bf16_to_f32(b[k * g->sb[2]]);
                    float *c = C + i0 * g->sc[0] + i1 * g->sc[1] + m * g->sc[2] + n * g->sc[3];
                    *c = (float)(sum + (accumulate ? *c : 0));
                }
}

/* The 2-D product as a shape: batch 1 x 1, strides of dense (transposed) operands. */
static gemm_bf16_shape_t shape_2d(int M, int N, int K, bool ta, bool tb) {
    return (gemm_bf16_shape_t){{1, 1},
                               M,
                               N,
                               K,
                               {0, 0, ta ? 1 : K, ta ? M : 1},
                               {0, 0, tb ? 1 : N, tb ? K : 1},
                               {0, 0, N, 1}};
}

#ifdef LLADA_DNNL
#include <pthread.h>
#include "dnnl_env.h"

enum { GB_SLOTS = 48 };

typedef struct {
    gemm_bf16_shape_t g; /* g.M == 0: empty */
    bool acc, cb16;      /* accumulate; C in bf16 */
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c, sp;
    size_t sp_bytes;
    unsigned long used;
    char impl[48];
} gb_slot_t;

static const dnnl_env_t *D;
static dnnl_engine_t g_eng;
static dnnl_stream_t g_stream;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static bool g_ok;
static char g_err[300];
static gb_slot_t g_slot[GB_SLOTS];
static unsigned long g_tick;
static int g_threads = 1;
static char g_last_impl[48];
static void *g_sp;          /* the shared scratchpad */
static size_t g_sp_bytes;

static void init_engine(void) {
    if (!(D = dnnl_env())) {
        snprintf(g_err, sizeof g_err, "%s", dnnl_env_error());
        return;
    }
    g_ok = D->dnnl_engine_create(&g_eng, dnnl_cpu, 0) == dnnl_success &&
           D->dnnl_stream_create(&g_stream, g_eng, dnnl_stream_default_flags) == dnnl_success;
    if (!g_ok) snprintf(g_err, sizeof g_err, "oneDNN could not create its CPU engine");
}

bool gemm_bf16_available(void) {
    pthread_once(&g_once, init_engine);
    return g_ok;
}

const char *gemm_bf16_unavailable(void) { return gemm_bf16_available() ? "" : g_err; }

void gemm_bf16_set_threads(int n) { g_threads = n > 0 ? n : 1; }

const char *gemm_bf16_impl(void) { return g_last_impl; }

static void slot_clear(gb_slot_t *s) {
    if (s->prim) D->dnnl_primitive_destroy(s->prim);
    if (s->a) D->dnnl_memory_destroy(s->a);
    if (s->b) D->dnnl_memory_destroy(s->b);
    if (s->c) D->dnnl_memory_destroy(s->c);
    if (s->sp) D->dnnl_memory_destroy(s->sp);
    memset(s, 0, sizeof *s);
}

/* Create the primitive of slot s for its shape and acc: 2-D descriptors for batch 1 x 1,
 * 4-D ones otherwise, all by strides. */
static bool slot_make(gb_slot_t *s) {
    const gemm_bf16_shape_t *g = &s->g;
    int nd = g->batch[0] == 1 && g->batch[1] == 1 ? 2 : 4, o = 4 - nd;
    dnnl_dims_t ad = {g->batch[0], g->batch[1], g->M, g->K}, bd = {g->batch[0], g->batch[1], g->K, g->N},
                cd = {g->batch[0], g->batch[1], g->M, g->N}, as, bs, cs;
    for (int i = 0; i < 4; i++) as[i] = g->sa[i], bs[i] = g->sb[i], cs[i] = g->sc[i];
    dnnl_memory_desc_t amd, bmd, cmd;
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    bool ok = false;
    if (D->dnnl_memory_desc_init_by_strides(&amd, nd, ad + o, dnnl_bf16, as + o) ||
        D->dnnl_memory_desc_init_by_strides(&bmd, nd, bd + o, dnnl_bf16, bs + o) ||
        D->dnnl_memory_desc_init_by_strides(&cmd, nd, cd + o, s->cb16 ? dnnl_bf16 : dnnl_f32, cs + o) ||
        D->dnnl_matmul_desc_init(&md, &amd, &bmd, NULL, &cmd) || D->dnnl_primitive_attr_create(&attr))
        return false;
    if (D->dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) goto out;
    if (s->acc && (D->dnnl_post_ops_create(&po) || D->dnnl_post_ops_append_sum(po, 1.0f) ||
                   D->dnnl_primitive_attr_set_post_ops(attr, po)))
        goto out;
    if (D->dnnl_primitive_desc_create(&pd, &md, attr, g_eng, NULL)) {
        pd = NULL;
        goto out;
    }
    const char *impl = "";
    D->dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(s->impl, sizeof s->impl, "%s", impl);
    ok = D->dnnl_primitive_create(&s->prim, pd) == dnnl_success &&
         D->dnnl_memory_create(&s->a, &amd, g_eng, DNNL_MEMORY_NONE) == dnnl_success &&
         D->dnnl_memory_create(&s->b, &bmd, g_eng, DNNL_MEMORY_NONE) == dnnl_success &&
         D->dnnl_memory_create(&s->c, &cmd, g_eng, DNNL_MEMORY_NONE) == dnnl_success;
    const dnnl_memory_desc_t *spmd = D->dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    s->sp_bytes = spmd ? D->dnnl_memory_desc_get_size(spmd) : 0;
    if (ok && s->sp_bytes) ok = D->dnnl_memory_create(&s->sp, spmd, g_eng, DNNL_MEMORY_NONE) == dnnl_success;
out:
    if (pd) D->dnnl_primitive_desc_destroy(pd);
    if (po) D->dnnl_post_ops_destroy(po);
    D->dnnl_primitive_attr_destroy(attr);
    return ok;
}

/* Field by field: the struct has padding after K, which callers' compound literals leave
 * unspecified, so memcmp missed cached shapes (a new primitive, and an evicted one, per miss). */
static bool same_shape(const gemm_bf16_shape_t *a, const gemm_bf16_shape_t *b) {
    return a->M == b->M && a->N == b->N && a->K == b->K && !memcmp(a->batch, b->batch, sizeof a->batch) &&
           !memcmp(a->sa, b->sa, sizeof a->sa) && !memcmp(a->sb, b->sb, sizeof a->sb) &&
           !memcmp(a->sc, b->sc, sizeof a->sc);
}

/* C (fp32, or bf16 with cb16) for gemm_bf16_batched and gemm_bf16_batched_b16. */
static int run(void *C, bool cb16, const uint16_t *A, const uint16_t *B, const gemm_bf16_shape_t *g, bool accumulate) {
    KERN_ASSERT(C && A && B && g && g->M >= 0 && g->N > 0 && g->K > 0 && g->batch[0] > 0 && g->batch[1] > 0);
    if (g->M == 0) return 0;
    if (!gemm_bf16_available()) return -1;
    pthread_mutex_lock(&g_mu);
    gb_slot_t *s = NULL, *lru = &g_slot[0];
    for (int i = 0; i < GB_SLOTS && !s; i++) {
        gb_slot_t *t = &g_slot[i];
        if (t->g.M && t->acc == accumulate && t->cb16 == cb16 && same_shape(&t->g, g)) s = t;
        else if (t->used < lru->used) lru = t;
    }
    if (!s) {
        slot_clear(lru);
        *lru = (gb_slot_t){.g = *g, .acc = accumulate, .cb16 = cb16};
        if (!slot_make(lru)) {
            slot_clear(lru);
            pthread_mutex_unlock(&g_mu);
            return -1;
        }
        s = lru;
    }
    if (s->sp_bytes > g_sp_bytes) { /* grow the shared scratchpad */
        free(g_sp);
        g_sp_bytes = 0;
        if (!(g_sp = aligned_alloc(64, (s->sp_bytes + 63) & ~(size_t)63))) {
            pthread_mutex_unlock(&g_mu);
            return -1;
        }
        g_sp_bytes = s->sp_bytes;
    }
    s->used = ++g_tick;
    memcpy(g_last_impl, s->impl, sizeof g_last_impl);
    if (D->omp_set_num_threads) D->omp_set_num_threads(g_threads);
    D->dnnl_memory_set_data_handle(s->a, (void *)A);
    D->dnnl_memory_set_data_handle(s->b, (void *)B);
    D->dnnl_memory_set_data_handle(s->c, C);
    if (s->sp) D->dnnl_memory_set_data_handle(s->sp, g_sp);
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, s->a}, {DNNL_ARG_WEIGHTS, s->b}, {DNNL_ARG_DST, s->c}, {DNNL_ARG_SCRATCHPAD, s->sp}};
    int rc = D->dnnl_primitive_execute(s->prim, g_stream, s->sp ? 4 : 3, args) || D->dnnl_stream_wait(g_stream) ? -1 : 0;
    pthread_mutex_unlock(&g_mu);
    return rc;
}

int gemm_bf16_batched(float *C, const uint16_t *A, const uint16_t *B, const gemm_bf16_shape_t *g, bool accumulate) {
    return run(C, false, A, B, g, accumulate);
}

int gemm_bf16_batched_b16(uint16_t *C, const uint16_t *A, const uint16_t *B, const gemm_bf16_shape_t *g) {
    return run(C, true, A, B, g, false);
}

int gemm_bf16(float *C, const uint16_t *A, const uint16_t *B, int M, int N, int K, bool ta, bool tb,
              bool accumulate) {
    KERN_ASSERT(C && A && B && M >= 0 && N > 0 && K > 0);
    gemm_bf16_shape_t g = shape_2d(M, N, K, ta, tb);
    return gemm_bf16_batched(C, A, B, &g, accumulate);
}

#else /* built without oneDNN */

bool gemm_bf16_available(void) { return false; }
const char *gemm_bf16_unavailable(void) { return "this build lacks oneDNN (rebuild with libdnnl-dev installed)"; }
void gemm_bf16_set_threads(int n) { (void)n; }
const char *gemm_bf16_impl(void) { return "none"; }
int gemm_bf16_batched_b16(uint16_t *C, const uint16_t *A, const uint16_t *B, const gemm_bf16_shape_t *g) {
    (void)C;
    (void)A;
    (void)B;
    (void)g;
    return -1;
}
int gemm_bf16_batched(float *C, const uint16_t *A, const uint16_t *B, const gemm_bf16_shape_t *g, bool accumulate) {
    (void)C;
    (void)A;
    (void)B;
    (void)g;
    (void)accumulate;
    return -1;
}
int gemm_bf16(float *C, const uint16_t *A, const uint16_t *B, int M, int N, int K, bool ta, bool tb,
              bool accumulate) {
    (void)shape_2d;
    (void)C;
    (void)A;
    (void)B;
    (void)M;
    (void)N;
    (void)K;
    (void)ta;
    (void)tb;
    (void)accumulate;
    return -1;
}

#endif
