/* history.c — chat history file for `denoise --history` (see history.h). The file holds one
 * record {"kind":"history","tokens": i4 [...]}: the whole conversation so far. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "history.h"
#include "stream.h"

static int read_history(const char *path, rec_t **out, lerr_t *e) {
    struct stat st;
    *out = NULL;
    if (stat(path, &st) != 0 || st.st_size == 0) return 0;
    stream_opts_t o;
    stream_opts_default(&o, "denoise");
    rstream_t *s = rstream_open(path, &o, e);
    if (!s) return -1;
    int rc = rstream_read(s, out, e);
    rec_t *extra = NULL;
    if (rc == 1) rc = rstream_read(s, &extra, e); /* the file holds exactly one record */
    if (rc == 1) lerr_set(e, EXIT_DATA, "holds more than one record (a history file is one \"history\" record)");
    rec_destroy(&extra);
    rstream_destroy(&s);
    if (rc != 0) {
        rec_destroy(out);
        return lerr_wrap(e, "history %s", path);
    }
    return 0;
}

int history_prepend(rec_t *r, const char *path, const model_t *m, lerr_t *e) {
    rec_t *h;
    if (read_history(path, &h, e)) return -1;
    if (!h) return 0;
    tensor_t *ht = rec_need_tensor(h, "tokens", DT_I32, 1, e), *t = rec_need_tensor(r, "tokens", DT_I32, 1, e);
    if (!ht || !t) {
        rec_destroy(&h);
        return -1;
    }
    const int32_t *hv = ht->data, *tv = t->data;
    size_t skip = t->numel > 0 && tv[0] == m->cfg.bos_token_id ? 1 : 0, n = 0;
    int32_t *v = malloc((ht->numel + t->numel + 1) * sizeof *v);
    if (!v) {
        rec_destroy(&h);
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < ht->numel; i++)
        if (hv[i] != m->cfg.eos_token_id) v[n++] = hv[i];
    for (size_t i = skip; i < t->numel; i++) v[n++] = tv[i];
    int bad = !rec_set_i32(r, "tokens", v, n);
    free(v);
    rec_destroy(&h);
    return bad ? lerr_set(e, EXIT_INTERNAL, "out of memory") : 0;
}

int history_save(const rec_t *r, const char *path, lerr_t *e) {
    tensor_t *p = rec_need_tensor(r, "prompt", DT_I32, 1, e), *t = rec_need_tensor(r, "tokens", DT_I32, 1, e);
    if (!p || !t) return -1;
    int32_t *v = malloc((p->numel + t->numel + 1) * sizeof *v);
    rec_t *h = rec_new();
    char tmp[4096];
    int rc = -1;
    if (!v || !h) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto out;
    }
    memcpy(v, p->data, p->numel * sizeof *v);
    memcpy(v + p->numel, t->data, t->numel * sizeof *v);
    if (rec_set_str(h, "kind", "history") || !rec_set_i32(h, "tokens", v, p->numel + t->numel)) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto out;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    stream_opts_t o;
    stream_opts_default(&o, "denoise");
    wstream_t *w = wstream_open(tmp, &o, e);
    if (!w) goto out;
    if (wstream_write(w, h, e)) {
        wstream_abort(&w);
        goto out;
    }
    if (wstream_close(&w, e)) goto out;
    if (rename(tmp, path)) {
        lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(v);
    rec_destroy(&h);
    return rc;
}
