/* test_model_family.c — the family registry of model/ (family.h): lookup by name,
 * detection from config.json ("model_type", then "architectures", else LLaDA) with errors
 * that name the unsupported value, parameter counts from the family's tensor list against
 * the closed-form count, model_load/model_new recording the family, the public forward
 * entry points dispatching through m->family (a wrapping family sees every call and the
 * results are bit-identical to the dense graph's), and train refusing a non-LLaDA layout. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testlib.h"
#include "model/family.h"
#include "train/tparams.h"

static void test_registry(void) {
    int n = 0, has = 0;
    for (const model_family_t *const *f = model_family_list(); *f; f++, n++) has |= *f == &model_family_llada;
    CHECK(n >= 1 && has, "registry lists llada (%d families)", n);
    CHECK(model_family_find("llada") == &model_family_llada, "find llada");
    CHECK(model_family_find("qwen2") == NULL && model_family_find("") == NULL, "unknown names are NULL");
}

static const model_family_t *detect(const char *js, lerr_t *e) {
    *e = (lerr_t){0};
    return model_family_detect(js, strlen(js), e);
}

static void test_detect(void) {
    lerr_t e;
    CHECK(detect("{\"model_type\":\"llada\"}", &e) == &model_family_llada, "model_type llada");
    CHECK(detect("{\"model_type\":\"LLaDA\"}", &e) == &model_family_llada, "model_type is case-insensitive");
    CHECK(detect("{\"architectures\":[\"LLaDAModelLM\"]}", &e) == &model_family_llada, "architectures");
    CHECK(detect("{\"d_model\":8}", &e) == &model_family_llada, "neither key: LLaDA (older configs)");
    CHECK(detect("{\"model_type\":\"qwen2\",\"architectures\":[\"LLaDAModelLM\"]}", &e) == NULL &&
              e.code == EXIT_DATA && strstr(e.msg, "\"model_type\": \"qwen2\"") && strstr(e.msg, "llada"),
          "model_type wins and an unknown one is named with the supported list: %s", e.msg);
    CHECK(detect("{\"architectures\":[\"Qwen2ForCausalLM\"]}", &e) == NULL && e.code == EXIT_DATA &&
              strstr(e.msg, "Qwen2ForCausalLM") && strstr(e.msg, "LLaDAModelLM"),
          "unknown architecture named: %s", e.msg);
    CHECK(detect("{\"architectures\":[\"X\",\"LLaDAModelLM\"]}", &e) == &model_family_llada, "any listed architecture");
    CHECK(detect("{\"model_type\":7}", &e) == NULL && e.code == EXIT_DATA && strstr(e.msg, "model_type"),
          "model_type not a string");
    CHECK(detect("[1]", &e) == NULL && e.code == EXIT_DATA, "not an object");
    CHECK(detect("{\"d_model\":", &e) == NULL && e.code == EXIT_DATA && strstr(e.msg, "line 1"), "bad JSON: %s", e.msg);
}

static llada_config_t small_cfg(void) {
    llada_config_t c;
    llada_config_default(&c);
    c.d_model = 24;
    c.n_layers = 2;
    c.n_heads = 6;
    c.n_kv_heads = 2;
    c.head_dim = 4;
    c.mlp_hidden_size = 40;
    c.vocab_size = c.embedding_size = 50;
    c.weight_tying = false;
    c.mask_token_id = 49;
    c.eos_token_id = c.pad_token_id = 47;
    c.eot_token_id = 48;
    c.bos_token_id = 46;
    c.dtype = WT_F32;
    return c;
}

static void test_n_params(void) {
    llada_config_t c = small_cfg();
    for (int tied = 0; tied < 2; tied++) {
        c.weight_tying = tied;
        int64_t d = 24, qd = 24, kvd = 8, f = 40, E = 50;
        int64_t want = E * d * (tied ? 1 : 2) + 2 * (2 * d + qd * d + 2 * kvd * d + d * qd + 3 * f * d) + d;
        CHECK(model_family_n_params(&model_family_llada, &c) == want,
              "n_params from the tensor list (tied %d): %lld vs %lld", tied,
              (long long)model_family_n_params(&model_family_llada, &c), (long long)want);
    }
}

/* A family that wraps LLaDA's graph and counts the calls that reach it. */
static int n_hidden, n_head;
static int counting_hidden(const model_t *m, fwd_scratch_t *s, const int32_t *t, const uint8_t *k, int B, int L,
                           float *h, lerr_t *e) {
    n_hidden++;
    return dense_forward_hidden(m, s, t, k, B, L, h, e);
}
static void counting_head(const model_t *m, const float *h, int n, float *l) {
    n_head++;
    dense_head(m, h, n, l);
}

static void fill(model_t *m) {
    unsigned s = 7;
    wtensor_t *all[3 + 9 * 2] = {&m->w.wte, &m->w.ln_f, &m->w.lm_head};
    int n = 3;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        llada_layer_t *L = &m->w.layers[l];
        wtensor_t *t[9] = {&L->attn_norm, &L->q_proj,  &L->k_proj,  &L->v_proj, &L->attn_out,
                           &L->ff_norm,   &L->ff_proj, &L->up_proj, &L->ff_out};
        for (int i = 0; i < 9; i++) all[n++] = t[i];
    }
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < all[i]->rows * all[i]->cols; j++) {
            s = s * 1103515245u + 12345u;
            ((float *)all[i]->data)[j] = ((s >> 8) & 0xffff) / 32768.0f - 1.0f;
        }
}

static void test_dispatch_and_load(void) {
    lerr_t e = {0};
    llada_config_t c = small_cfg();
    model_t *m = model_new(&c, &e);
    CHECK(m && m->family == &model_family_llada && !strcmp(model_family_name(m), "llada"), "model_new is LLaDA");
    if (!m) return;
    fill(m);
    char dir[] = "/tmp/test_model_family_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(model_save(m, dir, WT_F32, &e) == 0, "model_save: %s", e.msg);
    model_t *r = model_load(dir, &e);
    CHECK(r && r->family == &model_family_llada, "model_load detects LLaDA: %s", e.msg);

    enum { B = 1, L = 6 };
    int32_t tok[B * L] = {1, 5, 9, 49, 49, 49};
    float *h0 = malloc(sizeof(float) * B * L * 24), *h1 = malloc(sizeof(float) * B * L * 24);
    float *l0 = malloc(sizeof(float) * L * 50), *l1 = malloc(sizeof(float) * L * 50);
    fwd_scratch_t *s = fwd_scratch_new(m, B, L, &e);
    CHECK(s && h0 && h1 && l0 && l1, "buffers");
    if (s && h0 && h1 && l0 && l1) {
        CHECK(dense_forward_hidden(m, s, tok, NULL, B, L, h0, &e) == 0, "dense graph runs: %s", e.msg);
        dense_head(m, h0, L, l0);
        model_family_t counting = model_family_llada;
        counting.forward_hidden = counting_hidden;
        counting.head = counting_head;
        m->family = &counting;
        CHECK(model_forward_hidden(m, s, tok, NULL, B, L, h1, &e) == 0 && n_hidden == 1,
              "model_forward_hidden goes through the family (%d calls)", n_hidden);
        model_head(m, h1, L, l1);
        CHECK(n_head == 1, "model_head goes through the family (%d calls)", n_head);
        CHECK(!memcmp(h0, h1, sizeof(float) * B * L * 24) && !memcmp(l0, l1, sizeof(float) * L * 50),
              "dispatched results bit-identical to the dense graph's");
        /* train's flat layout is LLaDA's: another family is refused, LLaDA accepted */
        float *p = calloc(tparams_count(&c), sizeof *p);
        CHECK(p && tparams_from_model(m, p, &e) == -1 && e.code == EXIT_DATA && strstr(e.msg, "LLaDA"),
              "train refuses a non-LLaDA family: %s", e.msg);
        m->family = &model_family_llada;
        e = (lerr_t){0};
        CHECK(p && tparams_from_model(m, p, &e) == 0, "train accepts LLaDA: %s", e.msg);
        free(p);
    }
    fwd_scratch_destroy(&s);
    free(h0);
    free(h1);
    free(l0);
    free(l1);

    /* a config no family runs: EXIT_DATA naming the value and the folder */
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("{\"model_type\":\"bailing_moe_v3\",\"d_model\":24}", f);
        fclose(f);
    }
    model_t *bad = model_load(dir, &e);
    CHECK(!bad && e.code == EXIT_DATA && strstr(e.msg, "bailing_moe_v3") && strstr(e.msg, dir),
          "unknown model_type refused: %s", e.msg);
    model_destroy(&bad);
    /* llada2_moe is LLaDA2's: its config parser answers (here: keys missing) */
    f = fopen(path, "w");
    if (f) {
        fputs("{\"model_type\":\"llada2_moe\",\"d_model\":24}", f);
        fclose(f);
    }
    bad = model_load(dir, &e);
    CHECK(!bad && e.code == EXIT_DATA && strstr(e.msg, "not a LLaDA2 config"), "llada2_moe is LLaDA2's: %s", e.msg);
    model_destroy(&bad);
    model_destroy(&r);
    model_destroy(&m);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    CHECK(system(path) == 0, "cleanup");
}

/* Dream (dream.c): recognised by model_type "Dream" / architectures "DreamModel"; its config
 * keys (Qwen2's), traits for the sampler, and the parameters its tensor list implies. */
static void test_dream(void) {
    lerr_t e;
    CHECK(model_family_find("dream") == &model_family_dream, "find dream");
    CHECK(detect("{\"model_type\":\"Dream\"}", &e) == &model_family_dream, "model_type Dream");
    CHECK(detect("{\"architectures\":[\"DreamModel\"]}", &e) == &model_family_dream, "architectures DreamModel");
    const char *js = "{\"model_type\":\"Dream\",\"hidden_size\":24,\"num_hidden_layers\":2,"
                     "\"num_attention_heads\":6,\"num_key_value_heads\":2,\"intermediate_size\":40,"
                     "\"vocab_size\":50,\"mask_token_id\":49,\"eos_token_id\":47,\"rope_theta\":1000000.0}";
    llada_config_t c;
    e = (lerr_t){0};
    CHECK(model_family_dream.config_parse(&c, js, strlen(js), &e) == 0, "Dream config parses: %s", e.msg);
    CHECK(c.d_model == 24 && c.n_layers == 2 && c.n_heads == 6 && c.n_kv_heads == 2 && c.head_dim == 4 &&
              c.mlp_hidden_size == 40 && c.embedding_size == 50 && c.rope_theta == 1e6 && c.rms_norm_eps == 1e-6 &&
              c.mask_token_id == 49 && c.eos_token_id == 47 && c.pad_token_id == 47 && c.eot_token_id == -1,
          "Dream sizes and ids");
    CHECK(c.logits_shift && c.schedule == MODEL_SCHED_TIMESTEP && c.schedule_eps == 1e-3 && c.qkv_bias &&
              !c.weight_tying,
          "Dream traits: shifted logits, timestep schedule, q/k/v biases, untied");
    CHECK(model_logits_row(&c, 0) == 0 && model_logits_row(&c, 5) == 4, "shifted rows");
    for (int bias = 0; bias < 2; bias++) {
        c.qkv_bias = bias;
        int64_t d = 24, qd = 24, kvd = 8, f = 40, E = 50;
        int64_t want = 2 * E * d + 2 * (2 * d + qd * d + 2 * kvd * d + d * qd + 3 * f * d + bias * (qd + 2 * kvd)) + d;
        CHECK(model_family_n_params(&model_family_dream, &c) == want, "Dream n_params (bias %d): %lld vs %lld", bias,
              (long long)model_family_n_params(&model_family_dream, &c), (long long)want);
    }
    char *out = model_family_dream.config_to_json(&c);
    llada_config_t c2;
    e = (lerr_t){0};
    CHECK(out && model_family_detect(out, strlen(out), &e) == &model_family_dream &&
              model_family_dream.config_parse(&c2, out, strlen(out), &e) == 0 && c2.d_model == c.d_model &&
              c2.n_kv_heads == c.n_kv_heads && c2.qkv_bias == c.qkv_bias && c2.mask_token_id == c.mask_token_id &&
              c2.rope_theta == c.rope_theta,
          "Dream config round-trips through its writer: %s", e.msg);
    free(out);
    llada_config_t lc;
    llada_config_default(&lc);
    CHECK(!lc.logits_shift && lc.schedule == MODEL_SCHED_LINEAR && model_logits_row(&lc, 5) == 5,
          "LLaDA: unshifted, linear schedule");
}

/* LLaDA 1.5 / iLLaDA: LLaDA's family; LLaDA-8B's special ids are defaults only for its vocabulary. */
static void test_llada_ids(void) {
    llada_config_t c;
    lerr_t e = {0};
    const char *ill = "{\"d_model\":64,\"n_layers\":1,\"n_heads\":8,\"n_kv_heads\":2,\"vocab_size\":155136,"
                      "\"weight_tying\":true,\"eos_token_id\":2}";
    CHECK(llada_config_parse(&c, ill, strlen(ill), &e) == -1 && e.code == EXIT_DATA && strstr(e.msg, "mask_token_id") &&
              strstr(e.msg, "155136"),
          "another vocabulary without a mask id is refused (not LLaDA-8B's 126336): %s", e.msg);
    const char *ill5 = "{\"d_model\":64,\"n_layers\":1,\"n_heads\":8,\"n_kv_heads\":2,\"vocab_size\":155136,"
                       "\"weight_tying\":true,\"eos_token_id\":2,\"mask_token_id\":5}";
    e = (lerr_t){0};
    CHECK(llada_config_parse(&c, ill5, strlen(ill5), &e) == 0 && c.mask_token_id == 5 && c.eos_token_id == 2 &&
              c.pad_token_id == 2 && c.eot_token_id == -1 && c.bos_token_id == -1 && c.n_kv_heads == 2 &&
              c.weight_tying,
          "iLLaDA-style config: mask 5, no LLaDA-8B EOT/BOS guessed: %s", e.msg);
    const char *l8 = "{\"d_model\":64,\"n_layers\":1,\"n_heads\":8,\"vocab_size\":126464}";
    e = (lerr_t){0};
    CHECK(llada_config_parse(&c, l8, strlen(l8), &e) == 0 && c.mask_token_id == 126336 && c.eos_token_id == 126081 &&
              c.eot_token_id == 126348,
          "LLaDA-8B's vocabulary keeps its default ids: %s", e.msg);
}

/* LLaDA-MoE (llada_moe.c): its released config says model_type "llada"; the architecture
 * LLaDAMoEModelLM picks the family. Parameter count of the published sizes, closed form. */
static void test_llada_moe(void) {
    lerr_t e = {0};
    const char *js =
        "{\"model_type\":\"llada\",\"architectures\":[\"LLaDAMoEModelLM\"],\"hidden_size\":2048,"
        "\"num_hidden_layers\":16,\"num_attention_heads\":16,\"num_key_value_heads\":16,\"vocab_size\":157184,"
        "\"dense_intermediate_size\":8192,\"expert_intermediate_size\":1024,\"num_experts\":64,"
        "\"num_experts_per_tok\":8,\"qk_layernorm\":true,\"rope_theta\":50000,\"partial_rotary_factor\":1,"
        "\"moe_layer_freq\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],\"shared_expert_intermediate_size\":null,"
        "\"tie_word_embeddings\":false,\"eos_token_id\":156892}";
    CHECK(model_family_detect(js, strlen(js), &e) == &model_family_llada_moe, "LLaDAMoEModelLM -> llada_moe: %s",
          e.msg);
    const char *plain = "{\"model_type\":\"llada\",\"architectures\":[\"LLaDAModelLM\"]}";
    CHECK(model_family_detect(plain, strlen(plain), &e) == &model_family_llada, "LLaDAModelLM stays llada");
    llada_config_t c;
    e = (lerr_t){0};
    CHECK(model_family_llada_moe.config_parse(&c, js, strlen(js), &e) == 0, "LLaDA-MoE config parses: %s", e.msg);
    CHECK(c.n_experts == 64 && c.n_experts_per_tok == 8 && c.expert_hidden_size == 1024 && c.qk_norm &&
              c.head_dim == 128 && c.mask_token_id == 156895 && c.eos_token_id == 156892 && !c.logits_shift &&
              c.schedule == MODEL_SCHED_LINEAR && c.moe_layers == 0xffff && c.shared_expert_hidden_size == 0,
          "LLaDA-MoE sizes, Ling ids (mask 156895), LLaDA's sampler traits");
    int64_t d = 2048, V = 157184, E = 64, F = 1024;
    int64_t layer = 2 * d + 4 * d * d + 2 * 128 + E * d + E * 3 * F * d;
    int64_t want = 2 * V * d + 16 * layer + d;
    int64_t got = model_family_n_params(&model_family_llada_moe, &c);
    CHECK(got == want && got > 7000000000LL && got < 7500000000LL,
          "LLaDA-MoE-7B-A1B parameters %lld == %lld (~7B total)", (long long)got, (long long)want);
    char *out = model_family_llada_moe.config_to_json(&c);
    llada_config_t c2;
    e = (lerr_t){0};
    CHECK(out && model_family_detect(out, strlen(out), &e) == &model_family_llada_moe &&
              model_family_llada_moe.config_parse(&c2, out, strlen(out), &e) == 0 && c2.n_experts == 64 &&
              c2.moe_layers == c.moe_layers && c2.qk_norm && c2.expert_hidden_size == 1024,
          "LLaDA-MoE config round-trips through its writer: %s", e.msg);
    free(out);
}

/* SDAR (sdar.c): Qwen3 keys, head_dim from the config, block-causal attention. */
static void test_sdar(void) {
    lerr_t e = {0};
    const char *js =
        "{\"model_type\":\"sdar\",\"hidden_size\":32,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
        "\"num_key_value_heads\":2,\"head_dim\":12,\"intermediate_size\":40,\"vocab_size\":60,\"block_size\":8,"
        "\"mask_token_id\":59,\"eos_token_id\":58,\"tie_word_embeddings\":false}";
    CHECK(model_family_detect(js, strlen(js), &e) == &model_family_sdar, "model_type sdar: %s", e.msg);
    llada_config_t c;
    CHECK(model_family_sdar.config_parse(&c, js, strlen(js), &e) == 0, "SDAR config parses: %s", e.msg);
    CHECK(c.head_dim == 12 && c.attn_block == 8 && c.qk_norm && !c.logits_shift && c.mask_token_id == 59 &&
              c.pad_token_id == 58,
          "SDAR: head_dim 12 (q width 48 != hidden 32), block 8, QK-norm");
    int64_t d = 32, qd = 48, kvd = 24, f = 40, V = 60;
    int64_t want = 2 * V * d + 2 * (2 * d + qd * d + 2 * kvd * d + d * qd + 2 * 12 + 3 * f * d) + d;
    CHECK(model_family_n_params(&model_family_sdar, &c) == want, "SDAR n_params %lld == %lld",
          (long long)model_family_n_params(&model_family_sdar, &c), (long long)want);
    /* attention_bias: q/k/v/o biases, 15 tensors a layer, within max_tensors (an overrun of
     * the list's array would show under make test SAN=1) */
    const char *jb = "{\"model_type\":\"sdar\",\"hidden_size\":32,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
                     "\"num_key_value_heads\":2,\"head_dim\":12,\"intermediate_size\":40,\"vocab_size\":60,"
                     "\"mask_token_id\":59,\"eos_token_id\":58,\"tie_word_embeddings\":true,\"attention_bias\":true}";
    CHECK(model_family_sdar.config_parse(&c, jb, strlen(jb), &e) == 0 && c.qkv_bias && c.out_bias,
          "SDAR attention_bias: q/k/v/o biases: %s", e.msg);
    llada_weights_t w = {.layers = calloc(1, sizeof *w.layers)};
    int cap = model_family_sdar.max_tensors(&c);
    model_tensor_spec_t *sp = calloc((size_t)cap, sizeof *sp);
    int n = w.layers && sp ? model_family_sdar.tensor_specs(&c, &w, sp) : -1;
    CHECK(n == 1 + 15 + 1 && n <= cap, "SDAR with biases, tied: 17 tensors within max_tensors (%d <= %d)", n, cap);
    want = V * d + (2 * d + qd * d + 2 * kvd * d + d * qd + qd + 2 * kvd + d + 2 * 12 + 3 * f * d) + d;
    CHECK(model_family_n_params(&model_family_sdar, &c) == want, "SDAR n_params with biases, tied %lld == %lld",
          (long long)model_family_n_params(&model_family_sdar, &c), (long long)want);
    free(sp);
    free(w.layers);
}

/* LLaDA2 (llada2.c): LLaDA2.0-mini's published config.json keys -> 16.26 B parameters. */
static void test_llada2(void) {
    lerr_t e = {0};
    const char *js =
        "{\"architectures\":[\"LLaDA2MoeModelLM\"],\"model_type\":\"llada2_moe\",\"first_k_dense_replace\":1,"
        "\"head_dim\":128,\"hidden_act\":\"silu\",\"hidden_size\":2048,\"intermediate_size\":5120,"
        "\"max_position_embeddings\":32768,\"moe_intermediate_size\":512,\"n_group\":8,\"norm_head\":false,"
        "\"norm_topk_prob\":true,\"num_attention_heads\":16,\"num_experts\":256,\"num_experts_per_tok\":8,"
        "\"num_hidden_layers\":20,\"num_key_value_heads\":4,\"num_shared_experts\":1,\"pad_token_id\":156892,"
        "\"partial_rotary_factor\":0.5,\"rms_norm_eps\":1e-06,\"rope_theta\":600000,\"rotary_dim\":64,"
        "\"routed_scaling_factor\":2.5,\"score_function\":\"sigmoid\",\"tie_word_embeddings\":false,"
        "\"topk_group\":4,\"use_bias\":false,\"use_qkv_bias\":false,\"use_qk_norm\":true,\"vocab_size\":157184}";
    CHECK(model_family_detect(js, strlen(js), &e) == &model_family_llada2, "llada2_moe -> llada2: %s", e.msg);
    llada_config_t c;
    CHECK(model_family_llada2.config_parse(&c, js, strlen(js), &e) == 0, "LLaDA2 config parses: %s", e.msg);
    CHECK(c.n_experts == 256 && c.n_group == 8 && c.topk_group == 4 && c.routed_scaling == 2.5 && c.router_sigmoid &&
              c.rope_dim == 64 && c.head_dim == 128 && c.attn_block == 32 && c.moe_layers == 0xffffe &&
              c.shared_expert_hidden_size == 512 && !c.out_bias && c.qk_norm && c.mask_token_id == 156895 &&
              c.eos_token_id == 156892 && !strcmp(c.default_policy, "dynamic:0.95"),
          "LLaDA2.0-mini: sizes, rotary 64 of 128, layer 0 dense, block 32, Ling ids, threshold 0.95");
    int64_t d = 2048, V = 157184, attn = (16 + 8) * 128 * d + d * d + 2 * 128 + 2 * d;
    int64_t moe = 256 * d + 256 + 256 * 3 * 512 * d + 3 * 512 * d;
    int64_t want = 2 * V * d + 20 * attn + 3 * 5120 * d + 19 * moe + d;
    int64_t got = model_family_n_params(&model_family_llada2, &c);
    CHECK(got == want && got == 16255643392LL, "LLaDA2.0-mini parameters %lld == %lld (16.26 B, the published 16B)",
          (long long)got, (long long)want);
    char *out = model_family_llada2.config_to_json(&c);
    llada_config_t c2;
    e = (lerr_t){0};
    CHECK(out && model_family_detect(out, strlen(out), &e) == &model_family_llada2 &&
              model_family_llada2.config_parse(&c2, out, strlen(out), &e) == 0 && c2.n_experts == 256 &&
              c2.moe_layers == c.moe_layers && c2.rope_dim == 64 && c2.n_group == 8 && c2.routed_scaling == 2.5 &&
              model_family_n_params(&model_family_llada2, &c2) == got,
          "LLaDA2 config round-trips through its writer: %s", e.msg);
    free(out);
}

int main(void) {
    test_registry();
    test_llada2();
    test_sdar();
    test_llada_moe();
    test_llada_ids();
    test_dream();
    test_detect();
    test_n_params();
    test_dispatch_and_load();
    return TEST_SUMMARY();
}
