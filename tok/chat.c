/* chat.c — LLaDA chat template to ids (see chat.h). */
#include "chat.h"
#include "unicode.h"
#include <stdlib.h>
#include <string.h>

/* Python str.isspace(), which Jinja's |trim uses: White_Space plus U+001C..U+001F. */
static bool py_space(uint32_t cp) { return (cp >= 0x1C && cp <= 0x1F) || (uni_class(cp) & UNI_WS); }

static void trim(const char **s, size_t *n) {
    const uint8_t *u = (const uint8_t *)*s;
    size_t a = 0, b = *n;
    while (a < b) { int l; uint32_t c = utf8_dec(u + a, b - a, &l); if (!py_space(c)) break; a += l; }
    while (b > a) {
        size_t j = b; do j--; while (j > a && (u[j] & 0xC0) == 0x80);
        int l; uint32_t c = utf8_dec(u + j, b - j, &l);
        if (!py_space(c)) break;
        b = j;
    }
    *s += a; *n = b - a;
}

static int special(const tok_bundle_t *b, const char *s, tok_ids_t *out, lerr_t *e) {
    int32_t id = tok_token_id(b->tok, s, strlen(s));
    if (id < 0) return lerr_set(e, EXIT_DATA, "chat template: the tokenizer has no %s token", s);
    return tok_ids_push(out, id) ? lerr_set(e, EXIT_INTERNAL, "out of memory") : 0;
}

static int text(const tok_bundle_t *b, const char *pre, const char *s, size_t n, unsigned flags, tok_ids_t *out, lerr_t *e) {
    size_t pl = strlen(pre);
    char *buf = malloc(pl + n + 1);
    if (!buf) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    memcpy(buf, pre, pl); memcpy(buf + pl, s, n);
    int rc = tok_encode(b->tok, buf, pl + n, flags & TOK_SPECIAL_AS_TEXT, out, e);
    free(buf);
    return rc;
}

int chat_encode(const tok_bundle_t *b, const chat_msg_t *m, size_t n, bool bos, bool gen_prompt,
                unsigned flags, tok_ids_t *out, size_t *prompt_len, lerr_t *e) {
    size_t start = out->n, plen = 0;
    if (bos && b->bos_id >= 0 && tok_ids_push(out, b->bos_id)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *c = m[i].content; size_t cn = m[i].content_len;
        trim(&c, &cn);
        if (special(b, "<|start_header_id|>", out, e) || text(b, "", m[i].role, m[i].role_len, flags, out, e) ||
            special(b, "<|end_header_id|>", out, e))
            return -1;
        bool answer = i + 1 == n && m[i].role_len == 9 && !memcmp(m[i].role, "assistant", 9);
        if (answer) plen = out->n - start + 0;  /* the answer starts after "\n\n" — counted below */
        size_t before = out->n;
        if (text(b, "\n\n", c, cn, flags, out, e) || special(b, "<|eot_id|>", out, e)) return -1;
        if (answer) {
            /* prompt = through the header's "\n\n": encode it alone to find its length */
            tok_ids_t nl = {0};
            if (tok_encode(b->tok, "\n\n", 2, 0, &nl, e)) return -1;
            bool same = out->n - before >= nl.n && !memcmp(out->v + before, nl.v, nl.n * sizeof *nl.v);
            plen += same ? nl.n : 0;
            tok_ids_free(&nl);
        }
    }
    if (gen_prompt && (special(b, "<|start_header_id|>", out, e) || text(b, "", "assistant", 9, flags, out, e) ||
                       special(b, "<|end_header_id|>", out, e) || text(b, "", "\n\n", 2, flags, out, e)))
        return -1;
    if (prompt_len) *prompt_len = plen ? plen : out->n - start;
    return 0;
}
