/* nfc.h — Unicode NFC as HF tokenizers' NFC normalizer does it (data: tok/nfc_tables.c,
 * generated from the reference tool by scripts/gen_nfc_tables.py; Hangul is algorithmic). */
#ifndef TOK_NFC_H
#define TOK_NFC_H
#include <stddef.h>
#include <stdint.h>
#include "tokenizer.h"

typedef struct {
    uint32_t cp, off, len;
} nfc_decomp_t;
extern const nfc_decomp_t NFC_DECOMP[];
extern const int NFC_NDECOMP;
extern const uint32_t NFC_DDATA[];
extern const uint32_t NFC_CCC[][2];
extern const int NFC_NCCC;
extern const uint32_t NFC_COMP[][3];
extern const int NFC_NCOMP;

/* Append the NFC form of valid UTF-8 s[0..n) to *out. 0 ok, -1 OOM. Text without any code
 * point that NFC could touch is copied as is (fast path). */
int nfc_append(const char *s, size_t n, tok_str_t *out);
#endif
