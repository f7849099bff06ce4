/* chat.h — LLaDA's chat template, rendered straight to token ids.
 *
 * The template (tokenizer_config.json of LLaDA-8B-Instruct; llada.md §2.4):
 *   bos + for each message: <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT|trim<|eot_id|>
 *   then always <|start_header_id|>assistant<|end_header_id|>\n\n
 * Encoding the rendered string with HF gives the same ids as encoding each text part between
 * the special tokens separately, which is what this does; so message text can be encoded with
 * TOK_SPECIAL_AS_TEXT (untrusted input) while the template's own specials stay special.
 */
#ifndef TOK_CHAT_H
#define TOK_CHAT_H
#include "bundle.h"

typedef struct { const char *role, *content; size_t role_len, content_len; } chat_msg_t;

/* Append the ids of the conversation. bos: emit the BOS token first (when the bundle has one).
 * gen_prompt: append the assistant header (LLaDA's template always does). *prompt_len (may be
 * NULL) gets the number of ids up to and including the last assistant header when the last
 * message is the assistant's (SFT: answer starts there), else the total. 0 or -1 with `e`. */
int chat_encode(const tok_bundle_t *b, const chat_msg_t *m, size_t n, bool bos, bool gen_prompt,
                unsigned flags, tok_ids_t *out, size_t *prompt_len, lerr_t *e);
#endif
