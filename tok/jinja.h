/* jinja.h — the subset of Jinja that Hugging Face chat templates use, in C.
 *
 * A model folder's tokenizer_config.json carries its chat template as Jinja source, rendered by
 * transformers with jinja2 (trim_blocks, lstrip_blocks, loop controls) and by transformers.js
 * with @huggingface/jinja. This interpreter covers what the diffusion families' templates use
 * (LLaDA, LLaDA-MoE / Ling, LLaDA 2.x / Ling 2.0, Dream / DiffuCoder (Qwen2.5), SDAR (Qwen3)):
 * text, {{ }}, {% if/elif/else %}, {% for %} (loop.*, tuple unpacking, else, break/continue),
 * {% set %} (names and namespace attributes), comments and whitespace control; literals,
 * lists, tuples, dicts, attribute / index / slice access, arithmetic, comparisons, in, is-tests,
 * and/or/not, the conditional expression, string methods (startswith, endswith, strip/lstrip/
 * rstrip, split, upper, lower, replace, ...), filters (trim, length, tojson, first, last, join,
 * default, ...), namespace(), range() and raise_exception(). Anything else is refused with a
 * one-line error naming the template line; nothing is skipped silently.
 *
 * Strings behave as in Python (jinja2): lengths, slices and strip() count code points, strip(c)
 * strips the given characters. Where @huggingface/jinja differs from jinja2 (it ignores strip's
 * argument), this follows jinja2, which is what transformers renders with.
 *
 * Provenance: every output byte is marked as coming from the template (or a trusted variable)
 * or from an untrusted variable (the messages), so a caller can keep special-token text that
 * a user typed from becoming a special token (tok -p, serve).
 * Docs: docs/tokenizer.md "Chat templates".
 */
#ifndef TOK_JINJA_H
#define TOK_JINJA_H
#include <jansson.h>
#include "tokenizer.h"

typedef struct jinja_tpl jinja_tpl_t;

/* Parse template source src[0..n). NULL with `e` (EXIT_DATA, "chat template: line L: ...") for
 * a syntax error or an unsupported construct. Caller frees with jinja_free. */
jinja_tpl_t *jinja_parse(const char *src, size_t n, lerr_t *e);
void jinja_free(jinja_tpl_t **t);

/* Render with the variables of `trusted` and `untrusted` (JSON objects, either may be NULL;
 * a name in both takes the untrusted value). The text is appended to *out; when `taint` is not
 * NULL, one byte per output byte is appended to it: 1 where the byte came from a string of
 * `untrusted`, else 0. 0, or -1 with `e` (EXIT_DATA: a template error or raise_exception,
 * "chat template: line L: ..."; EXIT_INTERNAL: out of memory). The template is not modified:
 * renders of one template may run in parallel. A render's work is bounded in proportion to the
 * size of its variables (jinja.c: 10^6 steps + 64 per byte, 16 MiB of text + 8 per byte, 64 MiB
 * of values + 32 per byte, at most 5*10^7 steps, 64 MiB and 512 MiB); past a budget it fails
 * with EXIT_DATA. */
int jinja_render(const jinja_tpl_t *t, json_t *trusted, json_t *untrusted, tok_str_t *out, tok_str_t *taint, lerr_t *e);
#endif
