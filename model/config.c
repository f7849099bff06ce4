/* config.c — config.json reading helpers shared by the model families (see config.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "model/config.h"

int cfg_int(json_t *o, const char *k, long long lo, long long hi, long long *out, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be an integer in [%lld, %lld]", k, lo, hi);
    *out = json_integer_value(v);
    return 1;
}

int cfg_num(json_t *o, const char *k, double *out, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) <= 0)
        return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be a positive number", k);
    *out = json_number_value(v);
    return 1;
}

int cfg_need_bool(json_t *o, const char *k, bool want, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v))
        return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be true or false", k);
    if (json_is_true(v) != want)
        return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"%s\": %s (only %s is implemented)",
                        k, want ? "false" : "true", want ? "true" : "false");
    return 0;
}

int cfg_need_str(json_t *o, const char *k, const char *const *allowed, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be a string", k);
    for (int i = 0; allowed[i]; i++) if (!strcasecmp(json_string_value(v), allowed[i])) return 0;
    return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"%s\": \"%s\" (supported: %s)",
                    k, json_string_value(v), allowed[0]);
}

int cfg_need_null(json_t *o, const char *k, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (v && !json_is_null(v)) return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"%s\"", k);
    return 0;
}

char *cfg_read_file(const char *path, size_t max, size_t *len, lerr_t *e) {
    FILE *f = fopen(path, "rb");
    if (!f) { lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno)); return NULL; }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (!buf || err || n > max) {
        free(buf);
        lerr_set(e, err ? EXIT_IO : EXIT_DATA, "%s: %s", path, err ? "read error" : "file too large");
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}
