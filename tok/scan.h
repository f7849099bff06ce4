/* scan.h — hand-written pre-tokenizers for the known regex families, chosen by exact pattern
 * match (GPT-2 / r50k, cl100k / Llama 3, Qwen2 / LLaDA / Ling, o200k). Each gives exactly the
 * matches of its regex under leftmost-first alternation with backtracking, as HF's Split does.
 */
#ifndef TOK_SCAN_H
#define TOK_SCAN_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SCAN_NONE = 0, SCAN_GPT2, SCAN_CL100K, SCAN_QWEN2, SCAN_O200K } scan_kind_t;

/* The family whose regex is exactly `pattern` (JSON-unescaped), or SCAN_NONE. */
scan_kind_t scan_detect(const char *pattern);
/* The canonical regex of a family (for writing tokenizer.json). */
const char *scan_pattern(scan_kind_t k);
const char *scan_name(scan_kind_t k);
scan_kind_t scan_by_name(const char *name); /* "gpt2" "cl100k" "llama3" "qwen2" "llada" "o200k" */

/* Length in bytes of the match starting at s[0] (n >= 1 bytes of valid UTF-8 left in the
 * section). Always >= 1: these regexes match every character. */
size_t scan_next(scan_kind_t k, const uint8_t *s, size_t n);

#endif
