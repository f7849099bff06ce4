/* chat.h — a conversation through the model's chat template, to token ids.
 *
 * The template is the model folder's own (tokenizer_config.json "chat_template", or
 * chat_template.jinja, or a GGUF's tokenizer.chat_template), rendered by the Jinja-subset
 * interpreter (jinja.h) with messages, bos_token, eos_token, add_generation_prompt and any extra
 * variables (e.g. enable_thinking), then encoded as HF's apply_chat_template(tokenize=True)
 * does: the whole text, special tokens recognised, no post-processor.
 *
 * LLaDA-8B-Instruct's template (and a folder without one) is encoded by the built-in encoder
 * that predates the interpreter, byte-identical to it; it differs from a plain rendering in one
 * point only: with gen_prompt false it omits the assistant header that LLaDA's template always
 * appends (SFT records end with the answer). chat_render always renders the template itself.
 *
 * Untrusted text: with TOK_SPECIAL_AS_TEXT in `flags`, special-token text that came from the
 * messages stays text (each output byte's provenance is tracked through the template), while
 * the template's own special tokens stay special.
 */
#ifndef TOK_CHAT_H
#define TOK_CHAT_H
#include <jansson.h>
#include "bundle.h"

typedef struct {
    const char *role, *content;
    size_t role_len, content_len;
} chat_msg_t;

/* LLaDA-8B-Instruct's chat template (its tokenizer_config.json), verbatim. */
extern const char CHAT_LLADA_TEMPLATE[];

/* Append the ids of the conversation `msgs` (a JSON array of message objects: role, content and
 * whatever else the template reads). bos: pass the BOS token's string as bos_token (else "").
 * gen_prompt: add_generation_prompt. vars: extra template variables (JSON object) or NULL.
 * *prompt_len (may be NULL) gets, when the last message is the assistant's, the number of ids
 * before its answer (the ids the conversation without it renders to with the generation
 * prompt, where they agree), else the total. 0 or -1 with `e`. */
int chat_encode_json(tok_bundle_t *b, json_t *msgs, bool bos, bool gen_prompt, json_t *vars, unsigned flags,
                     tok_ids_t *out, size_t *prompt_len, lerr_t *e);

/* The same for n messages given as role/content strings. */
int chat_encode(tok_bundle_t *b, const chat_msg_t *m, size_t n, bool bos, bool gen_prompt, json_t *vars, unsigned flags,
                tok_ids_t *out, size_t *prompt_len, lerr_t *e);

/* The rendered text of the conversation (LLaDA's template included), appended to *text, and
 * when `taint` is not NULL one byte per text byte: 1 where it came from the messages. */
int chat_render(tok_bundle_t *b, json_t *msgs, bool bos, bool gen_prompt, json_t *vars, tok_str_t *text,
                tok_str_t *taint, lerr_t *e);

/* Free what chat.c cached in the bundle (tok_bundle_destroy calls it). */
void chat_bundle_free(tok_bundle_t *b);
#endif
