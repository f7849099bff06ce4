/* options.h — the effective sampler options of a generation, resolved in one place.
 *
 * Precedence, per option: the command line > the record (a canvas record's generation
 * length) > the model folder's generation_config.json > the official defaults
 * (ML-GSAI/LLaDA generate.py: gen_length 128, steps = block_length = the generation
 * length, temperature 0). The local denoise path, the cluster worker, `denoise --help` and
 * the start-up notice all go through so_resolve, so a worker and a local run given the same
 * model and flags sample with the same options.
 *
 * Adding an option: a SO_* id, a row in options.c's table (flag, generation_config.json key,
 * how the default reads in --help), and its line in so_resolve.
 */
#ifndef LLADA_DENOISE_OPTIONS_H
#define LLADA_DENOISE_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include "lerr.h"
#include "model/gencfg.h"
#include "denoise/sampler.h"

/* Options whose value can come from more than one place. */
typedef enum { SO_GEN, SO_STEPS, SO_BLOCK, SO_TEMP, SO_TOPP, SO_TOPK, SO_ALGTEMP, SO__N } so_id_t;
/* Where a value came from, lowest precedence first. */
typedef enum { SO_SRC_DEFAULT, SO_SRC_GENCFG, SO_SRC_RECORD, SO_SRC_CLI } so_src_t;

typedef struct {
    sampler_opts_t cli;       /* command-line values (only those with set[id] count for SO_*
                             options; the rest of cli is taken as is: cfg, seed, flags...) */
    bool set[SO__N];          /* given on the command line */
    gencfg_t gc;              /* the model's generation_config.json (gencfg_read; {0, -1}: none) */
    const char *const *names; /* optional [SO__N]: what the caller calls the set values in
                                   messages (serve: "max_tokens", "diffusion.steps", ...);
                                   NULL: the command-line flags */
} so_spec_t;

typedef struct {
    sampler_opts_t so; /* what the sampler runs with */
    so_src_t src[SO__N];
} so_resolved_t;

/* Official defaults, nothing set, no generation_config.json. */
void so_spec_init(so_spec_t *s);
/* Read DIR/generation_config.json into s->gc (EXIT_DATA when malformed). */
int so_spec_read_model(so_spec_t *s, const char *dir, lerr_t *e);
/* Resolve for one batch. record_gen > 0: the generation length a canvas record brings
 * (below the command line's --gen-length, which tokens records use). A
 * generation_config.json block length that does not divide the generation length is not
 * used (one block, as without it), nor its steps when they are not a multiple of the number
 * of blocks (then steps = the generation length). Its top_p, top_k and alg_temp (Dream's)
 * apply unless the command line gives --top-p, --top-k or --alg-temp (1, 0, 0 turn them off). Errors name the options and where each value came from
 * ("--gen-length 10 is not a multiple of --block-length 3"): EXIT_USAGE. */
int so_resolve(const so_spec_t *s, int record_gen, so_resolved_t *out, lerr_t *e);
/* The values generation_config.json supplied, as "block 4, T 0.8 (generation_config.json)";
 * "" when none did. */
void so_gencfg_note(const so_resolved_t *r, char *buf, size_t n);
/* The model's official remasking when none is given: generation_config.json's "alg"
 * (Dream; origin with its "eps"), else the family's (model.h cfg.default_policy: SDAR
 * dynamic:0.85, LLaDA 2.x dynamic:0.95). Writes the policy name into buf; false (buf "")
 * when the model has none (the sampler default, low_confidence, stands). */
bool so_model_policy(const gencfg_t *gc, const model_t *m, char *buf, size_t n);
/* --help lines: the default of every option for this spec, one per line, each starting
 * with `indent`; the spec's command-line values are ignored. */
void so_help_defaults(const so_spec_t *s, const char *indent, char *buf, size_t n);

#endif
