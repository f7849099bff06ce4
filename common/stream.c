/* stream.c — record streams: stdin/stdout, files, LZ4 frames, ZeroMQ PUSH/PULL, JSON lines.
 *
 * One record is one msgpack map. On byte streams records are back to back and framed by
 * mp_scan (which also enforces the limits before anything is decoded); on sockets one record
 * is one message. Readers hide the end-of-stream record: they check its count and report 0.
 * Workload: from millions of ~100-byte token records (tok --lines) to single records of
 * hundreds of MB (logits), so buffers grow geometrically and small writes are batched.
 */
#define _GNU_SOURCE   /* sync_file_range */
#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>
#include "stream.h"
#include "tmpreg.h"

#define CHUNK (1u << 20)           /* read size, and buffered output before a write() */
#define LZ4_MAGIC 0x184D2204u
#define LZ4_STAGE ((size_t)4 << 20)   /* records staged per LZ4F_compressUpdate: one block */

void stream_opts_default(stream_opts_t *o, const char *tool)
{
    memset(o, 0, sizeof *o);
    o->lim = REC_LIMITS_DEFAULT;
    o->timeout_ms = 60000;
    o->expect_ends = 1;
    o->tool = tool;
    o->flush_each = isatty(0);
    o->sndhwm = 1000;
}

/* ---------------------------------------------------------------- ZeroMQ context */

static void *g_ctx;
static pthread_mutex_t g_ctx_lock = PTHREAD_MUTEX_INITIALIZER;

void *stream_zmq_ctx(void)
{
    pthread_mutex_lock(&g_ctx_lock);
    if (!g_ctx) g_ctx = zmq_ctx_new();
    pthread_mutex_unlock(&g_ctx_lock);
    return g_ctx;
}

void stream_zmq_shutdown(void)
{
    pthread_mutex_lock(&g_ctx_lock);
    if (g_ctx) zmq_ctx_term(g_ctx);
    g_ctx = NULL;
    pthread_mutex_unlock(&g_ctx_lock);
}

typedef enum { SP_STDIO, SP_FILE, SP_BIND, SP_CONNECT } spec_kind_t;

static spec_kind_t parse_spec(const char *spec, const char **endpoint)
{
    *endpoint = spec;
    if (!strcmp(spec, "-")) return SP_STDIO;
    if (spec[0] == '@') { *endpoint = spec + 1; return SP_BIND; }
    if (spec[0] == '>') { *endpoint = spec + 1; return SP_CONNECT; }
    if (!strncmp(spec, "tcp://", 6) || !strncmp(spec, "ipc://", 6) || !strncmp(spec, "inproc://", 9))
        return SP_CONNECT;
    return SP_FILE;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static void *open_socket(int type, spec_kind_t k, const char *ep, const stream_opts_t *o, lerr_t *e)
{
    void *ctx = stream_zmq_ctx();
    void *sock = ctx ? zmq_socket(ctx, type) : NULL;
    if (!sock) { lerr_set(e, EXIT_INTERNAL, "zmq_socket: %s", zmq_strerror(errno)); return NULL; }
    int to = o->timeout_ms > 0 ? o->timeout_ms : -1, one = 1;
    int64_t maxmsg = o->lim.max_record_bytes > INT64_MAX ? -1 : (int64_t)o->lim.max_record_bytes;
    int hwm = o->sndhwm > 0 ? o->sndhwm : 1000;
    if (type == ZMQ_PULL) {
        zmq_setsockopt(sock, ZMQ_RCVTIMEO, &to, sizeof to);
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    } else {
        zmq_setsockopt(sock, ZMQ_SNDTIMEO, &to, sizeof to);
        zmq_setsockopt(sock, ZMQ_LINGER, &to, sizeof to);
        zmq_setsockopt(sock, ZMQ_IMMEDIATE, &one, sizeof one);
        zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    }
    int rc = k == SP_BIND ? zmq_bind(sock, ep) : zmq_connect(sock, ep);
    if (rc) {
        lerr_set(e, errno == EINVAL || errno == EPROTONOSUPPORT ? EXIT_USAGE : EXIT_PEER, "cannot %s '%s': %s",
                 k == SP_BIND ? "bind" : "connect", ep, zmq_strerror(errno));
        int zero = 0;
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

/* ================================================================ reader */

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
    size_t consumed;          /* stream offset of buf[start] */
    bool eof, sniffed, json;
    size_t lineno;
    uint64_t count, seg_count;
    int ends_seen;
};

rstream_t *rstream_open(const char *spec, const stream_opts_t *o, lerr_t *e)
{
    rstream_t *s = calloc(1, sizeof *s);
    if (!s || !(s->spec = strdup(spec))) { free(s); lerr_set(e, EXIT_INTERNAL, "out of memory"); return NULL; }
    s->o = *o;
    if (s->o.expect_ends < 1) s->o.expect_ends = 1;
    s->fd = -1;
    const char *ep;
    spec_kind_t k = parse_spec(spec, &ep);
    if (k == SP_STDIO) {
        s->fd = 0;
    } else if (k == SP_FILE) {
        s->fd = open(spec, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0) { lerr_set(e, EXIT_IO, "cannot open '%s': %s", spec, strerror(errno)); goto fail; }
        s->own_fd = true;
    } else if (!(s->sock = open_socket(ZMQ_PULL, k, ep, o, e))) {
        goto fail;
    }
    return s;
fail:
    rstream_destroy(&s);
    return NULL;
}

void rstream_destroy(rstream_t **sp)
{
    rstream_t *s = sp ? *sp : NULL;
    if (!s) return;
    if (s->own_fd) close(s->fd);
    if (s->sock) {
        int zero = 0;
        zmq_setsockopt(s->sock, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(s->sock);
    }
    if (s->dctx) LZ4F_freeDecompressionContext(s->dctx);
    free(s->z);
    free(s->buf);
    free(s->spec);
    free(s);
    *sp = NULL;
}

size_t rstream_offset(const rstream_t *s) { return s->consumed; }
uint64_t rstream_count(const rstream_t *s) { return s->count; }

static ssize_t read_fd(int fd, void *p, size_t n)
{
    for (;;) {
        ssize_t r = read(fd, p, n);
        if (r >= 0 || errno != EINTR) return r;
    }
}

/* Decompress more LZ4 input into dst. Returns bytes produced, 0 at EOF, -1 on error. */
static ssize_t lz4_fill(rstream_t *s, uint8_t *dst, size_t cap, lerr_t *e)
{
    for (;;) {
        if (s->zpos == s->zlen) {
            ssize_t r = read_fd(s->fd, s->z, s->zcap);
            if (r < 0) return lerr_set(e, EXIT_IO, "read '%s': %s", s->spec, strerror(errno));
            if (r == 0) {
                if (s->in_frame) return lerr_set(e, EXIT_DATA, "truncated LZ4 frame in '%s'", s->spec);
                return 0;
            }
            s->zpos = 0;
            s->zlen = (size_t)r;
        }
        size_t out = cap, in = s->zlen - s->zpos;
        size_t hint = LZ4F_decompress(s->dctx, dst, &out, s->z + s->zpos, &in, NULL);
        if (LZ4F_isError(hint)) {
            lerr_set(e, EXIT_DATA, "corrupt LZ4 data in '%s': %s", s->spec, LZ4F_getErrorName(hint));
            return -1;
        }
        s->zpos += in;
        s->in_frame = hint != 0;
        if (out) return (ssize_t)out;
    }
}

/* Make room and read more decoded bytes into buf. Returns bytes added, 0 at EOF, -1 error. */
static ssize_t fill(rstream_t *s, lerr_t *e)
{
    if (s->start > 0 && (s->start == s->end || s->start > s->cap / 2)) {
        memmove(s->buf, s->buf + s->start, s->end - s->start);
        s->end -= s->start;
        s->start = 0;
    }
    if (s->cap - s->end < CHUNK / 4) {
        size_t ncap = s->cap ? s->cap * 2 : CHUNK;
        uint8_t *nb = realloc(s->buf, ncap);
        if (!nb) return lerr_set(e, EXIT_INTERNAL, "out of memory reading '%s'", s->spec);
        s->buf = nb;
        s->cap = ncap;
    }
    ssize_t r;
    if (s->dctx) {
        r = lz4_fill(s, s->buf + s->end, s->cap - s->end, e);
    } else {
        r = read_fd(s->fd, s->buf + s->end, s->cap - s->end);
        if (r < 0) return lerr_set(e, EXIT_IO, "read '%s': %s", s->spec, strerror(errno));
    }
    if (r > 0) s->end += (size_t)r;
    return r;
}

/* First bytes decide the format: LZ4 magic, JSON ('{' after blanks) or msgpack. */
static int sniff(rstream_t *s, lerr_t *e)
{
    while (s->end - s->start < 4 && !s->eof) {
        ssize_t r = fill(s, e);
        if (r < 0) return -1;
        if (r == 0) s->eof = true;
    }
    uint32_t magic = 0;
    if (s->end - s->start >= 4) memcpy(&magic, s->buf + s->start, 4);
    if (magic == LZ4_MAGIC) {
        size_t n = s->end - s->start;
        if (LZ4F_isError(LZ4F_createDecompressionContext(&s->dctx, LZ4F_VERSION)) || !(s->z = malloc(CHUNK)))
            return lerr_set(e, EXIT_INTERNAL, "out of memory");
        s->zcap = CHUNK;
        memcpy(s->z, s->buf + s->start, n);
        s->zpos = 0;
        s->zlen = n;
        s->start = s->end = 0;
        s->eof = false;
        s->in_frame = true;
        while (s->end == 0) {
            ssize_t r = fill(s, e);
            if (r < 0) return -1;
            if (r == 0) { s->eof = true; break; }
        }
    }
    for (size_t i = s->start; i < s->end; i++) {
        uint8_t c = s->buf[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
        s->json = c == '{';
        if (c >= 0x20 && c < 0x7f && c != '{') {   /* never the first byte of a msgpack map */
            size_t off = i - s->start;   /* fill may move the buffered bytes */
            while (s->end - s->start < off + 24 && !s->eof) {   /* a little more to quote */
                ssize_t r = fill(s, e);
                if (r < 0) return -1;
                if (r == 0) s->eof = true;
            }
            char quote[24];
            size_t n = 0;
            for (size_t j = s->start + off; j < s->end && n < 20 && s->buf[j] >= 0x20 && s->buf[j] < 0x7f; j++) quote[n++] = (char)s->buf[j];
            quote[n] = 0;
            return lerr_set(e, EXIT_DATA, "input is text (\"%s%s\"), expected token records \xe2\x80\x94 pipe text through tok first",
                            quote, n == 20 ? "..." : "");
        }
        break;
    }
    s->sniffed = true;
    return 0;
}

/* Next raw record from a byte stream: 1 with *out, 0 at EOF, -1 error. */
static int next_msgpack(rstream_t *s, rec_t **out, lerr_t *e)
{
    for (;;) {
        if (s->end > s->start) {
            long n = mp_scan(s->buf + s->start, s->end - s->start, &s->o.lim, s->consumed, e);
            if (n < 0) return -1;
            if (n > 0) {
                *out = rec_decode(s->buf + s->start, (size_t)n, &s->o.lim, s->consumed, e);
                s->start += (size_t)n;
                s->consumed += (size_t)n;
                return *out ? 1 : -1;
            }
        }
        if (s->eof) {
            if (s->end > s->start)
                return lerr_set(e, EXIT_DATA, "truncated record at byte %zu (%zu bytes of an incomplete record)",
                                s->consumed, s->end - s->start);
            return 0;
        }
        ssize_t r = fill(s, e);
        if (r < 0) return -1;
        if (r == 0) s->eof = true;
    }
}

static int next_json(rstream_t *s, rec_t **out, lerr_t *e)
{
    for (;;) {
        uint8_t *nl = s->end > s->start ? memchr(s->buf + s->start, '\n', s->end - s->start) : NULL;
        if (nl || (s->eof && s->end > s->start)) {
            size_t len = nl ? (size_t)(nl - (s->buf + s->start)) : s->end - s->start;
            const char *line = (const char *)s->buf + s->start;
            s->lineno++;
            s->start += len + (nl ? 1 : 0);
            s->consumed += len + (nl ? 1 : 0);
            size_t i = 0;
            while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
            if (i == len) continue; /* blank line */
            *out = rec_from_json(line, len, &s->o.lim, s->lineno, e);
            return *out ? 1 : -1;
        }
        if (s->eof) return 0;
        if (s->end - s->start > s->o.lim.max_record_bytes)
            return lerr_set(e, EXIT_DATA, "line %zu longer than the record limit of %zu bytes", s->lineno + 1,
                            s->o.lim.max_record_bytes);
        ssize_t r = fill(s, e);
        if (r < 0) return -1;
        if (r == 0) s->eof = true;
    }
}

static int next_socket(rstream_t *s, rec_t **out, lerr_t *e)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    int rc;
    do rc = zmq_msg_recv(&m, s->sock, 0);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        int err = errno;
        zmq_msg_close(&m);
        if (err == EAGAIN)
            return lerr_set(e, EXIT_PEER, "no record from '%s' for %d ms (peer dead or stream incomplete: %llu records, %d of %d end records)",
                            s->spec, s->o.timeout_ms, (unsigned long long)s->count, s->ends_seen, s->o.expect_ends);
        return lerr_set(e, EXIT_PEER, "receive on '%s': %s", s->spec, zmq_strerror(err));
    }
    size_t n = zmq_msg_size(&m);
    *out = rec_decode(zmq_msg_data(&m), n, &s->o.lim, s->consumed, e);
    s->consumed += n;
    zmq_msg_close(&m);
    return *out ? 1 : -1;
}

/* Handle control records. 1 = data record for the caller, 0 = consumed (keep reading), -1 error.
 * A record that states a protocol version ("v") other than ours is refused: its fields may
 * mean something this build does not know. */
static int control(rstream_t *s, rec_t *r, lerr_t *e)
{
    int64_t v;
    int vrc = rec_get_int(r, "v", &v);
    if (vrc == -2 || (vrc == 0 && v != PROTOCOL_VERSION)) {
        char ver[32] = "not an integer";
        if (vrc == 0) snprintf(ver, sizeof ver, "%lld", (long long)v);
        return lerr_set(e, EXIT_DATA, "record %llu: protocol version \"v\" %s; this build reads version %d",
                        (unsigned long long)s->count + 1, ver, PROTOCOL_VERSION);
    }
    if (rec_kind_is(r, "end")) {
        int64_t n = -1;
        if (rec_get_int(r, "count", &n) || n < 0)
            return lerr_set(e, EXIT_DATA, "end record without a valid count at byte %zu", s->consumed);
        if (s->o.expect_ends == 1 && (uint64_t)n != s->seg_count)
            return lerr_set(e, EXIT_DATA, "stream incomplete: its end record says %lld records, %llu arrived",
                            (long long)n, (unsigned long long)s->seg_count);
        s->seg_count = 0;
        s->ends_seen++;
        return 0;
    }
    if (rec_kind_is(r, "err")) {
        char *msg = rec_get_strdup(r, "msg");
        lerr_set(e, EXIT_PEER, "upstream error: %s", msg ? msg : "(no message)");
        free(msg);
        return -1;
    }
    return 1;
}

int rstream_read(rstream_t *s, rec_t **out, lerr_t *e)
{
    *out = NULL;
    if (!s->sock && !s->sniffed && sniff(s, e)) return -1;
    for (;;) {
        if (s->sock && s->ends_seen >= s->o.expect_ends) return 0;
        rec_t *r = NULL;
        int rc = s->sock ? next_socket(s, &r, e) : s->json ? next_json(s, &r, e) : next_msgpack(s, &r, e);
        if (rc <= 0) return rc;
        rc = control(s, r, e);
        if (rc == 1) {
            s->count++;
            s->seg_count++;
            *out = r;
            return 1;
        }
        rec_destroy(&r);
        if (rc < 0) return -1;
    }
}

/* ================================================================ writer */

typedef enum { W_FD, W_LZ4, W_ZMQ } wkind_t;

struct wstream {
    stream_opts_t o;
    char *spec;
    wkind_t kind;
    int fd;
    bool own_fd, json;
    off_t written, synced; /* files: bytes written; bytes handed to writeback (sync_file_range) */
    char *tmp_path;      /* files: written here, renamed to spec on close */
    int tmp_slot;        /* its tmpreg.h slot (-1: none): removed on exit() and fatal signals */
    buf_t out;           /* pending bytes for fd (compressed for LZ4) */
    buf_t enc;           /* LZ4: encoded records not yet compressed (up to one 4 MB block) */
    LZ4F_cctx *cctx;
    LZ4F_preferences_t prefs;
    void *sock;
    uint64_t count;
};

bool stream_is_tty_stdout(const char *spec) { return !strcmp(spec, "-") && isatty(1); }
uint64_t wstream_count(const wstream_t *s) { return s->count; }

static int write_all(wstream_t *s, const uint8_t *p, size_t n, lerr_t *e)
{
    while (n) {
        ssize_t w = write(s->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            if (errno == EPIPE) { /* reader went away: die like any filter would */
                tmpreg_unlink_all();
                signal(SIGPIPE, SIG_DFL);
                raise(SIGPIPE);
                _exit(128 + SIGPIPE);
            }
            return lerr_set(e, EXIT_IO, "write '%s': %s", s->spec, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Files we create are fsync'd before their rename; starting the writeback of every 8 MB as it
 * is written (without waiting) lets the disk work while we compute, so that final fsync has
 * little left to wait for. Advisory: errors are ignored here, fsync reports them. */
#define WRITEBACK_EVERY ((off_t)8 << 20)
static void start_writeback(wstream_t *s)
{
#ifdef SYNC_FILE_RANGE_WRITE
    if (!s->tmp_path || s->written - s->synced < WRITEBACK_EVERY) return;
    (void)sync_file_range(s->fd, s->synced, s->written - s->synced, SYNC_FILE_RANGE_WRITE);
    s->synced = s->written;
#else
    (void)s;
#endif
}

static int flush_out(wstream_t *s, lerr_t *e)
{
    if (!s->out.len) return 0;
    int rc = write_all(s, s->out.data, s->out.len, e);
    s->written += (off_t)s->out.len;
    s->out.len = 0;
    if (!rc) start_writeback(s);
    return rc;
}

static int open_file_writer(wstream_t *s, lerr_t *e)
{
    struct stat st;
    bool regular = stat(s->spec, &st) != 0 || S_ISREG(st.st_mode);
    const char *path = s->spec;
    if (regular) {
        size_t n = strlen(s->spec) + 32;
        if (!(s->tmp_path = malloc(n))) return lerr_set(e, EXIT_INTERNAL, "out of memory");
        snprintf(s->tmp_path, n, "%s.tmp-%ld", s->spec, (long)getpid());
        path = s->tmp_path;
    }
    /* registered before it exists: a signal between open and registration cannot leave it */
    if (regular) s->tmp_slot = tmpreg_add(path);
    s->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (s->fd < 0) return lerr_set(e, EXIT_IO, "cannot create '%s': %s", path, strerror(errno));
    s->own_fd = true;
    return 0;
}

static int lz4_begin(wstream_t *s, lerr_t *e)
{
    if (LZ4F_isError(LZ4F_createCompressionContext(&s->cctx, LZ4F_VERSION)))
        return lerr_set(e, EXIT_INTERNAL, "cannot create an LZ4 context");
    memset(&s->prefs, 0, sizeof s->prefs);
    s->prefs.frameInfo.blockSizeID = LZ4F_max4MB;
    s->prefs.frameInfo.blockMode = LZ4F_blockLinked;
    s->prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    s->prefs.compressionLevel = s->o.lz4_level;
    if (buf_reserve(&s->out, LZ4F_HEADER_SIZE_MAX)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    size_t n = LZ4F_compressBegin(s->cctx, s->out.data + s->out.len, s->out.cap - s->out.len, &s->prefs);
    if (LZ4F_isError(n)) return lerr_set(e, EXIT_INTERNAL, "LZ4F_compressBegin: %s", LZ4F_getErrorName(n));
    s->out.len += n;
    return 0;
}

wstream_t *wstream_open(const char *spec, const stream_opts_t *o, lerr_t *e)
{
    wstream_t *s = calloc(1, sizeof *s);
    if (!s || !(s->spec = strdup(spec))) { free(s); lerr_set(e, EXIT_INTERNAL, "out of memory"); return NULL; }
    s->o = *o;
    s->fd = -1;
    s->tmp_slot = -1;
    const char *ep;
    spec_kind_t k = parse_spec(spec, &ep);
    if (k == SP_BIND || k == SP_CONNECT) {
        s->kind = W_ZMQ;
        if (!(s->sock = open_socket(ZMQ_PUSH, k, ep, o, e))) goto fail;
        return s;
    }
    if (k == SP_STDIO) {
        s->fd = 1;
        s->json = o->json;
    } else {
        if (open_file_writer(s, e)) goto fail;
        s->json = ends_with(spec, ".jsonl") || ends_with(spec, ".json");
    }
    s->kind = !s->json && ends_with(spec, ".lz4") ? W_LZ4 : W_FD;
    if (s->kind == W_LZ4 && lz4_begin(s, e)) goto fail;
    return s;
fail:
    wstream_abort(&s);
    return NULL;
}

static void free_msg(void *data, void *hint) { (void)hint; free(data); }

static int send_record(wstream_t *s, buf_t *b, lerr_t *e)
{
    zmq_msg_t m;
    if (zmq_msg_init_data(&m, b->data, b->len, free_msg, NULL)) return lerr_set(e, EXIT_INTERNAL, "zmq_msg_init_data failed");
    b->data = NULL; /* owned by the message now */
    b->len = b->cap = 0;
    int rc;
    do rc = zmq_msg_send(&m, s->sock, 0);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        int err = errno;
        zmq_msg_close(&m);
        if (err == EAGAIN)
            return lerr_set(e, EXIT_PEER, "no peer took a record on '%s' for %d ms", s->spec, s->o.timeout_ms);
        return lerr_set(e, EXIT_PEER, "send on '%s': %s", s->spec, zmq_strerror(err));
    }
    return 0;
}

/* LZ4: compress the staged records in `enc` into `out`, writing `out` out when it is full. */
static int lz4_push(wstream_t *s, lerr_t *e)
{
    if (!s->enc.len) return 0;
    size_t bound = LZ4F_compressBound(s->enc.len, &s->prefs);
    if (buf_reserve(&s->out, bound)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    size_t n = LZ4F_compressUpdate(s->cctx, s->out.data + s->out.len, s->out.cap - s->out.len, s->enc.data, s->enc.len, NULL);
    if (LZ4F_isError(n)) return lerr_set(e, EXIT_INTERNAL, "LZ4F_compressUpdate: %s", LZ4F_getErrorName(n));
    s->out.len += n;
    s->enc.len = 0;
    return s->out.len >= CHUNK ? flush_out(s, e) : 0;
}

static int write_encoded(wstream_t *s, const rec_t *r, lerr_t *e)
{
    unsigned flags = s->o.shuffle ? REC_ENC_SHUFFLE : 0;
    if (s->kind == W_ZMQ) {
        buf_t b = {0};
        if (rec_encode_ex(r, &b, flags)) { buf_free(&b); return lerr_set(e, EXIT_INTERNAL, "cannot encode record (out of memory or a payload over 4 GiB)"); }
        return send_record(s, &b, e);
    }
    if (s->kind == W_FD) {
        int rc = s->json ? rec_to_json(r, &s->out) : rec_encode_ex(r, &s->out, flags);
        if (rc) return lerr_set(e, EXIT_INTERNAL, "cannot encode record (out of memory or a payload over 4 GiB)");
        return s->out.len >= CHUNK ? flush_out(s, e) : 0;
    }
    /* LZ4: records gather in `enc` and are compressed a block at a time, so LZ4F compresses
     * straight from our buffer instead of first copying each record into its own. */
    if (rec_encode_ex(r, &s->enc, flags)) return lerr_set(e, EXIT_INTERNAL, "cannot encode record");
    return s->enc.len >= LZ4_STAGE ? lz4_push(s, e) : 0;
}

int wstream_write(wstream_t *s, const rec_t *r, lerr_t *e)
{
    if (write_encoded(s, r, e)) return -1;
    s->count++;
    return s->o.flush_each && s->kind == W_FD ? flush_out(s, e) : 0;
}

int wstream_flush(wstream_t *s, lerr_t *e)
{
    if (s->kind == W_LZ4) {
        if (lz4_push(s, e)) return -1;
        if (buf_reserve(&s->out, LZ4F_compressBound(0, &s->prefs))) return lerr_set(e, EXIT_INTERNAL, "out of memory");
        size_t n = LZ4F_flush(s->cctx, s->out.data + s->out.len, s->out.cap - s->out.len, NULL);
        if (LZ4F_isError(n)) return lerr_set(e, EXIT_INTERNAL, "LZ4F_flush: %s", LZ4F_getErrorName(n));
        s->out.len += n;
    }
    return s->kind == W_ZMQ ? 0 : flush_out(s, e);
}

static int write_end(wstream_t *s, lerr_t *e)
{
    rec_t *end = rec_new();
    int rc = !end || rec_set_str(end, "kind", "end") || rec_set_int(end, "v", PROTOCOL_VERSION) ||
             rec_set_int(end, "count", (int64_t)s->count) || rec_set_str(end, "producer", s->o.tool ? s->o.tool : "?");
    if (!rc) rc = write_encoded(s, end, e);
    else lerr_set(e, EXIT_INTERNAL, "out of memory");
    rec_destroy(&end);
    return rc ? -1 : 0;
}

static int finish_lz4(wstream_t *s, lerr_t *e)
{
    if (lz4_push(s, e)) return -1;
    if (buf_reserve(&s->out, LZ4F_compressBound(0, &s->prefs) + 8)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    size_t n = LZ4F_compressEnd(s->cctx, s->out.data + s->out.len, s->out.cap - s->out.len, NULL);
    if (LZ4F_isError(n)) return lerr_set(e, EXIT_INTERNAL, "LZ4F_compressEnd: %s", LZ4F_getErrorName(n));
    s->out.len += n;
    return 0;
}

static void free_writer(wstream_t *s)
{
    if (s->own_fd && s->fd >= 0) close(s->fd);
    if (s->sock) zmq_close(s->sock); /* lingers up to the timeout to deliver what is queued */
    if (s->cctx) LZ4F_freeCompressionContext(s->cctx);
    buf_free(&s->out);
    buf_free(&s->enc);
    free(s->tmp_path);
    free(s->spec);
    free(s);
}

int wstream_close(wstream_t **sp, lerr_t *e)
{
    wstream_t *s = *sp;
    if (!s) return 0;
    int rc = write_end(s, e);
    if (!rc && s->kind == W_LZ4) rc = finish_lz4(s, e);
    if (!rc && s->kind != W_ZMQ) rc = flush_out(s, e);
    if (!rc && s->own_fd) {
        int fd = s->fd;
        s->fd = -1;
        if (fsync(fd) && errno != EINVAL && errno != EROFS) rc = lerr_set(e, EXIT_IO, "fsync '%s': %s", s->spec, strerror(errno));
        if (close(fd) && !rc) rc = lerr_set(e, EXIT_IO, "close '%s': %s", s->spec, strerror(errno));
        if (!rc && s->tmp_path && rename(s->tmp_path, s->spec))
            rc = lerr_set(e, EXIT_IO, "rename to '%s': %s", s->spec, strerror(errno));
        if (!rc) { free(s->tmp_path); s->tmp_path = NULL; }
    }
    if (rc && s->tmp_path) unlink(s->tmp_path);
    tmpreg_remove(s->tmp_slot); /* after the rename or unlink: no window without either */
    free_writer(s);
    *sp = NULL;
    return rc;
}

int wstream_fail(wstream_t **sp, int code, const char *msg, lerr_t *e)
{
    wstream_t *s = *sp;
    if (!s) return 0;
    if (s->tmp_path) { wstream_abort(sp); return 0; }
    rec_t *er = rec_new();
    int rc = !er || rec_set_str(er, "kind", "err") || rec_set_int(er, "v", PROTOCOL_VERSION) ||
             rec_set_int(er, "code", code) || rec_set_str(er, "msg", msg ? msg : "") ||
             rec_set_int(er, "count", (int64_t)s->count) || rec_set_str(er, "producer", s->o.tool ? s->o.tool : "?");
    if (rc) lerr_set(e, EXIT_INTERNAL, "out of memory");
    else rc = write_encoded(s, er, e);
    rec_destroy(&er);
    if (!rc && s->kind == W_LZ4) rc = finish_lz4(s, e);
    if (!rc && s->kind != W_ZMQ) rc = flush_out(s, e);
    if (!rc && s->own_fd) {
        int fd = s->fd;
        s->fd = -1;
        if (close(fd)) rc = lerr_set(e, EXIT_IO, "close '%s': %s", s->spec, strerror(errno));
    }
    free_writer(s); /* a socket lingers up to the timeout to deliver what is queued */
    *sp = NULL;
    return rc ? -1 : 0;
}

void wstream_abort(wstream_t **sp)
{
    wstream_t *s = sp ? *sp : NULL;
    if (!s) return;
    if (s->sock) {
        int zero = 0;
        zmq_setsockopt(s->sock, ZMQ_LINGER, &zero, sizeof zero);
    }
    if (s->tmp_path) unlink(s->tmp_path);
    tmpreg_remove(s->tmp_slot);
    free_writer(s);
    *sp = NULL;
}
