/* history.h — multi-turn chat state for `denoise --history FILE`, as the official chat.py
 * carries it: the next prompt is the previous full output (prompt + answer) with every EOS
 * removed (EOT stays), followed by the new turn's tokens without their leading BOS. */
#ifndef LLADA_DENOISE_HISTORY_H
#define LLADA_DENOISE_HISTORY_H
#include "record.h"
#include "model/model.h"
/* Replace r's "tokens" by history + turn (FILE absent or empty: r unchanged). */
int history_prepend(rec_t *r, const char *path, const model_t *m, lerr_t *e);
/* Save prompt + tokens of the result record r as the new history (atomic rename). */
int history_save(const rec_t *r, const char *path, lerr_t *e);
#endif
