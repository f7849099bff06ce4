/* source.h — where a model's tensors come from, seen by the binder (load.c).
 *
 * A source presents named tensors in memory under the family's names and shapes
 * (row-major, outermost dimension first, as safetensors and PyTorch write them). The binder
 * asks for every tensor the family's config implies and then checks that the source holds
 * nothing else, so a checkpoint with tensors the graph would ignore never loads silently.
 * Data stays owned by the source (mapped files) until close.
 *
 * Sources: the safetensors files of a Hugging Face folder (st_source.c); a GGUF file
 * (gguf_source.c, issue 13): it maps GGUF names (blk.N.attn_q.weight) and dimension order to
 * the family's, undoes llama.cpp's Q/K row permutation (LLaDA), splits merged 3-D expert
 * tensors into one view per expert (LLaDA-MoE) and reports its tensor types (block-quantised
 * ones included); nothing above load.c changes.
 */
#ifndef LLADA_MODEL_SOURCE_H
#define LLADA_MODEL_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include "lerr.h"
#include "model/model.h"

/* A borrowed view of one tensor of a source. */
typedef struct {
    const char *name;  /* the source's own name, for messages (a GGUF file's: blk.1.ffn_down_exps.weight) */
    const char *dtype; /* the source's spelling, for messages ("BF16", "I32", ...) */
    int type;          /* wtype_t, or -1 when not a type this engine stores weights in */
    int ndim;
    const int64_t *shape; /* [ndim] */
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
    /* Optional (NULL: nothing is released). When [p, p + n) lies inside one of the source's
     * read-only file mappings, drop this process's pages of it (the whole pages inside the
     * range: model_drop_pages) and return the bytes dropped; else (a copy the source or the
     * loader owns, a caller's buffer) touch nothing and return 0. The data stays valid: a
     * later read maps the pages again from the file. */
    size_t (*release)(void *ctx, const void *p, size_t n);
} model_source_t;

/* madvise(MADV_DONTNEED) on the whole pages of [p, p + n) when that range lies inside the
 * read-only file mapping [map, map + map_len) (PROT_READ, so its pages are clean file pages:
 * a later read faults them in again from the file). Returns the bytes dropped, 0 when the
 * range is not inside the mapping or holds no whole page. Never call it on memory that is
 * not such a mapping (private anonymous pages would read back as zeros). load.c. */
size_t model_drop_pages(const void *map, size_t map_len, const void *p, size_t n);

/* The safetensors files of folder `dir`: the shards named by model.safetensors.index.json,
 * or model.safetensors. 0, or -1 with `e` set (EXIT_IO cannot open/map, EXIT_DATA format;
 * nothing is left open and *src is zeroed). */
int st_source_open(model_source_t *src, const char *dir, lerr_t *e);

/* A GGUF file (gguf.h) as a source; takes ownership of f (closed on error too). The config's
 * head counts say how Q and K rows are un-permuted. 0, or -1 with `e` set. */
struct gguf_file;
int gguf_source_open(model_source_t *src, struct gguf_file *f, const llada_config_t *c, lerr_t *e);
/* The family and config a GGUF file's metadata describe (general.architecture, "<arch>.*"
 * hyper-parameters, tokenizer.ggml.* ids, vocabulary from token_embd). EXIT_DATA with the key
 * named when something is missing, out of range or asks for what the graph lacks (causal
 * attention, shifted logits, partial RoPE, an architecture no family runs). */
int gguf_model_config(const struct gguf_file *f, llada_config_t *c, const model_family_t **fam, lerr_t *e);
/* llama.cpp's general.architecture a family is written under by --quantize ("llada", "dream",
 * "llada-moe"), or NULL when it has none or is read only (LLaDA 2.x: "llada2" files are read,
 * not written). */
const char *gguf_arch_name(const model_family_t *fam);
/* The GGUF name of a family tensor into out (model.transformer.blocks.3.q_proj.weight ->
 * blk.3.attn_q.weight; model.layers.1.mlp.experts.5.up_proj.weight -> blk.1.ffn_up_exps.weight
 * with *expert = 5, else *expert = -1); -1 when it has none. */
int gguf_name_of(const model_family_t *fam, const char *family_name, char *out, size_t n, int *expert);

#endif
