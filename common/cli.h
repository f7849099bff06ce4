/* cli.h — the command-line conventions every tool shares.
 *
 * Common options (parsed by cli_common_option, listed by CLI_COMMON_HELP):
 *   -i, --input SPEC   -o, --output SPEC   --json   --max-record BYTES   --max-array N
 *   --max-depth N      --max-keys N       --timeout MS
 *   --progress / --no-progress    -q, --quiet
 *   --shuffle (byte-shuffled typed arrays on output)
 *   -f, --force (binary output to a terminal)   -h, --help   -V, --version
 * Exit codes: see lerr.h (0 ok, 1 bad data, 2 usage, 3 I/O, 4 peer, 5 internal).
 */
#ifndef LLADA_CLI_H
#define LLADA_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include "stream.h"

#define LLADA_VERSION "0.1.0"

typedef struct {
    const char *tool;   /* program name used in messages */
    const char *input;  /* default "-" */
    const char *output; /* default "-" */
    stream_opts_t sopts;
    int progress; /* -1 auto (stderr is a tty), 0 off, 1 on */
    bool quiet;
    bool force;
} cli_t;

/* Long options shared by all tools; append to the tool's own table with CLI_COMMON_LONGOPTS. */
enum {
    CLI_OPT_JSON = 1000,
    CLI_OPT_MAXREC,
    CLI_OPT_MAXARR,
    CLI_OPT_MAXDEPTH,
    CLI_OPT_TIMEOUT,
    CLI_OPT_PROGRESS,
    CLI_OPT_NOPROGRESS,
    CLI_OPT_SHUFFLE,
    CLI_OPT_MAXKEYS,
    CLI_OPT__LAST
};
#define CLI_COMMON_SHORTOPTS "i:o:qfhV"
#define CLI_COMMON_LONGOPTS \
    {"input", required_argument, 0, 'i'}, {"output", required_argument, 0, 'o'}, \
        {"json", no_argument, 0, CLI_OPT_JSON}, {"max-record", required_argument, 0, CLI_OPT_MAXREC}, \
        {"max-array", required_argument, 0, CLI_OPT_MAXARR}, {"max-depth", required_argument, 0, CLI_OPT_MAXDEPTH}, \
        {"max-keys", required_argument, 0, CLI_OPT_MAXKEYS}, {"timeout", required_argument, 0, CLI_OPT_TIMEOUT}, \
        {"progress", no_argument, 0, CLI_OPT_PROGRESS}, {"no-progress", no_argument, 0, CLI_OPT_NOPROGRESS}, \
        {"shuffle", no_argument, 0, CLI_OPT_SHUFFLE}, {"quiet", no_argument, 0, 'q'}, {"force", no_argument, 0, 'f'}, \
        {"help", no_argument, 0, 'h'}, { \
        "version", no_argument, 0, 'V' \
    }

#define CLI_COMMON_HELP \
    "Common options:\n" \
    "  -i, --input SPEC      read records from SPEC (default -: stdin)\n" \
    "  -o, --output SPEC     write records to SPEC (default -: stdout)\n" \
    "                        SPEC: - | FILE | FILE.mp.lz4 | FILE.jsonl | @tcp://*:PORT (bind)\n" \
    "                        | >tcp://HOST:PORT (connect) | ipc://PATH | inproc://NAME\n" \
    "      --json            JSON lines instead of msgpack on stdin/stdout\n" \
    "      --shuffle         write typed arrays byte-shuffled (smaller, faster .mp.lz4)\n" \
    "      --max-record N    largest record accepted, bytes (default 1073741824)\n" \
    "      --max-array N     longest msgpack array accepted (default 1048576)\n" \
    "      --max-keys N      most keys in one record or msgpack map (default 65536)\n" \
    "      --max-depth N     deepest nesting accepted (default 32)\n" \
    "      --timeout MS      socket timeout, 0 = none (default 60000)\n" \
    "      --progress, --no-progress   progress on stderr (default: if a terminal)\n" \
    "  -q, --quiet           no notices, and no progress unless --progress\n" \
    "  -f, --force           write binary records even to a terminal\n" \
    "  -h, --help            this help\n" \
    "  -V, --version         version\n" \
    "Exit status: 0 ok, 1 bad input data, 2 usage, 3 I/O error, 4 peer/network error,\n" \
    "5 internal error.\n"

/* tool names the messages, unless $LLADA_PROG is set: a pipeline (pipelines/generate) sets it
 * for the stages it runs so that errors name the command the user typed. */
void cli_init(cli_t *c, const char *tool);
/* Handle a common option. Returns 1 if handled, 0 if not a common option. Exits for
 * --help (prints `help` to stdout, exit 0), --version (exit 0) and bad values (exit 2). */
int cli_common_option(cli_t *c, int opt, const char *arg, const char *help);
/* Print "tool: error: msg" plus "Try 'tool --help' for more information." and exit 2. */
void cli_usage_error(const cli_t *c, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
/* Print "tool: error: <e->msg>" and exit e->code (EXIT_INTERNAL if 0). */
void cli_die(const cli_t *c, const lerr_t *e) __attribute__((noreturn));
void cli_dief(const cli_t *c, int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));
/* Notice on stderr ("tool: msg") unless quiet. */
void cli_notice(const cli_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool cli_progress_on(const cli_t *c);

/* Open the configured input/output streams; die on failure. cli_open_output refuses binary
 * output to a terminal unless --json or --force. */
rstream_t *cli_open_input(cli_t *c);
wstream_t *cli_open_output(cli_t *c);
/* Close the output (writes the end record) and stdout, checking for write errors; dies on error. */
void cli_close_output(cli_t *c, wstream_t **w);
/* fclose(stdout) with error check (for tools writing text); dies with EXIT_IO on failure. */
void cli_close_stdout(const cli_t *c);

/* Parse a size with optional K/M/G suffix or an integer; -1 on error. */
long long cli_parse_size(const char *s);
long long cli_parse_int(const char *s, long long lo, long long hi, bool *ok);
/* The value of option `name` as an integer in [lo, hi]; a usage error (exit 2) otherwise. */
long long cli_int_arg(const cli_t *c, const char *name, const char *arg, long long lo, long long hi);
/* getopt_long without getopt's own messages: an unknown option, a missing value or an
 * ambiguous prefix is one usage error naming the option as typed, with the nearest known
 * long option for a near miss ("unknown option --modle (did you mean --model?)"); exits 2.
 * Returns getopt_long's other results. */
int cli_getopt(const cli_t *c, int argc, char **argv, const char *shortopts, const struct option *lo);
/* The long option of lo nearest to name[0..n) within a small edit distance, else NULL. */
const char *cli_nearest_option(const struct option *lo, const char *name, size_t n);
double cli_parse_double(const char *s, bool *ok);

#endif
