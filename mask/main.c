/* mask — the forward process of masked diffusion: training data (Algorithms 1 and 2), the
 * Monte-Carlo likelihood masks of Algorithm 3, generation canvases, and the reducers that
 * turn scored samples into likelihood bounds and multiple-choice answers.
 *
 * Records in and out are described in docs/protocol.md (mask section); data-prep recipes in
 * docs/data-prep.md. Every random draw is keyed by (seed, stream, unit index, purpose), so a
 * `--shard I/N` run writes exactly the units with index % N == I of a full run.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include "cli.h"
#include "paths.h"
#include "eval/choices.h"
#include "mask/modelids.h"
#include "noise.h"
#include "mask/pack.h"
#include "mask/records.h"
#include "eval/reduce.h"

enum { M_NONE, M_PRETRAIN, M_SFT, M_LIKELIHOOD, M_CANVAS, M_REDUCE, M_CHOOSE, M_EXPAND, M_JOIN };

typedef struct {
    cli_t cli;
    int mode;
    noise_cfg_t nc;
    const char *model;
    int64_t mask_id, eos_id, sep; /* -1: from the model / none */
    int64_t vocab;                /* ids the model takes (config.json); -1: unknown (ids given by hand) */
    bool sep_none, drop_last, skip_long, bitmap, text;
    size_t length, pad_batch, mc, batch, gen_length;
    bool length_set, batch_set;
    uint64_t shard_i, shard_n;
} opts_t;

static const char HELP[] =
    "Usage: mask MODE [OPTIONS]\n"
    "The forward (masking) process of LLaDA-style diffusion models, and likelihood reducers.\n"
    "\n"
    "Modes:\n"
    "      --pretrain        pack token records into sequences and mask them (Algorithm 1)\n"
    "      --sft             mask the answers of prompt/answer records, EOS-padded (Algorithm 2)\n"
    "      --likelihood      Monte-Carlo masks of the likelihood estimator (Algorithm 3)\n"
    "      --canvas          prompt + --gen-length mask tokens, for denoise\n"
    "      --reduce          scored samples (denoise --score) -> likelihood bound per group\n"
    "      --choose          likelihood records with question/choice/answer -> predictions\n"
    "      --expand-choices  questions {context, choices, answer} -> text records for tok\n"
    "      --join            token records (context, whole) two by two -> prompt/answer pairs\n"
    "\n"
    "Options:\n"
    "      --model DIR       model folder for mask/EOS ids (default: the bundled model)\n"
    "      --mask-id N       mask token id (default: config.json mask_token_id)\n"
    "      --eos-id N        EOS token id (default: config.json eos_token_id)\n"
    "      --seed N          random seed (default 0)\n"
    "      --stream N        extra key for independently prepared inputs (default 0)\n"
    "      --shard I/N       write only units with index % N == I (default 0/1)\n"
    "      --length N        pretrain: sequence length (default 4096);\n"
    "                        sft: pad prompt+answer with EOS to N tokens (default 4096)\n"
    "      --eps E           minimum mask probability: p = (1-eps) t + eps (default 0.001)\n"
    "      --crop F          pretrain: fraction of sequences cropped to U{1..length} (0.01)\n"
    "      --sep ID|none     pretrain: token after each document (default: EOS)\n"
    "      --drop-last       pretrain: drop the final partial sequence\n"
    "      --pad-batch B     sft: pad to the longest of each B consecutive records instead\n"
    "      --skip-long       sft: skip records longer than --length (default: error)\n"
    "      --mc N            likelihood: Monte-Carlo samples per pair (default 128)\n"
    "      --batch B         likelihood: stratification batch, N % B == 0 (default min(16,N))\n"
    "      --gen-length N    canvas: mask tokens appended to the prompt (default 128)\n"
    "      --bitmap          pretrain/sft: write the mask as a bit array \"mask\" (u1,\n"
    "                        ceil(L/8) bytes, LSB first) instead of \"xt\": half the bytes\n"
    "      --lz4-level N     level of *.mp.lz4 outputs: 0 fast (default), <0 faster\n"
    "      --text            reduce/choose: tab-separated lines on stdout instead of records\n"
    "                        (reduce: group bound se answer_len [id]; choose: question\n"
    "                        pred answer correct|wrong, then: accuracy A C/N)\n"
    "\n" CLI_COMMON_HELP "\nExamples:\n"
    "  tok < corpus.txt | mask --pretrain --seed 1 -o train.mp.lz4\n"
    "  mask --pretrain --seed 1 --shard 3/16 -i tokens.mp.lz4 -o train-03.mp.lz4\n"
    "  tok --jsonl --chat --no-gen-prompt < chats.jsonl | mask --sft -o sft.mp.lz4\n"
    "  mask --likelihood --mc 128 < pairs.mp | denoise --score | mask --reduce --text\n"
    "  tok < prompt.txt | mask --canvas --gen-length 64 | denoise | detok\n"
    "\nRecords: docs/protocol.md (mask). Recipes: docs/data-prep.md.\n";

enum {
    O_PRETRAIN = CLI_OPT__LAST,
    O_EXPAND,
    O_JOIN,
    O_SFT,
    O_LIKELIHOOD,
    O_CANVAS,
    O_REDUCE,
    O_CHOOSE,
    O_MODEL,
    O_MASKID,
    O_EOSID,
    O_SEED,
    O_STREAM,
    O_SHARD,
    O_LENGTH,
    O_EPS,
    O_CROP,
    O_SEP,
    O_DROPLAST,
    O_PADBATCH,
    O_SKIPLONG,
    O_MC,
    O_BATCH,
    O_GENLEN,
    O_BITMAP,
    O_LZ4LEVEL,
    O_TEXT
};

static const struct option LONGOPTS[] = {{"pretrain", no_argument, 0, O_PRETRAIN},
                                         {"sft", no_argument, 0, O_SFT},
                                         {"likelihood", no_argument, 0, O_LIKELIHOOD},
                                         {"canvas", no_argument, 0, O_CANVAS},
                                         {"expand-choices", no_argument, 0, O_EXPAND},
                                         {"join", no_argument, 0, O_JOIN},
                                         {"reduce", no_argument, 0, O_REDUCE},
                                         {"choose", no_argument, 0, O_CHOOSE},
                                         {"model", required_argument, 0, O_MODEL},
                                         {"mask-id", required_argument, 0, O_MASKID},
                                         {"eos-id", required_argument, 0, O_EOSID},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"stream", required_argument, 0, O_STREAM},
                                         {"shard", required_argument, 0, O_SHARD},
                                         {"length", required_argument, 0, O_LENGTH},
                                         {"eps", required_argument, 0, O_EPS},
                                         {"crop", required_argument, 0, O_CROP},
                                         {"sep", required_argument, 0, O_SEP},
                                         {"drop-last", no_argument, 0, O_DROPLAST},
                                         {"pad-batch", required_argument, 0, O_PADBATCH},
                                         {"skip-long", no_argument, 0, O_SKIPLONG},
                                         {"mc", required_argument, 0, O_MC},
                                         {"batch", required_argument, 0, O_BATCH},
                                         {"gen-length", required_argument, 0, O_GENLEN},
                                         {"bitmap", no_argument, 0, O_BITMAP},
                                         {"lz4-level", required_argument, 0, O_LZ4LEVEL},
                                         {"text", no_argument, 0, O_TEXT},
                                         CLI_COMMON_LONGOPTS,
                                         {0, 0, 0, 0}};

static long long int_arg(opts_t *o, const char *name, const char *arg, long long lo, long long hi) {
    return cli_int_arg(&o->cli, name, arg, lo, hi);
}

static double prob_arg(opts_t *o, const char *name, const char *arg) {
    bool ok;
    double v = cli_parse_double(arg, &ok);
    if (!ok || !(v >= 0 && v <= 1)) cli_usage_error(&o->cli, "%s needs a number in [0, 1], got '%s'", name, arg);
    return v;
}

static void set_mode(opts_t *o, int m) {
    if (o->mode != M_NONE && o->mode != m) cli_usage_error(&o->cli, "choose one mode");
    o->mode = m;
}

static void parse_shard(opts_t *o, const char *arg) {
    unsigned long long i, n;
    char tail;
    if (sscanf(arg, "%llu/%llu%c", &i, &n, &tail) != 2 || n == 0 || i >= n)
        cli_usage_error(&o->cli, "--shard needs I/N with 0 <= I < N, got '%s'", arg);
    o->shard_i = i;
    o->shard_n = n;
}

static void parse_one(opts_t *o, int c, const char *arg) {
    const long long IDMAX = INT32_MAX, BIG = 1LL << 40;
    switch (c) {
    case O_PRETRAIN: set_mode(o, M_PRETRAIN); break;
    case O_SFT: set_mode(o, M_SFT); break;
    case O_LIKELIHOOD: set_mode(o, M_LIKELIHOOD); break;
    case O_CANVAS: set_mode(o, M_CANVAS); break;
    case O_REDUCE: set_mode(o, M_REDUCE); break;
    case O_CHOOSE: set_mode(o, M_CHOOSE); break;
    case O_EXPAND: set_mode(o, M_EXPAND); break;
    case O_JOIN: set_mode(o, M_JOIN); break;
    case O_MODEL: o->model = arg; break;
    case O_MASKID: o->mask_id = int_arg(o, "--mask-id", arg, 0, IDMAX); break;
    case O_EOSID: o->eos_id = int_arg(o, "--eos-id", arg, 0, IDMAX); break;
    case O_SEED: o->nc.seed = (uint64_t)int_arg(o, "--seed", arg, 0, INT64_MAX); break;
    case O_STREAM: o->nc.stream = (uint64_t)int_arg(o, "--stream", arg, 0, INT64_MAX); break;
    case O_SHARD: parse_shard(o, arg); break;
    case O_LENGTH:
        o->length = (size_t)int_arg(o, "--length", arg, 1, BIG);
        o->length_set = true;
        break;
    case O_EPS: o->nc.eps = prob_arg(o, "--eps", arg); break;
    case O_CROP: o->nc.crop_frac = prob_arg(o, "--crop", arg); break;
    case O_SEP:
        if (!strcmp(arg, "none")) o->sep_none = true;
        else o->sep = int_arg(o, "--sep", arg, 0, IDMAX);
        break;
    case O_DROPLAST: o->drop_last = true; break;
    case O_PADBATCH: o->pad_batch = (size_t)int_arg(o, "--pad-batch", arg, 1, 1 << 20); break;
    case O_SKIPLONG: o->skip_long = true; break;
    case O_MC: o->mc = (size_t)int_arg(o, "--mc", arg, 1, 1 << 24); break;
    case O_BATCH:
        o->batch = (size_t)int_arg(o, "--batch", arg, 1, 1 << 24);
        o->batch_set = true;
        break;
    case O_BITMAP: o->bitmap = true; break;
    case O_TEXT: o->text = true; break;
    case O_LZ4LEVEL: o->cli.sopts.lz4_level = (int)int_arg(o, "--lz4-level", arg, -65537, 12); break;
    case O_GENLEN: o->gen_length = (size_t)int_arg(o, "--gen-length", arg, 0, BIG); break;
    default:
        if (!cli_common_option(&o->cli, c, arg, HELP)) cli_usage_error(&o->cli, "unknown option");
    }
}

/* Whether DIR holds a config.json (a tokenizer folder made by `tok train` does not). */
static bool has_config(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return access(path, F_OK) == 0;
}

/* Mask/EOS ids: explicit options win, else the model's config.json. */
static void resolve_ids(opts_t *o) {
    bool need_eos = o->mode == M_SFT || (o->mode == M_PRETRAIN && !o->sep_none && o->sep < 0);
    o->vocab = -1;
    if (o->mask_id >= 0 && (o->eos_id >= 0 || !need_eos) && !o->model) return;
    char *dir = o->model ? strdup(o->model) : default_model_dir();
    if (!dir)
        cli_dief(&o->cli, EXIT_USAGE, "no model found for the mask/EOS ids: pass --model DIR or --mask-id/--eos-id");
    int32_t m, eos;
    lerr_t e = {0};
    if (o->mask_id >= 0 && (o->eos_id >= 0 || !need_eos) && !has_config(dir)) {
        free(dir); /* a tokenizer folder (no config.json): ids by hand, vocabulary unknown */
        return;
    }
    if (model_special_ids(dir, &m, &eos, &e) || model_vocab_size(dir, &o->vocab, &e)) {
        free(dir);
        cli_die(&o->cli, &e);
    }
    if (o->mask_id < 0) o->mask_id = m;
    if (o->eos_id < 0) o->eos_id = eos;
    if (o->mask_id < 0) cli_dief(&o->cli, EXIT_DATA, "%s/config.json has no mask_token_id: pass --mask-id", dir);
    if (need_eos && o->eos_id < 0)
        cli_dief(&o->cli, EXIT_DATA, "%s/config.json has no eos_token_id: pass --eos-id", dir);
    free(dir);
}

static void parse(opts_t *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    cli_init(&o->cli, "mask");
    noise_cfg_default(&o->nc);
    o->mask_id = o->eos_id = o->sep = -1;
    o->length = 4096;
    o->pad_batch = 0;
    o->mc = 128;
    o->gen_length = 128;
    o->shard_n = 1;
    int c;
    while ((c = cli_getopt(&o->cli, argc, argv, CLI_COMMON_SHORTOPTS, LONGOPTS)) != -1) parse_one(o, c, optarg);
    if (optind < argc) cli_usage_error(&o->cli, "unexpected argument '%s'", argv[optind]);
    if (o->mode == M_NONE)
        cli_usage_error(
            &o->cli,
            "choose a mode: --pretrain, --sft, --likelihood, --canvas, --reduce, --choose, --expand-choices or --join");
    if (!o->batch_set) o->batch = o->mc < 16 ? o->mc : 16;
    if (o->mode == M_LIKELIHOOD && o->mc % o->batch)
        cli_usage_error(&o->cli, "--mc (%zu) must be a multiple of --batch (%zu)", o->mc, o->batch);
    if (o->text && o->mode != M_REDUCE && o->mode != M_CHOOSE)
        cli_usage_error(&o->cli, "--text is for --reduce and --choose");
    if (o->pad_batch && o->length_set) cli_usage_error(&o->cli, "--pad-batch and --length exclude each other");
    if (o->mode != M_REDUCE && o->mode != M_CHOOSE && o->mode != M_EXPAND && o->mode != M_JOIN) resolve_ids(o);
    o->nc.mask_id = (int32_t)o->mask_id;
    if (o->sep < 0 && !o->sep_none) o->sep = o->eos_id;
    if (o->sep_none) o->sep = -1;
}

static bool mine(const opts_t *o, uint64_t unit) { return unit % o->shard_n == o->shard_i; }

/* ------------------------------------------------------------------ output helpers */

typedef struct {
    opts_t *o;
    wstream_t *w;
    rec_t *out;
    int32_t *x0, *xt;
    size_t xt_cap;
    size_t *counts; /* likelihood: l of each sample in a batch */
    uint32_t *scratch;
    packer_t *packer;
    uint64_t units; /* pretrain: sequences packed so far */
    rec_t **batch;  /* sft --pad-batch: records of the current batch (owned) */
    uint64_t *batch_idx;
    size_t nbatch;
    uint64_t skipped; /* sft --skip-long */
    rec_t *held;      /* join: the context record waiting for its whole */
    reducer_t *red;
    chooser_t *cho;
} run_t;

static void run_init(run_t *r, opts_t *o) {
    memset(r, 0, sizeof *r);
    r->o = o;
    r->out = rec_new();
    if (!r->out) cli_dief(&o->cli, EXIT_INTERNAL, "out of memory");
}

static void run_free(run_t *r) {
    rec_destroy(&r->out);
    free(r->x0);
    free(r->xt);
    free(r->scratch);
    free(r->counts);
    free(r->batch);
    free(r->batch_idx);
}

/* Make room for n tokens in xt (and scratch). Dies on OOM. */
static void need(run_t *r, size_t n) {
    if (n <= r->xt_cap) return;
    free(r->x0);
    free(r->xt);
    free(r->scratch);
    r->x0 = malloc((n ? n : 1) * sizeof *r->x0);
    r->xt = malloc((n ? n : 1) * sizeof *r->xt);
    r->scratch = malloc((n ? n : 1) * sizeof *r->scratch);
    if (!r->x0 || !r->xt || !r->scratch) cli_dief(&r->o->cli, EXIT_INTERNAL, "out of memory for %zu tokens", n);
    r->xt_cap = n;
}

/* --text: one tab-separated line per likelihood / choice / accuracy record. */
static int put_text(const rec_t *rec, lerr_t *e) {
    int64_t a = 0, b = 0, c = 0;
    double x = 0, y = 0;
    if (rec_kind_is(rec, "likelihood")) {
        rec_get_int(rec, "group", &a);
        rec_get_f64(rec, "bound", &x);
        rec_get_f64(rec, "se", &y);
        rec_get_int(rec, "answer_len", &b);
        printf("%lld\t%.6f\t%.6f\t%lld", (long long)a, x, y, (long long)b);
        char *id = rec_get_strdup(rec, "id");
        if (id) printf("\t%s", id);
        else if (!rec_get_int(rec, "id", &c)) printf("\t%lld", (long long)c);
        free(id);
    } else if (rec_kind_is(rec, "choice")) {
        bool ok = false;
        rec_get_int(rec, "question", &a);
        rec_get_int(rec, "pred", &b);
        rec_get_int(rec, "answer", &c);
        rec_get_bool(rec, "correct", &ok);
        printf("%lld\t%lld\t%lld\t%s", (long long)a, (long long)b, (long long)c, ok ? "correct" : "wrong");
    } else if (rec_kind_is(rec, "accuracy")) {
        rec_get_f64(rec, "accuracy", &x);
        rec_get_int(rec, "correct", &a);
        rec_get_int(rec, "questions", &b);
        printf("accuracy\t%.4f\t%lld/%lld", x, (long long)a, (long long)b);
    }
    if (putchar('\n') == EOF) return lerr_set(e, EXIT_IO, "write error on stdout");
    return 0;
}

static int put(run_t *r, const rec_t *rec, lerr_t *e) {
    return r->o->text ? put_text(rec, e) : wstream_write(r->w, rec, e);
}

/* Read loop: calls fn for every input record with its index; dies on errors. */
typedef int (*rec_fn)(run_t *r, rec_t **in, uint64_t index, lerr_t *e); /* may take *in */
/* --progress: records and input MB/s on stderr, at most once a second. */
static void progress(rstream_t *in, bool last) {
    static double t0, tlast;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    if (t0 == 0) t0 = tlast = now;
    if (!last && now - tlast < 1.0) return;
    tlast = now;
    double mb = (double)rstream_offset(in) / 1e6;
    fprintf(stderr, "\rmask: %llu records, %.0f MB in, %.0f MB/s%s", (unsigned long long)rstream_count(in), mb,
            now > t0 ? mb / (now - t0) : 0.0, last ? "\n" : "");
}

static void each_record(run_t *r, rstream_t *in, rec_fn fn) {
    lerr_t e = {0};
    rec_t *rec = NULL;
    int rc;
    bool prog = cli_progress_on(&r->o->cli);
    while ((rc = rstream_read(in, &rec, &e)) == 1) {
        uint64_t idx = rstream_count(in) - 1;
        if (prog && (idx & 255) == 0) progress(in, false);
        int frc = fn(r, &rec, idx, &e);
        rec_destroy(&rec);
        if (frc) {
            if (e.code == EXIT_DATA) lerr_wrap(&e, "record %llu", (unsigned long long)idx);
            break;
        }
    }
    if (prog) progress(in, true);
    if (rc < 0 || e.code) cli_die(&r->o->cli, &e);
}

/* ------------------------------------------------------------------ pretrain */

/* One packed sequence: unit = its index in the packed stream (the same in every shard). */
static int pt_emit(void *ctx, const int32_t *seq, size_t n, lerr_t *e) {
    run_t *r = ctx;
    uint64_t unit = r->units++;
    if (!mine(r->o, unit)) return 0;
    need(r, n);
    masked_t m = {.x0 = seq,
                  .xt = r->xt,
                  .group = (int64_t)unit,
                  .mc = 0,
                  .n_mc = -1,
                  .bitmap = r->o->bitmap,
                  .mask_id = r->o->nc.mask_id};
    bool cropped;
    m.n = noise_pretrain(&r->o->nc, unit, seq, n, r->xt, &m.t, &m.p, &cropped, &m.n_masked);
    m.answer_len = m.n;
    m.cropped = cropped;
    if (masked_to_rec(r->out, &m, NULL, e)) return -1;
    return put(r, r->out, e);
}

/* Input ids must be token ids: >= 0, and below the model's vocabulary when it is known. */
static int check_ids(const opts_t *o, const int32_t *v, size_t n, const char *field, lerr_t *e) {
    for (size_t i = 0; i < n; i++) {
        if (v[i] < 0)
            return lerr_set(e, EXIT_DATA, "\"%s\"[%zu] = %d is not a token id (negative)", field, i, (int)v[i]);
        if (o->vocab > 0 && v[i] >= o->vocab)
            return lerr_set(e, EXIT_DATA, "\"%s\"[%zu] = %d is beyond the model's vocabulary of %lld ids", field, i,
                            (int)v[i], (long long)o->vocab);
    }
    return 0;
}

static int pt_record(run_t *r, rec_t **in, uint64_t index, lerr_t *e) {
    (void)index;
    tensor_t *t = rec_need_tensor(*in, "tokens", DT_I32, 1, e);
    if (!t || check_ids(r->o, t->data, t->numel, "tokens", e)) return -1;
    return packer_push(r->packer, t->data, t->numel, e);
}

static int check_pair(const opts_t *o, const pair_t *pr, lerr_t *e) {
    return check_ids(o, pr->prompt, pr->np, "prompt", e) || check_ids(o, pr->answer, pr->na, "answer", e) ? -1 : 0;
}

static void do_pretrain(run_t *r, rstream_t *in) {
    lerr_t e = {0};
    r->packer = packer_new(r->o->length, (int32_t)r->o->sep, r->o->drop_last, pt_emit, r, &e);
    if (!r->packer) cli_die(&r->o->cli, &e);
    each_record(r, in, pt_record);
    if (packer_finish(r->packer, &e)) cli_die(&r->o->cli, &e);
    packer_destroy(&r->packer);
}

/* ------------------------------------------------------------------ sft */

/* Shortest padded length of a pair: prompt + answer + one EOS unless it already ends in EOS. */
static size_t sft_min_len(const opts_t *o, const pair_t *pr) {
    bool ends = pr->na > 0 && pr->answer[pr->na - 1] == (int32_t)o->eos_id;
    return pr->np + pr->na + (ends ? 0 : 1);
}

/* Mask one pair padded with EOS to `target` tokens; unit = its input index. */
static int sft_one(run_t *r, const rec_t *in, uint64_t index, size_t target, lerr_t *e) {
    const opts_t *o = r->o;
    pair_t pr;
    if (pair_from_rec(in, &pr, e) || check_pair(r->o, &pr, e)) return -1;
    size_t len = sft_min_len(o, &pr);
    if (len > target) {
        if (o->skip_long) return r->skipped++, 0;
        return lerr_set(
            e, EXIT_DATA,
            "prompt + answer + EOS is %zu tokens, longer than --length %zu (use --skip-long or a larger --length)", len,
            target);
    }
    need(r, target);
    copy_i32(r->x0, pr.prompt, pr.np);
    copy_i32(r->x0 + pr.np, pr.answer, pr.na);
    for (size_t i = pr.np + pr.na; i < target; i++) r->x0[i] = (int32_t)o->eos_id;
    masked_t m = {.x0 = r->x0,
                  .xt = r->xt,
                  .n = target,
                  .prompt_len = pr.np,
                  .answer_len = target - pr.np,
                  .group = (int64_t)index,
                  .mc = 0,
                  .n_mc = -1,
                  .cropped = -1,
                  .bitmap = o->bitmap,
                  .mask_id = o->nc.mask_id};
    m.n_masked = noise_sft(&o->nc, index, r->x0, target, pr.np, r->xt, &m.t, &m.p);
    if (masked_to_rec(r->out, &m, in, e)) return -1;
    return put(r, r->out, e);
}

/* --pad-batch: pad the held batch to its longest member and write it. */
static int sft_flush(run_t *r, lerr_t *e) {
    size_t target = 0;
    int rc = 0;
    for (size_t i = 0; i < r->nbatch && !rc; i++) {
        pair_t pr;
        rc = pair_from_rec(r->batch[i], &pr, e);
        if (!rc) rc = check_pair(r->o, &pr, e);
        if (!rc && sft_min_len(r->o, &pr) > target) target = sft_min_len(r->o, &pr);
    }
    for (size_t i = 0; i < r->nbatch && !rc; i++) rc = sft_one(r, r->batch[i], r->batch_idx[i], target, e);
    for (size_t i = 0; i < r->nbatch; i++) rec_destroy(&r->batch[i]);
    r->nbatch = 0;
    return rc;
}

static int sft_record(run_t *r, rec_t **in, uint64_t index, lerr_t *e) {
    size_t B = r->o->pad_batch;
    if (!B) return mine(r->o, index) ? sft_one(r, *in, index, r->o->length, e) : 0;
    if (!mine(r->o, index / B)) return 0;
    r->batch[r->nbatch] = *in;
    r->batch_idx[r->nbatch++] = index;
    *in = NULL;
    return index % B == B - 1 ? sft_flush(r, e) : 0;
}

static void do_sft(run_t *r, rstream_t *in) {
    lerr_t e = {0};
    if (r->o->pad_batch) {
        r->batch = calloc(r->o->pad_batch, sizeof *r->batch);
        r->batch_idx = calloc(r->o->pad_batch, sizeof *r->batch_idx);
        if (!r->batch || !r->batch_idx) cli_dief(&r->o->cli, EXIT_INTERNAL, "out of memory");
    }
    each_record(r, in, sft_record);
    if (r->nbatch && sft_flush(r, &e)) cli_die(&r->o->cli, &e);
    if (r->skipped) cli_notice(&r->o->cli, "skipped %llu records longer than --length", (unsigned long long)r->skipped);
}

/* ------------------------------------------------------------------ likelihood */

/* Algorithm 3 as get_log_likelihood.py draws it: mc/b batches; batch j has offset k_j and
 * counts l_i = round(k_j + i·L/b) wrapped into [1, L], in torch's float32 arithmetic (see
 * ll_counts); sample j·b+i masks exactly l_i answer tokens; p = l_i / L. Group = the pair's
 * input index. */
static int ll_record(run_t *r, rec_t **in, uint64_t index, lerr_t *e) {
    const opts_t *o = r->o;
    if (!mine(o, index)) return 0;
    pair_t pr;
    if (pair_from_rec(*in, &pr, e) || check_pair(r->o, &pr, e)) return -1;
    size_t L = pr.na, n = pr.np + pr.na, b = o->batch;
    if (L == 0) return lerr_set(e, EXIT_DATA, "empty answer: nothing to score");
    need(r, n);
    copy_i32(r->x0, pr.prompt, pr.np);
    copy_i32(r->x0 + pr.np, pr.answer, pr.na);
    for (size_t j = 0; j < o->mc / b; j++) {
        ll_counts(L, b, ll_offset(&o->nc, index, j, L), r->counts);
        for (size_t i = 0; i < b; i++) {
            size_t mc = j * b + i, l = r->counts[i];
            mrng_t rng;
            ll_sample_rng(&o->nc, index, mc, &rng);
            ll_mask_exact(r->x0, r->xt, pr.np, L, l, o->nc.mask_id, &rng, r->scratch);
            masked_t m = {.x0 = r->x0,
                          .xt = r->xt,
                          .n = n,
                          .prompt_len = pr.np,
                          .answer_len = L,
                          .n_masked = l,
                          .t = (double)l / (double)L,
                          .p = (double)l / (double)L,
                          .group = (int64_t)index,
                          .mc = (int64_t)mc,
                          .n_mc = (int64_t)o->mc,
                          .cropped = -1,
                          .mask_id = o->nc.mask_id};
            if (masked_to_rec(r->out, &m, *in, e) || put(r, r->out, e)) return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ canvas */

/* tokens + gen_length masks; masks already in the tokens stay masks (infilling). */
static int canvas_record(run_t *r, rec_t **in, uint64_t index, lerr_t *e) {
    const opts_t *o = r->o;
    if (!mine(o, index)) return 0;
    tensor_t *t = rec_need_tensor(*in, "tokens", DT_I32, 1, e);
    if (!t) return -1;
    size_t n = t->numel + o->gen_length;
    need(r, n);
    copy_i32(r->x0, t->data, t->numel);
    for (size_t i = t->numel; i < n; i++) r->x0[i] = o->nc.mask_id;
    rec_clear(r->out);
    if (rec_set_str(r->out, "kind", "canvas") || rec_set_int(r->out, "v", PROTOCOL_VERSION) ||
        !rec_set_i32(r->out, "tokens", r->x0, n) || rec_set_int(r->out, "prompt_len", (int64_t)t->numel) ||
        rec_copy_user_fields(r->out, *in, e))
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    return put(r, r->out, e);
}

/* ------------------------------------------------------------------ reducers */

static int reduce_record(run_t *r, rec_t **in, uint64_t index, lerr_t *e) {
    (void)index;
    rec_t *done = NULL;
    if (reducer_add(r->red, *in, &done, e)) return -1;
    int rc = done ? put(r, done, e) : 0;
    rec_destroy(&done);
    return rc;
}

static int choose_record(run_t *r, rec_t **in, uint64_t index, lerr_t *e) {
    (void)index;
    rec_t *done = NULL;
    if (chooser_add(r->cho, *in, &done, e)) return -1;
    int rc = done ? put(r, done, e) : 0;
    rec_destroy(&done);
    return rc;
}

static void do_choose(run_t *r, rstream_t *in) {
    lerr_t e = {0};
    each_record(r, in, choose_record);
    rec_t *done = NULL;
    if (chooser_finish(r->cho, &done, &e) || (done && put(r, done, &e))) cli_die(&r->o->cli, &e);
    rec_destroy(&done);
    uint64_t nq, nc;
    chooser_score(r->cho, &nq, &nc);
    double acc = nq ? (double)nc / (double)nq : 0;
    rec_clear(r->out);
    if (rec_set_str(r->out, "kind", "accuracy") || rec_set_int(r->out, "v", PROTOCOL_VERSION) ||
        rec_set_int(r->out, "questions", (int64_t)nq) || rec_set_int(r->out, "correct", (int64_t)nc) ||
        rec_set_f64(r->out, "accuracy", acc))
        cli_dief(&r->o->cli, EXIT_INTERNAL, "out of memory");
    if (put(r, r->out, &e)) cli_die(&r->o->cli, &e);
    if (!r->o->text)
        cli_notice(&r->o->cli, "accuracy %.4f (%llu of %llu)", acc, (unsigned long long)nc, (unsigned long long)nq);
}

/* ------------------------------------------------------------------ choices */

static int put_owned(void *ctx, rec_t *rec, lerr_t *e) {
    int rc = put(ctx, rec, e);
    rec_destroy(&rec);
    return rc;
}

static int expand_record(run_t *r, rec_t **in, uint64_t index, lerr_t *e) {
    return choices_expand(*in, index, put_owned, r, e);
}

static int join_record(run_t *r, rec_t **in, uint64_t index, lerr_t *e) {
    const char *part;
    size_t n;
    bool has_part = rec_get_str(*in, "part", &part, &n) == 0;
    if (index % 2 == 0) {
        if (has_part && !(n == 7 && !memcmp(part, "context", 7)))
            return lerr_set(e, EXIT_DATA, "expected a \"context\" record (records come in context/whole pairs)");
        r->held = *in;
        *in = NULL;
        return 0;
    }
    rec_t *pair = pair_join(r->held, *in, e);
    rec_destroy(&r->held);
    return pair ? put_owned(r, pair, e) : -1;
}

int main(int argc, char **argv) {
    opts_t o;
    parse(&o, argc, argv);
    run_t r;
    run_init(&r, &o);
    lerr_t e = {0};
    rstream_t *in = cli_open_input(&o.cli);
    if (!o.text) r.w = cli_open_output(&o.cli);
    switch (o.mode) {
    case M_PRETRAIN: do_pretrain(&r, in); break;
    case M_SFT: do_sft(&r, in); break;
    case M_LIKELIHOOD:
        r.counts = calloc(o.batch, sizeof *r.counts);
        if (!r.counts) cli_dief(&o.cli, EXIT_INTERNAL, "out of memory");
        each_record(&r, in, ll_record);
        break;
    case M_CANVAS: each_record(&r, in, canvas_record); break;
    case M_EXPAND: each_record(&r, in, expand_record); break;
    case M_JOIN:
        each_record(&r, in, join_record);
        if (r.held) cli_dief(&o.cli, EXIT_DATA, "odd number of records: a context without its whole");
        break;
    case M_REDUCE:
        if (!(r.red = reducer_new(&e))) cli_die(&o.cli, &e);
        each_record(&r, in, reduce_record);
        if (reducer_finish(r.red, &e)) cli_die(&o.cli, &e);
        reducer_destroy(&r.red);
        break;
    case M_CHOOSE:
        if (!(r.cho = chooser_new(&e))) cli_die(&o.cli, &e);
        do_choose(&r, in);
        chooser_destroy(&r.cho);
        break;
    }
    rstream_destroy(&in);
    if (o.text) cli_close_stdout(&o.cli);
    else cli_close_output(&o.cli, &r.w);
    run_free(&r);
    return EXIT_OK;
}
