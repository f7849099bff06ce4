/* options.c — effective sampler options: command line > record > generation_config.json >
 * official defaults (see options.h). */
#include <stdio.h>
#include <string.h>
#include "denoise/options.h"

#define SO_GEN_DEFAULT 128 /* generate.py's gen_length */

/* One row per resolvable option: its flag, its name in the notice, and the text of its
 * official default in --help. */
static const struct {
    const char *flag, *note, *dflt;
} TAB[SO__N] = {
    [SO_GEN] = {"--gen-length", "gen", "128"},
    [SO_STEPS] = {"--steps", "steps", "the generation length"},
    [SO_BLOCK] = {"--block-length", "block", "the generation length"},
    [SO_TEMP] = {"--temperature", "T", "0 (argmax)"},
    [SO_TOPP] = {"--top-p", "top_p", "off"},
    [SO_TOPK] = {"--top-k", "top_k", "off"},
    [SO_ALGTEMP] = {"--alg-temp", "alg_temp", "off"},
};

/* Whether generation_config.json gives option i (Dream's sampling keys; steps, block and
 * temperature are resolved in so_resolve, as they interact). */
static bool gc_has(const gencfg_t *g, int i) {
    return i == SO_TOPP ? g->top_p > 0 : i == SO_TOPK ? g->top_k > 0 : i == SO_ALGTEMP ? g->alg_temp > 0 : false;
}

/* Option i's value in o as text (notices). */
static void val_text(const sampler_opts_t *o, int i, char *buf, size_t n) {
    switch (i) {
    case SO_GEN: snprintf(buf, n, "%d", o->gen_length); break;
    case SO_STEPS: snprintf(buf, n, "%d", o->steps); break;
    case SO_BLOCK: snprintf(buf, n, "%d", o->block_length); break;
    case SO_TEMP: snprintf(buf, n, "%g", o->temperature); break;
    case SO_TOPP: snprintf(buf, n, "%g", o->top_p); break;
    case SO_TOPK: snprintf(buf, n, "%d", o->top_k); break;
    default: snprintf(buf, n, "%g", o->alg_temp); break;
    }
}

void so_spec_init(so_spec_t *s) {
    memset(s, 0, sizeof *s);
    s->cli.gen_length = SO_GEN_DEFAULT;
    s->gc = (gencfg_t){0, -1};
}

int so_spec_read_model(so_spec_t *s, const char *dir, lerr_t *e) { return gencfg_read(dir, &s->gc, e); }

int so_resolve(const so_spec_t *s, int record_gen, so_resolved_t *out, lerr_t *e) {
    sampler_opts_t *o = &out->so;
    *o = s->cli;
    for (int i = 0; i < SO__N; i++) out->src[i] = s->set[i] ? SO_SRC_CLI : SO_SRC_DEFAULT;
    if (record_gen > 0) {
        o->gen_length = record_gen;
        out->src[SO_GEN] = SO_SRC_RECORD;
    } else if (!s->set[SO_GEN]) o->gen_length = SO_GEN_DEFAULT;
    int gen = o->gen_length;
    if (!s->set[SO_BLOCK]) {
        int gb = s->gc.block_length;
        o->block_length = gb > 0 && gen % gb == 0 ? gb : gen;
        if (gb > 0 && gen % gb == 0) out->src[SO_BLOCK] = SO_SRC_GENCFG;
    }
    if (!s->set[SO_STEPS]) {
        int gs = s->gc.steps, nb = o->block_length > 0 && gen % o->block_length == 0 ? gen / o->block_length : 0;
        o->steps = gs > 0 && nb > 0 && gs % nb == 0 ? gs : gen;
        if (o->steps == gs && gs > 0) out->src[SO_STEPS] = SO_SRC_GENCFG;
    }
    if (!s->set[SO_TOPP] && s->gc.top_p > 0) o->top_p = s->gc.top_p;
    if (!s->set[SO_TOPK] && s->gc.top_k > 0) o->top_k = s->gc.top_k;
    if (!s->set[SO_ALGTEMP] && s->gc.alg_temp > 0) o->alg_temp = s->gc.alg_temp;
    for (int i = SO_TOPP; i <= SO_ALGTEMP; i++)
        if (!s->set[i] && gc_has(&s->gc, i)) out->src[i] = SO_SRC_GENCFG;
    if (!s->set[SO_TEMP]) {
        o->temperature = s->gc.temperature >= 0 ? s->gc.temperature : 0;
        if (s->gc.temperature >= 0) out->src[SO_TEMP] = SO_SRC_GENCFG;
    }
    if (o->schedule_eps == 0 && s->gc.eps > 0) o->schedule_eps = s->gc.eps; /* Dream's "eps" */
    /* Messages name each value as the user can change it. */
    char d[SO__N][96];
    const int val[SO__N] = {[SO_GEN] = gen, [SO_STEPS] = o->steps, [SO_BLOCK] = o->block_length};
    for (int i = 0; i < SO_TEMP; i++) {
        static const char *const why[] = {[SO_SRC_DEFAULT] = " (default)",
                                          [SO_SRC_GENCFG] = " (generation_config.json)",
                                          [SO_SRC_RECORD] = "",
                                          [SO_SRC_CLI] = ""};
        const char *name = s->names && out->src[i] == SO_SRC_CLI ? s->names[i] : TAB[i].flag;
        if (out->src[i] == SO_SRC_RECORD)
            snprintf(d[i], sizeof d[i], "the canvas record's generation length %d", val[i]);
        else snprintf(d[i], sizeof d[i], "%s %d%s", name, val[i], why[out->src[i]]);
    }
    if (gen <= 0 || o->steps <= 0 || o->block_length <= 0)
        return lerr_set(e, EXIT_USAGE, "%s, %s and %s must be positive", d[SO_GEN], d[SO_STEPS], d[SO_BLOCK]);
    if (gen % o->block_length) return lerr_set(e, EXIT_USAGE, "%s is not a multiple of %s", d[SO_GEN], d[SO_BLOCK]);
    if (o->steps % (gen / o->block_length))
        return lerr_set(e, EXIT_USAGE, "%s is not a multiple of the number of blocks %d (%s / %s)", d[SO_STEPS],
                        gen / o->block_length, d[SO_GEN], d[SO_BLOCK]);
    return sampler_check(o, e);
}

void so_gencfg_note(const so_resolved_t *r, char *buf, size_t n) {
    size_t k = 0;
    if (n) buf[0] = 0;
    for (int i = 0; i < SO__N && k < n; i++) {
        if (r->src[i] != SO_SRC_GENCFG) continue;
        char v[32];
        val_text(&r->so, i, v, sizeof v);
        k += (size_t)snprintf(buf + k, n - k, "%s%s %s", k ? ", " : "", TAB[i].note, v);
    }
    if (k && k < n) snprintf(buf + k, n - k, " (generation_config.json)");
}

void so_help_defaults(const so_spec_t *s, const char *indent, char *buf, size_t n) {
    size_t k = 0;
    if (n) buf[0] = 0;
    for (int i = 0; i < SO__N && k < n; i++) {
        char v[128];
        if (i == SO_BLOCK && s->gc.block_length > 0)
            snprintf(v, sizeof v, "%d (generation_config.json; the generation length when %d does not divide it)",
                     s->gc.block_length, s->gc.block_length);
        else if (i == SO_TEMP && s->gc.temperature >= 0)
            snprintf(v, sizeof v, "%g (generation_config.json)", s->gc.temperature);
        else if (i == SO_STEPS && s->gc.steps > 0)
            snprintf(v, sizeof v, "%d (generation_config.json; the generation length when it is not a multiple of the blocks)",
                     s->gc.steps);
        else if (i == SO_TOPP && s->gc.top_p > 0) snprintf(v, sizeof v, "%g (generation_config.json)", s->gc.top_p);
        else if (i == SO_TOPK && s->gc.top_k > 0) snprintf(v, sizeof v, "%d (generation_config.json)", s->gc.top_k);
        else if (i == SO_ALGTEMP && s->gc.alg_temp > 0)
            snprintf(v, sizeof v, "%g (generation_config.json)", s->gc.alg_temp);
        else snprintf(v, sizeof v, "%s (official default)", TAB[i].dflt);
        k += (size_t)snprintf(buf + k, n - k, "%s%-16s %s\n", indent, TAB[i].flag, v);
    }
}

bool so_model_policy(const gencfg_t *gc, const model_t *m, char *buf, size_t n) {
    if (n) buf[0] = 0;
    if (gc->policy && gc->eps > 0 && !strcmp(gc->policy, "origin")) snprintf(buf, n, "origin:%.17g", gc->eps);
    else if (gc->policy) snprintf(buf, n, "%s", gc->policy);
    else if (m && m->cfg.default_policy) snprintf(buf, n, "%s", m->cfg.default_policy);
    else return false;
    return true;
}
