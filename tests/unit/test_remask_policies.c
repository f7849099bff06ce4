/* test_remask_policies.c — the policies beyond the paper (threshold, factor, topk_margin,
 * entropy, eb) on hand-built candidate sets whose answers were derived by hand from each
 * rule's definition (peers.md §2.1, §3; llada.md §4.5), plus randomized checks of the
 * defining properties by direct enumeration (no sorting), and the registry's name handling. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "testlib.h"
#include "remask/schedule.h"
#include "remask/remask.h"

static rm_cand_t C[64];
static int32_t OUT[64];

static void set(int n, const int *pos, const double *conf, const double *margin, const double *ent) {
    memset(C, 0, sizeof C);
    for (int i = 0; i < n; i++) {
        C[i].pos = pos ? pos[i] : i;
        C[i].token = 100 + i;
        C[i].conf = conf ? conf[i] : 0.5;
        C[i].prob = (float)C[i].conf;
        C[i].margin = margin ? (float)margin[i] : 0.f;
        C[i].entropy = ent ? (float)ent[i] : 1.f;
    }
}

/* Run `name` on C[0..n) with quota n_commit and compare with want[0..k). */
static void expect(const char *name, int n, int n_commit, const int *want, int k) {
    lerr_t e = {0};
    rm_policy_t *p = rm_policy_new(name, &e);
    CHECK(p != NULL, "%s: %s", name, e.msg);
    if (!p) return;
    rm_state_t st = {.seed = 1, .step = 0, .steps = 8, .n_commit = n_commit};
    int got = rm_policy_select(p, &st, C, n, OUT, &e);
    CHECK(got == k, "%s: committed %d, want %d", name, got, k);
    for (int i = 0; i < k && i < got; i++)
        CHECK(OUT[i] == want[i], "%s: out[%d] = %d, want %d", name, i, OUT[i], want[i]);
    rm_policy_destroy(&p);
    CHECK(p == NULL, "destroy NULLs");
}

static void test_threshold(void) {
    int pos[] = {3, 5, 7, 9, 11};
    double conf[] = {0.95, 0.5, 0.91, 0.95, 0.2};
    set(5, pos, conf, NULL, NULL);
    expect("threshold", 5, 1, (int[]){3, 9, 7}, 3);   /* >= 0.9, ties to lower pos */
    expect("threshold:0.95", 5, 1, (int[]){3, 9}, 2); /* >= is inclusive */
    expect("threshold:0.4", 5, 1, (int[]){3, 9, 7, 5}, 4);
    double low[] = {0.1, 0.3, 0.2};
    set(3, NULL, low, NULL, NULL);
    expect("threshold", 3, 2, (int[]){1}, 1); /* at least one: the max */
    expect("threshold:0", 3, 1, (int[]){1, 2, 0}, 3);
    expect("threshold", 0, 1, NULL, 0);
}

static void test_factor(void) {
    /* F = 1: the n-th best needs conf >= 1 - 1/(n+1): n=2 0.667, n=3 0.75, n=4 0.8 */
    double conf[] = {0.3, 0.9, 0.7, 0.79, 0.85};
    set(5, NULL, conf, NULL, NULL);
    expect("factor", 5, 1, (int[]){1, 4, 3}, 3);
    expect("factor:1", 5, 1, (int[]){1, 4, 3}, 3);
    /* F = 0: every threshold is 1, only exact certainty joins the first */
    double c2[] = {0.999, 1.0, 1.0};
    set(3, NULL, c2, NULL, NULL);
    expect("factor:0", 3, 1, (int[]){1, 2}, 2);
    /* F = 3: n=2 needs >= 0, n=3 >= 0.25 */
    double c3[] = {0.2, 0.1, 0.3};
    set(3, NULL, c3, NULL, NULL);
    expect("factor:3", 3, 1, (int[]){2, 0}, 2);
    /* stop at the first failure even if a later one would pass the looser bound: with F=1
     * sorted 0.9, 0.6 (needs .667: fails) -> only the first */
    double c4[] = {0.6, 0.9, 0.59};
    set(3, NULL, c4, NULL, NULL);
    expect("factor", 3, 1, (int[]){1}, 1);
}

static void test_dream_orders(void) {
    int pos[] = {2, 4, 6, 8};
    double margin[] = {0.1, 0.5, 0.5, 0.05};
    set(4, pos, NULL, margin, NULL);
    expect("topk_margin", 4, 2, (int[]){4, 6}, 2);
    expect("topk_margin", 4, 3, (int[]){4, 6, 2}, 3);
    expect("topk_margin", 4, 10, (int[]){4, 6, 2, 8}, 4);
    expect("topk_margin", 4, 0, NULL, 0);
    int pos2[] = {1, 2, 3, 4};
    double ent[] = {2.0, 0.5, 1.0, 0.5};
    set(4, pos2, NULL, NULL, ent);
    expect("entropy", 4, 2, (int[]){2, 4}, 2);
    expect("entropy", 4, 3, (int[]){2, 4, 3}, 3);
}

static void test_eb(void) {
    /* ascending entropy: 0.05(4) 0.2(2) 0.3(0) 0.6(3) 0.9(1); prefix sum minus max:
     * k=2 0.05, k=3 0.25, k=4 0.55, k=5 1.15 */
    double ent[] = {0.3, 0.9, 0.2, 0.6, 0.05};
    set(5, NULL, NULL, NULL, ent);
    expect("eb:1", 5, 1, (int[]){4, 2, 0, 3}, 4);
    expect("eb:0.2", 5, 1, (int[]){4, 2}, 2);
    expect("eb:0", 5, 1, (int[]){4}, 1);
    expect("eb:2", 5, 1, (int[]){4, 2, 0, 3, 1}, 5);
    expect("eb", 5, 1, (int[]){4}, 1); /* default 0.01 < 0.05 */
}

/* Defining properties by enumeration on random sets (no sorting involved). */
static unsigned long long rs = 88172645463325252ULL;
static double urand(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (rs >> 11) * 0x1.0p-53;
}

static void test_random_properties(void) {
    lerr_t e = {0};
    rm_policy_t *th = rm_policy_new("threshold:0.7", &e), *eb = rm_policy_new("eb:0.5", &e);
    rm_state_t st = {.n_commit = 1};
    int bad_th = 0, bad_eb = 0;
    for (int it = 0; it < 500; it++) {
        int n = 1 + (int)(urand() * 40);
        for (int i = 0; i < n; i++) {
            C[i].pos = i * 2;
            C[i].conf = urand() < 0.1 ? 0.7 : urand();
            C[i].entropy = (float)(urand() * 0.4);
        }
        /* threshold: chosen set == {conf >= 0.7} or, when empty, {first argmax} */
        int k = rm_policy_select(th, &st, C, n, OUT, &e), want = 0, amax = 0;
        for (int i = 0; i < n; i++) {
            want += C[i].conf >= 0.7;
            if (C[i].conf > C[amax].conf) amax = i;
        }
        if (want == 0) {
            if (k != 1 || OUT[0] != C[amax].pos) bad_th++;
        } else {
            if (k != want) bad_th++;
            for (int i = 0; i < k; i++)
                if (C[OUT[i] / 2].conf < 0.7) bad_th++;
        }
        /* eb: chosen = the k lowest entropies; sum - max <= gamma; adding the next breaks it */
        k = rm_policy_select(eb, &st, C, n, OUT, &e);
        char in[64] = {0};
        double sum = 0, mx = 0;
        for (int i = 0; i < k; i++) {
            in[OUT[i] / 2] = 1;
            sum += C[OUT[i] / 2].entropy;
            if (C[OUT[i] / 2].entropy > mx) mx = C[OUT[i] / 2].entropy;
        }
        double next = INFINITY;
        for (int i = 0; i < n; i++)
            if (!in[i]) {
                for (int j = 0; j < n; j++)
                    if (in[j] && C[j].entropy > C[i].entropy) bad_eb++;
                if (C[i].entropy < next) next = C[i].entropy;
            }
        if (k < 1 || sum - mx > 0.5 + 1e-12) bad_eb++;
        if (k < n && sum + next - next <= 0.5 - 1e-6) bad_eb++;
    }
    CHECK(bad_th == 0, "threshold property violated %d times", bad_th);
    CHECK(bad_eb == 0, "eb property violated %d times", bad_eb);
    rm_policy_destroy(&th);
    rm_policy_destroy(&eb);
}

static void test_registry(void) {
    const char *bad[] = {"threshold:1.5", "threshold:abc", "factor:-1",        "topk_margin:1",
                         "entropy:x",     "nope",          "low_confidence:1", "eb:nan"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lerr_t e = {0};
        rm_policy_t *p = rm_policy_new(bad[i], &e);
        CHECK(p == NULL && e.code == EXIT_USAGE && e.msg[0], "'%s' should be a usage error", bad[i]);
        rm_policy_destroy(&p);
    }
    const char *adaptive[] = {"threshold", "factor", "eb"},
               *fixed[] = {"low_confidence", "random", "topk_margin", "entropy", "origin", "dynamic"};
    for (int i = 0; i < 3; i++) {
        lerr_t e = {0};
        rm_policy_t *p = rm_policy_new(adaptive[i], &e);
        CHECK(p && rm_policy_adaptive(p) && !strcmp(rm_policy_name(p), adaptive[i]), "%s adaptive", adaptive[i]);
        rm_policy_destroy(&p);
    }
    for (int i = 0; i < 6; i++) {
        lerr_t e = {0};
        rm_policy_t *p = rm_policy_new(fixed[i], &e);
        CHECK(p && !rm_policy_adaptive(p), "%s fixed schedule", fixed[i]);
        rm_policy_destroy(&p);
    }
    int n = 0;
    for (const char *const *l = rm_policy_list(); *l; l++) n++;
    CHECK(n == 9, "9 policies listed, got %d", n);
}

/* origin (Dream's default alg): each candidate revealed with probability 1 - t[i+1]/t[i] of
 * the float32 timesteps, all at the block's last step; seeded, independent of n_commit. */
static void test_origin(void) {
    enum { N = 4000 };
    lerr_t e = {0};
    rm_policy_t *p = rm_policy_new("origin", &e);
    static rm_cand_t c[N];
    static int32_t out[N], out2[N];
    for (int i = 0; i < N; i++) c[i] = (rm_cand_t){.pos = 10 + i, .conf = 0.5};
    rm_state_t st = {
        .seed = 3, .record = 1, .step = 0, .steps = 4, .block_step = 0, .steps_per_block = 4, .n_commit = 7};
    int k = rm_policy_select(p, &st, c, N, out, &e);
    double want = 1.0 - (1.0 + (0.001 - 1.0) / 4) / 1.0; /* 1 - t1/t0 = 0.24975 */
    CHECK(fabs((double)k / N - want) < 0.03, "origin step 0 reveals ~%.3f of the masks: %d of %d", want, k, N);
    int k2 = rm_policy_select(p, &st, c, N, out2, &e);
    CHECK(k2 == k && !memcmp(out, out2, sizeof(int32_t) * (size_t)k), "origin is deterministic for a seed");
    st.seed = 4;
    k2 = rm_policy_select(p, &st, c, N, out2, &e);
    CHECK(k2 != k || memcmp(out, out2, sizeof(int32_t) * (size_t)k), "another seed draws others");
    st.block_step = 3;
    st.step = 3;
    CHECK(rm_policy_select(p, &st, c, N, out, &e) == N, "origin's last step reveals every mask");
    rm_policy_destroy(&p);
    rm_policy_t *bad = rm_policy_new("origin:2", &e);
    CHECK(!bad && e.code == EXIT_USAGE, "origin:EPS outside (0, 1) refused: %s", e.msg);
}

/* dynamic (SDAR's low_confidence_dynamic): all above T when they reach the quota, else the
 * quota's most confident. */
static void test_dynamic(void) {
    lerr_t e = {0};
    rm_policy_t *p = rm_policy_new("dynamic:0.5", &e);
    rm_cand_t c[5] = {{.pos = 1, .conf = 0.9},
                      {.pos = 2, .conf = 0.6},
                      {.pos = 3, .conf = 0.2},
                      {.pos = 4, .conf = 0.7},
                      {.pos = 5, .conf = 0.1}};
    int32_t out[5];
    rm_state_t st = {.n_commit = 2};
    int k = rm_policy_select(p, &st, c, 5, out, &e);
    CHECK(k == 3 && out[0] == 1 && out[1] == 4 && out[2] == 2, "3 above 0.5 >= quota 2: all three (%d)", k);
    st.n_commit = 4;
    k = rm_policy_select(p, &st, c, 5, out, &e);
    CHECK(k == 4 && out[3] == 3, "3 above 0.5 < quota 4: the 4 most confident (%d)", k);
    st.n_commit = 9;
    CHECK(rm_policy_select(p, &st, c, 5, out, &e) == 5, "quota above the candidates: all of them");
    rm_policy_destroy(&p);
    CHECK(!rm_policy_new("dynamic:1.5", &e) && e.code == EXIT_USAGE, "dynamic:T outside [0, 1] refused");
}

/* Dream's float32 timesteps: each linspace point rounded once (torch's fused kernels); checked
 * against the exact value rounded to float (a float32 step times a small integer plus a
 * float32 endpoint is exact in double), and the fused and the twice-rounded values must
 * differ somewhere, else this check could not tell them apart. */
static void test_linspace(void) {
    int bad = 0, differ = 0;
    for (int n = 2; n <= 600; n++) {
        float end = (float)1e-3, step = (end - 1.0f) / (float)(n - 1);
        for (int i = 0; i < n; i++) {
            double exact = i < n / 2 ? 1.0 + (double)step * i : (double)end - (double)step * (n - 1 - i);
            volatile float prod = i < n / 2 ? step * (float)i : step * (float)(n - 1 - i);
            float twice = i < n / 2 ? 1.0f + prod : end - prod;
            float got = rm_sched_linspace_f32(1e-3, n, i);
            bad += got != (float)exact;
            differ += got != twice;
        }
    }
    CHECK(bad == 0, "linspace points rounded once (%d differ from the exact value)", bad);
    CHECK(differ > 0, "fused and twice-rounded points differ somewhere (%d), so the check is sharp", differ);
    CHECK(rm_sched_timestep_count(10, 4, 5, 1e-3) == 10 && rm_sched_timestep_count(12, 0, 5, 1e-3) == 2,
          "timestep counts: all at the last step; int(12 * (1 - t1/t0)) = 2 at the first of 5");
}

int main(void) {
    test_linspace();
    test_dynamic();
    test_threshold();
    test_factor();
    test_dream_orders();
    test_eb();
    test_random_properties();
    test_registry();
    test_origin();
    return TEST_SUMMARY();
}
