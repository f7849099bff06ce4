/* ckpt.c — checkpoint folders for training and resume (see ckpt.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ckpt.h"

#define STATE_MAGIC "LLADATS1"

static uint64_t checksum(const float *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    const uint8_t *b = (const uint8_t *)p;
    for (size_t i = 0; i < n * sizeof(float); i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int ckpt_copy_file(const char *src_dir, const char *dst_dir, const char *name, lerr_t *e) {
    char *src = join(src_dir, name), *dst = join(dst_dir, name), *tmp = dst ? join(dst_dir, ".tmp-copy") : NULL;
    int rc = 0;
    FILE *in = src ? fopen(src, "rb") : NULL, *out = NULL;
    if (!in) goto done; /* absent: nothing to copy */
    out = tmp ? fopen(tmp, "wb") : NULL;
    if (!out) {
        rc = lerr_set(e, EXIT_IO, "%s: %s", tmp ? tmp : dst_dir, strerror(errno));
        goto done;
    }
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, k, out) != k) break;
    if (ferror(in) || ferror(out) | (fclose(out) != 0)) {
        out = NULL;
        rc = lerr_set(e, EXIT_IO, "copying %s: %s", src, strerror(errno));
        remove(tmp);
        goto done;
    }
    out = NULL;
    if (rename(tmp, dst) != 0) rc = lerr_set(e, EXIT_IO, "%s: %s", dst, strerror(errno));
done:
    if (in) fclose(in);
    if (out) fclose(out);
    free(src);
    free(dst);
    free(tmp);
    return rc;
}

static int write_state(const char *dir, const float *params, const float *m, const float *v, size_t n,
                       const tstate_t *st, lerr_t *e) {
    char *path = join(dir, "train_state.bin"), *tmp = join(dir, ".train_state.tmp");
    if (!path || !tmp) {
        free(path);
        free(tmp);
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    FILE *f = fopen(tmp, "wb");
    int rc = 0;
    if (!f) {
        rc = lerr_set(e, EXIT_IO, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    uint64_t hdr[2] = {n, checksum(params, n)};
    int ok = fwrite(STATE_MAGIC, 8, 1, f) == 1 && fwrite(hdr, sizeof hdr, 1, f) == 1 &&
             fwrite(st, sizeof *st, 1, f) == 1 && fwrite(m, sizeof(float), n, f) == n &&
             fwrite(v, sizeof(float), n, f) == n;
    if ((fclose(f) != 0) | !ok) {
        rc = lerr_set(e, EXIT_IO, "%s: %s", tmp, strerror(errno));
        remove(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) rc = lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno));
done:
    free(path);
    free(tmp);
    return rc;
}

int ckpt_save(const char *dir, const llada_config_t *c, const float *params, const float *m, const float *v,
              const tstate_t *st, wtype_t dtype, const char *tok_dir, lerr_t *e) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) return lerr_set(e, EXIT_IO, "%s: %s", dir, strerror(errno));
    model_t *mod = tparams_to_model(c, params, e);
    if (!mod) return -1;
    int rc = model_save(mod, dir, dtype, e);
    model_destroy(&mod);
    if (rc) return -1;
    if (tok_dir &&
        (ckpt_copy_file(tok_dir, dir, "tokenizer.json", e) || ckpt_copy_file(tok_dir, dir, "tokenizer_config.json", e)))
        return -1;
    if (m && v) return write_state(dir, params, m, v, tparams_count(c), st, e);
    return 0;
}

int ckpt_load_state(const char *dir, const float *params, size_t n, float *m, float *v, tstate_t *st, lerr_t *e) {
    char *path = join(dir, "train_state.bin");
    if (!path) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    FILE *f = fopen(path, "rb");
    if (!f) {
        int absent = errno == ENOENT;
        int rc = absent ? 1 : lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    char magic[8];
    uint64_t hdr[2];
    int rc = 0;
    if (fread(magic, 8, 1, f) != 1 || memcmp(magic, STATE_MAGIC, 8) != 0 || fread(hdr, sizeof hdr, 1, f) != 1 ||
        fread(st, sizeof *st, 1, f) != 1)
        rc = lerr_set(e, EXIT_DATA, "%s: not a train_state file", path);
    else if (hdr[0] != n)
        rc = lerr_set(e, EXIT_DATA, "%s: holds %llu parameters, the model %zu", path, (unsigned long long)hdr[0], n);
    else if (hdr[1] != checksum(params, n))
        rc = lerr_set(e, EXIT_DATA,
                      "%s: does not belong to the weights in the same folder "
                      "(interrupted save?)",
                      path);
    else if (fread(m, sizeof(float), n, f) != n || fread(v, sizeof(float), n, f) != n)
        rc = lerr_set(e, EXIT_DATA, "%s: truncated", path);
    fclose(f);
    free(path);
    return rc;
}
