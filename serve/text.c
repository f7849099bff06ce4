/* text.c — incremental answer text of one choice (see text.h). */
#include <string.h>
#include "text.h"
#include "detok/text.h"

void stext_free(stext_t *t) {
    tok_str_free(&t->text);
    memset(t, 0, sizeof *t);
}

/* Earliest occurrence of any stop string in s[0..n), or n. */
static size_t first_stop(const char *s, size_t n, const sstr_t *stop, int n_stop) {
    size_t best = n;
    for (int i = 0; i < n_stop; i++)
        for (size_t p = 0; p + stop[i].n <= n && p < best; p++)
            if (!memcmp(s + p, stop[i].p, stop[i].n)) {
                best = p;
                break;
            }
    return best;
}

/* Bytes at the end of s[0..n) to hold back: trailing U+FFFD, then the longest tail that is a
 * proper prefix of a stop string. */
static size_t holdback(const char *s, size_t n, const sstr_t *stop, int n_stop) {
    size_t h = 0;
    while (n - h >= 3 && !memcmp(s + n - h - 3, "\xEF\xBF\xBD", 3)) h += 3;
    size_t m = n - h, tail = 0;
    for (int i = 0; i < n_stop; i++)
        for (size_t l = stop[i].n - 1; l > tail; l--)
            if (l <= m && !memcmp(s + m - l, stop[i].p, l)) {
                tail = l;
                break;
            }
    return h + tail;
}

int stext_update(stext_t *t, const tok_bundle_t *b, const int32_t *ids, size_t k, bool final, const sstr_t *stop,
                 int n_stop, const char **delta, size_t *dlen, lerr_t *e) {
    *delta = NULL;
    *dlen = 0;
    if (t->finish || (k <= t->committed && !final)) return 0;
    t->committed = k;
    tok_str_t cur = {0};
    if (detok_answer(b, ids, k, &cur, e)) {
        tok_str_free(&cur);
        return -1;
    }
    size_t m = detok_stop_len(b, ids, k), cut = first_stop(cur.p, cur.n, stop, n_stop);
    t->n_tokens = m;
    if (cut < cur.n || m < k) t->finish = FINISH_STOP;
    else if (final) t->finish = FINISH_LENGTH;
    cur.n = cut;
    if (t->sent > cur.n || (t->sent && memcmp(cur.p, t->text.p, t->sent))) t->diverged = true;
    tok_str_free(&t->text);
    t->text = cur;
    size_t upto = t->finish ? cur.n : cur.n - holdback(cur.p, cur.n, stop, n_stop);
    if (upto > t->sent) {
        *delta = cur.p + t->sent;
        *dlen = upto - t->sent;
        t->sent = upto;
    }
    return 0;
}
