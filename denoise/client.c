/* client_opts.c — parsing of the distributed-generation options (client.h) and the
 * --policy-endpoint policy. */
#include <stdlib.h>
#include "client.h"
#include "remask/remote.h"

int dist_option(dist_opts_t *d, const cli_t *cli, int opt, const char *arg) {
    bool ok = true;
    switch (opt) {
    case DIST_OPT_PEP: d->policy_endpoint = arg; return 1;
    case DIST_OPT_BROKER: d->broker = arg; return 1;
    case DIST_OPT_BACKEND: d->backend = arg; return 1;
    case DIST_OPT_WORKER: d->worker = arg; return 1;
    case DIST_OPT_REMOTE: d->remote = arg; return 1;
    case DIST_OPT_KEY: d->key = arg; return 1;
    case DIST_OPT_SKEY: d->server_key = arg; return 1;
    case DIST_OPT_ALLOW: d->allow = arg; return 1;
    case DIST_OPT_HB: d->heartbeat_ms = (int)cli_parse_int(arg, 10, 600000, &ok); break;
    case DIST_OPT_WINDOW: d->window = (int)cli_parse_int(arg, 1, 1 << 16, &ok); break;
    case DIST_OPT_QUEUE: d->queue = (int)cli_parse_int(arg, 1, 1 << 20, &ok); break;
    default: return 0;
    }
    if (!ok) cli_usage_error(cli, "bad value '%s' for a cluster option", arg);
    return 1;
}

rm_policy_t *dist_remote_policy(const dist_opts_t *d, const cli_t *cli) {
    rm_remote_opts_t ro = {.endpoint = d->policy_endpoint, .policy = NULL,
                           .timeout_ms = cli->sopts.timeout_ms, .key_file = d->key,
                           .server_key = d->server_key};
    lerr_t e = {0};
    rm_policy_t *p = rm_remote_new(&ro, &e);
    if (!p) cli_die(cli, &e);
    return p;
}

int dist_main_nomodel(const dist_opts_t *d, cli_t *cli) {
    (void)cli;
    if (!d->broker && !d->remote) return -1;
    return -1;
}
