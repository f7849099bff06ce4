/* net_curve.h — CURVE key pairs and client allow-lists for the ZeroMQ services (remask --serve,
 * the cluster broker). Keys are Z85 text (40 characters, zmq_z85_encode).
 *
 *   NAME.key  "public <z85>\nsecret <z85>\n", mode 0600  (remask --keygen NAME)
 *   NAME.pub  "<z85>\n"                                  (give this to the other side)
 * An allow-list is a file of public keys, one per line ('#' comments, blank lines ignored),
 * or a directory whose *.pub files are read. The ZAP handler (RFC 27) admits a CURVE client
 * only when its public key is listed; everyone else gets status 400 and never gets through.
 */
#ifndef LLADA_COMMON_NET_CURVE_H
#define LLADA_COMMON_NET_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include "lerr.h"

/* Write NAME.key and NAME.pub (refuses to overwrite). EXIT_IO / EXIT_INTERNAL. */
int net_keygen(const char *name, lerr_t *e);
/* Read a .key file (both keys) or a .pub file (sec left ""). Buffers of 41 bytes. EXIT_DATA/IO. */
int net_key_read(const char *path, char pub[41], char sec[41], lerr_t *e);
/* Socket setup, before bind/connect. Server: our .key; client: our .key and the server's
 * .pub (or .key). */
int net_curve_server(void *sock, const char *key_file, lerr_t *e);
int net_curve_client(void *sock, const char *key_file, const char *server_key_file, lerr_t *e);

/* ZAP handler thread on the process-wide context; one per process. */
typedef struct net_zap net_zap_t;
net_zap_t *net_zap_start(const char *allow, lerr_t *e);
void net_zap_stop(net_zap_t **z);
/* Number of connections refused so far. */
long net_zap_refused(const net_zap_t *z);
/* Refused client keys to report, each distinct key once (up to ZAP_MAX_REPORTED keys; later
 * new keys only add to net_zap_refused). 1 and `line` = "client key Z85 (from ADDR) is not on the
 * allow-list" for the next unreported one, 0 when none is pending. Call from the owner's loop;
 * it prints (library code does not). */
int net_zap_next_refusal(net_zap_t *z, char *line, size_t n);

/* CURVE handshake failures, seen through a ZeroMQ socket monitor (ZMQ_EVENT_HANDSHAKE_FAILED_*):
 * a refused client key (the server's ZAP answered 400: AUTH on both sides), a client with the
 * wrong server key (the server sees a cryptographic PROTOCOL error; the client NO_DETAIL).
 * net_hsmon_new monitors `sock` (created in context `ctx`) before it binds/connects; NULL with
 * `e` set on failure. net_hsmon_poll never blocks: 1 and `msg` (starting "authentication
 * failed: ") when a handshake failed since the last call, else 0. */
typedef struct net_hsmon net_hsmon_t;
net_hsmon_t *net_hsmon_new(void *ctx, void *sock, const char *what, bool server, lerr_t *e);
int net_hsmon_poll(net_hsmon_t *m, char *msg, size_t n);
void net_hsmon_free(net_hsmon_t **m);

#endif
