/* stream_int.h — what the transports of a record stream share (internal to common/stream*.c):
 * the reader and writer structs, the spec parser, and each transport's entry points.
 *   stream.c      the API of stream.h: opening by spec, record framing (msgpack, JSON lines),
 *                 control records (end, err, protocol version), end records on close;
 *   stream_fd.c   stdin/stdout and files: reads, buffered writes, temp file + fsync + rename;
 *   stream_lz4.c  LZ4 frames on top of stream_fd.c (reader: sniffed; writer: PATH.lz4);
 *   stream_zmq.c  ZeroMQ PUSH/PULL sockets, one record per message, and the process context. */
#ifndef LLADA_STREAM_INT_H
#define LLADA_STREAM_INT_H

#include <lz4frame.h>
#include <sys/types.h>
#include "stream.h"

#define CHUNK (1u << 20) /* read size, and buffered output before a write() */
#define LZ4_MAGIC 0x184D2204u
#define LZ4_STAGE ((size_t)4 << 20) /* records staged per LZ4F_compressUpdate: one block */

typedef enum { SP_STDIO, SP_FILE, SP_BIND, SP_CONNECT } spec_kind_t;

struct rstream {
    stream_opts_t o;
    char *spec;
    int fd;
    bool own_fd;
    void *sock;
    /* LZ4 decompression (byte streams only) */
    LZ4F_dctx *dctx;
    uint8_t *z;
    size_t zpos, zlen, zcap;
    bool in_frame;
    /* decoded bytes not yet consumed: buf[start, end) */
    uint8_t *buf;
    size_t cap, start, end;
    size_t consumed; /* stream offset of buf[start] */
    bool eof, sniffed, json;
    size_t lineno;
    uint64_t count, seg_count;
    int ends_seen;
};

typedef enum { W_FD, W_LZ4, W_ZMQ } wkind_t;

struct wstream {
    stream_opts_t o;
    char *spec;
    wkind_t kind;
    int fd;
    bool own_fd, json;
    off_t written, synced; /* files: bytes written; bytes handed to writeback (sync_file_range) */
    char *tmp_path;        /* files: written here, renamed to spec on close */
    int tmp_slot;          /* its tmpreg.h slot (-1: none): removed on exit() and fatal signals */
    buf_t out;             /* pending bytes for fd (compressed for LZ4) */
    buf_t enc;             /* LZ4: encoded records not yet compressed (up to one 4 MB block) */
    LZ4F_cctx *cctx;
    LZ4F_preferences_t prefs;
    void *sock;
    uint64_t count;
};

/* ---- stream_fd.c: stdin/stdout and files ---- */
/* read(2) retried on EINTR. */
ssize_t fd_read(int fd, void *p, size_t n);
/* Reader: make room and read more decoded bytes into s->buf (through LZ4 when s->dctx).
 * Returns bytes added, 0 at EOF, -1 with e. */
ssize_t fd_fill(rstream_t *s, lerr_t *e);
/* Writer: create the file (PATH.tmp-PID for a regular file, registered with tmpreg.h). */
int fd_open_writer(wstream_t *s, lerr_t *e);
/* Writer: write s->out out (a closed reader ends the process as SIGPIPE would). */
int fd_flush(wstream_t *s, lerr_t *e);
/* Writer: fsync, close and rename the temporary to its name (0, or -1 with e). */
int fd_commit(wstream_t *s, lerr_t *e);

/* ---- stream_lz4.c: LZ4 frames ---- */
/* Reader: the n bytes already in s->buf start an LZ4 frame: decode from here on. */
int lz4r_begin(rstream_t *s, lerr_t *e);
/* Reader: decompress more input into dst. Bytes produced, 0 at EOF, -1 with e. */
ssize_t lz4r_fill(rstream_t *s, uint8_t *dst, size_t cap, lerr_t *e);
void lz4r_free(rstream_t *s);
/* Writer: the frame header; stage one record (compressed a block at a time); compress the
 * staged records (s->enc); flush a block; the frame end; free the context. */
int lz4w_begin(wstream_t *s, lerr_t *e);
int lz4w_write(wstream_t *s, const rec_t *r, unsigned enc_flags, lerr_t *e);
int lz4w_push(wstream_t *s, lerr_t *e);
int lz4w_flush(wstream_t *s, lerr_t *e);
int lz4w_end(wstream_t *s, lerr_t *e);
void lz4w_free(wstream_t *s);

/* ---- stream_zmq.c: ZeroMQ sockets ---- */
/* A PULL (reader) or PUSH (`push`: writer) socket bound or connected to ep, with the
 * options' timeouts. NULL with e (EXIT_USAGE bad endpoint, EXIT_PEER). */
void *zs_open(bool push, spec_kind_t k, const char *ep, const stream_opts_t *o, lerr_t *e);
/* Close a socket; `drop`: discard what is queued (linger 0), else linger up to the timeout. */
void zs_close(void *sock, bool drop);
/* Reader: the next message as a record (1), or -1 with e (timeout: EXIT_PEER). */
int zs_next(rstream_t *s, rec_t **out, lerr_t *e);
/* Writer: send the encoded record b as one message; b's buffer is taken (zero-copy). */
int zs_send(wstream_t *s, buf_t *b, lerr_t *e);

#endif
