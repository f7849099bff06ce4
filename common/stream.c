/* stream.c — record streams (stream.h): opening a spec, record framing on byte streams
 * (msgpack, JSON lines) and control records; the transports are stream_fd.c (stdin/stdout,
 * files), stream_lz4.c (LZ4 frames) and stream_zmq.c (ZeroMQ sockets), see stream_int.h.
 *
 * One record is one msgpack map. On byte streams records are back to back and framed by
 * mp_scan (which also enforces the limits before anything is decoded); on sockets one record
 * is one message. Readers hide the end-of-stream record: they check its count and report 0.
 * Workload: from millions of ~100-byte token records (tok --lines) to single records of
 * hundreds of MB (logits), so buffers grow geometrically and small writes are batched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "stream_int.h"
#include "tmpreg.h"

void stream_opts_default(stream_opts_t *o, const char *tool) {
    memset(o, 0, sizeof *o);
    o->lim = REC_LIMITS_DEFAULT;
    o->timeout_ms = 60000;
    o->expect_ends = 1;
    o->tool = tool;
    o->flush_each = isatty(0);
    o->sndhwm = 1000;
}

static spec_kind_t parse_spec(const char *spec, const char **endpoint) {
    *endpoint = spec;
    if (!strcmp(spec, "-")) return SP_STDIO;
    if (spec[0] == '@') {
        *endpoint = spec + 1;
        return SP_BIND;
    }
    if (spec[0] == '>') {
        *endpoint = spec + 1;
        return SP_CONNECT;
    }
    if (!strncmp(spec, "tcp://", 6) || !strncmp(spec, "ipc://", 6) || !strncmp(spec, "inproc://", 9)) return SP_CONNECT;
    return SP_FILE;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* ================================================================ reader */

rstream_t *rstream_open(const char *spec, const stream_opts_t *o, lerr_t *e) {
    rstream_t *s = calloc(1, sizeof *s);
    if (!s || !(s->spec = strdup(spec))) {
        free(s);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    s->o = *o;
    if (s->o.expect_ends < 1) s->o.expect_ends = 1;
    s->fd = -1;
    const char *ep;
    spec_kind_t k = parse_spec(spec, &ep);
    if (k == SP_STDIO) {
        s->fd = 0;
    } else if (k == SP_FILE) {
        s->fd = open(spec, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0) {
            lerr_set(e, EXIT_IO, "cannot open '%s': %s", spec, strerror(errno));
            goto fail;
        }
        s->own_fd = true;
    } else if (!(s->sock = zs_open(false, k, ep, o, e))) {
        goto fail;
    }
    return s;
fail:
    rstream_destroy(&s);
    return NULL;
}

void rstream_destroy(rstream_t **sp) {
    rstream_t *s = sp ? *sp : NULL;
    if (!s) return;
    if (s->own_fd) close(s->fd);
    zs_close(s->sock, true);
    lz4r_free(s);
    free(s->buf);
    free(s->spec);
    free(s);
    *sp = NULL;
}

size_t rstream_offset(const rstream_t *s) { return s->consumed; }
uint64_t rstream_count(const rstream_t *s) { return s->count; }

/* First bytes decide the format: LZ4 magic, JSON ('{' after blanks) or msgpack. */
static int sniff(rstream_t *s, lerr_t *e) {
    while (s->end - s->start < 4 && !s->eof) {
        ssize_t r = fd_fill(s, e);
        if (r < 0) return -1;
        if (r == 0) s->eof = true;
    }
    uint32_t magic = 0;
    if (s->end - s->start >= 4) memcpy(&magic, s->buf + s->start, 4);
    if (magic == LZ4_MAGIC) {
        if (lz4r_begin(s, e)) return -1;
        while (s->end == 0) {
            ssize_t r = fd_fill(s, e);
            if (r < 0) return -1;
            if (r == 0) {
                s->eof = true;
                break;
            }
        }
    }
    for (size_t i = s->start; i < s->end; i++) {
        uint8_t c = s->buf[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
        s->json = c == '{';
        if (c >= 0x20 && c < 0x7f && c != '{') {              /* never the first byte of a msgpack map */
            size_t off = i - s->start;                        /* fill may move the buffered bytes */
            while (s->end - s->start < off + 24 && !s->eof) { /* a little more to quote */
                ssize_t r = fd_fill(s, e);
                if (r < 0) return -1;
                if (r == 0) s->eof = true;
            }
            char quote[24];
            size_t n = 0;
            for (size_t j = s->start + off; j < s->end && n < 20 && s->buf[j] >= 0x20 && s->buf[j] < 0x7f; j++)
                quote[n++] = (char)s->buf[j];
            quote[n] = 0;
            return lerr_set(e, EXIT_DATA,
                            "input is text (\"%s%s\"), expected token records \xe2\x80\x94 pipe text through tok first",
                            quote, n == 20 ? "..." : "");
        }
        break;
    }
    s->sniffed = true;
    return 0;
}

/* Next raw record from a byte stream: 1 with *out, 0 at EOF, -1 error. */
static int next_msgpack(rstream_t *s, rec_t **out, lerr_t *e) {
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
        ssize_t r = fd_fill(s, e);
        if (r < 0) return -1;
        if (r == 0) s->eof = true;
    }
}

static int next_json(rstream_t *s, rec_t **out, lerr_t *e) {
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
        ssize_t r = fd_fill(s, e);
        if (r < 0) return -1;
        if (r == 0) s->eof = true;
    }
}

/* Handle control records. 1 = data record for the caller, 0 = consumed (keep reading), -1 error.
 * A record that states a protocol version ("v") other than ours is refused: its fields may
 * mean something this build does not know. */
static int control(rstream_t *s, rec_t *r, lerr_t *e) {
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

int rstream_read(rstream_t *s, rec_t **out, lerr_t *e) {
    *out = NULL;
    if (!s->sock && !s->sniffed && sniff(s, e)) return -1;
    for (;;) {
        if (s->sock && s->ends_seen >= s->o.expect_ends) return 0;
        rec_t *r = NULL;
        int rc = s->sock ? zs_next(s, &r, e) : s->json ? next_json(s, &r, e) : next_msgpack(s, &r, e);
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

bool stream_is_tty_stdout(const char *spec) { return !strcmp(spec, "-") && isatty(1); }
uint64_t wstream_count(const wstream_t *s) { return s->count; }

wstream_t *wstream_open(const char *spec, const stream_opts_t *o, lerr_t *e) {
    wstream_t *s = calloc(1, sizeof *s);
    if (!s || !(s->spec = strdup(spec))) {
        free(s);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    s->o = *o;
    s->fd = -1;
    s->tmp_slot = -1;
    const char *ep;
    spec_kind_t k = parse_spec(spec, &ep);
    if (k == SP_BIND || k == SP_CONNECT) {
        s->kind = W_ZMQ;
        if (!(s->sock = zs_open(true, k, ep, o, e))) goto fail;
        return s;
    }
    if (k == SP_STDIO) {
        s->fd = 1;
        s->json = o->json;
    } else {
        if (fd_open_writer(s, e)) goto fail;
        s->json = ends_with(spec, ".jsonl") || ends_with(spec, ".json");
    }
    s->kind = !s->json && ends_with(spec, ".lz4") ? W_LZ4 : W_FD;
    if (s->kind == W_LZ4 && lz4w_begin(s, e)) goto fail;
    return s;
fail:
    wstream_abort(&s);
    return NULL;
}

static int write_encoded(wstream_t *s, const rec_t *r, lerr_t *e) {
    unsigned flags = s->o.shuffle ? REC_ENC_SHUFFLE : 0;
    if (s->kind == W_ZMQ) {
        buf_t b = {0};
        if (rec_encode_ex(r, &b, flags)) {
            buf_free(&b);
            return lerr_set(e, EXIT_INTERNAL, "cannot encode record (out of memory or a payload over 4 GiB)");
        }
        return zs_send(s, &b, e);
    }
    if (s->kind == W_FD) {
        int rc = s->json ? rec_to_json(r, &s->out) : rec_encode_ex(r, &s->out, flags);
        if (rc) return lerr_set(e, EXIT_INTERNAL, "cannot encode record (out of memory or a payload over 4 GiB)");
        return s->out.len >= CHUNK ? fd_flush(s, e) : 0;
    }
    return lz4w_write(s, r, flags, e);
}

int wstream_write(wstream_t *s, const rec_t *r, lerr_t *e) {
    if (write_encoded(s, r, e)) return -1;
    s->count++;
    return s->o.flush_each && s->kind == W_FD ? fd_flush(s, e) : 0;
}

int wstream_flush(wstream_t *s, lerr_t *e) {
    if (s->kind == W_LZ4 && lz4w_flush(s, e)) return -1;
    return s->kind == W_ZMQ ? 0 : fd_flush(s, e);
}

static int write_end(wstream_t *s, lerr_t *e) {
    rec_t *end = rec_new();
    int rc = !end || rec_set_str(end, "kind", "end") || rec_set_int(end, "v", PROTOCOL_VERSION) ||
             rec_set_int(end, "count", (int64_t)s->count) || rec_set_str(end, "producer", s->o.tool ? s->o.tool : "?");
    if (!rc) rc = write_encoded(s, end, e);
    else lerr_set(e, EXIT_INTERNAL, "out of memory");
    rec_destroy(&end);
    return rc ? -1 : 0;
}

/* `drop`: a socket discards what is queued; else it lingers up to the timeout to deliver it. */
static void free_writer(wstream_t *s, bool drop) {
    if (s->own_fd && s->fd >= 0) close(s->fd);
    zs_close(s->sock, drop);
    lz4w_free(s);
    buf_free(&s->out);
    buf_free(&s->enc);
    free(s->tmp_path);
    free(s->spec);
    free(s);
}

int wstream_close(wstream_t **sp, lerr_t *e) {
    wstream_t *s = *sp;
    if (!s) return 0;
    int rc = write_end(s, e);
    if (!rc && s->kind == W_LZ4) rc = lz4w_end(s, e);
    if (!rc && s->kind != W_ZMQ) rc = fd_flush(s, e);
    if (!rc && s->own_fd) rc = fd_commit(s, e);
    if (rc && s->tmp_path) unlink(s->tmp_path);
    tmpreg_remove(s->tmp_slot); /* after the rename or unlink: no window without either */
    free_writer(s, false);
    *sp = NULL;
    return rc;
}

int wstream_fail(wstream_t **sp, int code, const char *msg, lerr_t *e) {
    wstream_t *s = *sp;
    if (!s) return 0;
    if (s->tmp_path) {
        wstream_abort(sp);
        return 0;
    }
    rec_t *er = rec_new();
    int rc = !er || rec_set_str(er, "kind", "err") || rec_set_int(er, "v", PROTOCOL_VERSION) ||
             rec_set_int(er, "code", code) || rec_set_str(er, "msg", msg ? msg : "") ||
             rec_set_int(er, "count", (int64_t)s->count) || rec_set_str(er, "producer", s->o.tool ? s->o.tool : "?");
    if (rc) lerr_set(e, EXIT_INTERNAL, "out of memory");
    else rc = write_encoded(s, er, e);
    rec_destroy(&er);
    if (!rc && s->kind == W_LZ4) rc = lz4w_end(s, e);
    if (!rc && s->kind != W_ZMQ) rc = fd_flush(s, e);
    if (!rc && s->own_fd) {
        int fd = s->fd;
        s->fd = -1;
        if (close(fd)) rc = lerr_set(e, EXIT_IO, "close '%s': %s", s->spec, strerror(errno));
    }
    free_writer(s, false);
    *sp = NULL;
    return rc ? -1 : 0;
}

void wstream_abort(wstream_t **sp) {
    wstream_t *s = sp ? *sp : NULL;
    if (!s) return;
    if (s->tmp_path) unlink(s->tmp_path);
    tmpreg_remove(s->tmp_slot);
    free_writer(s, true);
    *sp = NULL;
}
