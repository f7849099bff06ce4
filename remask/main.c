/* remask — the remasking policies as a tool: serve them on a ZeroMQ endpoint so denoise
 * (--policy-endpoint) consults a policy in another process or on another machine, list
 * them, generate CURVE key pairs, and measure the round trip of a remote policy step.
 *
 *   remask --serve tcp://127.0.0.1:5570 [--policy NAME] [--key K.key --allow clients/]
 *   remask --keygen NAME            writes NAME.key (secret, 0600) and NAME.pub
 *   remask --list                   policy names
 *   remask --probe ENDPOINT [--candidates N --count N]   round-trip benchmark
 * Records: docs/protocol.md (remask). Writing a policy in Python: docs/remask.md.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "remask/remask.h"
#include "remask/remote.h"
#include "remask/serve.h"
#include "net_curve.h"

static const char HELP[] =
    "Usage: remask --serve ENDPOINT [--policy NAME] [--key FILE --allow LIST]\n"
    "       remask --keygen NAME | --list | --probe ENDPOINT [--candidates N] [--count N]\n"
    "Remasking policies (which masked positions a reverse step commits) as a service.\n"
    "\n"
    "      --serve ENDPOINT     answer remask_select requests on ENDPOINT (bind), e.g.\n"
    "                           tcp://127.0.0.1:5570, tcp://0.0.0.0:5570, ipc:///tmp/rm;\n"
    "                           port * picks a free one (printed on stderr)\n"
    "      --policy NAME        default policy (requests may name another): low_confidence,\n"
    "                           random, threshold[:T], factor[:F], topk_margin, entropy,\n"
    "                           eb[:GAMMA] (default low_confidence)\n"
    "      --key FILE           CURVE: encrypt with this key pair (remask --keygen)\n"
    "      --allow LIST         CURVE: admit only these client public keys (a file, one per\n"
    "                           line, or a directory of *.pub)\n"
    "      --server-key FILE    (--probe with CURVE) the service's public key\n"
    "      --max-requests N     exit after N requests (tests)\n"
    "      --keygen NAME        write a CURVE key pair NAME.key (secret) + NAME.pub\n"
    "      --list               print the policy names\n"
    "      --probe ENDPOINT     time N select round trips (N candidates each) against the\n"
    "                           in-process policy; prints one JSON line\n"
    "      --candidates N       candidates per probe request (default 32)\n"
    "      --count N            probe requests (default 2000)\n"
    "\n" CLI_COMMON_HELP "\nRecords: docs/protocol.md (remask). A Python policy: docs/remask.md.\n";

enum {
    O_SERVE = CLI_OPT__LAST,
    O_POLICY,
    O_KEY,
    O_ALLOW,
    O_SKEY,
    O_MAXREQ,
    O_KEYGEN,
    O_LIST,
    O_PROBE,
    O_CANDS,
    O_COUNT
};
static const struct option LONGOPTS[] = {{"serve", required_argument, 0, O_SERVE},
                                         {"policy", required_argument, 0, O_POLICY},
                                         {"key", required_argument, 0, O_KEY},
                                         {"allow", required_argument, 0, O_ALLOW},
                                         {"server-key", required_argument, 0, O_SKEY},
                                         {"max-requests", required_argument, 0, O_MAXREQ},
                                         {"keygen", required_argument, 0, O_KEYGEN},
                                         {"list", no_argument, 0, O_LIST},
                                         {"probe", required_argument, 0, O_PROBE},
                                         {"candidates", required_argument, 0, O_CANDS},
                                         {"count", required_argument, 0, O_COUNT},
                                         CLI_COMMON_LONGOPTS,
                                         {0, 0, 0, 0}};

typedef struct {
    cli_t cli;
    const char *serve, *policy, *key, *allow, *skey, *keygen, *probe;
    bool list;
    long long max_requests, cands, count;
} opts_t;

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static long long int_arg(opts_t *o, const char *name, const char *arg, long long lo, long long hi) {
    return cli_int_arg(&o->cli, name, arg, lo, hi);
}

static void parse(opts_t *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    cli_init(&o->cli, "remask");
    o->policy = "low_confidence";
    o->cands = 32;
    o->count = 2000;
    int c;
    while ((c = cli_getopt(&o->cli, argc, argv, CLI_COMMON_SHORTOPTS, LONGOPTS)) != -1) {
        switch (c) {
        case O_SERVE: o->serve = optarg; break;
        case O_POLICY: o->policy = optarg; break;
        case O_KEY: o->key = optarg; break;
        case O_ALLOW: o->allow = optarg; break;
        case O_SKEY: o->skey = optarg; break;
        case O_MAXREQ: o->max_requests = int_arg(o, "--max-requests", optarg, 1, 1LL << 60); break;
        case O_KEYGEN: o->keygen = optarg; break;
        case O_LIST: o->list = true; break;
        case O_PROBE: o->probe = optarg; break;
        case O_CANDS: o->cands = int_arg(o, "--candidates", optarg, 1, 1 << 20); break;
        case O_COUNT: o->count = int_arg(o, "--count", optarg, 1, 1LL << 40); break;
        default:
            if (!cli_common_option(&o->cli, c, optarg, HELP)) cli_usage_error(&o->cli, "unknown option");
        }
    }
    if (optind < argc) cli_usage_error(&o->cli, "unexpected argument '%s'", argv[optind]);
    if (!!o->serve + !!o->keygen + o->list + !!o->probe != 1)
        cli_usage_error(&o->cli, "give exactly one of --serve, --keygen, --list, --probe");
}

static void on_ready(const char *ep, void *arg) {
    opts_t *o = arg;
    fprintf(stderr, "remask: serving %s on %s\n", o->policy, ep);
    fflush(stderr);
}

static int do_serve(opts_t *o) {
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rm_serve_opts_t so = {.endpoint = o->serve,
                          .policy = o->policy,
                          .key_file = o->key,
                          .allow = o->allow,
                          .max_msg = (long long)o->cli.sopts.lim.max_record_bytes,
                          .max_requests = o->max_requests,
                          .stop = &g_stop,
                          .ready = on_ready,
                          .ready_arg = o};
    if (so.max_msg > (64LL << 20)) so.max_msg = 64LL << 20; /* a select request is small */
    lerr_t e = {0};
    long long n;
    if (rm_serve(&so, &n, &e)) cli_die(&o->cli, &e);
    cli_notice(&o->cli, "answered %lld requests", n);
    return EXIT_OK;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Time `count` selects through `p` on a fixed pseudo-random candidate set. */
static double time_selects(opts_t *o, rm_policy_t *p, rm_cand_t *c, int32_t *out) {
    lerr_t e = {0};
    int n = (int)o->cands;
    rm_state_t st = {.steps = 1, .n_commit = n / 8 + 1, .block_end = 2 * n, .canvas_len = 2 * n};
    double t0 = now_s();
    for (long long i = 0; i < o->count; i++) {
        st.step = (int)(i & 0xffff);
        if (rm_policy_select(p, &st, c, n, out, &e) < 0) cli_die(&o->cli, &e);
    }
    return (now_s() - t0) / (double)o->count;
}

static int do_probe(opts_t *o) {
    int n = (int)o->cands;
    rm_cand_t *c = calloc((size_t)n, sizeof *c);
    int32_t *out = calloc((size_t)n, sizeof *out);
    if (!c || !out) cli_dief(&o->cli, EXIT_INTERNAL, "out of memory");
    for (int i = 0; i < n; i++) {
        c[i].pos = 2 * i;
        c[i].token = i;
        c[i].conf = fmod(i * 0.618034, 1.0);
        c[i].prob = (float)c[i].conf;
        c[i].entropy = (float)(1 - c[i].conf);
    }
    lerr_t e = {0};
    rm_policy_t *local = rm_policy_new(o->policy, &e);
    if (!local) cli_usage_error(&o->cli, "%s", e.msg);
    rm_remote_opts_t ro = {.endpoint = o->probe,
                           .policy = o->policy,
                           .timeout_ms = o->cli.sopts.timeout_ms,
                           .key_file = o->key,
                           .server_key = o->skey};
    rm_policy_t *remote = rm_remote_new(&ro, &e);
    if (!remote) cli_die(&o->cli, &e);
    time_selects(o, remote, c, out); /* warm-up */
    double tl = time_selects(o, local, c, out), tr = time_selects(o, remote, c, out);
    printf("{\"policy\":\"%s\",\"candidates\":%d,\"count\":%lld,\"local_us\":%.3f,\"remote_us\":%.3f,\"ratio\":%.1f}\n",
           o->policy, n, o->count, tl * 1e6, tr * 1e6, tr / tl);
    rm_policy_destroy(&remote);
    rm_policy_destroy(&local);
    free(c);
    free(out);
    cli_close_stdout(&o->cli);
    return EXIT_OK;
}

int main(int argc, char **argv) {
    opts_t o;
    parse(&o, argc, argv);
    lerr_t e = {0};
    if (o.list) {
        for (const char *const *l = rm_policy_list(); *l; l++) printf("%s\n", *l);
        cli_close_stdout(&o.cli);
        return EXIT_OK;
    }
    if (o.keygen) {
        if (net_keygen(o.keygen, &e)) cli_die(&o.cli, &e);
        cli_notice(&o.cli, "wrote %s.key (secret, keep it) and %s.pub", o.keygen, o.keygen);
        return EXIT_OK;
    }
    if (o.probe) return do_probe(&o);
    return do_serve(&o);
}
