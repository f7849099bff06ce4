/* config.h — helpers the families share to read a config.json (config.c): typed keys with
 * range checks, keys that must hold a given value when present, and small text files.
 * Every error is EXIT_DATA and names the key, so a config asking for something a family
 * does not implement never loads silently. Internal to model/. */
#ifndef LLADA_MODEL_CONFIG_H
#define LLADA_MODEL_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "lerr.h"

/* Integer key in [lo, hi]: 1 found, 0 absent or null, -1 wrong type or range (e set). */
int cfg_int(json_t *o, const char *k, long long lo, long long hi, long long *out, lerr_t *e);
/* Positive finite number: 1 found, 0 absent or null, -1 otherwise (e set). */
int cfg_num(json_t *o, const char *k, double *out, lerr_t *e);
/* Boolean key: 0 (found, *out set; or absent or null, *out kept), -1 not a boolean (e set). */
int cfg_bool(json_t *o, const char *k, bool *out, lerr_t *e);
/* A boolean key that must equal `want` when present (null = absent): 0, or -1 (e set). */
int cfg_need_bool(json_t *o, const char *k, bool want, lerr_t *e);
/* A string key that must be one of `allowed` (NULL-terminated, case-insensitive) when
 * present: 0, or -1 (e set). */
int cfg_need_str(json_t *o, const char *k, const char *const *allowed, lerr_t *e);
/* A key that must be absent or null: 0, or -1 (e set). */
int cfg_need_null(json_t *o, const char *k, lerr_t *e);

/* config.json text -> its object, with every key of need[0..n_need) present; NULL with e
 * (EXIT_DATA: bad JSON, not an object, or `missing "KEY" (not a WHAT config)`). The caller
 * json_decref's it. */
json_t *cfg_open(const char *json, size_t len, const char *const *need, int n_need, const char *what, lerr_t *e);

/* Read a whole file of at most `max` bytes (NUL-terminated, caller frees). NULL with e set:
 * EXIT_IO cannot open/read, EXIT_DATA larger than max. */
char *cfg_read_file(const char *path, size_t max, size_t *len, lerr_t *e);

#endif
