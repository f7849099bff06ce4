/* serve — an OpenAI-compatible HTTP server for LLaDA masked diffusion models.
 *
 *   serve [--model DIR] [--listen 127.0.0.1:8080] [--api-key-file F] [--remote FRONT]
 *
 * GET /v1/models, POST /v1/completions, POST /v1/chat/completions (the model's chat
 * template), GET /health. "stream": true answers with Server-Sent Events, one chunk each
 * time the committed prefix of an answer grows (at the latest when a semi-autoregressive
 * block is complete). Requests that arrive together share one sampler batch; a bounded
 * queue answers 503 when full; a client that disconnects cancels its rows. --remote sends
 * the work to a cluster broker (docs/cluster.md) instead of a local model. Docs: docs/serve.md.
 */
#include <getopt.h>
#include <libgen.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "cli.h"
#include "paths.h"
#include "blas_env.h"
#include "kernels.h"
#include "serve/http.h"

static const char HELP[] = "Usage: serve [OPTIONS]\n"
                           "OpenAI-compatible HTTP server for a LLaDA masked diffusion model: GET /v1/models,\n"
                           "POST /v1/completions, POST /v1/chat/completions (streaming with \"stream\": true),\n"
                           "GET /health. Sampler options per request in a \"diffusion\" object (docs/serve.md).\n"
                           "\n"
                           "      --model PATH          model folder (default: $LLADA_MODEL, else the bundled\n"
                           "                            models/default); with --remote only its tokenizer is used\n"
                           "      --model-name NAME     the model id clients use (default: the folder's name)\n"
                           "      --listen HOST:PORT    address to listen on (default 127.0.0.1:8080; port 0: any,\n"
                           "                            the bound address is printed)\n"
                           "      --api-key-file F      accept only requests with 'Authorization: Bearer KEY' for a\n"
                           "                            KEY listed in F (one per line, '#' comments)\n"
                           "      --remote FRONT        generate on a cluster: the broker's client endpoint\n"
                           "                            (denoise --broker; docs/cluster.md); no model loaded here\n"
                           "      --key F, --server-key F  CURVE keys for --remote (remask --keygen)\n"
                           "      --batch N             rows (choices) per forward pass, 1..256 (default 8);\n"
                           "                            with --remote: rows in flight\n"
                           "      --batch-wait MS       a batch with free rows waits this long for more requests\n"
                           "                            before it starts, 0..1000 (default 20; local model only)\n"
                           "      --queue N             requests waiting before 503 + Retry-After (default 64)\n"
                           "      --max-connections N   open connections, 1..4096 (default 256)\n"
                           "      --max-body BYTES      request body limit (default 1M)\n"
                           "      --max-tokens N        largest max_tokens accepted (default 1024)\n"
                           "      --max-n N             most choices per request (n x prompts, default 8)\n"
                           "      --max-prompt N        most prompt tokens per choice (default 8192)\n"
                           "      --gen-length N        max_tokens when a request has none (default 128)\n"
                           "      --threads N           CPU threads for the model (default: all cores)\n"
                           "      --device D            cpu, cuda (cuda:bf16, cuda:f32) or auto, as denoise (default:\n"
                           "                            $LLADA_DEVICE, else auto; docs/gpu.md)\n"
                           "      --timeout MS          --remote: broker silent this long fails the requests (60000)\n"
                           "  -q, --quiet               no notices\n"
                           "  -h, --help                this help\n"
                           "  -V, --version             version\n"
                           "Exit status: 0 stopped by SIGINT/SIGTERM, 1 bad model or key file, 2 usage, 3 I/O\n"
                           "(cannot listen, unreadable files), 5 internal.\n";

enum {
    O_MODEL = 2000,
    O_NAME,
    O_LISTEN,
    O_KEYS,
    O_REMOTE,
    O_KEY,
    O_SKEY,
    O_BATCH,
    O_QUEUE,
    O_CONN,
    O_BODY,
    O_MAXTOK,
    O_MAXN,
    O_MAXPROMPT,
    O_GEN,
    O_THREADS,
    O_TIMEOUT,
    O_WAIT,
    O_DEVICE
};

static const struct option LONGOPTS[] = {{"model", required_argument, 0, O_MODEL},
                                         {"model-name", required_argument, 0, O_NAME},
                                         {"listen", required_argument, 0, O_LISTEN},
                                         {"api-key-file", required_argument, 0, O_KEYS},
                                         {"remote", required_argument, 0, O_REMOTE},
                                         {"key", required_argument, 0, O_KEY},
                                         {"server-key", required_argument, 0, O_SKEY},
                                         {"batch", required_argument, 0, O_BATCH},
                                         {"queue", required_argument, 0, O_QUEUE},
                                         {"max-connections", required_argument, 0, O_CONN},
                                         {"max-body", required_argument, 0, O_BODY},
                                         {"max-tokens", required_argument, 0, O_MAXTOK},
                                         {"max-n", required_argument, 0, O_MAXN},
                                         {"max-prompt", required_argument, 0, O_MAXPROMPT},
                                         {"gen-length", required_argument, 0, O_GEN},
                                         {"threads", required_argument, 0, O_THREADS},
                                         {"timeout", required_argument, 0, O_TIMEOUT},
                                         {"batch-wait", required_argument, 0, O_WAIT},
                                         {"device", required_argument, 0, O_DEVICE},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'V'},
                                         {0, 0, 0, 0}};

typedef struct {
    cli_t cli;
    const char *model, *name, *listen, *keys, *device;
    dist_opts_t dist;
    int max_conn, threads, queue, wait_ms;
} opts_t;

static void parse(opts_t *o, serve_t *sv, int argc, char **argv) {
    cli_init(&o->cli, "serve");
    o->listen = "127.0.0.1:8080";
    o->max_conn = 256;
    o->queue = 64;
    o->wait_ms = 20;
    sv->lim = SREQ_LIMITS_DEFAULT;
    sv->max_body = 1 << 20;
    sv->default_gen = 128;
    sv->max_prompt = 8192;
    sv->max_batch = 8;
    sv->timeout_ms = 60000;
    int c;
    while ((c = getopt_long(argc, argv, "qhV", LONGOPTS, NULL)) != -1) {
        const cli_t *cl = &o->cli;
        switch (c) {
        case O_MODEL: o->model = optarg; break;
        case O_NAME: o->name = optarg; break;
        case O_LISTEN: o->listen = optarg; break;
        case O_KEYS: o->keys = optarg; break;
        case O_REMOTE: o->dist.remote = optarg; break;
        case O_KEY: o->dist.key = optarg; break;
        case O_SKEY: o->dist.server_key = optarg; break;
        case O_BATCH: sv->max_batch = (int)cli_int_arg(cl, "--batch", optarg, 1, 256); break;
        case O_QUEUE: o->queue = (int)cli_int_arg(cl, "--queue", optarg, 1, 1 << 16); break;
        case O_CONN: o->max_conn = (int)cli_int_arg(cl, "--max-connections", optarg, 1, 4096); break;
        case O_BODY: {
            long long v = cli_parse_size(optarg);
            if (v < 64 || v > (1LL << 30)) cli_usage_error(cl, "--max-body needs 64 bytes .. 1G, got '%s'", optarg);
            sv->max_body = (size_t)v;
            break;
        }
        case O_MAXTOK: sv->lim.max_tokens = (int)cli_int_arg(cl, "--max-tokens", optarg, 1, 1 << 20); break;
        case O_MAXN: sv->lim.max_n = (int)cli_int_arg(cl, "--max-n", optarg, 1, 256); break;
        case O_MAXPROMPT: sv->max_prompt = (int)cli_int_arg(cl, "--max-prompt", optarg, 1, 1 << 24); break;
        case O_GEN: sv->default_gen = (int)cli_int_arg(cl, "--gen-length", optarg, 1, 1 << 20); break;
        case O_THREADS: o->threads = (int)cli_int_arg(cl, "--threads", optarg, 1, 256); break;
        case O_DEVICE: {
            lerr_t e = {0};
            if (denoise_device_check(optarg, &e)) cli_usage_error(cl, "%s", e.msg);
            o->device = optarg;
            break;
        }
        case O_WAIT: o->wait_ms = (int)cli_int_arg(cl, "--batch-wait", optarg, 0, 1000); break;
        case O_TIMEOUT: sv->timeout_ms = (int)cli_int_arg(cl, "--timeout", optarg, 100, 3600000); break;
        case 'q':
        case 'h':
        case 'V': cli_common_option(&o->cli, c, optarg, HELP); break;
        default: cli_usage_error(cl, "unknown option");
        }
    }
    if (optind < argc) cli_usage_error(&o->cli, "unexpected argument '%s'", argv[optind]);
    if (sv->default_gen > sv->lim.max_tokens) cli_usage_error(&o->cli, "--gen-length is above --max-tokens");
    if (sv->lim.max_n > sv->max_batch) sv->lim.max_n = sv->max_batch; /* a request fits one batch */
    sv->lim.max_prompts = sv->lim.max_n;
    if (o->device && o->dist.remote) cli_usage_error(&o->cli, "--device and --remote exclude each other");
    if ((o->dist.key || o->dist.server_key) && !o->dist.remote)
        cli_usage_error(&o->cli, "--key/--server-key go with --remote");
    sv->dist = &o->dist;
}

/* API keys: one per line, surrounding blanks ignored, '#' starts a comment line. */
static void read_keys(opts_t *o, serve_t *sv) {
    FILE *f = fopen(o->keys, "r");
    if (!f) cli_dief(&o->cli, EXIT_IO, "%s: cannot read the API key file", o->keys);
    struct stat st;
    if (!fstat(fileno(f), &st) && (st.st_mode & 077))
        cli_notice(&o->cli, "%s is readable by other users; chmod 600 it", o->keys);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0) {
        char *s = line, *end = line + strlen(line);
        while (*s == ' ' || *s == '\t') s++;
        while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) *--end = 0;
        if (!*s || *s == '#') continue;
        char **k = realloc(sv->keys, (size_t)(sv->n_keys + 1) * sizeof *k);
        if (!k || !(k[sv->n_keys] = strdup(s))) cli_dief(&o->cli, EXIT_INTERNAL, "out of memory");
        sv->keys = k;
        sv->n_keys++;
    }
    free(line);
    fclose(f);
    if (!sv->n_keys) cli_dief(&o->cli, EXIT_DATA, "%s holds no API key", o->keys);
}

static void open_model(opts_t *o, serve_t *sv) {
    lerr_t e = {0};
    char *dir = o->model ? strdup(o->model) : default_model_dir();
    if (!dir) cli_dief(&o->cli, EXIT_USAGE, "no model: pass --model DIR or set LLADA_MODEL (models/default is absent)");
    if (!(sv->b = tok_bundle_open(dir, &e))) cli_die(&o->cli, &e);
    if (!o->dist.remote) {
        if (!(sv->m = model_load(dir, &e))) cli_die(&o->cli, &e);
        if (gencfg_read(sv->m->dir, &sv->gc, &e)) cli_die(&o->cli, &e);
        char notice[320];
        if (denoise_device_open(&sv->dev, o->device, sv->m, notice, sizeof notice, &e)) cli_die(&o->cli, &e);
        if (notice[0]) cli_notice(&o->cli, "%s", notice);
        sv->mask_id = sv->m->cfg.mask_token_id;
        sv->vocab = sv->m->cfg.embedding_size;
    } else {
        sv->gc = (gencfg_t){0, -1};
        sv->mask_id = sv->b->mask_id;
        sv->vocab = tok_n_ids(sv->b->tok);
        if (sv->mask_id < 0) cli_dief(&o->cli, EXIT_DATA, "%s: the tokenizer has no mask token", dir);
    }
    char *copy = strdup(dir), *base = copy ? basename(copy) : NULL;
    snprintf(sv->model_id, sizeof sv->model_id, "%s", o->name ? o->name : base && *base ? base : "llada");
    free(copy);
    free(dir);
}

int main(int argc, char **argv) {
    blas_ensure_coretype(argv);
    static opts_t o;
    static serve_t sv;
    parse(&o, &sv, argc, argv);
    if (o.keys) read_keys(&o, &sv);
    if (o.threads) kern_set_threads(o.threads);
    open_model(&o, &sv);
    pthread_mutex_init(&sv.tok_mu, NULL);
    sv.started = (long long)time(NULL);
    /* SIGINT/SIGTERM are taken by sigwait below; every thread inherits the mask */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    sched_init(&sv.sched, o.queue);
    if (!o.dist.remote) sv.sched.gather_ms = o.wait_ms;
    if (sched_start(&sv.sched, o.dist.remote ? serve_remote_thread : serve_local_thread, &sv))
        cli_dief(&o.cli, EXIT_INTERNAL, "cannot start the generation thread");
    lerr_t e = {0};
    int port = 0;
    struct MHD_Daemon *d = serve_http_start(&sv, o.listen, o.max_conn, &o.cli.quiet, &port, &e);
    if (!d) cli_die(&o.cli, &e);
    char host[256];
    const char *colon = strrchr(o.listen, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - o.listen), o.listen);
    cli_notice(&o.cli, "listening on http://%s:%d (model %s, %s%s, batch %d, queue %d%s)", *host ? host : "127.0.0.1",
               port, sv.model_id, o.dist.remote ? "cluster " : sv.dev.name, o.dist.remote ? o.dist.remote : "",
               sv.max_batch, o.queue, sv.n_keys ? ", API keys required" : "");
    int sig = 0;
    sigwait(&sigs, &sig);
    cli_notice(&o.cli, "stopping (signal %d)", sig);
    sched_shutdown(&sv.sched); /* running and queued jobs end with 503 */
    MHD_stop_daemon(d);
    denoise_device_close(&sv.dev);
    model_destroy(&sv.m);
    tok_bundle_destroy(&sv.b);
    for (int i = 0; i < sv.n_keys; i++) free(sv.keys[i]);
    free(sv.keys);
    return EXIT_OK;
}
