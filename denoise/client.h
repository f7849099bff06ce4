/* client.h — distributed generation: the options denoise gains for it and the three roles.
 *
 *   denoise --policy-endpoint EP      consult a remask service each step (remask/remote.h)
 *   denoise --broker FRONT --backend BACK   load-balancing broker (broker.c), no model
 *   denoise --worker BACK [model/sampler options]   a worker owning one model (worker.c)
 *   denoise --remote FRONT            client stage: records in, results out, input order
 *                                     (client.c), no model
 * CURVE: --key FILE (own key pair), --server-key FILE (the broker's or service's public
 * key), --allow LIST (broker: admitted client and worker keys). Design, failure handling
 * and message frames: docs/cluster.md; recipe: pipelines/cluster.
 */
#ifndef LLADA_DENOISE_CLIENT_H
#define LLADA_DENOISE_CLIENT_H

#include <getopt.h>
#include <stdbool.h>
#include "cli.h"
#include "remask/remask.h"

typedef struct {
    const char *policy_endpoint;
    const char *broker, *backend, *worker, *remote;
    const char *key, *server_key, *allow;
    int heartbeat_ms;      /* heartbeat interval (default 1000); peer dead after 3 missed */
    int window;            /* client: requests in flight (default 64) */
    int queue;             /* broker: queued requests before it stops reading clients (default 1024) */
} dist_opts_t;

enum { DIST_OPT_PEP = 3000, DIST_OPT_BROKER, DIST_OPT_BACKEND, DIST_OPT_WORKER, DIST_OPT_REMOTE,
       DIST_OPT_KEY, DIST_OPT_SKEY, DIST_OPT_ALLOW, DIST_OPT_HB, DIST_OPT_WINDOW, DIST_OPT_QUEUE };

#define DIST_LONGOPTS                                                                      \
    {"policy-endpoint", required_argument, 0, DIST_OPT_PEP},                               \
    {"broker", required_argument, 0, DIST_OPT_BROKER},                                     \
    {"backend", required_argument, 0, DIST_OPT_BACKEND},                                   \
    {"worker", required_argument, 0, DIST_OPT_WORKER},                                     \
    {"remote", required_argument, 0, DIST_OPT_REMOTE},                                     \
    {"key", required_argument, 0, DIST_OPT_KEY},                                           \
    {"server-key", required_argument, 0, DIST_OPT_SKEY},                                   \
    {"allow", required_argument, 0, DIST_OPT_ALLOW},                                       \
    {"heartbeat", required_argument, 0, DIST_OPT_HB},                                      \
    {"window", required_argument, 0, DIST_OPT_WINDOW},                                     \
    {"queue", required_argument, 0, DIST_OPT_QUEUE}

#define DIST_HELP                                                                          \
    "Remote policy and distributed generation (docs/cluster.md):\n"                        \
    "      --policy-endpoint EP  ask the remask service at EP (remask --serve) each step;\n" \
    "                            the service's policy replaces --remasking\n"              \
    "      --remote EP           client: send records to the broker at EP, write results\n" \
    "                            in input order (no model loaded here)\n"                  \
    "      --window N            client: requests in flight (default 64)\n"                \
    "      --broker EP --backend EP2  run a broker: clients connect to EP, workers to EP2\n" \
    "      --queue N             broker: queued requests before clients are held back (1024)\n" \
    "      --worker EP           serve generations for the broker backend at EP; --batch N\n" \
    "                            is the number of slots (requests per forward)\n"          \
    "      --heartbeat MS        heartbeat interval, 3 missed = dead (default 1000)\n"     \
    "      --key FILE            CURVE key pair of this process (remask --keygen)\n"       \
    "      --server-key FILE     CURVE public key of the broker / remask service\n"        \
    "      --allow LIST          broker: client and worker public keys admitted\n"

/* Handle a DIST_OPT_* option: 1 handled, 0 not ours; dies on a bad value. */
int dist_option(dist_opts_t *d, const cli_t *cli, int opt, const char *arg);
/* The remote policy for --policy-endpoint (dies on failure: EXIT_PEER when unreachable). */
rm_policy_t *dist_remote_policy(const dist_opts_t *d, const cli_t *cli);
/* Roles without a model: --broker or --remote. Returns the exit code, or -1 if neither. */
int dist_main_nomodel(const dist_opts_t *d, cli_t *cli);

#endif
