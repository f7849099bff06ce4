/* test_train_model.c — the training forward (train/step.c) means the same model as denoise's
 * inference forward (model/forward.c): per-position cross-entropy from train's step equals
 * the one computed from model_forward_logits on the same weights; and a checkpoint written by
 * train (tparams_to_model + model_save) loads back (model_load + tparams_from_model) to the
 * identical parameters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "train/step.h"
#include "testlib.h"

enum { V = 40, D = 16, NL = 2, HQ = 4, HKV = 2, F = 24, B = 2, T = 9, N = B * T };

int main(void) {
    llada_config_t c;
    llada_config_default(&c);
    c.d_model = D;
    c.n_layers = NL;
    c.n_heads = HQ;
    c.n_kv_heads = HKV;
    c.head_dim = D / HQ;
    c.mlp_hidden_size = F;
    c.vocab_size = V;
    c.embedding_size = V;
    c.max_sequence_length = T;
    c.rope_theta = 10000.0;
    c.mask_token_id = V - 1;
    c.eos_token_id = V - 2;
    c.pad_token_id = V - 2;
    c.bos_token_id = -1;
    c.eot_token_id = -1;
    c.dtype = WT_F32;
    size_t np = tparams_count(&c);
    float *p = malloc(sizeof(float) * np), *back = malloc(sizeof(float) * np);
    tparams_init(&c, p, 0.3, 11);
    lerr_t e = {0};
    model_t *m = tparams_to_model(&c, p, &e);
    CHECK(m != NULL, "tparams_to_model: %s", e.msg);
    if (!m) return TEST_SUMMARY();

    int32_t ids[N], tgt[N];
    float w[N], ce[N], *logits = malloc(sizeof(float) * N * V);
    for (int i = 0; i < N; i++) {
        ids[i] = (i * 13 + 5) % V;
        tgt[i] = (i * 7 + 2) % V;
        w[i] = 1.0f;
    }
    tview_t pv;
    tparams_bind(&c, p, &pv);
    tstep_t *s = tstep_new(&c, B, T, 1, &e);
    double L = tstep_run(s, &pv, NULL, ids, tgt, w, B, T, 0, ce, &e);
    CHECK(!isnan(L), "train forward ran");
    int rc = model_forward_logits(m, ids, NULL, B, T, logits, &e);
    CHECK(rc == 0, "denoise forward: %s", e.msg);
    double worst = 0;
    for (int i = 0; i < N && rc == 0; i++) {
        double mx = -1e300, z = 0;
        for (int k = 0; k < V; k++) mx = fmax(mx, logits[(size_t)i * V + k]);
        for (int k = 0; k < V; k++) z += exp(logits[(size_t)i * V + k] - mx);
        double ref = mx + log(z) - logits[(size_t)i * V + tgt[i]];
        worst = fmax(worst, fabs(ref - ce[i]));
    }
    CHECK(worst < 1e-4, "train CE vs denoise logits: worst abs diff %g", worst);

    char dir[] = "/tmp/test_train_model.XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(model_save(m, dir, WT_F32, &e) == 0, "model_save: %s", e.msg);
    model_t *m2 = model_load(dir, &e);
    CHECK(m2 != NULL, "model_load: %s", e.msg);
    if (m2) {
        CHECK(tparams_from_model(m2, back, &e) == 0, "tparams_from_model: %s", e.msg);
        CHECK(memcmp(p, back, sizeof(float) * np) == 0, "f32 checkpoint round trip is exact");
        CHECK(m2->cfg.mask_token_id == V - 1 && m2->cfg.n_kv_heads == HKV, "config round trip");
        model_destroy(&m2);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    model_destroy(&m);
    tstep_destroy(&s);
    tparams_unbind(&pv);
    free(p);
    free(back);
    free(logits);
    return TEST_SUMMARY();
}
