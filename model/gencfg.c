/* gencfg.c — sampling defaults from a model folder's generation_config.json (HF convention).
 *
 * A model can ship the sampler settings it works best with; they apply only to options the
 * user did not give. Keys read: "block_length" (int > 0), "temperature" (number >= 0), and
 * the keys of Dream's DreamGenerationConfig (generation_utils.py) that a folder can carry:
 * "alg" (origin / maskgit_plus / topk_margin / entropy -> the remask policies origin /
 * low_confidence / topk_margin / entropy, docs/models.md), "eps" (0 < eps < 1), and, in a
 * Dream folder only (config.json detected as the Dream family), "steps" (int > 0), "top_p"
 * (0 < p <= 1), "top_k" (int > 0) and "alg_temp" (number >= 0): other families' samplers mean
 * other things by them (LLaDA 2.x's generate() counts steps per block; AR checkpoints' top_p
 * is for sampling). Null is "not given", as Dream's None. Other keys are ignored (HF
 * generation configs carry many). A missing file is not an error.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "gencfg.h"
#include "model/config.h"
#include "model/family.h"

/* Whether DIR/config.json is a Dream family config (unreadable or unknown: no). */
static bool is_dream(const char *dir) {
    char path[PATH_MAX + 32];
    size_t len;
    lerr_t e = {0};
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *txt = cfg_read_file(path, 1u << 20, &len, &e);
    bool yes = txt && model_family_detect(txt, len, &e) == &model_family_dream;
    free(txt);
    return yes;
}

/* Dream's "steps", "top_p", "top_k", "alg_temp" (null: not given). */
static int dream_keys(json_t *root, const char *path, gencfg_t *g, lerr_t *e) {
    json_t *st = json_object_get(root, "steps"), *tp = json_object_get(root, "top_p"),
           *tk = json_object_get(root, "top_k"), *at = json_object_get(root, "alg_temp");
    if (st && !json_is_null(st) &&
        (!json_is_integer(st) || json_integer_value(st) <= 0 || json_integer_value(st) > (1 << 20)))
        return lerr_set(e, EXIT_DATA, "%s: \"steps\" must be a positive integer (at most %d)", path, 1 << 20);
    if (tp && !json_is_null(tp) &&
        (!json_is_number(tp) || !(json_number_value(tp) > 0 && json_number_value(tp) <= 1)))
        return lerr_set(e, EXIT_DATA, "%s: \"top_p\" must be a number in (0, 1]", path);
    if (tk && !json_is_null(tk) &&
        (!json_is_integer(tk) || json_integer_value(tk) <= 0 || json_integer_value(tk) > (1 << 30)))
        return lerr_set(e, EXIT_DATA, "%s: \"top_k\" must be a positive integer", path);
    if (at && !json_is_null(at) &&
        (!json_is_number(at) || !(json_number_value(at) >= 0 && json_number_value(at) < 1e6)))
        return lerr_set(e, EXIT_DATA, "%s: \"alg_temp\" must be a number >= 0", path);
    if (st && !json_is_null(st)) g->steps = (int)json_integer_value(st);
    if (tp && !json_is_null(tp)) g->top_p = json_number_value(tp);
    if (tk && !json_is_null(tk)) g->top_k = (int)json_integer_value(tk);
    if (at && !json_is_null(at)) g->alg_temp = json_number_value(at);
    return 0;
}

int gencfg_read(const char *dir, gencfg_t *g, lerr_t *e) {
    char path[PATH_MAX + 32];
    struct stat st;
    g->block_length = 0;
    g->temperature = -1;
    g->policy = NULL;
    g->eps = 0;
    g->steps = g->top_k = 0;
    g->top_p = g->alg_temp = 0;
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    if (stat(path, &st) != 0) return 0;
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return lerr_set(e, EXIT_DATA, "%s: not a JSON object (%s)", path, root ? "" : je.text);
    }
    json_t *b = json_object_get(root, "block_length"), *t = json_object_get(root, "temperature");
    json_t *alg = json_object_get(root, "alg"), *ep = json_object_get(root, "eps");
    static const char *const ALG[][2] = {{"origin", "origin"},
                                         {"maskgit_plus", "low_confidence"},
                                         {"topk_margin", "topk_margin"},
                                         {"entropy", "entropy"}};
    int rc = 0;
    if (alg && !json_is_null(alg)) {
        for (size_t i = 0; json_is_string(alg) && i < sizeof ALG / sizeof *ALG; i++)
            if (!strcmp(json_string_value(alg), ALG[i][0])) g->policy = ALG[i][1];
        if (!g->policy)
            rc = lerr_set(e, EXIT_DATA, "%s: \"alg\" must be origin, maskgit_plus, topk_margin or entropy", path);
    }
    if (!rc && ep && !json_is_null(ep) &&
        (!json_is_number(ep) || !(json_number_value(ep) > 0 && json_number_value(ep) < 1)))
        rc = lerr_set(e, EXIT_DATA, "%s: \"eps\" must be a number in (0, 1)", path);
    else if (!rc && ep && !json_is_null(ep)) g->eps = json_number_value(ep);
    if (rc) {
        json_decref(root);
        return rc;
    }
    if (b && (!json_is_integer(b) || json_integer_value(b) <= 0 || json_integer_value(b) > INT_MAX))
        rc = lerr_set(e, EXIT_DATA, "%s: \"block_length\" must be a positive integer", path);
    else if (t && (!json_is_number(t) || json_number_value(t) < 0))
        rc = lerr_set(e, EXIT_DATA, "%s: \"temperature\" must be a number >= 0", path);
    else {
        if (b) g->block_length = (int)json_integer_value(b);
        if (t) g->temperature = json_number_value(t);
        if (is_dream(dir)) rc = dream_keys(root, path, g, e);
    }
    json_decref(root);
    return rc;
}
