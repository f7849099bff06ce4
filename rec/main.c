/* rec — copy record streams between transports and formats (the plumbing tool).
 *
 * `rec -i shard.mp.lz4 --json` shows a shard; `rec -i @tcp://0.0.0.0:5555 -o out.mp.lz4`
 * receives a stream from a socket into a compressed file; `rec --inputs 3` merges three
 * producers on one socket. Records pass through byte for byte (unknown fields included).
 */
#include <stdio.h>
#include <stdlib.h>
#include "cli.h"

static const char HELP[] =
    "Usage: rec [OPTIONS]\n"
    "Copy a record stream from -i to -o: between stdin/stdout, msgpack files, .mp.lz4 files,\n"
    "JSON lines and ZeroMQ sockets.\n"
    "\n"
    "  -n, --inputs N        a socket input closes after N end records (N producers; default 1)\n"
    "  -c, --count           print the number of records to stderr at the end\n"
    "  -l, --lz4-level N     LZ4 level for .lz4 outputs (0 fast, <0 faster, 3..12 high)\n"
    "\n" CLI_COMMON_HELP "\nExamples:\n"
    "  tok < text | rec -o tokens.mp.lz4        compress a stream into a shard\n"
    "  rec -i tokens.mp.lz4 --json | head       look at a shard\n"
    "  rec -i @tcp://0.0.0.0:5555 -o -          receive from a socket onto a pipe\n";

int main(int argc, char **argv) {
    cli_t c;
    cli_init(&c, "rec");
    static const struct option longopts[] = {{"inputs", required_argument, 0, 'n'},
                                             {"count", no_argument, 0, 'c'},
                                             {"lz4-level", required_argument, 0, 'l'},
                                             CLI_COMMON_LONGOPTS,
                                             {0, 0, 0, 0}};
    bool count = false, ok;
    int opt;
    while ((opt = cli_getopt(&c, argc, argv, "n:cl:" CLI_COMMON_SHORTOPTS, longopts)) != -1) {
        if (cli_common_option(&c, opt, optarg, HELP)) continue;
        switch (opt) {
        case 'n':
            c.sopts.expect_ends = (int)cli_parse_int(optarg, 1, 1 << 20, &ok);
            if (!ok) cli_usage_error(&c, "--inputs needs a positive count, got '%s'", optarg);
            break;
        case 'c': count = true; break;
        case 'l':
            c.sopts.lz4_level = (int)cli_parse_int(optarg, -65537, 12, &ok);
            if (!ok) cli_usage_error(&c, "--lz4-level needs -65537..12, got '%s'", optarg);
            break;
        }
    }
    if (optind < argc) cli_usage_error(&c, "unexpected argument '%s'", argv[optind]);
    rstream_t *in = cli_open_input(&c);
    wstream_t *out = cli_open_output(&c);
    lerr_t e = {0};
    rec_t *r;
    int rc;
    while ((rc = rstream_read(in, &r, &e)) == 1) {
        if (wstream_write(out, r, &e)) {
            rec_destroy(&r);
            cli_die(&c, &e);
        }
        rec_destroy(&r);
    }
    if (rc < 0) {
        wstream_abort(&out);
        cli_die(&c, &e);
    }
    uint64_t n = rstream_count(in);
    rstream_destroy(&in);
    cli_close_output(&c, &out);
    if (count) fprintf(stderr, "rec: %llu records\n", (unsigned long long)n);
    return 0;
}
