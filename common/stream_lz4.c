/* stream_lz4.c — LZ4 frames in record streams (stream_int.h), on top of the byte streams of
 * stream_fd.c: a reader decodes a frame it sniffed (any input starting with the LZ4 magic);
 * a writer (PATH.lz4) stages encoded records and compresses them a 4 MB block at a time, with
 * a content checksum, so `lz4 -dc` reads the file. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "stream_int.h"

int lz4r_begin(rstream_t *s, lerr_t *e) {
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
    return 0;
}

/* Decompress more LZ4 input into dst. Returns bytes produced, 0 at EOF, -1 on error. */
ssize_t lz4r_fill(rstream_t *s, uint8_t *dst, size_t cap, lerr_t *e) {
    for (;;) {
        if (s->zpos == s->zlen) {
            ssize_t r = fd_read(s->fd, s->z, s->zcap);
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

void lz4r_free(rstream_t *s) {
    if (s->dctx) LZ4F_freeDecompressionContext(s->dctx);
    free(s->z);
}

int lz4w_begin(wstream_t *s, lerr_t *e) {
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

/* LZ4: compress the staged records in `enc` into `out`, writing `out` out when it is full. */
int lz4w_push(wstream_t *s, lerr_t *e) {
    if (!s->enc.len) return 0;
    size_t bound = LZ4F_compressBound(s->enc.len, &s->prefs);
    if (buf_reserve(&s->out, bound)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    size_t n =
        LZ4F_compressUpdate(s->cctx, s->out.data + s->out.len, s->out.cap - s->out.len, s->enc.data, s->enc.len, NULL);
    if (LZ4F_isError(n)) return lerr_set(e, EXIT_INTERNAL, "LZ4F_compressUpdate: %s", LZ4F_getErrorName(n));
    s->out.len += n;
    s->enc.len = 0;
    return s->out.len >= CHUNK ? fd_flush(s, e) : 0;
}

int lz4w_write(wstream_t *s, const rec_t *r, unsigned enc_flags, lerr_t *e) {
    /* records gather in `enc` and are compressed a block at a time, so LZ4F compresses
     * straight from our buffer instead of first copying each record into its own */
    if (rec_encode_ex(r, &s->enc, enc_flags)) return lerr_set(e, EXIT_INTERNAL, "cannot encode record");
    return s->enc.len >= LZ4_STAGE ? lz4w_push(s, e) : 0;
}

int lz4w_flush(wstream_t *s, lerr_t *e) {
    if (lz4w_push(s, e)) return -1;
    if (buf_reserve(&s->out, LZ4F_compressBound(0, &s->prefs))) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    size_t n = LZ4F_flush(s->cctx, s->out.data + s->out.len, s->out.cap - s->out.len, NULL);
    if (LZ4F_isError(n)) return lerr_set(e, EXIT_INTERNAL, "LZ4F_flush: %s", LZ4F_getErrorName(n));
    s->out.len += n;
    return 0;
}

int lz4w_end(wstream_t *s, lerr_t *e) {
    if (lz4w_push(s, e)) return -1;
    if (buf_reserve(&s->out, LZ4F_compressBound(0, &s->prefs) + 8)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    size_t n = LZ4F_compressEnd(s->cctx, s->out.data + s->out.len, s->out.cap - s->out.len, NULL);
    if (LZ4F_isError(n)) return lerr_set(e, EXIT_INTERNAL, "LZ4F_compressEnd: %s", LZ4F_getErrorName(n));
    s->out.len += n;
    return 0;
}

void lz4w_free(wstream_t *s) {
    if (s->cctx) LZ4F_freeCompressionContext(s->cctx);
}
