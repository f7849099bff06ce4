/* lerr.h — errors returned by library code (redis style: library returns, only main exits).
 *
 * Every library function that can fail takes an `lerr_t *` and returns -1 (or NULL) after
 * filling it with an exit-code class and a one-line message (no "tool: error:" prefix, no
 * newline). `main` prints it as "tool: error: <msg>" and exits with `code`.
 */
#ifndef LLADA_LERR_H
#define LLADA_LERR_H

#include <stdarg.h>

/* Exit codes shared by every tool (documented in docs/protocol.md and each --help). */
enum {
    EXIT_OK = 0,
    EXIT_DATA = 1,     /* bad input data: parse error, truncation, schema, limits */
    EXIT_USAGE = 2,    /* bad command line */
    EXIT_IO = 3,       /* I/O or system error, including a failed write to stdout */
    EXIT_PEER = 4,     /* network / peer error: timeout, dead peer, refused auth */
    EXIT_INTERNAL = 5, /* internal error, out of memory, GPU failure */
};

typedef struct {
    int code;      /* one of the EXIT_* values; 0 while no error */
    char msg[512]; /* one line, no trailing newline */
} lerr_t;

/* Fill `e` (may be NULL) with code and printf-style message. Always returns -1. */
int lerr_set(lerr_t *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefix an existing message with context: "ctx: old message". Returns -1. */
int lerr_wrap(lerr_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
