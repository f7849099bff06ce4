/* stream.h — record streams over stdin/stdout, files, lz4 files, ZeroMQ sockets, JSON lines.
 *
 * A stream spec (the -i / -o argument of every tool):
 *   -                 stdin / stdout (raw msgpack records back to back; JSON lines with --json)
 *   PATH              a file of msgpack records (JSON lines if it ends in .jsonl)
 *   PATH.mp.lz4       an LZ4 frame (content checksum) holding msgpack records; `lz4 -dc` reads it
 *   @tcp://0.0.0.0:5555 ZeroMQ: bind (also @ipc://PATH, @inproc://NAME)
 *   >tcp://host:5555  ZeroMQ: connect; a bare tcp:// ipc:// inproc:// endpoint also connects
 * Readers use a PULL socket, writers a PUSH socket (ZMQ_IMMEDIATE: records only go to completed
 * connections, so a missing peer is a timeout, not silent loss): one record per message.
 * Readers sniff their input: an LZ4 frame magic means lz4, a '{' (after blanks) JSON lines,
 * anything else msgpack — so `-i shard.mp.lz4`, `< x.jsonl` and pipes all just work.
 * File writers write PATH.tmp-PID and rename it to PATH on a successful close (no partial files);
 * any other exit (error exit, SIGTERM/SIGINT/SIGHUP/SIGPIPE) removes the temp file (tmpreg.h).
 *
 * Every writer ends its stream with an end record {"kind":"end","v":1,"count":N}; readers
 * consume it (it is never returned to the caller) and check N against the records they saw.
 * On pipes and files a clean EOF at a record boundary also ends the stream; on sockets only
 * the end record does (there is no EOF on ZeroMQ), and a receive timeout is a peer error.
 */
#ifndef LLADA_STREAM_H
#define LLADA_STREAM_H

#include <stdbool.h>
#include "record.h"

typedef struct {
    rec_limits_t lim;
    bool json;        /* stdin/stdout/plain files speak JSON lines */
    int timeout_ms;   /* socket receive/send timeout; <= 0: wait forever. Default 60000 */
    int expect_ends;  /* reader: number of end records that close the stream (producers). Default 1 */
    const char *tool; /* for the end record's "producer" field */
    bool flush_each;  /* writer: flush after every record (default: stdin is a terminal) */
    int lz4_level;    /* writer: LZ4 frame compression level, 0 fast (default), <0 faster, 3..12 HC */
    int sndhwm;       /* writer socket high-water mark in records (default 1000) */
    bool shuffle;     /* writer: byte-shuffle typed arrays (REC_ENC_SHUFFLE; msgpack only) */
} stream_opts_t;

void stream_opts_default(stream_opts_t *o, const char *tool);

typedef struct rstream rstream_t;
typedef struct wstream wstream_t;

/* Open a reader/writer. NULL with `e` set on failure (EXIT_USAGE bad spec, EXIT_IO, EXIT_PEER). */
rstream_t *rstream_open(const char *spec, const stream_opts_t *o, lerr_t *e);
wstream_t *wstream_open(const char *spec, const stream_opts_t *o, lerr_t *e);

/* Read the next record: 1 and *out = new record (caller owns; destroy with rec_destroy),
 * 0 at a complete end of stream, -1 with `e` set on malformed/truncated data or peer failure. */
int rstream_read(rstream_t *s, rec_t **out, lerr_t *e);
/* Bytes consumed so far (for error offsets). */
size_t rstream_offset(const rstream_t *s);
/* Records returned so far. */
uint64_t rstream_count(const rstream_t *s);
void rstream_destroy(rstream_t **s);

/* Write one record (not consumed). 0 or -1 with `e` set. */
int wstream_write(wstream_t *s, const rec_t *r, lerr_t *e);
/* Flush buffered output (pipes: after each record when interactive use matters). */
int wstream_flush(wstream_t *s, lerr_t *e);
/* Write the end record, flush, close and free; NULLs *s. 0 or -1 with `e` set (e.g. EPIPE,
 * ENOSPC, close errors). Use wstream_abort to close without an end record. */
int wstream_close(wstream_t **s, lerr_t *e);
void wstream_abort(wstream_t **s);
/* End the stream with an error record {"kind":"err","v":1,"code":code,"msg":msg,"count":N}
 * instead of the end record, so a reader can tell an incomplete stream from a complete one
 * (readers turn it into their own error, exit 4). Records written so far are flushed first.
 * Pipes, sockets and non-regular files get it; a regular file's temporary is removed as by
 * wstream_abort (no partial file under the final name). Closes and frees; NULLs *s.
 * 0, or -1 with `e` set when even that could not be written. */
int wstream_fail(wstream_t **s, int code, const char *msg, lerr_t *e);
uint64_t wstream_count(const wstream_t *s);

/* True when spec refers to stdout and stdout is a terminal (binary output refused there). */
bool stream_is_tty_stdout(const char *spec);

/* Process-wide ZeroMQ context (created on first use; inproc endpoints share it). */
void *stream_zmq_ctx(void);
void stream_zmq_shutdown(void);

#endif
