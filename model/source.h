/* source.h — where a model's tensors come from, seen by the binder (load.c).
 *
 * A source presents named tensors in memory under the family's names and shapes
 * (row-major, outermost dimension first, as safetensors and PyTorch write them). The binder
 * asks for every tensor the family's config implies and then checks that the source holds
 * nothing else, so a checkpoint with tensors the graph would ignore never loads silently.
 * Data stays owned by the source (mapped files) until close.
 *
 * Sources: the safetensors files of a Hugging Face folder (st_source.c). A GGUF file
 * (issue 13) is another: it maps GGUF names (blk.N.attn_q.weight) and dimension order to the
 * family's and reports its tensor types; nothing above load.c changes.
 */
#ifndef LLADA_MODEL_SOURCE_H
#define LLADA_MODEL_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include "lerr.h"

/* A borrowed view of one tensor of a source. */
typedef struct {
    const char *name;
    const char *dtype;        /* the source's spelling, for messages ("BF16", "I32", ...) */
    int type;                 /* wtype_t, or -1 when not a type this engine stores weights in */
    int ndim;
    const int64_t *shape;     /* [ndim] */
    const void *data;
    size_t nbytes;
} model_tview_t;

typedef struct model_source {
    void *ctx;
    /* The tensor called `name`: 1 found (*out filled), 0 absent, -1 with `e` set (e.g. the
     * same name in two shards: EXIT_DATA). */
    int (*find)(void *ctx, const char *name, model_tview_t *out, lerr_t *e);
    /* Number of tensors and the name of the i-th (for the "unexpected tensor" check). */
    int (*count)(void *ctx);
    const char *(*name_at)(void *ctx, int i);
    void (*close)(void *ctx);
} model_source_t;

/* The safetensors files of folder `dir`: the shards named by model.safetensors.index.json,
 * or model.safetensors. 0, or -1 with `e` set (EXIT_IO cannot open/map, EXIT_DATA format;
 * nothing is left open and *src is zeroed). */
int st_source_open(model_source_t *src, const char *dir, lerr_t *e);

#endif
