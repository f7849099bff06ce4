/* train.h — byte-level BPE training (the `tok train` engine).
 *
 * Corpus text is split around the special tokens, pre-tokenized with one of the hand scanners
 * (default: LLaDA/Qwen2's regex), counted as words; then the most frequent adjacent pair is
 * merged repeatedly (ties: smaller (left id, right id)) until the vocabulary, 256 byte tokens
 * + merges + special tokens, reaches the requested size or no pair occurs min_frequency times.
 * The result is written as a HF tokenizer.json (+ tokenizer_config.json with LLaDA's chat
 * template) that HF tokenizers loads and encodes exactly as tok does (tested).
 */
#ifndef TOK_TRAIN_H
#define TOK_TRAIN_H
#include "tokenizer.h"
#include "scan.h"

typedef struct {
    int vocab_size;        /* total ids including special tokens */
    int min_frequency;     /* a pair must occur this often to be merged (>= 1) */
    scan_kind_t scan;      /* pre-tokenizer family */
    const char **specials; /* special tokens, ids right after the learned vocabulary */
    int nspecials;
} bpe_train_opts_t;

/* LLaDA's set: <|startoftext|> (BOS) <|endoftext|> (EOS, pad) <|mdm_mask|> <|start_header_id|>
 * <|end_header_id|> <|eot_id|>. */
extern const char *BPE_DEFAULT_SPECIALS[];
extern const int BPE_N_DEFAULT_SPECIALS;

typedef struct bpe_trainer bpe_trainer_t;
bpe_trainer_t *bpe_trainer_new(const bpe_train_opts_t *o, lerr_t *e); /* copies o (not the strings) */
void bpe_trainer_destroy(bpe_trainer_t **t);
/* Count the words of one document (any size; call repeatedly). 0 or -1 with e. */
int bpe_trainer_feed(bpe_trainer_t *t, const char *text, size_t n, lerr_t *e);
/* Learn the merges. 0 or -1 with e. */
int bpe_trainer_train(bpe_trainer_t *t, lerr_t *e);
/* Sizes after training: learned tokens (bytes + merges), merges, distinct words. */
void bpe_trainer_stats(const bpe_trainer_t *t, int *ntokens, int *nmerges, size_t *nwords);
/* Id of special token i in the written file. */
int bpe_trainer_special_id(const bpe_trainer_t *t, int i);
/* Write tokenizer.json and tokenizer_config.json into directory `dir` (created if missing).
 * 0 or -1 with e (EXIT_IO). */
int bpe_trainer_write(const bpe_trainer_t *t, const char *dir, lerr_t *e);
#endif
