/* detok — token records in, UTF-8 text out (the inverse of tok).
 *
 * Decodes each record's "tokens" (i4; other integer dtypes accepted) with HF decode semantics
 * (tok/decode.c): stops at the first EOS/EOT (config.json eos_token_id, <|eot_id|>, <|im_end|>),
 * skips special tokens, and renders invalid byte sequences as U+FFFD exactly as HF does.
 * --color shades each token by the record's "reveal_step" (denoise output): later = darker.
 * An id the tokenizer has no token for (negative, or beyond its vocabulary) is an error (exit 1)
 * naming the record, field, position and id: HF's decode drops such ids silently, which hides a
 * model/tokenizer mismatch; --skip-unknown drops them as HF does.
 * Record fields: docs/protocol.md "tok / detok records".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tok/bundle.h"
#include "detok/text.h"
#include "cli.h"
#include "record.h"

static const char *HELP =
    "Usage: detok [OPTIONS]\n"
    "Decode token records (tok / denoise output) to UTF-8 text, one line per record.\n"
    "  -m, --model PATH       model folder or tokenizer.json (default: bundled model)\n"
    "  -a, --all              show everything: no stop at EOS/EOT, special tokens kept\n"
    "      --no-stop          do not stop at the first EOS/EOT\n"
    "      --keep-special     do not skip special tokens\n"
    "      --prompt           also decode the record's \"prompt\" (denoise output) before the answer\n"
    "      --field NAME       token field to decode (default \"tokens\")\n"
    "      --color[=WHEN]     shade tokens by \"reveal_step\", later = darker (ANSI 256 colours);\n"
    "                         WHEN: auto (default: if stdout is a terminal), always, never\n"
    "      --ids              input is text: one line of space-separated ids per record\n"
    "      --skip-unknown     drop ids the tokenizer has no token for (negative or beyond its\n"
    "                         vocabulary) as HF does, instead of failing (exit 1)\n"
    "  -n, --no-newline       no newline after each record's text\n"
    "  -r, --records          write the input records with a \"text\" field added (msgpack,\n"
    "                         or JSON lines with --json) instead of plain text\n" CLI_COMMON_HELP;

typedef struct {
    cli_t cli;
    tok_bundle_t *b;
    bool stop, skip, prompt, ids, newline, records, skip_unknown;
    int color; /* 0 never, 1 always */
    const char *field;
    tok_str_t out;
    uint64_t nrec; /* records read so far (1-based in messages) */
} detok_t;

/* True if the tokenizer has a token for id x. */
static bool known_id(const detok_t *d, int64_t x) {
    return x >= 0 && x <= INT32_MAX && tok_id_token(d->b->tok, (int32_t)x, NULL) != NULL;
}

/* An id without a token: dies (exit 1) unless --skip-unknown; true if it is to be dropped. */
static bool unknown_id(detok_t *d, int64_t x, const char *where) {
    if (d->skip_unknown) return true;
    cli_dief(&d->cli, EXIT_DATA,
             "%s: id %lld is not in the tokenizer's vocabulary of %d ids "
             "(model/tokenizer mismatch?); --skip-unknown drops such ids",
             where, (long long)x, (int)tok_n_ids(d->b->tok));
}

/* Token ids of a tensor field as int32 (copied), n set; NULL if absent. Dies on a bad dtype.
 * check: ids must have a token (unknown_id), else out-of-range values become -1. */
static int32_t *get_ids(detok_t *d, const rec_t *r, const char *key, size_t *n, bool check) {
    tensor_t *t = rec_tensor(r, key);
    if (!t) return NULL;
    if (t->ndim > 1)
        cli_dief(&d->cli, EXIT_DATA, "field \"%s\": expected a 1-D array, got %d dimensions", key, t->ndim);
    int32_t *v = malloc((t->numel ? t->numel : 1) * sizeof *v);
    if (!v) cli_dief(&d->cli, EXIT_INTERNAL, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < t->numel; i++) {
        int64_t x;
        switch (t->dtype) {
        case DT_I32: x = ((int32_t *)t->data)[i]; break;
        case DT_U32: x = ((uint32_t *)t->data)[i]; break;
        case DT_I64: x = ((int64_t *)t->data)[i]; break;
        case DT_U64: x = (int64_t)((uint64_t *)t->data)[i]; break;
        case DT_I16: x = ((int16_t *)t->data)[i]; break;
        case DT_U16: x = ((uint16_t *)t->data)[i]; break;
        default:
            cli_dief(&d->cli, EXIT_DATA, "field \"%s\": dtype %s is not an integer type", key, dtype_name(t->dtype));
        }
        if (check && !known_id(d, x)) {
            char where[300];
            snprintf(where, sizeof where, "record %llu: \"%s\"[%zu]", (unsigned long long)d->nrec, key, i);
            if (unknown_id(d, x, where)) continue;
        }
        v[k++] = (x < 0 || x > INT32_MAX) ? -1 : (int32_t)x;
    }
    *n = k;
    return v;
}

static size_t stop_at(const detok_t *d, const int32_t *ids, size_t n) {
    return d->stop ? detok_stop_len(d->b, ids, n) : n;
}

static void decode(detok_t *d, const int32_t *ids, size_t n) {
    lerr_t e = {0};
    if (tok_decode(d->b->tok, ids, n, d->skip ? TOK_SKIP_SPECIAL : 0, &d->out, &e)) cli_die(&d->cli, &e);
}

/* ANSI 256 grey ramp: step 0 bright (255) ... last step dark (240). */
static int shade(int32_t step, int32_t maxstep) {
    if (maxstep <= 0 || step < 0) return 255;
    return 255 - (int)((int64_t)step * 15 / maxstep);
}

/* Colour output: HF DecodeStream-style incremental decoding, so a token's text appears once its
 * bytes form whole characters; each piece takes the colour of the token that completed it. */
static void decode_color(detok_t *d, const int32_t *ids, size_t n, const int32_t *steps, size_t nsteps) {
    int32_t maxstep = 0;
    for (size_t i = 0; i < nsteps; i++)
        if (steps[i] > maxstep) maxstep = steps[i];
    size_t ws = 0, pi = 0; /* window start in ids, prefix index inside the window */
    tok_str_t cur = {0}, prefix = {0};
    lerr_t e = {0};
    unsigned fl = d->skip ? TOK_SKIP_SPECIAL : 0;
    for (size_t i = 0; i < n; i++) {
        cur.n = 0;
        if (tok_decode(d->b->tok, ids + ws, i + 1 - ws, fl, &cur, &e)) cli_die(&d->cli, &e);
        if (cur.n <= prefix.n || (cur.n >= 3 && !memcmp(cur.p + cur.n - 3, "\xEF\xBF\xBD", 3))) continue;
        size_t common = prefix.n <= cur.n && !memcmp(cur.p, prefix.p ? prefix.p : "", prefix.n) ? prefix.n : 0;
        char esc[32];
        int k = snprintf(esc, sizeof esc, "\x1b[38;5;%dm", i < nsteps ? shade(steps[i], maxstep) : 255);
        if (tok_str_append(&d->out, esc, k) || tok_str_append(&d->out, cur.p + common, cur.n - common) ||
            tok_str_append(&d->out, "\x1b[0m", 4))
            cli_dief(&d->cli, EXIT_INTERNAL, "out of memory");
        size_t npi = i + 1 - ws - pi;
        ws += pi;
        pi = npi;
        prefix.n = 0;
        if (tok_decode(d->b->tok, ids + ws, i + 1 - ws, fl, &prefix, &e)) cli_die(&d->cli, &e);
    }
    tok_str_free(&cur);
    tok_str_free(&prefix);
}

static void record_text(detok_t *d, const rec_t *r) {
    size_t n = 0, np = 0, ns = 0;
    int32_t *ids = get_ids(d, r, d->field, &n, true);
    if (!ids) cli_dief(&d->cli, EXIT_DATA, "record %llu has no \"%s\" array", (unsigned long long)d->nrec, d->field);
    if (d->prompt) {
        int32_t *p = get_ids(d, r, "prompt", &np, true);
        if (p) {
            decode(d, p, np);
            free(p);
        }
    }
    size_t m = stop_at(d, ids, n);
    int32_t *steps = d->color ? get_ids(d, r, "reveal_step", &ns, false) : NULL;
    if (d->color) decode_color(d, ids, m, steps, ns < m ? ns : m);
    else decode(d, ids, m);
    free(ids);
    free(steps);
}

static void flush_text(detok_t *d) {
    if (d->newline && tok_str_append(&d->out, "\n", 1)) cli_dief(&d->cli, EXIT_INTERNAL, "out of memory");
    if (d->out.n && fwrite(d->out.p, 1, d->out.n, stdout) != d->out.n)
        cli_dief(&d->cli, EXIT_IO, "write error: %s", strerror(errno));
    d->out.n = 0;
}

static void run_ids(detok_t *d) {
    FILE *f = strcmp(d->cli.input, "-") ? fopen(d->cli.input, "r") : stdin;
    if (!f) cli_dief(&d->cli, EXIT_IO, "%s: %s", d->cli.input, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t lineno = 0;
    tok_ids_t ids = {0};
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        ids.n = 0;
        size_t word = 0;
        char *s = line, *end;
        for (;;) {
            while (*s == ' ' || *s == '\t' || *s == ',') s++;
            if (!*s || *s == '\n' || *s == '\r') break;
            errno = 0;
            long long v = strtoll(s, &end, 10);
            bool sep = !*end || strchr(" \t,\r\n", *end);
            if (end == s || !sep) { /* name the word only: the line's newline stays out of the message */
                size_t w = strcspn(s, " \t,\r\n");
                cli_dief(&d->cli, EXIT_DATA, "line %zu: not a token id: \"%.*s\"", lineno, (int)(w > 20 ? 20 : w), s);
            }
            s = end;
            word++;
            if (errno || !known_id(d, v)) {
                char where[64];
                snprintf(where, sizeof where, "line %zu, word %zu", lineno, word);
                if (unknown_id(d, v, where)) continue;
            }
            if (tok_ids_push(&ids, (int32_t)v)) cli_dief(&d->cli, EXIT_INTERNAL, "out of memory");
        }
        decode(d, ids.v, stop_at(d, ids.v, ids.n));
        flush_text(d);
    }
    free(line);
    tok_ids_free(&ids);
    if (f != stdin) fclose(f);
}

enum { O_NOSTOP = CLI_OPT__LAST + 1, O_KEEPSP, O_PROMPT, O_FIELD, O_COLOR, O_IDS, O_SKIPUNK };

int main(int argc, char **argv) {
    detok_t d = {.stop = true, .skip = true, .newline = true, .field = "tokens", .color = -1};
    cli_init(&d.cli, "detok");
    const char *model = NULL;
    static const struct option lo[] = {{"model", required_argument, 0, 'm'},
                                       {"all", no_argument, 0, 'a'},
                                       {"no-stop", no_argument, 0, O_NOSTOP},
                                       {"keep-special", no_argument, 0, O_KEEPSP},
                                       {"prompt", no_argument, 0, O_PROMPT},
                                       {"field", required_argument, 0, O_FIELD},
                                       {"color", optional_argument, 0, O_COLOR},
                                       {"colour", optional_argument, 0, O_COLOR},
                                       {"ids", no_argument, 0, O_IDS},
                                       {"skip-unknown", no_argument, 0, O_SKIPUNK},
                                       {"no-newline", no_argument, 0, 'n'},
                                       {"records", no_argument, 0, 'r'},
                                       CLI_COMMON_LONGOPTS,
                                       {0, 0, 0, 0}};
    int c;
    while ((c = cli_getopt(&d.cli, argc, argv, "m:anr" CLI_COMMON_SHORTOPTS, lo)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'a':
            d.stop = false;
            d.skip = false;
            break;
        case O_NOSTOP: d.stop = false; break;
        case O_KEEPSP: d.skip = false; break;
        case O_PROMPT: d.prompt = true; break;
        case O_FIELD: d.field = optarg; break;
        case O_COLOR:
            if (!optarg || !strcmp(optarg, "auto")) d.color = -1;
            else if (!strcmp(optarg, "always")) d.color = 1;
            else if (!strcmp(optarg, "never")) d.color = 0;
            else cli_usage_error(&d.cli, "--color takes auto, always or never");
            break;
        case O_IDS: d.ids = true; break;
        case O_SKIPUNK: d.skip_unknown = true; break;
        case 'n': d.newline = false; break;
        case 'r': d.records = true; break;
        case '?': cli_usage_error(&d.cli, "unknown option");
        default:
            if (!cli_common_option(&d.cli, c, optarg, HELP)) cli_usage_error(&d.cli, "unknown option");
        }
    }
    if (optind < argc) cli_usage_error(&d.cli, "unexpected argument '%s' (use -i FILE)", argv[optind]);
    if (d.color < 0) d.color = !d.records && isatty(1); /* auto: only on a terminal */
    lerr_t e = {0};
    if (!(d.b = tok_bundle_open(model, &e))) cli_die(&d.cli, &e);
    if (d.ids) run_ids(&d);
    else {
        rstream_t *in = cli_open_input(&d.cli);
        wstream_t *w = d.records ? cli_open_output(&d.cli) : NULL;
        rec_t *r;
        int rc;
        while ((rc = rstream_read(in, &r, &e)) == 1) {
            d.nrec++;
            record_text(&d, r);
            if (w) {
                if (rec_set_strn(r, "text", d.out.p ? d.out.p : "", d.out.n))
                    cli_dief(&d.cli, EXIT_INTERNAL, "out of memory");
                d.out.n = 0;
                if (wstream_write(w, r, &e)) cli_die(&d.cli, &e);
            } else flush_text(&d);
            rec_destroy(&r);
        }
        if (rc < 0) cli_die(&d.cli, &e);
        rstream_destroy(&in);
        if (w) cli_close_output(&d.cli, &w);
    }
    if (!d.records) cli_close_stdout(&d.cli);
    tok_str_free(&d.out);
    tok_bundle_destroy(&d.b);
    return 0;
}
