/* denoise — LLaDA's reverse process: token records in, generated tokens out.
 *
 *   tok | denoise [--steps N --gen-length N --block-length N ...] | detok
 *
 * Loads a LLaDA checkpoint (default: the bundled model), batches prompts of equal generation
 * length into one forward per step, and writes each record back with the prompt, the
 * generated tokens and the step that revealed each. --score adds cross-entropies to masked
 * records (likelihood), --logits emits raw logits. Records: docs/protocol.md; design and
 * parity: docs/denoise.md.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "paths.h"
#include "blas_env.h"
#include "model/model.h"
#include "denoise/bench.h"
#include "denoise/history.h"
#include "denoise/records.h"
#include "denoise/sampler.h"
#include "denoise/device.h"
#include "denoise/options.h"
#include "remask/remask.h"
#include "dist/dist.h"

enum { MODE_GEN, MODE_SCORE, MODE_LOGITS };

typedef struct {
    cli_t cli;
    int mode;
    const char *model_dir, *policy, *history, *device;
    so_spec_t spec; /* sampler options as given; so_resolve gives each batch's (options.h) */
    char note[160]; /* the last generation_config.json notice printed */
    bool help, policy_set, check_only, causal, post_steps_set;
    int mask_id, eos_id, eot_id; /* -1: the model's config.json */
    int batch, threads, bench;
    int precision;                       /* MODEL_PREC_* (--precision) */
    int bench_fast[3];                   /* --bench-fast P:G:B (P = 0: off) */
    const char *quantize, *quantize_out; /* --quantize TYPE OUT.gguf */
    bool quantize_rtn;                   /* --quantize-method rtn */
    dist_opts_t dist;                    /* --policy-endpoint, --worker, --remote, --broker (dist/dist.h) */
} opts_t;

static const char HELP[] =
    "Usage: denoise [OPTIONS]\n"
    "Generate text with a LLaDA masked diffusion model: reads token records (tok) or canvas\n"
    "records (mask --canvas), writes the prompt, the generated tokens and the step that\n"
    "revealed each (detok prints them). Exactly the official sampler (ML-GSAI/LLaDA generate.py).\n"
    "\n"
    "Model:\n"
    "      --model DIR           HF folder: config.json + model.safetensors or shards\n"
    "                            (default: $LLADA_MODEL, else the bundled models/default)\n"
    "      --threads N           CPU threads (default: all cores)\n"
    "      --mask-id N --eos-id N --eot-id N   special token ids (default: config.json's\n"
    "                            mask_token_id, eos_token_id, eot_token_id)\n"
    "      --precision P         GEMMs in f32 (default, exact), bf16 (bf16 inputs, fp32\n"
    "                            accumulation, as the official model) or int8 (weights per\n"
    "                            output channel, activations per row); weights prepacked at\n"
    "                            load (oneDNN; CPU; docs/denoise.md)\n"
    "      --device D            cpu, cuda (cuda:bf16, cuda:f32) or auto: generation on the\n"
    "                            GPU when one is usable, else the CPU with a notice (default:\n"
    "                            $LLADA_DEVICE, else auto without the notice; docs/gpu.md);\n"
    "                            --score, --logits and --bench use the CPU\n"
    "Sampler:\n"
    "      --gen-length N        tokens to generate after a tokens record's prompt\n"
    "      --steps N             reverse steps\n"
    "      --block-length N      semi-autoregressive block\n"
    "      --remasking NAME      low_confidence (default; a Dream generation_config.json's\n"
    "                            \"alg\" picks origin, topk_margin or entropy), random, ...\n"
    "      --schedule S          masks committed per step: the model's official rule (default;\n"
    "                            LLaDA linear, Dream timestep), linear, or timestep[:EPS]\n"
    "                            (Dream's linspace(1, EPS=1e-3) rule; docs/models.md)\n"
    "      --no-block-cache      block-diffusion models (SDAR): recompute the whole canvas\n"
    "                            every step instead of the exact block cache (bench)\n"
    "      --edit-threshold T    block-diffusion models: LLaDA 2.1's token editing, rewriting\n"
    "                            a block's generated tokens the model predicts otherwise with\n"
    "                            probability > T (editing_threshold; docs/models.md)\n"
    "      --max-post-steps N    with --edit-threshold: editing iterations after a block's\n"
    "                            masks are gone (default 16)\n"
    "      --eos-early-stop      block-diffusion models: LLaDA 2.0's eos_early_stop, stop as\n"
    "                            soon as a step commits EOS with no mask before it (default:\n"
    "                            stop after the block holding EOS)\n"
    "      --temperature T       0 = argmax; > 0 = Gumbel-max sampling in float64\n"
    "                            (the defaults of these and of the next three for the model\n"
    "                            in use are listed at the end; flags override a Dream folder's\n"
    "                            generation_config.json: steps, temperature, top_p, top_k,\n"
    "                            alg_temp, alg, eps)\n"
    "      --top-p P, --top-k K  Dream's token filters before the token and its confidence are\n"
    "                            taken (top_p, top_k of diffusion_generate; CPU; default off;\n"
    "                            --top-p 1 / --top-k 0 turn a generation_config.json's off)\n"
    "      --alg-temp T          Dream's alg_temp: draw the committed positions from\n"
    "                            softmax(confidence / T) instead of the most confident\n"
    "      --cfg S               classifier-free guidance scale (default 0 = off)\n"
    "      --cache MODE          none (default: every step runs the whole canvas, exact),\n"
    "                            prefix or dual: approximate KV cache (Fast-dLLM): a block's\n"
    "                            first step runs the whole canvas and keeps every layer's K/V;\n"
    "                            later steps recompute from the block start on (prefix) or the\n"
    "                            block only (dual) against it (CPU; docs/denoise.md)\n"
    "      --cache-refresh N     also rerun the whole canvas every N steps of a block\n"
    "      --logits-eos-inf      never predict EOS (official flag)\n"
    "      --confidence-eos-eot-inf  rank EOS/EOT predictions last (official flag, with its\n"
    "                            quirks: see docs/denoise.md)\n"
    "      --fixed-eos           the two flags as documented rather than as implemented\n"
    "      --seed N              random seed (default 0); draws are keyed by record and step\n"
    "      --causal              run a train --objective ar checkpoint left to right: causal\n"
    "                            attention, position p predicted from row p-1; with\n"
    "                            --block-length 1 --steps = gen length: greedy AR decoding\n"
    "                            (CPU only, not with --cache; docs/reversal.md)\n"
    "      --batch N             records per forward pass (default 1)\n"
    "      --history FILE        multi-turn chat: prepend the conversation in FILE (previous\n"
    "                            prompt + answer without EOS, as chat.py) to each record's\n"
    "                            tokens (minus their BOS), then save the new conversation\n"
    "Other modes:\n"
    "      --score               masked records (mask --likelihood / --sft) -> add \"ce\" and\n"
    "                            \"n_masked\" (with --cfg S: unconditional = prompt masked)\n"
    "      --logits              add \"logits\" f4 [L][vocab] of each record's tokens\n"
    "      --bench L             time the forward on a random canvas of L tokens against\n"
    "                            OpenBLAS sgemm on the same shapes; prints JSON (no input)\n"
    "      --bench-fast P:G:B    time exact, --cache prefix/dual steps in each --precision on\n"
    "                            a canvas of P prompt + G generated tokens, blocks of B, and\n"
    "                            the GEMM ceilings (sgemm, oneDNN bf16); prints JSON;\n"
    "                            with --precision bf16|int8 only that precision\n"
    "      --quantize TYPE OUT.gguf  write the model as a GGUF file (llama.cpp's layout) with\n"
    "                            matrices in TYPE: q8_0, q4_k, q4_k_m, q5_k, q5_k_m, q4_0,\n"
    "                            q5_0, q5_1, q6_k, f16, bf16, f32 (no input; docs/gguf.md);\n"
    "                            rows that no block of TYPE divides go in q8_0 (or f16),\n"
    "                            as llama-quantize does. --model also takes FILE.gguf\n"
    "      --quantize-method M   search (default: searched block scales, never worse per block)\n"
    "                            or rtn (round to nearest with the simple scales)\n"
    "      --check-options       check the options against the model's generation_config.json\n"
    "                            and exit 0 or 2, reading no input (pipelines run it first)\n" DIST_HELP
    "\n" CLI_COMMON_HELP "\nRecords: docs/protocol.md (denoise). Parity and speed: docs/denoise.md.\n";

enum {
    O_MODEL = CLI_OPT__LAST,
    O_GEN,
    O_STEPS,
    O_BLOCK,
    O_REMASK,
    O_TEMP,
    O_CFG,
    O_EOSINF,
    O_CONFINF,
    O_FIXED,
    O_SEED,
    O_BATCH,
    O_SCORE,
    O_LOGITS,
    O_THREADS,
    O_BENCH,
    O_HISTORY,
    O_DEVICE,
    O_QUANTIZE,
    O_QMETHOD,
    O_SCHED,
    O_NOBCACHE,
    O_CHECK,
    O_MASKID,
    O_EOSID,
    O_EOTID,
    O_CACHE,
    O_CACHE_REFRESH,
    O_PRECISION,
    O_BENCH_FAST,
    O_CAUSAL,
    O_EDIT,
    O_POSTSTEPS,
    O_TOPP,
    O_TOPK,
    O_ALGTEMP,
    O_EOSEARLY
};

static const struct option LONGOPTS[] = {{"model", required_argument, 0, O_MODEL},
                                         {"gen-length", required_argument, 0, O_GEN},
                                         {"steps", required_argument, 0, O_STEPS},
                                         {"block-length", required_argument, 0, O_BLOCK},
                                         {"remasking", required_argument, 0, O_REMASK},
                                         {"temperature", required_argument, 0, O_TEMP},
                                         {"cfg", required_argument, 0, O_CFG},
                                         {"logits-eos-inf", no_argument, 0, O_EOSINF},
                                         {"confidence-eos-eot-inf", no_argument, 0, O_CONFINF},
                                         {"fixed-eos", no_argument, 0, O_FIXED},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"batch", required_argument, 0, O_BATCH},
                                         {"score", no_argument, 0, O_SCORE},
                                         {"logits", no_argument, 0, O_LOGITS},
                                         {"threads", required_argument, 0, O_THREADS},
                                         {"bench", required_argument, 0, O_BENCH},
                                         {"history", required_argument, 0, O_HISTORY},
                                         {"device", required_argument, 0, O_DEVICE},
                                         {"cache", required_argument, 0, O_CACHE},
                                         {"cache-refresh", required_argument, 0, O_CACHE_REFRESH},
                                         {"precision", required_argument, 0, O_PRECISION},
                                         {"bench-fast", required_argument, 0, O_BENCH_FAST},
                                         {"quantize", required_argument, 0, O_QUANTIZE},
                                         {"quantize-method", required_argument, 0, O_QMETHOD},
                                         {"schedule", required_argument, 0, O_SCHED},
                                         {"no-block-cache", no_argument, 0, O_NOBCACHE},
                                         {"causal", no_argument, 0, O_CAUSAL},
                                         {"check-options", no_argument, 0, O_CHECK},
                                         {"mask-id", required_argument, 0, O_MASKID},
                                         {"eos-id", required_argument, 0, O_EOSID},
                                         {"eot-id", required_argument, 0, O_EOTID},
                                         {"top-p", required_argument, 0, O_TOPP},
                                         {"top-k", required_argument, 0, O_TOPK},
                                         {"alg-temp", required_argument, 0, O_ALGTEMP},
                                         {"eos-early-stop", no_argument, 0, O_EOSEARLY},
                                         {"edit-threshold", required_argument, 0, O_EDIT},
                                         {"max-post-steps", required_argument, 0, O_POSTSTEPS},
                                         DIST_LONGOPTS,
                                         CLI_COMMON_LONGOPTS,
                                         {0, 0, 0, 0}};

static long long int_arg(opts_t *o, const char *name, const char *arg, long long lo, long long hi) {
    return cli_int_arg(&o->cli, name, arg, lo, hi);
}

static double num_arg(opts_t *o, const char *name, const char *arg) {
    bool ok;
    double v = cli_parse_double(arg, &ok);
    if (!ok || !(v >= 0 && v < 1e6)) cli_usage_error(&o->cli, "%s needs a number >= 0, got '%s'", name, arg);
    return v;
}

static void parse_one(opts_t *o, int c, const char *arg) {
    sampler_opts_t *so = &o->spec.cli;
    switch (c) {
    case 'h': o->help = true; break; /* printed after parsing: the defaults depend on --model */
    case O_MODEL: o->model_dir = arg; break;
    case O_GEN:
        so->gen_length = (int)int_arg(o, "--gen-length", arg, 1, 1 << 20);
        o->spec.set[SO_GEN] = true;
        break;
    case O_STEPS:
        so->steps = (int)int_arg(o, "--steps", arg, 1, 1 << 20);
        o->spec.set[SO_STEPS] = true;
        break;
    case O_BLOCK:
        so->block_length = (int)int_arg(o, "--block-length", arg, 1, 1 << 20);
        o->spec.set[SO_BLOCK] = true;
        break;
    case O_REMASK:
        o->policy = arg;
        o->policy_set = true;
        break;
    case O_TEMP:
        so->temperature = num_arg(o, "--temperature", arg);
        o->spec.set[SO_TEMP] = true;
        break;
    case O_CFG: so->cfg_scale = num_arg(o, "--cfg", arg); break;
    case O_EOSINF: so->logits_eos_inf = true; break;
    case O_CONFINF: so->conf_eos_eot_inf = true; break;
    case O_FIXED: so->fixed_eos = true; break;
    case O_SEED: so->seed = (uint64_t)int_arg(o, "--seed", arg, 0, INT64_MAX); break;
    case O_BATCH: o->batch = (int)int_arg(o, "--batch", arg, 1, 4096); break;
    case O_SCORE: o->mode = MODE_SCORE; break;
    case O_LOGITS: o->mode = MODE_LOGITS; break;
    case O_BENCH: o->bench = (int)int_arg(o, "--bench", arg, 1, 1 << 16); break;
    case O_HISTORY: o->history = arg; break;
    case O_CAUSAL: o->causal = true; break;
    case O_QUANTIZE:
        if (!model_gguf_type_ok(arg))
            cli_usage_error(&o->cli, "--quantize: unknown type '%s' (q8_0, q4_k, q4_k_m, q5_k, q5_k_m, q4_0, q5_0, q5_1, q6_k, f16, bf16, f32)",
                            arg);
        o->quantize = arg;
        break;
    case O_QMETHOD:
        if (strcmp(arg, "search") && strcmp(arg, "rtn"))
            cli_usage_error(&o->cli, "--quantize-method: unknown method '%s' (search, rtn)", arg);
        o->quantize_rtn = !strcmp(arg, "rtn");
        break;
    case O_CHECK: o->check_only = true; break;
    case O_MASKID: o->mask_id = (int)int_arg(o, "--mask-id", arg, 0, INT32_MAX); break;
    case O_EOSID: o->eos_id = (int)int_arg(o, "--eos-id", arg, 0, INT32_MAX); break;
    case O_EOTID: o->eot_id = (int)int_arg(o, "--eot-id", arg, 0, INT32_MAX); break;
    case O_DEVICE: {
        lerr_t e = {0};
        if (denoise_device_check(arg, &e)) cli_usage_error(&o->cli, "%s", e.msg);
        o->device = arg;
        break;
    }
    case O_THREADS: o->threads = (int)int_arg(o, "--threads", arg, 1, 64); break;
    case O_CACHE:
        if (!strcmp(arg, "none")) so->cache = SAMPLER_CACHE_NONE;
        else if (!strcmp(arg, "prefix")) so->cache = SAMPLER_CACHE_PREFIX;
        else if (!strcmp(arg, "dual")) so->cache = SAMPLER_CACHE_DUAL;
        else cli_usage_error(&o->cli, "--cache needs none, prefix or dual, got '%s'", arg);
        break;
    case O_BENCH_FAST: {
        char tail;
        if (sscanf(arg, "%d:%d:%d%c", &o->bench_fast[0], &o->bench_fast[1], &o->bench_fast[2], &tail) != 3 ||
            o->bench_fast[0] < 1 || o->bench_fast[2] < 1 || o->bench_fast[1] < o->bench_fast[2] ||
            o->bench_fast[1] % o->bench_fast[2] || o->bench_fast[0] + o->bench_fast[1] > 1 << 16)
            cli_usage_error(&o->cli, "--bench-fast needs PROMPT:GEN:BLOCK with GEN a multiple of BLOCK, got '%s'", arg);
        break;
    }
    case O_PRECISION:
        if ((o->precision = model_precision_parse(arg)) < 0)
            cli_usage_error(&o->cli, "--precision needs f32, bf16 or int8, got '%s'", arg);
        break;
    case O_CACHE_REFRESH: so->cache_refresh = (int)int_arg(o, "--cache-refresh", arg, 1, 1 << 20); break;
    case O_NOBCACHE: so->block_cache_off = true; break;
    case O_TOPP:
        so->top_p = num_arg(o, "--top-p", arg);
        if (!(so->top_p > 0 && so->top_p <= 1))
            cli_usage_error(&o->cli, "--top-p needs a probability in (0, 1], got '%s'", arg);
        o->spec.set[SO_TOPP] = true;
        break;
    case O_TOPK:
        so->top_k = (int)int_arg(o, "--top-k", arg, 0, 1 << 30);
        o->spec.set[SO_TOPK] = true;
        break;
    case O_EOSEARLY: so->eos_early_stop = true; break;
    case O_ALGTEMP:
        so->alg_temp = num_arg(o, "--alg-temp", arg);
        o->spec.set[SO_ALGTEMP] = true;
        break;
    case O_EDIT:
        so->edit = true;
        so->edit_threshold = num_arg(o, "--edit-threshold", arg);
        if (so->edit_threshold > 1)
            cli_usage_error(&o->cli, "--edit-threshold needs a probability in [0, 1], got '%s'", arg);
        break;
    case O_POSTSTEPS:
        so->max_post_steps = (int)int_arg(o, "--max-post-steps", arg, 0, 1 << 20);
        o->post_steps_set = true;
        break;
    case O_SCHED:
        if (!strcmp(arg, "model")) so->schedule = SAMPLER_SCHED_MODEL;
        else if (!strcmp(arg, "linear")) so->schedule = SAMPLER_SCHED_LINEAR;
        else if (!strncmp(arg, "timestep", 8) && (!arg[8] || arg[8] == ':')) {
            so->schedule = SAMPLER_SCHED_TIMESTEP;
            if (arg[8]) {
                so->schedule_eps = num_arg(o, "--schedule timestep:EPS", arg + 9);
                if (!(so->schedule_eps > 0 && so->schedule_eps < 1))
                    cli_usage_error(&o->cli, "--schedule timestep:EPS needs 0 < EPS < 1");
            }
        } else cli_usage_error(&o->cli, "--schedule must be model, linear or timestep[:EPS], not '%s'", arg);
        break;
    default:
        if (!dist_option(&o->dist, &o->cli, c, arg) && !cli_common_option(&o->cli, c, arg, HELP))
            cli_usage_error(&o->cli, "unknown option");
    }
}

static void parse(opts_t *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    cli_init(&o->cli, "denoise");
    o->policy = "low_confidence";
    so_spec_init(&o->spec);
    o->spec.cli.max_post_steps = 16; /* LLaDA 2.1 generate()'s default */
    o->mask_id = o->eos_id = o->eot_id = -1;
    o->batch = 1;
    int c;
    while ((c = cli_getopt(&o->cli, argc, argv, CLI_COMMON_SHORTOPTS, LONGOPTS)) != -1) parse_one(o, c, optarg);
    if (o->post_steps_set && !o->spec.cli.edit)
        cli_usage_error(&o->cli, "--max-post-steps applies to token editing: give --edit-threshold T too");
    if (o->quantize) {
        if (optind >= argc)
            cli_usage_error(&o->cli, "--quantize TYPE needs an output file: --quantize %s OUT.gguf", o->quantize);
        o->quantize_out = argv[optind++];
    }
    if (optind < argc) cli_usage_error(&o->cli, "unexpected argument '%s'", argv[optind]);
    if (o->history && (o->batch != 1 || o->mode != MODE_GEN))
        cli_usage_error(&o->cli, "--history works with generation and --batch 1 only");
}

/* Per-batch sampler options (options.h); record_gen > 0 for a canvas record's length. A
 * notice names the values generation_config.json supplied, when they change. Options that
 * cannot work with a record are bad data (EXIT_DATA). */
static int batch_opts(opts_t *o, int record_gen, sampler_opts_t *so, lerr_t *e) {
    so_resolved_t r;
    if (so_resolve(&o->spec, record_gen, &r, e)) {
        e->code = EXIT_DATA;
        return -1;
    }
    *so = r.so;
    char note[sizeof o->note];
    so_gencfg_note(&r, note, sizeof note);
    if (note[0] && strcmp(note, o->note)) cli_notice(&o->cli, "%s", note);
    memcpy(o->note, note, sizeof note);
    return 0;
}

/* Progress on one line; on a terminal the line is erased when done (nothing is left to mix
 * with the answer or a prompt), elsewhere it ends with a newline. */
static void progress(int step, int steps, void *arg) {
    fprintf(stderr, "\r%s: step %d/%d", (const char *)arg, step, steps);
    if (step == steps) fputs(isatty(2) ? "\r\033[K" : "\n", stderr);
}

typedef struct {
    opts_t *o;
    model_t *m;
    rm_policy_t *pol;
    wstream_t *w;
    rec_t **recs;
    rec_canvas_t *rc;
    int64_t *idx;
    int n;
} batch_t;

static void flush_gen(batch_t *b) {
    lerr_t e = {0};
    canvas_batch_t cb;
    sampler_opts_t so;
    if (!b->n) return;
    if (b->rc[0].gen <= 0) cli_dief(&b->o->cli, EXIT_DATA, "record %lld has nothing to generate", (long long)b->idx[0]);
    if (batch_opts(b->o, b->rc[0].canvas ? b->rc[0].gen : 0, &so, &e) ||
        canvas_batch_build(&cb, b->rc, b->idx, b->n, b->m, &e))
        cli_die(&b->o->cli, &e);
    if (sampler_run(b->m, b->pol, &so, &cb, cli_progress_on(&b->o->cli) ? progress : NULL, (void *)b->o->cli.tool, &e))
        cli_die(&b->o->cli, &e);
    for (int j = 0; j < b->n; j++) {
        if (canvas_batch_result(&cb, j, &b->rc[j], b->recs[j], &e) ||
            (b->o->history && history_save(b->recs[j], b->o->history, &e)) || wstream_write(b->w, b->recs[j], &e) ||
            wstream_flush(b->w, &e))
            cli_die(&b->o->cli, &e);
        rec_destroy(&b->recs[j]);
    }
    canvas_batch_free(&cb);
    b->n = 0;
}

static void flush_score(batch_t *b) {
    lerr_t e = {0};
    if (!b->n) return;
    if (score_records(b->m, b->recs, b->n, b->o->spec.cli.cfg_scale, &e)) cli_die(&b->o->cli, &e);
    for (int j = 0; j < b->n; j++) {
        if (wstream_write(b->w, b->recs[j], &e)) cli_die(&b->o->cli, &e);
        rec_destroy(&b->recs[j]);
    }
    b->n = 0;
}

static size_t masked_len(const rec_t *r) {
    tensor_t *t = rec_tensor(r, "xt");
    return t ? t->numel : 0;
}

/* Add one record to the batch, flushing first when it cannot join. */
static void add_record(batch_t *b, rec_t *r, int64_t idx) {
    lerr_t e = {0};
    opts_t *o = b->o;
    if (o->mode == MODE_SCORE) {
        if (!rec_kind_is(r, "masked"))
            cli_dief(&o->cli, EXIT_DATA, "record %lld: --score needs \"masked\" records", (long long)idx);
        if (b->n && masked_len(b->recs[0]) != masked_len(r)) flush_score(b);
        b->recs[b->n++] = r;
        if (b->n == o->batch) flush_score(b);
        return;
    }
    if (!rec_kind_is(r, "tokens") && !rec_kind_is(r, "canvas"))
        cli_dief(&o->cli, EXIT_DATA, "record %lld: expected a \"tokens\" or \"canvas\" record", (long long)idx);
    rec_canvas_t rc;
    if (o->history && !rec_kind_is(r, "canvas") && history_prepend(r, o->history, b->m, &e)) cli_die(&o->cli, &e);
    if (rec_canvas_parse(r, b->m, o->spec.cli.gen_length, &rc, &e)) {
        lerr_wrap(&e, "record %lld", (long long)idx);
        cli_die(&o->cli, &e);
    }
    if (b->n && b->rc[0].gen != rc.gen) flush_gen(b);
    b->recs[b->n] = r;
    b->rc[b->n] = rc;
    b->idx[b->n++] = idx;
    if (b->n == o->batch) flush_gen(b); /* a full batch goes now: interactive pipes see results */
}

/* --mask-id, --eos-id, --eot-id over config.json's ids; a notice when an EOT flag has no
 * EOT id to act on (the model's config names none inside its vocabulary). */
static void set_ids(opts_t *o, model_t *m) {
    llada_config_t *c = &m->cfg;
    const int E = c->embedding_size;
    const struct {
        const char *flag;
        int v;
        int32_t *dst;
    } ids[] = {{"--mask-id", o->mask_id, &c->mask_token_id},
               {"--eos-id", o->eos_id, &c->eos_token_id},
               {"--eot-id", o->eot_id, &c->eot_token_id}};
    for (int i = 0; i < 3; i++) {
        if (ids[i].v < 0) continue;
        if (ids[i].v >= E)
            cli_usage_error(&o->cli, "%s %d is outside the model's vocabulary [0, %d)", ids[i].flag, ids[i].v, E);
        *ids[i].dst = ids[i].v;
    }
    const sampler_opts_t *so = &o->spec.cli;
    if (o->mode == MODE_GEN && (so->conf_eos_eot_inf || (so->fixed_eos && so->logits_eos_inf)) &&
        (c->eot_token_id < 0 || c->eot_token_id >= E))
        cli_notice(&o->cli,
                   "%s: the model has no EOT id (config.json eot_token_id); only EOS is affected: pass "
                   "--eot-id N for EOT too",
                   so->conf_eos_eot_inf ? "--confidence-eos-eot-inf" : "--logits-eos-inf --fixed-eos");
}

/* The model folder: --model, $LLADA_MODEL or the bundled one (NULL when none; caller frees). */
static char *model_dir(const opts_t *o) { return o->model_dir ? strdup(o->model_dir) : default_model_dir(); }

/* --help: the text, then the sampler defaults for the model in use (its
 * generation_config.json, read without loading the model). */
static void print_help(opts_t *o) {
    char *dir = model_dir(o), lines[2048];
    lerr_t e = {0};
    so_spec_t s;
    so_spec_init(&s);
    int bad = dir && so_spec_read_model(&s, dir, &e);
    so_help_defaults(&s, "  ", lines, sizeof lines);
    printf("%s\nSampler defaults for %s%s%s:\n%s", HELP, dir ? "the model " : "no model",
           dir ? dir : " (official defaults)", bad ? " (its generation_config.json is malformed)" : "", lines);
    free(dir);
    cli_close_stdout(&o->cli);
    exit(EXIT_OK);
}

int main(int argc, char **argv) {
    blas_ensure_coretype(argv);
    opts_t o;
    parse(&o, argc, argv);
    if (o.help) print_help(&o);
    /* sizes the broker's request deadline */
    o.dist.steps_hint = o.spec.set[SO_STEPS] ? o.spec.cli.steps : o.spec.cli.gen_length;
    int drc = o.check_only ? -1 : dist_main_nomodel(&o.dist, &o.cli); /* --broker / --remote: no model here */
    if (drc >= 0) return drc;
    if (o.threads) kern_set_threads(o.threads);
    lerr_t e = {0};
    rm_policy_t *pol =
        o.dist.policy_endpoint && !o.check_only ? dist_remote_policy(&o.dist, &o.cli) : rm_policy_new(o.policy, &e);
    if (!pol) cli_usage_error(&o.cli, "%s", e.msg);
    char *dir = model_dir(&o);
    if (!dir) cli_dief(&o.cli, EXIT_USAGE, "no model: pass --model DIR or set LLADA_MODEL (models/default is absent)");
    if (so_spec_read_model(&o.spec, dir, &e)) cli_die(&o.cli, &e);
    const gencfg_t *gc = &o.spec.gc;
    if (o.mode == MODE_GEN && !o.bench && !o.quantize) { /* before any input: the options for tokens records */
        sampler_opts_t so;
        /* canvas records bring their own length, so only a given --gen-length must fit now */
        if (batch_opts(&o, 0, &so, &e) && o.spec.set[SO_GEN]) cli_usage_error(&o.cli, "%s", e.msg);
    }
    /* --causal runs whole-canvas forwards only: the KV-cache band passes are bidirectional */
    if (o.causal && (o.spec.cli.cache || o.bench_fast[0]))
        cli_usage_error(&o.cli, "--causal does not combine with --cache prefix|dual or --bench-fast");
    if (o.check_only) {
        free(dir);
        rm_policy_destroy(&pol);
        return EXIT_OK;
    }
    model_t *m = model_load(dir, &e);
    free(dir);
    if (!m) cli_die(&o.cli, &e);
    if (o.causal) { /* an AR checkpoint: causal attention + shifted logits, on the CPU */
        if (m->cfg.attn_block > 0)
            cli_usage_error(&o.cli, "--causal: this is a block-diffusion model (block-causal already); "
                                    "--causal is for train --objective ar checkpoints");
        if (m->cfg.logits_shift)
            cli_usage_error(&o.cli, "--causal: this model already shifts its logits (Dream); "
                                    "--causal is for train --objective ar checkpoints");
        if (o.device && strncmp(o.device, "cuda", 4) == 0)
            cli_usage_error(&o.cli, "--causal runs on the CPU only (--device cpu)");
        o.device = "cpu";
        m->cfg.causal = m->cfg.logits_shift = true;
    }
    if (o.precision && model_set_precision(m, o.precision, &e)) {
        model_destroy(&m);
        cli_die(&o.cli, &e);
    }
    set_ids(&o, m);
    /* the model's official remasking: generation_config.json's "alg" (Dream), else its family's */
    char name[64];
    if (!o.policy_set && !o.dist.policy_endpoint && so_model_policy(gc, m, name, sizeof name)) {
        rm_policy_destroy(&pol);
        if (!(pol = rm_policy_new(name, &e))) cli_die(&o.cli, &e);
    }
    if (o.quantize) {
        int fallback = model_save_gguf(m, o.quantize_out, o.quantize, !o.quantize_rtn, &e);
        if (fallback < 0) cli_die(&o.cli, &e);
        if (fallback && !o.cli.quiet)
            fprintf(stderr, "%s: %d matrices have rows that are not a multiple of the %s block: written as "
                    "llama-quantize falls back (q4_k as q5_0, q5_k as q5_1, q6_k as q8_0; f16 where not a multiple "
                    "of 32)\n", o.cli.tool, fallback, o.quantize);
        model_destroy(&m);
        rm_policy_destroy(&pol);
        cli_close_stdout(&o.cli);
        return EXIT_OK;
    }
    if (o.bench || o.bench_fast[0]) {
        if (o.bench ? denoise_bench(m, o.bench, 5, blas_corename(), &e)
                    : denoise_bench_fast(m, o.bench_fast[0], o.bench_fast[1], o.bench_fast[2], 3,
                                         o.precision ? o.precision : -1, blas_corename(), &e))
            cli_die(&o.cli, &e);
        model_destroy(&m);
        rm_policy_destroy(&pol);
        cli_close_stdout(&o.cli);
        return EXIT_OK;
    }
    denoise_device_t dev;
    char notice[320];
    /* --cache, --precision and top-p / top-k run on the CPU unless a device is named. --precision: the CUDA
     * backend has no oneDNN GEMMs (its own precision is --device cuda:bf16). --cache: the
     * CUDA backend has it (denoise/cuda/cached.cu), but until it is validated on a GPU,
     * `auto` does not pick it; --device cuda asks for it explicitly (docs/denoise.md). */
    const sampler_opts_t *sc = &o.spec.cli;
    /* Dream's top-p / top-k filters (flags or generation_config.json) run on the CPU too */
    bool filt = (o.spec.set[SO_TOPP] ? sc->top_p > 0 && sc->top_p < 1 : gc->top_p > 0 && gc->top_p < 1) ||
                (o.spec.set[SO_TOPK] ? sc->top_k > 0 : gc->top_k > 0);
    const char *dspec =
        o.mode != MODE_GEN || ((sc->cache || o.precision || filt) && !o.device) ? "cpu" : o.device;
    if (denoise_device_open(&dev, dspec, m, notice, sizeof notice, &e)) cli_die(&o.cli, &e);
    if (notice[0]) cli_notice(&o.cli, "%s", notice);
    o.spec.cli.backend = denoise_device_backend(&dev);
    if (o.spec.cli.backend && o.precision)
        cli_usage_error(&o.cli, "--precision runs on the CPU only (use --device cpu; the GPU's is --device cuda:bf16)");
    if (o.dist.worker) return dist_worker(&o.dist, &o.cli, m, pol, &o.spec, o.batch);
    rstream_t *in = cli_open_input(&o.cli);
    wstream_t *w = cli_open_output(&o.cli);
    batch_t b = {&o,
                 m,
                 pol,
                 w,
                 calloc((size_t)o.batch, sizeof(rec_t *)),
                 calloc((size_t)o.batch, sizeof(rec_canvas_t)),
                 calloc((size_t)o.batch, sizeof(int64_t)),
                 0};
    if (!b.recs || !b.rc || !b.idx) cli_dief(&o.cli, EXIT_INTERNAL, "out of memory");
    rec_t *r;
    int rc;
    int64_t idx = 0;
    while ((rc = rstream_read(in, &r, &e)) == 1) {
        if (o.mode == MODE_LOGITS) {
            if (logits_record(m, r, &e) || wstream_write(w, r, &e)) cli_die(&o.cli, &e);
            rec_destroy(&r);
        } else {
            add_record(&b, r, idx);
        }
        idx++;
    }
    if (rc < 0) cli_die(&o.cli, &e);
    if (o.mode == MODE_SCORE) flush_score(&b);
    else flush_gen(&b);
    rstream_destroy(&in);
    cli_close_output(&o.cli, &w);
    free(b.recs);
    free(b.rc);
    free(b.idx);
    rm_policy_destroy(&pol);
    denoise_device_close(&dev);
    model_destroy(&m);
    return EXIT_OK;
}
