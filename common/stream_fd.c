/* stream_fd.c — record streams on file descriptors (stream_int.h): stdin/stdout and files.
 * Reads fill a buffer that grows geometrically (from ~100-byte token records to single
 * records of hundreds of MB); writes are batched in s->out. A file is written as
 * PATH.tmp-PID, registered with tmpreg.h (removed on error exits and fatal signals), and
 * fsync'd and renamed to PATH on a successful close, so no partial file appears under PATH. */
#define _GNU_SOURCE /* sync_file_range */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "stream_int.h"
#include "tmpreg.h"

ssize_t fd_read(int fd, void *p, size_t n) {
    for (;;) {
        ssize_t r = read(fd, p, n);
        if (r >= 0 || errno != EINTR) return r;
    }
}

/* Make room and read more decoded bytes into buf. Returns bytes added, 0 at EOF, -1 error. */
ssize_t fd_fill(rstream_t *s, lerr_t *e) {
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
        r = lz4r_fill(s, s->buf + s->end, s->cap - s->end, e);
    } else {
        r = fd_read(s->fd, s->buf + s->end, s->cap - s->end);
        if (r < 0) return lerr_set(e, EXIT_IO, "read '%s': %s", s->spec, strerror(errno));
    }
    if (r > 0) s->end += (size_t)r;
    return r;
}

static int write_all(wstream_t *s, const uint8_t *p, size_t n, lerr_t *e) {
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
static void start_writeback(wstream_t *s) {
#ifdef SYNC_FILE_RANGE_WRITE
    if (!s->tmp_path || s->written - s->synced < WRITEBACK_EVERY) return;
    (void)sync_file_range(s->fd, s->synced, s->written - s->synced, SYNC_FILE_RANGE_WRITE);
    s->synced = s->written;
#else
    (void)s;
#endif
}

int fd_flush(wstream_t *s, lerr_t *e) {
    if (!s->out.len) return 0;
    int rc = write_all(s, s->out.data, s->out.len, e);
    s->written += (off_t)s->out.len;
    s->out.len = 0;
    if (!rc) start_writeback(s);
    return rc;
}

int fd_open_writer(wstream_t *s, lerr_t *e) {
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

int fd_commit(wstream_t *s, lerr_t *e) {
    int rc = 0, fd = s->fd;
    s->fd = -1;
    if (fsync(fd) && errno != EINVAL && errno != EROFS)
        rc = lerr_set(e, EXIT_IO, "fsync '%s': %s", s->spec, strerror(errno));
    if (close(fd) && !rc) rc = lerr_set(e, EXIT_IO, "close '%s': %s", s->spec, strerror(errno));
    if (!rc && s->tmp_path && rename(s->tmp_path, s->spec))
        rc = lerr_set(e, EXIT_IO, "rename to '%s': %s", s->spec, strerror(errno));
    if (!rc) {
        free(s->tmp_path);
        s->tmp_path = NULL;
    }
    return rc;
}
