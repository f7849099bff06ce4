/* cli.c — option handling, messages and exit codes shared by every tool (see cli.h). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

void cli_init(cli_t *c, const char *tool) {
    memset(c, 0, sizeof *c);
    const char *prog = getenv("LLADA_PROG"); /* a pipeline's name, for its stages' messages */
    c->tool = prog && *prog ? prog : tool;
    c->input = "-";
    c->output = "-";
    c->progress = -1;
    stream_opts_default(&c->sopts, tool);
}

long long cli_parse_int(const char *s, long long lo, long long hi, bool *ok) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    *ok = s[0] && !*end && !errno && v >= lo && v <= hi;
    return v;
}

long long cli_int_arg(const cli_t *c, const char *name, const char *arg, long long lo, long long hi) {
    bool ok;
    long long v = cli_parse_int(arg, lo, hi, &ok);
    if (!ok) cli_usage_error(c, "%s needs an integer in [%lld, %lld], got '%s'", name, lo, hi, arg);
    return v;
}

double cli_parse_double(const char *s, bool *ok) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    *ok = s[0] && !*end && !errno;
    return v;
}

long long cli_parse_size(const char *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0) return -1;
    int shift = 0;
    if (*end == 'K' || *end == 'k') shift = 10;
    else if (*end == 'M' || *end == 'm') shift = 20;
    else if (*end == 'G' || *end == 'g') shift = 30;
    if (shift) end++;
    if (*end || v > (LLONG_MAX >> shift)) return -1;
    return v << shift;
}

void cli_usage_error(const cli_t *c, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: error: ", c->tool);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", c->tool);
    exit(EXIT_USAGE);
}

void cli_die(const cli_t *c, const lerr_t *e) {
    fprintf(stderr, "%s: error: %s\n", c->tool, e->msg[0] ? e->msg : "unknown error");
    exit(e->code ? e->code : EXIT_INTERNAL);
}

void cli_dief(const cli_t *c, int code, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: error: ", c->tool);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

void cli_notice(const cli_t *c, const char *fmt, ...) {
    if (c->quiet) return;
    va_list ap;
    fprintf(stderr, "%s: ", c->tool);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

bool cli_progress_on(const cli_t *c) {
    if (c->progress >= 0) return c->progress; /* an explicit --progress wins over -q */
    return !c->quiet && isatty(2);
}

static size_t size_arg(const cli_t *c, const char *name, const char *arg) {
    long long v = cli_parse_size(arg);
    if (v <= 0) cli_usage_error(c, "%s needs a positive size, got '%s'", name, arg);
    return (size_t)v;
}

int cli_common_option(cli_t *c, int opt, const char *arg, const char *help) {
    bool ok;
    switch (opt) {
    case 'i': c->input = arg; return 1;
    case 'o': c->output = arg; return 1;
    case 'q': c->quiet = true; return 1;
    case 'f': c->force = true; return 1;
    case CLI_OPT_JSON: c->sopts.json = true; return 1;
    case CLI_OPT_MAXREC: c->sopts.lim.max_record_bytes = size_arg(c, "--max-record", arg); return 1;
    case CLI_OPT_MAXARR: c->sopts.lim.max_array_len = size_arg(c, "--max-array", arg); return 1;
    case CLI_OPT_MAXKEYS: c->sopts.lim.max_map_keys = size_arg(c, "--max-keys", arg); return 1;
    case CLI_OPT_MAXDEPTH:
        c->sopts.lim.max_depth = (int)cli_parse_int(arg, 1, 64, &ok);
        if (!ok) cli_usage_error(c, "--max-depth needs 1..64, got '%s'", arg);
        return 1;
    case CLI_OPT_TIMEOUT:
        c->sopts.timeout_ms = (int)cli_parse_int(arg, 0, INT_MAX, &ok);
        if (!ok) cli_usage_error(c, "--timeout needs milliseconds >= 0, got '%s'", arg);
        return 1;
    case CLI_OPT_PROGRESS: c->progress = 1; return 1;
    case CLI_OPT_NOPROGRESS: c->progress = 0; return 1;
    case CLI_OPT_SHUFFLE: c->sopts.shuffle = true; return 1;
    case 'h':
        fputs(help, stdout);
        cli_close_stdout(c);
        exit(EXIT_OK);
    case 'V':
        printf("%s %s (record protocol %d)\n", c->tool, LLADA_VERSION, PROTOCOL_VERSION);
        cli_close_stdout(c);
        exit(EXIT_OK);
    case '?': cli_usage_error(c, "unrecognised or incomplete option");
    default: return 0;
    }
}

rstream_t *cli_open_input(cli_t *c) {
    lerr_t e = {0};
    rstream_t *r = rstream_open(c->input, &c->sopts, &e);
    if (!r) cli_die(c, &e);
    return r;
}

wstream_t *cli_open_output(cli_t *c) {
    if (!c->sopts.json && !c->force && stream_is_tty_stdout(c->output))
        cli_usage_error(c, "refusing to write binary records to a terminal; use --json, redirect the output, or -f");
    lerr_t e = {0};
    wstream_t *w = wstream_open(c->output, &c->sopts, &e);
    if (!w) cli_die(c, &e);
    return w;
}

void cli_close_output(cli_t *c, wstream_t **w) {
    lerr_t e = {0};
    if (wstream_close(w, &e)) cli_die(c, &e);
    stream_zmq_shutdown();
    cli_close_stdout(c);
}

void cli_close_stdout(const cli_t *c) {
    if (fflush(stdout) || ferror(stdout) || fclose(stdout)) {
        if (errno == EPIPE) exit(EXIT_IO);
        cli_dief(c, EXIT_IO, "writing output failed: %s", strerror(errno));
    }
}

/* Edit distance (insertions, deletions, substitutions, adjacent swaps) of two short strings. */
static int edit_distance(const char *a, size_t na, const char *b, size_t nb) {
    if (na > 63 || nb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[na][nb];
}

const char *cli_nearest_option(const struct option *lo, const char *name, size_t n) {
    const char *best = NULL;
    int bd = 99;
    for (; lo && lo->name; lo++) {
        int d = edit_distance(name, n, lo->name, strlen(lo->name));
        if (d < bd) {
            bd = d;
            best = lo->name;
        }
    }
    int limit = n <= 4 ? 1 : n <= 8 ? 2 : 3;
    return bd <= limit ? best : NULL;
}

int cli_getopt(const cli_t *c, int argc, char **argv, const char *shortopts, const struct option *lo) {
    opterr = 0; /* getopt's own message would name the option a second way */
    int r = getopt_long(argc, argv, shortopts, lo, NULL);
    if (r != '?') return r;
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    if (strncmp(arg, "--", 2)) { /* a short option */
        if (optopt && strchr(shortopts, optopt)) cli_usage_error(c, "option -%c needs a value", optopt);
        cli_usage_error(c, "unknown option -%c", optopt ? optopt : '?');
    }
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    for (const struct option *o = lo; o && o->name; o++) {
        if (strlen(o->name) != n || strncmp(o->name, name, n)) continue;
        if (eq && o->has_arg == no_argument) cli_usage_error(c, "option --%s takes no value", o->name);
        cli_usage_error(c, "option --%s needs a value", o->name);
    }
    int matches = 0; /* getopt_long accepts unambiguous prefixes */
    const struct option *m = NULL;
    for (const struct option *o = lo; o && o->name; o++)
        if (!strncmp(o->name, name, n)) {
            matches++;
            m = o;
        }
    if (matches > 1) cli_usage_error(c, "option --%.*s is ambiguous", (int)n, name);
    if (matches == 1)
        cli_usage_error(c, "option --%s %s", m->name,
                        eq && m->has_arg == no_argument ? "takes no value" : "needs a value");
    const char *near = cli_nearest_option(lo, name, n);
    if (near) cli_usage_error(c, "unknown option --%.*s (did you mean --%s?)", (int)n, name, near);
    cli_usage_error(c, "unknown option --%.*s", (int)n, name);
}
