/* wire.h — the remask service records (docs/protocol.md, "remask"): one msgpack map per
 * ZeroMQ message body.
 *
 *   remask_hello   {kind, v, id, policy?}            -> remask_ready {kind, v, id, policy, adaptive}
 *   remask_select  {kind, v, id, policy?, <rm_state_t fields>, pos i4[n], token i4[n],
 *                   conf f8[n], prob f4[n], margin f4[n], entropy f4[n]}
 *                                                    -> remask_chosen {kind, v, id, chosen i4[k]}
 *   any failure                                      -> remask_error {kind, v, id, code, error}
 *
 * `chosen` may also be a plain msgpack array of ints (what a Python policy writes most
 * easily). Decoders check every length against n and never allocate from a claimed size.
 */
#ifndef LLADA_REMASK_WIRE_H
#define LLADA_REMASK_WIRE_H

#include "record.h"
#include "remask.h"

/* Build a select request (new record, caller owns). policy may be NULL. */
rec_t *rmw_select_new(int64_t id, const char *policy, const rm_state_t *st, const rm_cand_t *c, int n, lerr_t *e);
/* Parse a select request: fills st, *n and a malloc'd candidate array (caller frees).
 * EXIT_DATA on any missing/inconsistent field. */
int rmw_select_parse(const rec_t *r, rm_state_t *st, rm_cand_t **c, int *n, lerr_t *e);
/* Parse a reply to request `id`: remask_chosen -> copies at most cap positions into out
 * and returns the count; remask_error -> -1 with its message (EXIT_PEER); other -> -1. */
int rmw_chosen_parse(const rec_t *r, int32_t *out, int cap, lerr_t *e);
/* Error reply (new record). */
rec_t *rmw_error_new(int64_t id, int code, const char *msg);

#endif
