/* tokinfo.h — what train needs from a tokenizer.json: its vocabulary size and the ids of the
 * special tokens LLaDA uses (mask, end of text, begin of text), found by their names in
 * "added_tokens" (LLaDA's spellings "<|mdm_mask|>", "<|endoftext|>", "<|startoftext|>"; also
 * "<|mask|>", "<mask>", "<|eot_id|>", "</s>", "<s>").
 */
#ifndef LLADA_TRAIN_TOKINFO_H
#define LLADA_TRAIN_TOKINFO_H

#include <stdint.h>
#include "lerr.h"

typedef struct {
    int32_t vocab;                   /* 1 + the largest id in model.vocab and added_tokens */
    int32_t mask_id, eos_id, bos_id; /* -1 when not found */
} tokinfo_t;

/* Read DIR/tokenizer.json. EXIT_IO unreadable, EXIT_DATA not a tokenizer.json. */
int tokinfo_read(const char *dir, tokinfo_t *t, lerr_t *e);

#endif
