/* tok — UTF-8 text in, token records out (and `tok train`: learn a byte-level BPE tokenizer).
 *
 *   tok train [OPTIONS] FILE...      learn a byte-level BPE tokenizer (tok train --help)
 *   tok [OPTIONS] [FILE...]          each input (stdin by default) is one document, or one per
 *                                    line (--lines), or JSON lines with a text field or chat
 *                                    messages (--jsonl); records {"kind":"tokens","tokens":i4[n]}
 * The tokenizer is HF tokenizer.json (--model DIR|FILE, default: the bundled model).
 * Record fields: docs/protocol.md "tok / detok records".
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bundle.h"
#include "chat.h"
#include "mem.h"
#include "train.h"
#include "cli.h"
#include "record.h"

static const char *HELP =
    "Usage: tok [OPTIONS] [FILE...]\n"
    "       tok train [OPTIONS] FILE...   (learn a byte-level BPE tokenizer; tok train --help)\n"
    "Tokenize UTF-8 text into token records {\"kind\":\"tokens\",\"v\":1,\"tokens\":i4[n]}.\n"
    "Input: FILEs (or -i FILE, default stdin), each one document unless:\n"
    "  -l, --lines            one document per line (the newline is not part of it)\n"
    "  -j, --jsonl            JSON lines: text from --field, or chat \"messages\" with --chat;\n"
    "                         every other field is copied to the output record\n"
    "      --field NAME       text field for --jsonl (default \"text\")\n"
    "      --keep-text        keep the text field in the output record\n"
    "Tokenizer:\n"
    "  -m, --model PATH       model folder or tokenizer.json (default: bundled model)\n"
    "  -c, --chat             the model's chat template (tokenizer_config.json; LLaDA's when it\n"
    "                         has none): --jsonl \"messages\":[{role,content,...}], or each\n"
    "                         document as one user message. Adds \"prompt_len\" (SFT: when the\n"
    "                         last message is the assistant's, the length before its answer)\n"
    "      --no-bos           (--chat) bos_token is \"\" (LLaDA: no BOS token)\n"
    "      --no-gen-prompt    (--chat) add_generation_prompt false (LLaDA: no trailing header)\n"
    "      --chat-template F  (--chat) use the Jinja template in file F instead of the model's\n"
    "      --template-var K=V (--chat) template variable K = JSON value V (repeatable), e.g.\n"
    "                         enable_thinking=false\n"
    "      --render           (--chat) write each rendered conversation as a JSON string line\n"
    "                         instead of token records\n"
    "      --no-add-special   do not run the post-processor (HF add_special_tokens=False)\n"
    "  -p, --plain-specials   special-token text in the input is plain text (untrusted input;\n"
    "                         HF encode_special_tokens). <|mdm_mask|> etc. stay special otherwise\n"
    "      --ids              write ids as text, one line per document (no records)\n" CLI_COMMON_HELP;

typedef struct {
    cli_t cli;
    tok_bundle_t *b;
    unsigned flags;
    bool lines, jsonl, chat, bos, gen, keep, ids, render;
    json_t *vars;
    const char *field;
    wstream_t *w;
    tok_ids_t buf;
    uint64_t ndocs;
} tok_app_t;

/* --ids: one line of decimal ids, formatted by hand (printf per id cost more than encoding)
 * into a 64 kB buffer that is written whenever it fills (no document-sized buffer). */
static void write_ids(tok_app_t *a, const tok_ids_t *ids) {
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char buf[1 << 16];
    size_t o = 0;
    for (size_t i = 0; i <= ids->n; i++) {
        if (o > sizeof buf - 16 || i == ids->n) {
            if (i == ids->n) buf[o++] = '\n';
            if (fwrite(buf, 1, o, stdout) != o)
                cli_dief(&a->cli, EXIT_IO, "writing output failed: %s", strerror(errno));
            o = 0;
            if (i == ids->n) break;
        }
        if (i) buf[o++] = ' ';
        int32_t v = ids->v[i];
        uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
        if (v < 0) buf[o++] = '-';
        char d[12];
        int k = 12; /* digits from the right, two at a time */
        while (u >= 100) {
            uint32_t r = u % 100;
            u /= 100;
            k -= 2;
            memcpy(d + k, pairs + 2 * r, 2);
        }
        if (u >= 10) {
            k -= 2;
            memcpy(d + k, pairs + 2 * u, 2);
        } else d[--k] = (char)('0' + u);
        memcpy(buf + o, d + k, 12 - (size_t)k);
        o += 12 - (size_t)k;
    }
}

static void emit(tok_app_t *a, rec_t *r, const tok_ids_t *ids, long prompt_len) {
    lerr_t e = {0};
    if (a->ids) {
        write_ids(a, ids);
        return;
    }
    rec_t *own = r ? NULL : rec_new();
    if (!r) r = own;
    if (!r || rec_set_str(r, "kind", "tokens") || rec_set_int(r, "v", 1) ||
        !rec_set_i32(r, "tokens", ids->v ? ids->v : (int32_t[]){0}, ids->n) ||
        (prompt_len >= 0 && rec_set_int(r, "prompt_len", prompt_len)))
        cli_dief(&a->cli, EXIT_INTERNAL, "out of memory");
    if (wstream_write(a->w, r, &e)) cli_die(&a->cli, &e);
    rec_destroy(&own);
}

/* --render: the rendered conversation as one JSON string line */
static void render_msgs(tok_app_t *a, json_t *msgs, size_t lineno) {
    lerr_t e = {0};
    tok_str_t t = {0};
    if (chat_render(a->b, msgs, a->bos, a->gen, a->vars, &t, NULL, &e)) {
        if (lineno) lerr_wrap(&e, "line %zu", lineno);
        cli_die(&a->cli, &e);
    }
    json_t *js = json_stringn(t.p ? t.p : "", t.n);
    char *line = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
    if (!line) cli_dief(&a->cli, EXIT_DATA, "the rendered text is not valid UTF-8");
    if (fputs(line, stdout) == EOF || fputc('\n', stdout) == EOF)
        cli_dief(&a->cli, EXIT_IO, "writing output failed: %s", strerror(errno));
    free(line);
    json_decref(js);
    tok_str_free(&t);
}

static void doc_messages(tok_app_t *a, json_t *msgs, rec_t *r, size_t lineno) {
    lerr_t e = {0};
    a->ndocs++;
    if (a->render) {
        render_msgs(a, msgs, lineno);
        return;
    }
    a->buf.n = 0;
    size_t plen = 0;
    if (chat_encode_json(a->b, msgs, a->bos, a->gen, a->vars, a->flags, &a->buf, &plen, &e)) {
        if (lineno) lerr_wrap(&e, "line %zu", lineno);
        cli_die(&a->cli, &e);
    }
    emit(a, r, &a->buf, (long)plen);
}

static void doc_text(tok_app_t *a, const char *s, size_t n, rec_t *r) {
    lerr_t e = {0};
    if (a->chat) { /* one user message */
        json_t *msgs = json_pack("[{s:s,s:s%}]", "role", "user", "content", s, n);
        if (!msgs)
            cli_dief(&a->cli, EXIT_DATA, "document %llu is not valid UTF-8 (--chat needs UTF-8 text)",
                     (unsigned long long)a->ndocs + 1);
        doc_messages(a, msgs, r, 0);
        json_decref(msgs);
        return;
    }
    a->buf.n = 0;
    if (tok_encode(a->b->tok, s, n, a->flags, &a->buf, &e)) cli_die(&a->cli, &e);
    emit(a, r, &a->buf, -1);
    a->ndocs++;
}

static void doc_jsonl(tok_app_t *a, const char *line, size_t n, size_t lineno) {
    lerr_t e = {0};
    if (!n || (n == 1 && line[0] == '\r')) return;
    rec_t *r = a->ids ? NULL : rec_from_json(line, n, &a->cli.sopts.lim, lineno, &e);
    if (!a->ids && !r) cli_die(&a->cli, &e);
    json_error_t je;
    json_t *j = json_loadb(line, n, JSON_ALLOW_NUL, &je);
    if (!json_is_object(j))
        cli_dief(&a->cli, EXIT_DATA, "line %zu: not a JSON object%s%s", lineno, j ? "" : ": ", j ? "" : je.text);
    json_t *kind = json_object_get(j, "kind");
    if (json_is_string(kind) && !strcmp(json_string_value(kind), "end")) { /* a --json stream's end record */
        json_decref(j);
        rec_destroy(&r);
        return;
    }
    json_t *msgs = json_object_get(j, "messages"), *txt = json_object_get(j, a->field);
    if (a->chat && json_is_array(msgs)) {
        if (r && !a->keep) rec_del(r, "messages");
        doc_messages(a, msgs, r, lineno);
    } else if (json_is_string(txt)) {
        if (r && !a->keep) rec_del(r, a->field);
        doc_text(a, json_string_value(txt), json_string_length(txt), r);
    } else
        cli_dief(&a->cli, EXIT_DATA, "line %zu: no string field \"%s\"%s", lineno, a->field,
                 a->chat ? " and no \"messages\" array" : "");
    json_decref(j);
    rec_destroy(&r);
}

/* A regular file is mapped, not copied: its pages are already in memory (the page cache), and
 * fresh memory is what costs most here (a 4 kB page fault is ~10 us on these VMs). If the file
 * shrinks while mapped, reading past its new end raises SIGBUS: that is reported as an I/O
 * error, like any failed read. */
static void on_sigbus(int sig) {
    (void)sig;
    static const char m[] = "tok: error: an input file shrank while it was being read\n";
    if (write(2, m, sizeof m - 1) < 0) _exit(EXIT_IO);
    _exit(EXIT_IO);
}

typedef struct {
    char *p;
    size_t n;
    bool mapped;
} input_t;

/* An input file ("-": stdin), whole: mapped when it is a non-empty regular file, else read
 * (one fstat-sized buffer when the size is known). */
static input_t slurp(tok_app_t *a, const char *path) {
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) cli_dief(&a->cli, EXIT_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) cli_dief(&a->cli, EXIT_IO, "%s: %s", path, strerror(EISDIR));
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (m != MAP_FAILED) {
            signal(SIGBUS, on_sigbus);
            if (fd) close(fd);
            return (input_t){m, (size_t)st.st_size, true};
        }
    }
    size_t cap = (S_ISREG(st.st_mode) ? (size_t)st.st_size : 0) + (1 << 16), len = 0;
    char *buf = tok_big_alloc(cap, 0);
    for (;;) {
        if (!buf) cli_dief(&a->cli, EXIT_INTERNAL, "out of memory");
        if (len == cap) {
            char *x = realloc(buf, cap *= 2);
            if (!x) free(buf);
            buf = x;
            continue;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) cli_dief(&a->cli, EXIT_IO, "%s: read error: %s", path, strerror(errno));
        if (r == 0) break;
        len += (size_t)r;
    }
    if (fd) close(fd);
    return (input_t){buf, len, false};
}
static void release(input_t *in) {
    if (in->mapped) munmap(in->p, in->n);
    else free(in->p);
    memset(in, 0, sizeof *in);
}

/* Room for the ids of a document of n bytes (about one id per 2-4 bytes in real text), taken
 * in one huge-page-advised allocation instead of many doublings; more grows as usual. */
static void reserve_ids(tok_app_t *a, size_t n) {
    size_t want = n / 2 + 256;
    if (a->buf.cap >= want || n < (1u << 20)) return;
    int32_t *v = tok_big_alloc(want * sizeof *v, 0);
    if (!v) return; /* tok_ids_push grows the old one */
    if (a->buf.n) memcpy(v, a->buf.v, a->buf.n * sizeof *v);
    free(a->buf.v);
    a->buf.v = v;
    a->buf.cap = want;
}

/* Die (exit 3) unless `path` ("-": stdin) can be opened for reading and is not a folder. */
static void check_input(tok_app_t *a, const char *path) {
    if (!strcmp(path, "-")) return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) cli_dief(&a->cli, EXIT_IO, "%s: %s", path, strerror(errno));
    if (!fstat(fd, &st) && S_ISDIR(st.st_mode)) cli_dief(&a->cli, EXIT_IO, "%s: %s", path, strerror(EISDIR));
    close(fd);
}

static void run_input(tok_app_t *a, const char *path) {
    input_t in = slurp(a, path);
    const char *s = in.p;
    size_t n = in.n;
    if (!a->lines && !a->jsonl) {
        reserve_ids(a, n);
        doc_text(a, s, n, NULL);
        release(&in);
        return;
    }
    size_t lineno = 0;
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - s) : n;
        lineno++;
        if (a->jsonl) doc_jsonl(a, s + i, end - i, lineno);
        else doc_text(a, s + i, end - i, NULL);
        i = end + 1;
    }
    release(&in);
}

enum { O_FIELD = CLI_OPT__LAST + 1, O_KEEP, O_NOBOS, O_NOGEN, O_NOADD, O_IDS, O_TEMPLATE, O_VAR, O_RENDER };

/* --template-var K=V: V is JSON (a bare word that is not JSON is taken as a string). */
static void add_var(tok_app_t *a, const char *kv) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) cli_usage_error(&a->cli, "--template-var needs NAME=VALUE, got '%s'", kv);
    json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
    if (!v) v = json_string(eq + 1);
    if (!v) cli_usage_error(&a->cli, "--template-var %s: the value is not JSON nor UTF-8 text", kv);
    if (!a->vars) a->vars = json_object();
    char *k = strndup(kv, (size_t)(eq - kv));
    if (!a->vars || !k || json_object_set_new(a->vars, k, v)) cli_dief(&a->cli, EXIT_INTERNAL, "out of memory");
    free(k);
}

/* --chat-template FILE: its text replaces the model's template. */
static char *read_template(tok_app_t *a, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) cli_dief(&a->cli, EXIT_IO, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4097 > cap) {
            char *x = realloc(buf, cap = cap * 2 + 8192);
            if (!x) cli_dief(&a->cli, EXIT_INTERNAL, "out of memory");
            buf = x;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (!r) break;
        if (n > (16u << 20)) cli_dief(&a->cli, EXIT_DATA, "%s: a chat template over 16 MiB", path);
    }
    if (ferror(f)) cli_dief(&a->cli, EXIT_IO, "%s: read error", path);
    fclose(f);
    buf[n] = 0;
    if (strlen(buf) != n) cli_dief(&a->cli, EXIT_DATA, "%s: the template contains a NUL byte", path);
    return buf;
}

static int train_main(int argc, char **argv);

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "train")) return train_main(argc - 1, argv + 1);
    tok_app_t a = {.bos = true, .gen = true, .field = "text", .flags = TOK_ADD_SPECIAL};
    cli_init(&a.cli, "tok");
    const char *model = NULL, *tpl_file = NULL;
    static const struct option lo[] = {{"lines", no_argument, 0, 'l'},
                                       {"jsonl", no_argument, 0, 'j'},
                                       {"field", required_argument, 0, O_FIELD},
                                       {"keep-text", no_argument, 0, O_KEEP},
                                       {"model", required_argument, 0, 'm'},
                                       {"chat", no_argument, 0, 'c'},
                                       {"no-bos", no_argument, 0, O_NOBOS},
                                       {"no-gen-prompt", no_argument, 0, O_NOGEN},
                                       {"no-add-special", no_argument, 0, O_NOADD},
                                       {"plain-specials", no_argument, 0, 'p'},
                                       {"ids", no_argument, 0, O_IDS},
                                       {"chat-template", required_argument, 0, O_TEMPLATE},
                                       {"template-var", required_argument, 0, O_VAR},
                                       {"render", no_argument, 0, O_RENDER},
                                       CLI_COMMON_LONGOPTS,
                                       {0, 0, 0, 0}};
    int c;
    while ((c = cli_getopt(&a.cli, argc, argv, "ljm:cp" CLI_COMMON_SHORTOPTS, lo)) != -1) {
        switch (c) {
        case 'l': a.lines = true; break;
        case 'j': a.jsonl = true; break;
        case O_FIELD: a.field = optarg; break;
        case O_KEEP: a.keep = true; break;
        case 'm': model = optarg; break;
        case 'c': a.chat = true; break;
        case O_NOBOS: a.bos = false; break;
        case O_NOGEN: a.gen = false; break;
        case O_NOADD: a.flags &= ~TOK_ADD_SPECIAL; break;
        case 'p': a.flags |= TOK_SPECIAL_AS_TEXT; break;
        case O_IDS: a.ids = true; break;
        case O_TEMPLATE: tpl_file = optarg; break;
        case O_VAR: add_var(&a, optarg); break;
        case O_RENDER: a.render = true; break;
        case '?': cli_usage_error(&a.cli, "unknown option");
        default:
            if (!cli_common_option(&a.cli, c, optarg, HELP)) cli_usage_error(&a.cli, "unknown option");
        }
    }
    if (a.lines && a.jsonl) cli_usage_error(&a.cli, "--lines and --jsonl exclude each other");
    if ((tpl_file || a.vars || a.render) && !a.chat)
        cli_usage_error(&a.cli, "--chat-template, --template-var and --render need --chat");
    char *tpl_text = tpl_file ? read_template(&a, tpl_file) : NULL;
    /* every input must be readable before anything is written (no partial output, then exit 3) */
    if (optind < argc)
        for (int i = optind; i < argc; i++) check_input(&a, argv[i]);
    else check_input(&a, a.cli.input);
    lerr_t e = {0};
    if (!(a.b = tok_bundle_open(model, &e))) cli_die(&a.cli, &e);
    if (tpl_text) {
        free(a.b->chat_template);
        a.b->chat_template = tpl_text;
    }
    if (a.render) a.ids = true; /* text lines on stdout, no record stream */
    if (!a.ids) a.w = cli_open_output(&a.cli);
    if (optind < argc)
        for (int i = optind; i < argc; i++) run_input(&a, argv[i]);
    else run_input(&a, a.cli.input);
    if (a.ids) cli_close_stdout(&a.cli);
    else cli_close_output(&a.cli, &a.w);
    tok_ids_free(&a.buf);
    tok_bundle_destroy(&a.b);
    json_decref(a.vars);
    return 0;
}

/* ---- tok train ---- */
static const char *TRAIN_HELP =
    "Usage: tok train -o DIR [OPTIONS] FILE...\n"
    "Learn a byte-level BPE tokenizer from UTF-8 text FILEs (- for stdin) and write\n"
    "DIR/tokenizer.json (loadable by HF tokenizers; encodes exactly as tok) and\n"
    "DIR/tokenizer_config.json (bos/eos/pad/mask tokens, LLaDA's chat template).\n"
    "  -o, --output DIR       output folder (created if missing)\n"
    "  -v, --vocab-size N     total vocabulary incl. special tokens (default 4096)\n"
    "      --min-frequency N  merge only pairs seen at least N times (default 2)\n"
    "      --pretok NAME      pre-tokenizer regex: llada (= qwen2, default), llama3 (= cl100k),\n"
    "                         gpt2, o200k\n"
    "      --specials LIST    comma-separated special tokens, ids after the learned vocabulary\n"
    "                         (default <|startoftext|>,<|endoftext|>,<|mdm_mask|>,\n"
    "                         <|start_header_id|>,<|end_header_id|>,<|eot_id|>)\n"
    "  -q, --quiet            no summary on stderr\n"
    "  -h, --help             this help\n";

static int train_main(int argc, char **argv) {
    cli_t cli;
    cli_init(&cli, "tok train");
    bpe_train_opts_t o = {.vocab_size = 4096,
                          .min_frequency = 2,
                          .scan = SCAN_QWEN2,
                          .specials = BPE_DEFAULT_SPECIALS,
                          .nspecials = BPE_N_DEFAULT_SPECIALS};
    const char *out = NULL;
    char *list = NULL;
    const char *sp[256];
    bool ok;
    static const struct option lo[] = {{"output", required_argument, 0, 'o'},
                                       {"vocab-size", required_argument, 0, 'v'},
                                       {"min-frequency", required_argument, 0, 1},
                                       {"pretok", required_argument, 0, 2},
                                       {"specials", required_argument, 0, 3},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:v:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'v':
            o.vocab_size = (int)cli_parse_int(optarg, 257, 1 << 24, &ok);
            if (!ok) cli_usage_error(&cli, "--vocab-size must be an integer in 257..16777216");
            break;
        case 1:
            o.min_frequency = (int)cli_parse_int(optarg, 1, INT32_MAX, &ok);
            if (!ok) cli_usage_error(&cli, "--min-frequency must be a positive integer");
            break;
        case 2:
            o.scan = scan_by_name(optarg);
            if (!o.scan)
                cli_usage_error(&cli, "unknown --pretok '%s' (llada, qwen2, llama3, cl100k, gpt2, o200k)", optarg);
            break;
        case 3:
            free(list);
            list = strdup(optarg);
            o.nspecials = 0;
            for (char *s = strtok(list, ","); s && o.nspecials < 256; s = strtok(NULL, ","))
                if (*s) sp[o.nspecials++] = s;
            o.specials = sp;
            break;
        case 'q': cli.quiet = true; break;
        case 'h': fputs(TRAIN_HELP, stdout); return 0;
        default: cli_usage_error(&cli, "unknown option");
        }
    }
    if (!out) cli_usage_error(&cli, "-o DIR is required");
    if (optind >= argc) cli_usage_error(&cli, "no training FILE given");
    if (o.vocab_size <= 256 + o.nspecials)
        cli_usage_error(&cli, "--vocab-size must exceed 256 + the number of special tokens");
    lerr_t e = {0};
    bpe_trainer_t *t = bpe_trainer_new(&o, &e);
    if (!t) cli_die(&cli, &e);
    tok_app_t a = {.cli = cli};
    for (int i = optind; i < argc; i++) {
        input_t in = slurp(&a, argv[i]);
        if (bpe_trainer_feed(t, in.p, in.n, &e)) cli_die(&cli, &e);
        release(&in);
    }
    if (bpe_trainer_train(t, &e) || bpe_trainer_write(t, out, &e)) cli_die(&cli, &e);
    int ntok, nm;
    size_t nw;
    bpe_trainer_stats(t, &ntok, &nm, &nw);
    cli_notice(&cli, "%d tokens (%d merges, %zu distinct words) + %d special tokens -> %s/tokenizer.json", ntok, nm, nw,
               o.nspecials, out);
    for (int i = 0; i < o.nspecials; i++) cli_notice(&cli, "  %s = %d", o.specials[i], bpe_trainer_special_id(t, i));
    bpe_trainer_destroy(&t);
    free(list);
    return 0;
}
