/* train — pre-training / SFT of small LLaDA models (and an AR baseline) on the CPU.
 *
 * Reads "tokens" records (a corpus, masked here with mask/'s forward process) or "masked"
 * records (from `mask`), trains with AdamW + warm-up/cosine + clipping, and writes HF model
 * folders that denoise loads directly; --resume continues bit-exactly from the last one.
 * Progress (loss, tokens/s, ETA) goes to stderr, the loss curve to a CSV file.
 */
#include <cblas.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "blas_env.h"
#include "train/adamw.h"
#include "train/batch.h"
#include "train/ckpt.h"
#include "train/eval.h"
#include "train/tokinfo.h"
#include "kernels.h"

static const char HELP[] =
    "Usage: train --out DIR [options] [-i RECORDS]\n"
    "Train a LLaDA masked-diffusion model (or an AR baseline) on \"tokens\" records (a corpus,\n"
    "masked on the fly) or \"masked\" records from `mask`; write HF model folders to DIR.\n"
    "\n"
    "Model (new model; ignored with --init or when resuming):\n"
    "  --config FILE         a LLaDA config.json to create the model from\n"
    "  --d-model N (256)  --n-layers N (4)  --n-heads N (4)  --n-kv-heads N (= n-heads)\n"
    "  --mlp N (ffn width, 3*d-model)  --vocab N (from --tokenizer)  --rope-theta X (10000)\n"
    "  --max-seq N           config max_sequence_length (default --seq)\n"
    "  --mask-id N --eos-id N --bos-id N   special ids (default: from --tokenizer)\n"
    "  --init-std X          initialisation std (0.02)\n"
    "  --tokenizer DIR       folder with tokenizer.json (+ tokenizer_config.json), copied into\n"
    "                        every checkpoint; gives the vocabulary size and special ids\n"
    "  --init DIR            start from the weights of a model folder (fresh optimiser)\n"
    "  --resume              continue from DIR/train_state.bin if present (weights, AdamW\n"
    "                        moments, step): the result equals an uninterrupted run\n"
    "  -f, --force           replace the checkpoint already in DIR (without --resume or\n"
    "                        --force, train refuses to write into a folder holding one)\n"
    "Objective and data:\n"
    "  --objective diffusion|ar   LLaDA loss (default) or causal next-token baseline\n"
    "  --batch B (16)        sequences per step\n"
    "  --seq T (128)         window length cut from a token corpus\n"
    "  --sep-eos             append EOS after each tokens record of the corpus\n"
    "  --eps X (0.001)       minimum mask probability p = (1-eps)t + eps\n"
    "  --crop F (0.01)       fraction of corpus batches cut to a random length U{2..T}\n"
    "  --seed N (1)          seed of initialisation, windows and masks\n"
    "Optimiser:\n"
    "  --steps N (1000)  --lr X (1e-3)  --min-lr X (lr/10)  --warmup N (steps/20)\n"
    "  --weight-decay X (0.1)  --beta1 X (0.9)  --beta2 X (0.95)  --clip X (1.0; 0 = off)\n"
    "Run:\n"
    "  --out DIR             checkpoint folder (required); written every --save-every steps,\n"
    "                        at the end, on --time-limit, and on SIGINT/SIGTERM (after\n"
    "                        which train ends by that signal: exit status 130 / 143)\n"
    "  --save-every N (200)  --log FILE (CSV loss curve)  --log-every N (10)\n"
    "  --release DIR         at the end of the run, also write the weights as a model folder\n"
    "                        in bf16 (half the size; no optimiser state): a stage to commit\n"
    "  --threads N (1)       CPU threads (BLAS and the training step)\n"
    "  --precision P         matrix products in f32 (default) or bf16 (bf16 inputs, fp32\n"
    "                        accumulation, on oneDNN; weights, norms, loss, optimiser and\n"
    "                        --eval stay fp32)\n"
    "  --time-limit SEC      stop (and save) after SEC seconds of training\n"
    "  --stop-after N        stop (and save) after N steps of this run (the schedule still\n"
    "                        spans --steps; continue later with --resume)\n"
    "  --eval FILE           held-out tokens records: likelihood bound (diffusion) or NLL (AR)\n"
    "  --eval-every N (0: only at the end)  --eval-mc N (8)  --eval-windows N (0: all)\n"
    "  --eval-bytes N        bytes of text the eval tokens came from: also report bits/byte\n" CLI_COMMON_HELP;

typedef struct {
    const char *out, *config, *tokenizer, *init, *log, *eval, *release;
    int resume, objective, B, T, sep_eos, threads, precision, save_every, log_every, eval_every, eval_mc, eval_windows;
    llada_config_t mc; /* model flags */
    int have_vocab, have_mask, have_eos, have_bos, have_kv, have_mlp, have_maxseq;
    double eps, crop, init_std, time_limit, eval_bytes;
    int64_t stop_after;
    uint64_t seed;
    adamw_cfg_t opt;
    int have_min_lr, have_warmup;
} opts_t;

enum {
    O_OUT = CLI_OPT__LAST,
    O_CONFIG,
    O_DMODEL,
    O_NLAYERS,
    O_NHEADS,
    O_NKV,
    O_MLP,
    O_VOCAB,
    O_THETA,
    O_MAXSEQ,
    O_MASKID,
    O_EOSID,
    O_BOSID,
    O_INITSTD,
    O_TOK,
    O_INIT,
    O_RESUME,
    O_OBJ,
    O_BATCH,
    O_SEQ,
    O_SEPEOS,
    O_EPS,
    O_SEED,
    O_STEPS,
    O_LR,
    O_MINLR,
    O_WARMUP,
    O_WD,
    O_B1,
    O_B2,
    O_CLIP,
    O_SAVE,
    O_LOG,
    O_LOGEVERY,
    O_THREADS,
    O_TIME,
    O_EVAL,
    O_EVALEVERY,
    O_EVALMC,
    O_EVALWIN,
    O_EVALBYTES,
    O_STOPAFTER,
    O_CROP,
    O_PREC,
    O_RELEASE
};

static const struct option LONGOPTS[] = {{"out", required_argument, 0, O_OUT},
                                         {"config", required_argument, 0, O_CONFIG},
                                         {"d-model", required_argument, 0, O_DMODEL},
                                         {"n-layers", required_argument, 0, O_NLAYERS},
                                         {"n-heads", required_argument, 0, O_NHEADS},
                                         {"n-kv-heads", required_argument, 0, O_NKV},
                                         {"mlp", required_argument, 0, O_MLP},
                                         {"vocab", required_argument, 0, O_VOCAB},
                                         {"rope-theta", required_argument, 0, O_THETA},
                                         {"max-seq", required_argument, 0, O_MAXSEQ},
                                         {"mask-id", required_argument, 0, O_MASKID},
                                         {"eos-id", required_argument, 0, O_EOSID},
                                         {"bos-id", required_argument, 0, O_BOSID},
                                         {"init-std", required_argument, 0, O_INITSTD},
                                         {"tokenizer", required_argument, 0, O_TOK},
                                         {"init", required_argument, 0, O_INIT},
                                         {"resume", no_argument, 0, O_RESUME},
                                         {"objective", required_argument, 0, O_OBJ},
                                         {"batch", required_argument, 0, O_BATCH},
                                         {"seq", required_argument, 0, O_SEQ},
                                         {"sep-eos", no_argument, 0, O_SEPEOS},
                                         {"eps", required_argument, 0, O_EPS},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"steps", required_argument, 0, O_STEPS},
                                         {"lr", required_argument, 0, O_LR},
                                         {"min-lr", required_argument, 0, O_MINLR},
                                         {"warmup", required_argument, 0, O_WARMUP},
                                         {"weight-decay", required_argument, 0, O_WD},
                                         {"beta1", required_argument, 0, O_B1},
                                         {"beta2", required_argument, 0, O_B2},
                                         {"clip", required_argument, 0, O_CLIP},
                                         {"save-every", required_argument, 0, O_SAVE},
                                         {"log", required_argument, 0, O_LOG},
                                         {"log-every", required_argument, 0, O_LOGEVERY},
                                         {"threads", required_argument, 0, O_THREADS},
                                         {"time-limit", required_argument, 0, O_TIME},
                                         {"eval", required_argument, 0, O_EVAL},
                                         {"eval-every", required_argument, 0, O_EVALEVERY},
                                         {"eval-mc", required_argument, 0, O_EVALMC},
                                         {"eval-windows", required_argument, 0, O_EVALWIN},
                                         {"eval-bytes", required_argument, 0, O_EVALBYTES},
                                         {"stop-after", required_argument, 0, O_STOPAFTER},
                                         {"crop", required_argument, 0, O_CROP},
                                         {"precision", required_argument, 0, O_PREC},
                                         {"release", required_argument, 0, O_RELEASE},
                                         CLI_COMMON_LONGOPTS,
                                         {0, 0, 0, 0}};

static volatile sig_atomic_t g_stop; /* the SIGINT / SIGTERM that asked the run to stop */
static void on_signal(int sig) {
    g_stop = sig;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static long long need_int(cli_t *c, const char *name, const char *s, long long lo, long long hi) {
    bool ok;
    long long v = cli_parse_int(s, lo, hi, &ok);
    if (!ok) cli_usage_error(c, "--%s: expected an integer in [%lld, %lld], got '%s'", name, lo, hi, s);
    return v;
}

static double need_num(cli_t *c, const char *name, const char *s, double lo, double hi) {
    bool ok;
    double v = cli_parse_double(s, &ok);
    if (!ok || !(v >= lo && v <= hi))
        cli_usage_error(c, "--%s: expected a number in [%g, %g], got '%s'", name, lo, hi, s);
    return v;
}

static void parse_opt(cli_t *c, opts_t *o, int opt, const char *a) {
    llada_config_t *m = &o->mc;
    switch (opt) {
    case O_OUT: o->out = a; break;
    case O_CONFIG: o->config = a; break;
    case O_DMODEL: m->d_model = (int)need_int(c, "d-model", a, 1, 65536); break;
    case O_NLAYERS: m->n_layers = (int)need_int(c, "n-layers", a, 1, 1024); break;
    case O_NHEADS: m->n_heads = (int)need_int(c, "n-heads", a, 1, 1024); break;
    case O_NKV:
        m->n_kv_heads = (int)need_int(c, "n-kv-heads", a, 1, 1024);
        o->have_kv = 1;
        break;
    case O_MLP:
        m->mlp_hidden_size = (int)need_int(c, "mlp", a, 1, 1 << 20);
        o->have_mlp = 1;
        break;
    case O_VOCAB:
        m->vocab_size = (int)need_int(c, "vocab", a, 2, 1 << 24);
        o->have_vocab = 1;
        break;
    case O_THETA: m->rope_theta = need_num(c, "rope-theta", a, 1, 1e12); break;
    case O_MAXSEQ:
        m->max_sequence_length = (int)need_int(c, "max-seq", a, 2, 1 << 20);
        o->have_maxseq = 1;
        break;
    case O_MASKID:
        m->mask_token_id = (int32_t)need_int(c, "mask-id", a, 0, 1 << 24);
        o->have_mask = 1;
        break;
    case O_EOSID:
        m->eos_token_id = (int32_t)need_int(c, "eos-id", a, 0, 1 << 24);
        o->have_eos = 1;
        break;
    case O_BOSID:
        m->bos_token_id = (int32_t)need_int(c, "bos-id", a, 0, 1 << 24);
        o->have_bos = 1;
        break;
    case O_INITSTD: o->init_std = need_num(c, "init-std", a, 0, 10); break;
    case O_TOK: o->tokenizer = a; break;
    case O_INIT: o->init = a; break;
    case O_RESUME: o->resume = 1; break;
    case O_OBJ:
        if (strcmp(a, "diffusion") == 0) o->objective = OBJ_DIFFUSION;
        else if (strcmp(a, "ar") == 0) o->objective = OBJ_AR;
        else cli_usage_error(c, "--objective: expected diffusion or ar, got '%s'", a);
        break;
    case O_BATCH: o->B = (int)need_int(c, "batch", a, 1, 1 << 16); break;
    case O_SEQ: o->T = (int)need_int(c, "seq", a, 2, 1 << 16); break;
    case O_SEPEOS: o->sep_eos = 1; break;
    case O_EPS: o->eps = need_num(c, "eps", a, 1e-9, 1); break;
    case O_SEED: o->seed = (uint64_t)need_int(c, "seed", a, 0, INT64_MAX); break;
    case O_STEPS: o->opt.total = need_int(c, "steps", a, 1, INT64_MAX / 2); break;
    case O_LR: o->opt.lr = need_num(c, "lr", a, 0, 10); break;
    case O_MINLR:
        o->opt.min_lr = need_num(c, "min-lr", a, 0, 10);
        o->have_min_lr = 1;
        break;
    case O_WARMUP:
        o->opt.warmup = need_int(c, "warmup", a, 0, INT64_MAX / 2);
        o->have_warmup = 1;
        break;
    case O_WD: o->opt.weight_decay = need_num(c, "weight-decay", a, 0, 10); break;
    case O_B1: o->opt.beta1 = need_num(c, "beta1", a, 0, 0.999999); break;
    case O_B2: o->opt.beta2 = need_num(c, "beta2", a, 0, 0.999999); break;
    case O_CLIP: o->opt.clip = need_num(c, "clip", a, 0, 1e9); break;
    case O_SAVE: o->save_every = (int)need_int(c, "save-every", a, 0, INT32_MAX); break;
    case O_LOG: o->log = a; break;
    case O_LOGEVERY: o->log_every = (int)need_int(c, "log-every", a, 1, INT32_MAX); break;
    case O_THREADS: o->threads = (int)need_int(c, "threads", a, 1, 64); break;
    case O_TIME: o->time_limit = need_num(c, "time-limit", a, 0, 1e9); break;
    case O_EVAL: o->eval = a; break;
    case O_EVALEVERY: o->eval_every = (int)need_int(c, "eval-every", a, 0, INT32_MAX); break;
    case O_EVALMC: o->eval_mc = (int)need_int(c, "eval-mc", a, 1, 4096); break;
    case O_EVALWIN: o->eval_windows = (int)need_int(c, "eval-windows", a, 0, INT32_MAX); break;
    case O_EVALBYTES: o->eval_bytes = need_num(c, "eval-bytes", a, 1, 1e15); break;
    case O_CROP: o->crop = need_num(c, "crop", a, 0, 1); break;
    case O_RELEASE: o->release = a; break;
    case O_PREC:
        if (strcmp(a, "f32") == 0) o->precision = TPREC_F32;
        else if (strcmp(a, "bf16") == 0) o->precision = TPREC_BF16;
        else cli_usage_error(c, "--precision: expected f32 or bf16, got '%s'", a);
        break;
    case O_STOPAFTER: o->stop_after = need_int(c, "stop-after", a, 1, INT64_MAX / 2); break;
    default:
        if (!cli_common_option(c, opt, a, HELP)) cli_usage_error(c, "unknown option");
    }
}

/* DIR holds a model folder or a training state that a new run would overwrite. */
static bool holds_checkpoint(const char *dir) {
    static const char *const names[] = {"config.json", "model.safetensors", "model.safetensors.index.json",
                                        "train_state.bin"};
    char path[4096];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (access(path, F_OK) == 0) return true;
    }
    return false;
}

static void parse_args(cli_t *c, opts_t *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    llada_config_default(&o->mc);
    o->mc.d_model = 256;
    o->mc.n_layers = 4;
    o->mc.n_heads = 4;
    o->mc.rope_theta = 10000.0;
    o->B = 16;
    o->T = 128;
    o->threads = 1;
    o->save_every = 200;
    o->log_every = 10;
    o->eval_mc = 8;
    o->eps = 1e-3;
    o->crop = 0.01;
    o->seed = 1;
    o->init_std = 0.02;
    adamw_cfg_default(&o->opt);
    int opt;
    while ((opt = cli_getopt(c, argc, argv, CLI_COMMON_SHORTOPTS, LONGOPTS)) != -1) parse_opt(c, o, opt, optarg);
    if (optind < argc) cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
    if (!o->out) cli_usage_error(c, "--out DIR is required");
    if (!c->force && holds_checkpoint(o->out)) { /* never overwrite a model by accident */
        char st[4096];
        snprintf(st, sizeof st, "%s/train_state.bin", o->out);
        if (!o->resume)
            cli_dief(c, EXIT_USAGE,
                     "%s already holds a checkpoint: pass --resume to continue it or --force to "
                     "replace it",
                     o->out);
        if (access(st, F_OK) != 0)
            cli_dief(c, EXIT_USAGE,
                     "%s holds a model but no train_state.bin to --resume from: pass --force to "
                     "replace it",
                     o->out);
    }
    if (o->precision == TPREC_BF16 && !gemm_bf16_available()) /* before any work */
        cli_dief(c, EXIT_USAGE, "--precision bf16 needs oneDNN: %s", gemm_bf16_unavailable());
    if (!o->have_min_lr) o->opt.min_lr = o->opt.lr / 10;
    if (!o->have_warmup) o->opt.warmup = o->opt.total / 20;
}

/* The config of a new model from flags / --config / the tokenizer. */
static void new_config(cli_t *c, opts_t *o, llada_config_t *m) {
    lerr_t e = {0};
    if (o->config) {
        FILE *f = fopen(o->config, "rb");
        char *buf = NULL;
        size_t n = 0;
        if (f) {
            buf = malloc(1 << 20);
            n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
            fclose(f);
        }
        if (!buf || !n) cli_dief(c, EXIT_IO, "%s: cannot read", o->config);
        if (llada_config_parse(m, buf, n, &e)) {
            lerr_wrap(&e, "%s", o->config);
            cli_die(c, &e);
        }
        free(buf);
        m->dtype = WT_F32;
        return;
    }
    *m = o->mc;
    tokinfo_t ti = {0, -1, -1, -1};
    if (o->tokenizer && tokinfo_read(o->tokenizer, &ti, &e)) cli_die(c, &e);
    if (!o->have_vocab) {
        if (!o->tokenizer) cli_usage_error(c, "a new model needs --vocab N or --tokenizer DIR");
        m->vocab_size = ti.vocab;
    }
    if (!o->have_mask) m->mask_token_id = ti.mask_id;
    if (!o->have_eos) m->eos_token_id = ti.eos_id;
    if (!o->have_bos) m->bos_token_id = ti.bos_id;
    if (m->mask_token_id < 0) cli_usage_error(c, "no mask token: give --mask-id or a tokenizer with <|mdm_mask|>");
    if (m->eos_token_id < 0) cli_usage_error(c, "no EOS token: give --eos-id or a tokenizer with <|endoftext|>");
    if (m->mask_token_id >= m->vocab_size) m->vocab_size = m->mask_token_id + 1;
    m->pad_token_id = m->eos_token_id;
    m->eot_token_id = -1;
    m->embedding_size = m->vocab_size;
    if (!o->have_kv) m->n_kv_heads = m->n_heads;
    if (!o->have_mlp) m->mlp_hidden_size = 3 * m->d_model;
    if (!o->have_maxseq) m->max_sequence_length = o->T;
    if (m->d_model % m->n_heads || m->n_heads % m->n_kv_heads || (m->d_model / m->n_heads) % 2)
        cli_usage_error(c, "d-model must split into n-heads even-sized heads, n-heads into n-kv-heads groups");
    m->head_dim = m->d_model / m->n_heads;
    m->weight_tying = false;
    m->dtype = WT_F32;
}

typedef struct {
    llada_config_t cfg;
    float *p, *g, *m, *v;
    uint8_t *decay;
    size_t n;
    tview_t P, G;
    tstate_t st;
} trainer_t;

static void alloc_trainer(cli_t *c, trainer_t *t) {
    t->n = tparams_count(&t->cfg);
    t->p = calloc(t->n, sizeof(float));
    t->g = calloc(t->n, sizeof(float));
    t->m = calloc(t->n, sizeof(float));
    t->v = calloc(t->n, sizeof(float));
    t->decay = malloc(t->n);
    if (!t->p || !t->g || !t->m || !t->v || !t->decay || tparams_bind(&t->cfg, t->p, &t->P) ||
        tparams_bind(&t->cfg, t->g, &t->G))
        cli_dief(c, EXIT_INTERNAL, "out of memory for %zu parameters", t->n);
    tparams_decay_mask(&t->cfg, t->decay);
}

/* Weights from a folder (resume or --init). */
static void load_weights(cli_t *c, trainer_t *t, const char *dir) {
    lerr_t e = {0};
    model_t *m = model_load(dir, &e);
    if (!m) cli_die(c, &e);
    t->cfg = m->cfg;
    t->cfg.dtype = WT_F32;
    alloc_trainer(c, t);
    if (tparams_from_model(m, t->p, &e)) cli_die(c, &e);
    model_destroy(&m);
}

static void setup_model(cli_t *c, opts_t *o, trainer_t *t) {
    lerr_t e = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s/train_state.bin", o->out);
    if (o->resume && access(path, F_OK) == 0) {
        load_weights(c, t, o->out);
        if (ckpt_load_state(o->out, t->p, t->n, t->m, t->v, &t->st, &e) != 0) cli_die(c, &e);
        cli_notice(c, "resuming %s at step %lld", o->out, (long long)t->st.step);
        return;
    }
    if (o->init) {
        load_weights(c, t, o->init);
        return;
    }
    new_config(c, o, &t->cfg);
    alloc_trainer(c, t);
    tparams_init(&t->cfg, t->p, o->init_std, o->seed);
}

static void save(cli_t *c, const opts_t *o, const trainer_t *t) {
    lerr_t e = {0};
    if (ckpt_save(o->out, &t->cfg, t->p, t->m, t->v, &t->st, WT_F32, o->tokenizer, &e)) cli_die(c, &e);
}

static FILE *open_log(cli_t *c, const opts_t *o, int resumed) {
    if (!o->log) return NULL;
    FILE *f = fopen(o->log, resumed ? "a" : "w");
    if (!f) cli_dief(c, EXIT_IO, "%s: cannot open for writing", o->log);
    if (ftell(f) == 0)
        fprintf(f, "step,tokens,loss,lr,grad_norm,tokens_per_s,elapsed_s,eval_nats_per_token,eval_bits_per_byte\n");
    return f;
}

static void read_data(cli_t *c, const char *spec, int32_t sep, tdata_t *d) {
    lerr_t e = {0};
    const char *keep = c->input;
    c->input = spec;
    rstream_t *in = cli_open_input(c);
    c->input = keep;
    if (tdata_read(d, in, sep, &e)) cli_die(c, &e);
    rstream_destroy(&in);
}

typedef struct {
    tbatch_cfg_t bc;
    tdata_t train, eval;
    tplan_t plan;
    int has_plan;
    tstep_t *step;
    tbatch_t batch;
    FILE *log;
} run_t;

static double run_eval(cli_t *c, const opts_t *o, trainer_t *t, run_t *r, double *bpb) {
    lerr_t e = {0};
    teval_t ev;
    tbatch_cfg_t bc = r->bc;
    bc.T = o->T;
    /* held-out numbers in fp32 whatever --precision, so they compare across runs */
    if (tstep_set_precision(r->step, TPREC_F32, &e) ||
        eval_corpus(&bc, &r->eval, r->step, &t->P, o->eval_mc, o->eval_windows, &ev, &e) ||
        tstep_set_precision(r->step, o->precision, &e))
        cli_die(c, &e);
    double npt = ev.nats / ev.tokens;
    *bpb = o->eval_bytes > 0 ? npt * (double)r->eval.n_toks / o->eval_bytes / log(2.0) : NAN;
    cli_notice(c, "eval step %lld: %s %.4f nats/token over %d windows (%.0f tokens)%s", (long long)t->st.step,
               o->objective == OBJ_AR ? "NLL" : "NLL bound", npt, ev.windows, ev.tokens, "");
    if (o->eval_bytes > 0) cli_notice(c, "eval step %lld: %.4f bits/byte", (long long)t->st.step, *bpb);
    return npt;
}

static void progress(cli_t *c, const opts_t *o, const trainer_t *t, double loss, double lr, double gn, double tps,
                     double eta) {
    if (c->quiet) return;
    fprintf(stderr, "train: step %lld/%lld loss %.4f lr %.2e |g| %.3f %.0f tok/s ETA %.0fm%02.0fs\n",
            (long long)t->st.step, (long long)o->opt.total, loss, lr, gn, tps, floor(eta / 60), fmod(eta, 60));
}

static void train_loop(cli_t *c, const opts_t *o, trainer_t *t, run_t *r) {
    lerr_t e = {0};
    double t0 = now_s(), el0 = t->st.elapsed, win_loss = 0, win_t = now_s();
    int64_t win_tok = 0, win_n = 0, start = t->st.step;
    while (t->st.step < o->opt.total && !g_stop) {
        if (tbatch_make(&r->bc, &r->train, r->has_plan ? &r->plan : NULL, t->st.step, &r->batch, &e)) cli_die(c, &e);
        memset(t->g, 0, sizeof(float) * t->n);
        double loss = tstep_run(r->step, &t->P, &t->G, r->batch.ids, r->batch.tgt, r->batch.w, r->batch.B, r->batch.T,
                                o->objective == OBJ_AR, NULL, &e);
        if (isnan(loss)) cli_die(c, &e);
        double gn = grad_norm(t->g, t->n);
        if (!isfinite(gn) || !isfinite(loss))
            cli_dief(c, EXIT_DATA, "loss or gradient not finite at step %lld (lower --lr?)", (long long)t->st.step);
        double lr = adamw_update(&o->opt, t->st.step, t->p, t->g, t->m, t->v, t->decay, t->n, gn);
        t->st.step++;
        t->st.tokens += (int64_t)r->batch.B * r->batch.T;
        t->st.elapsed = el0 + now_s() - t0;
        win_loss += loss;
        win_n++;
        win_tok += (int64_t)r->batch.B * r->batch.T;
        int last = t->st.step == o->opt.total || (o->time_limit > 0 && now_s() - t0 >= o->time_limit) ||
                   (o->stop_after && t->st.step - start >= o->stop_after);
        double ev = NAN, bpb = NAN;
        if (r->eval.n_toks && ((o->eval_every && t->st.step % o->eval_every == 0) || last))
            ev = run_eval(c, o, t, r, &bpb);
        if (t->st.step % o->log_every == 0 || last || !isnan(ev)) {
            double dt = now_s() - win_t, tps = win_tok / (dt > 0 ? dt : 1e-9);
            double eta = (double)(o->opt.total - t->st.step) * (now_s() - t0) / (double)(t->st.step - start);
            progress(c, o, t, win_loss / win_n, lr, gn, tps, eta);
            if (r->log) {
                fprintf(r->log, "%lld,%lld,%.6f,%.6g,%.6g,%.1f,%.1f,", (long long)t->st.step, (long long)t->st.tokens,
                        win_loss / win_n, lr, gn, tps, t->st.elapsed);
                if (!isnan(ev)) fprintf(r->log, "%.6f", ev);
                fputc(',', r->log);
                if (!isnan(bpb)) fprintf(r->log, "%.6f", bpb);
                fputc('\n', r->log);
                fflush(r->log);
            }
            win_loss = 0;
            win_n = 0;
            win_tok = 0;
            win_t = now_s();
        }
        if (o->save_every && t->st.step % o->save_every == 0 && !last) save(c, o, t);
        if (last) break;
    }
    save(c, o, t);
    if (g_stop) cli_notice(c, "interrupted: saved step %lld to %s", (long long)t->st.step, o->out);
    else if (o->release && t->st.step == o->opt.total) { /* the finished run's weights, in bf16 */
        lerr_t e = {0};
        if (ckpt_save(o->release, &t->cfg, t->p, NULL, NULL, &t->st, WT_BF16, o->tokenizer, &e)) cli_die(c, &e);
        cli_notice(c, "wrote %s (bf16 weights of step %lld)", o->release, (long long)t->st.step);
    }
}

int main(int argc, char **argv) {
    blas_ensure_coretype(argv);
    cli_t c;
    cli_init(&c, "train");
    opts_t o;
    parse_args(&c, &o, argc, argv);
    blas_set_threads(o.threads);
    trainer_t t = {0};
    setup_model(&c, &o, &t);
    run_t r = {0};
    r.bc = (tbatch_cfg_t){o.objective, o.B, o.T, {0}};
    noise_cfg_default(&r.bc.noise);
    r.bc.noise.seed = o.seed;
    r.bc.noise.eps = o.eps;
    r.bc.noise.crop_frac = o.crop;
    r.bc.noise.mask_id = t.cfg.mask_token_id;
    if (o.objective == OBJ_DIFFUSION && (t.cfg.mask_token_id < 0 || t.cfg.mask_token_id >= t.cfg.embedding_size))
        cli_dief(&c, EXIT_DATA, "the model's mask_token_id %d is outside its vocabulary", t.cfg.mask_token_id);
    r.train.mask_id = t.cfg.mask_token_id;
    read_data(&c, c.input, o.sep_eos ? t.cfg.eos_token_id : -1, &r.train);
    if (o.eval) read_data(&c, o.eval, o.sep_eos ? t.cfg.eos_token_id : -1, &r.eval);
    if (r.eval.n_recs) cli_dief(&c, EXIT_DATA, "%s: --eval takes tokens records", o.eval);
    int32_t mx = tdata_max_id(&r.train);
    if (mx >= t.cfg.embedding_size)
        cli_dief(&c, EXIT_DATA, "token id %d in the training data is outside the model's vocabulary (%d)", mx,
                 t.cfg.embedding_size);
    if (r.train.n_toks == 0 && r.train.n_recs == 0) cli_dief(&c, EXIT_DATA, "no training records");
    lerr_t e = {0};
    if (r.train.n_recs && tplan_make(&r.plan, &r.train, o.B, &e)) cli_die(&c, &e);
    r.has_plan = r.train.n_recs > 0;
    int maxT = tbatch_max_len(&r.bc, &r.train);
    if (maxT < o.T) maxT = o.T;
    r.step = tstep_new(&t.cfg, o.B, maxT, o.threads, &e);
    if (!r.step || tbatch_alloc(&r.batch, (size_t)o.B * maxT, &e) || tstep_set_precision(r.step, o.precision, &e))
        cli_die(&c, &e);
    r.log = open_log(&c, &o, t.st.step > 0);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    cli_notice(&c,
               "%s model: d_model %d, %d layers, %d/%d heads, mlp %d, vocab %d: %.2fM parameters; "
               "%s data: %zu tokens / %zu records; %s GEMMs (%s), %d thread(s)",
               o.objective == OBJ_AR ? "AR" : "diffusion", t.cfg.d_model, t.cfg.n_layers, t.cfg.n_heads,
               t.cfg.n_kv_heads, t.cfg.mlp_hidden_size, t.cfg.embedding_size, t.n / 1e6,
               r.has_plan ? "masked-record" : "corpus", r.train.n_toks, r.train.n_recs,
               o.precision == TPREC_BF16 ? "bf16" : "f32",
               o.precision == TPREC_BF16 ? "oneDNN" : blas_corename(), o.threads);
    train_loop(&c, &o, &t, &r);
    if (r.log && fclose(r.log) != 0) cli_dief(&c, EXIT_IO, "%s: write error", o.log);
    tstep_destroy(&r.step);
    tbatch_free(&r.batch);
    tplan_free(&r.plan);
    tdata_free(&r.train);
    tdata_free(&r.eval);
    tparams_unbind(&t.P);
    tparams_unbind(&t.G);
    free(t.p);
    free(t.g);
    free(t.m);
    free(t.v);
    free(t.decay);
    if (g_stop) { /* saved; now end as the signal would have, so `train && next` stops (130 / 143) */
        cli_close_stdout(&c);
        signal(g_stop, SIG_DFL);
        raise(g_stop);
    }
    return 0;
}
