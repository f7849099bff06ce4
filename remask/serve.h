/* serve.h — the remask policy service: a ROUTER socket answering remask_hello and
 * remask_select records (wire.h) with the in-process policy library. Stateless per
 * request, so any number of denoise processes can share one service. */
#ifndef LLADA_REMASK_SERVE_H
#define LLADA_REMASK_SERVE_H

#include <signal.h>
#include "lerr.h"

typedef struct {
    const char *endpoint;                           /* bind: tcp://127.0.0.1:5570, ipc://PATH, tcp://0.0.0.0:5570 */
    const char *policy;                             /* default policy when a request names none */
    const char *key_file;                           /* CURVE server key pair, NULL: plain */
    const char *allow;                              /* CURVE client allow-list (file or directory of .pub) */
    long long max_msg;                              /* largest request accepted, bytes */
    long long max_requests;                         /* exit 0 after this many requests (0: unlimited; tests) */
    volatile sig_atomic_t *stop;                    /* set by a signal handler to end the loop */
    void (*ready)(const char *endpoint, void *arg); /* called once bound (may be NULL) */
    void *ready_arg;
} rm_serve_opts_t;

/* Serve until *stop or max_requests. Counts of answered/failed requests go to *answered. */
int rm_serve(const rm_serve_opts_t *o, long long *answered, lerr_t *e);

#endif
