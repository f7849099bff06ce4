/* bundle.h — a tokenizer with the facts around it that live in a HF model folder:
 * tokenizer.json + tokenizer_config.json (bos/eos tokens, chat template) + config.json
 * (eos_token_id, mask_token_id). `tok` and `detok` both open models through this.
 */
#ifndef TOK_BUNDLE_H
#define TOK_BUNDLE_H
#include "tokenizer.h"

typedef struct {
    tokenizer_t *tok;
    char *dir;       /* folder the files came from */
    int32_t bos_id;  /* tokenizer_config bos_token, -1 none */
    int32_t eos_id;  /* config eos_token_id / tokenizer_config eos_token, -1 none */
    int32_t mask_id; /* config mask_token_id or <|mdm_mask|>, -1 none */
    int32_t stop[8];
    int nstop;                   /* ids detok stops at: EOS ids and <|eot_id|> / <|im_end|> */
    char *chat_template;         /* tokenizer_config.json chat_template (or chat_template.jinja, or a
                             GGUF's tokenizer.chat_template); NULL: none (tok/chat.h then uses LLaDA's) */
    char *bos_token, *eos_token; /* their strings (template variables); NULL when unknown */
    struct chat_cache *chat;     /* chat.c's parsed template and special-token list, built on first use */
} tok_bundle_t;

/* Open `path`: a model folder (tokenizer.json inside), a tokenizer.json file (sibling
 * tokenizer_config.json / config.json used when present), or a GGUF file (its tokenizer.ggml.*
 * metadata: tok_gguf.h). NULL path: the bundled default
 * model (paths.h). Returns NULL with `e` set. Caller destroys with tok_bundle_destroy. */
tok_bundle_t *tok_bundle_open(const char *path, lerr_t *e);
void tok_bundle_destroy(tok_bundle_t **b);
bool tok_bundle_is_stop(const tok_bundle_t *b, int32_t id);

#endif
