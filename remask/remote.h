/* remote.h — a remask policy that asks a `remask --serve` service (or any program speaking
 * the records of wire.h, e.g. the Python policy in docs/remask.md) at every step.
 *
 * The client is a DEALER socket sending [empty frame][request] so it talks to REP and
 * ROUTER services alike. Every request waits at most timeout_ms for its reply; a slow or
 * dead service is an EXIT_PEER error naming the endpoint and the step, never a hang.
 */
#ifndef LLADA_REMASK_REMOTE_H
#define LLADA_REMASK_REMOTE_H

#include "remask.h"

typedef struct {
    const char *endpoint;   /* tcp://host:port, ipc://path (connect) */
    const char *policy;     /* policy the service should run, NULL: its default */
    int timeout_ms;         /* per request; <= 0 means 60000 */
    const char *key_file;   /* CURVE: our key pair (remask --keygen), NULL: no CURVE */
    const char *server_key; /* CURVE: the service's public key file */
    long long max_msg;      /* largest reply accepted, bytes */
} rm_remote_opts_t;

/* Connect and greet the service (remask_hello, answered within the timeout), so a missing
 * service fails here rather than mid-generation. The policy's adaptivity is the service's. */
rm_policy_t *rm_remote_new(const rm_remote_opts_t *o, lerr_t *e);

#endif
