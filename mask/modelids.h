/* modelids.h — the special token ids mask needs (mask, EOS), read from a model's config.json.
 *
 * LLaDA's config.json carries mask_token_id (126336) and eos_token_id (126081); HF configs
 * sometimes give eos_token_id as a list (the first entry is used) or only pad_token_id.
 */
#ifndef LLADA_MASK_MODELIDS_H
#define LLADA_MASK_MODELIDS_H

#include <stdint.h>
#include "lerr.h"

/* Read DIR/config.json. Sets *mask_id / *eos_id to -1 when the key is absent. Returns 0, or
 * -1 with `e` set: EXIT_IO if the file cannot be read, EXIT_DATA if it is not valid JSON or
 * a key has a non-integer value. */
int model_special_ids(const char *dir, int32_t *mask_id, int32_t *eos_id, lerr_t *e);
/* The number of token ids the model takes: the larger of config.json's vocab_size and
 * embedding_size (LLaDA pads its embedding beyond the vocabulary); -1 when neither is given.
 * 0, or -1 with `e` set as above. */
int model_vocab_size(const char *dir, int64_t *vocab, lerr_t *e);

#endif
