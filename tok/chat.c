/* chat.c — conversations to ids through the model's chat template (see chat.h). */
#include "chat.h"
#include "jinja.h"
#include "unicode.h"
#include <stdlib.h>
#include <string.h>

const char CHAT_LLADA_TEMPLATE[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}";

typedef struct {
    const char *s;
    size_t n;
} spec_t;
struct chat_cache {
    jinja_tpl_t *tpl;
    spec_t *spec;
    size_t nspec; /* special added tokens, for splitting untrusted renderings */
    bool spec_built;
};

void chat_bundle_free(tok_bundle_t *b) {
    if (!b->chat) return;
    jinja_free(&b->chat->tpl);
    free(b->chat->spec);
    free(b->chat);
    b->chat = NULL;
}

static struct chat_cache *cache(tok_bundle_t *b, lerr_t *e) {
    if (!b->chat && !(b->chat = calloc(1, sizeof *b->chat))) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    return b->chat;
}

static bool builtin(const tok_bundle_t *b) {
    return !b->chat_template || !strcmp(b->chat_template, CHAT_LLADA_TEMPLATE);
}

/* ---- LLaDA's template, built in ----
 *   bos + for each message: <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT|trim<|eot_id|>
 *   then <|start_header_id|>assistant<|end_header_id|>\n\n (unless !gen_prompt)
 * Encoding the rendered string with HF gives the same ids as encoding each text part between
 * the special tokens separately, which is what this does. */

/* Python str.isspace(), which Jinja's |trim uses: White_Space plus U+001C..U+001F. */
static bool py_space(uint32_t cp) { return (cp >= 0x1C && cp <= 0x1F) || (uni_class(cp) & UNI_WS); }

static void trim(const char **s, size_t *n) {
    const uint8_t *u = (const uint8_t *)*s;
    size_t a = 0, b = *n;
    while (a < b) {
        int l;
        uint32_t c = utf8_dec(u + a, b - a, &l);
        if (!py_space(c)) break;
        a += l;
    }
    while (b > a) {
        size_t j = b;
        do j--;
        while (j > a && (u[j] & 0xC0) == 0x80);
        int l;
        uint32_t c = utf8_dec(u + j, b - j, &l);
        if (!py_space(c)) break;
        b = j;
    }
    *s += a;
    *n = b - a;
}

static int special(const tok_bundle_t *b, const char *s, tok_ids_t *out, lerr_t *e) {
    int32_t id = tok_token_id(b->tok, s, strlen(s));
    if (id < 0)
        return lerr_set(e, EXIT_DATA,
                        "chat template: the tokenizer has no %s token (and the model has no chat_template of its own)",
                        s);
    return tok_ids_push(out, id) ? lerr_set(e, EXIT_INTERNAL, "out of memory") : 0;
}

static int text(const tok_bundle_t *b, const char *pre, const char *s, size_t n, unsigned flags, tok_ids_t *out,
                lerr_t *e) {
    size_t pl = strlen(pre);
    char *buf = malloc(pl + n + 1);
    if (!buf) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    memcpy(buf, pre, pl);
    memcpy(buf + pl, s, n);
    int rc = tok_encode(b->tok, buf, pl + n, flags & TOK_SPECIAL_AS_TEXT, out, e);
    free(buf);
    return rc;
}

static int llada_encode(const tok_bundle_t *b, const chat_msg_t *m, size_t n, bool bos, bool gen_prompt, unsigned flags,
                        tok_ids_t *out, size_t *prompt_len, lerr_t *e) {
    size_t start = out->n, plen = 0;
    if (bos && b->bos_id >= 0 && tok_ids_push(out, b->bos_id)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *c = m[i].content;
        size_t cn = m[i].content_len;
        trim(&c, &cn);
        if (special(b, "<|start_header_id|>", out, e) || text(b, "", m[i].role, m[i].role_len, flags, out, e) ||
            special(b, "<|end_header_id|>", out, e))
            return -1;
        bool answer = i + 1 == n && m[i].role_len == 9 && !memcmp(m[i].role, "assistant", 9);
        if (answer) plen = out->n - start + 0; /* the answer starts after "\n\n" — counted below */
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

/* ---- any template, through the interpreter ---- */

static int render(tok_bundle_t *b, json_t *msgs, bool bos, bool gen_prompt, json_t *vars, tok_str_t *textout,
                  tok_str_t *taint, lerr_t *e) {
    struct chat_cache *c = cache(b, e);
    if (!c) return -1;
    const char *src = b->chat_template ? b->chat_template : CHAT_LLADA_TEMPLATE;
    if (!c->tpl && !(c->tpl = jinja_parse(src, strlen(src), e))) return -1;
    json_t *trusted = json_object();
    if (!trusted) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    if (json_is_object(vars)) json_object_update(trusted, vars);
    json_object_set_new(trusted, "bos_token", json_string(bos && b->bos_token ? b->bos_token : ""));
    json_object_set_new(trusted, "eos_token", json_string(b->eos_token ? b->eos_token : ""));
    json_object_set_new(trusted, "add_generation_prompt", json_boolean(gen_prompt));
    json_t *untrusted = json_pack("{s:O}", "messages", msgs);
    int rc = untrusted ? jinja_render(c->tpl, trusted, untrusted, textout, taint, e)
                       : lerr_set(e, EXIT_INTERNAL, "out of memory");
    json_decref(trusted);
    json_decref(untrusted);
    return rc;
}

int chat_render(tok_bundle_t *b, json_t *msgs, bool bos, bool gen_prompt, json_t *vars, tok_str_t *textout,
                tok_str_t *taint, lerr_t *e) {
    return render(b, msgs, bos, gen_prompt, vars, textout, taint, e);
}

static int build_specials(tok_bundle_t *b, struct chat_cache *c, lerr_t *e) {
    if (c->spec_built) return 0;
    int32_t n = tok_n_ids(b->tok);
    size_t cap = 0;
    for (int32_t id = 0; id < n; id++) {
        if (!tok_is_added(b->tok, id) || !tok_is_special(b->tok, id)) continue;
        size_t len;
        const char *s = tok_id_token(b->tok, id, &len);
        if (!s || !len) continue;
        if (c->nspec == cap) {
            spec_t *v = realloc(c->spec, (cap = cap ? cap * 2 : 64) * sizeof *v);
            if (!v) return lerr_set(e, EXIT_INTERNAL, "out of memory");
            c->spec = v;
        }
        c->spec[c->nspec++] = (spec_t){s, len};
    }
    c->spec_built = true;
    return 0;
}

/* Encode a rendering. Trusted flags (no TOK_SPECIAL_AS_TEXT): the whole text, as HF does.
 * Untrusted: split at special tokens that lie wholly in template-made bytes (leftmost-longest,
 * as HF's added-token matcher), encode the pieces between them with special-token text as
 * text — the same ids as HF for text whose messages hold no special-token text. */
static int encode_rendering(tok_bundle_t *b, const tok_str_t *t, const tok_str_t *taint, unsigned flags, tok_ids_t *out,
                            lerr_t *e) {
    if (!(flags & TOK_SPECIAL_AS_TEXT)) return tok_encode(b->tok, t->p ? t->p : "", t->n, 0, out, e);
    struct chat_cache *c = cache(b, e);
    if (!c || build_specials(b, c, e)) return -1;
    const uint8_t *tm = (const uint8_t *)taint->p;
    size_t seg = 0;
    for (size_t i = 0; i < t->n;) {
        size_t best = 0;
        int32_t id = -1;
        if (!tm[i])
            for (size_t k = 0; k < c->nspec; k++) {
                const spec_t *s = &c->spec[k];
                if (s->n <= best || s->n > t->n - i || s->s[0] != t->p[i] || memcmp(s->s, t->p + i, s->n)) continue;
                if (memchr(tm + i, 1, s->n)) continue;
                best = s->n;
            }
        if (!best) {
            i++;
            continue;
        }
        id = tok_token_id(b->tok, t->p + i, best);
        if (i > seg && tok_encode(b->tok, t->p + seg, i - seg, TOK_SPECIAL_AS_TEXT, out, e)) return -1;
        if (tok_ids_push(out, id)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
        i += best;
        seg = i;
    }
    if (t->n > seg && tok_encode(b->tok, t->p + seg, t->n - seg, TOK_SPECIAL_AS_TEXT, out, e)) return -1;
    return 0;
}

static int jinja_encode(tok_bundle_t *b, json_t *msgs, bool bos, bool gen_prompt, json_t *vars, unsigned flags,
                        tok_ids_t *out, size_t *prompt_len, lerr_t *e) {
    tok_str_t t = {0}, tm = {0};
    size_t start = out->n;
    int rc = render(b, msgs, bos, gen_prompt, vars, &t, &tm, e);
    if (!rc) rc = encode_rendering(b, &t, &tm, flags, out, e);
    tok_str_free(&t);
    tok_str_free(&tm);
    t = (tok_str_t){0};
    tm = (tok_str_t){0};
    if (rc || !prompt_len) return rc;
    *prompt_len = out->n - start;
    size_t n = json_array_size(msgs);
    json_t *last = n ? json_object_get(json_array_get(msgs, n - 1), "role") : NULL;
    if (!json_is_string(last) || strcmp(json_string_value(last), "assistant")) return 0;
    /* the prompt: the conversation without the answer, with the generation prompt */
    json_t *head = json_array();
    for (size_t i = 0; head && i + 1 < n; i++) json_array_append(head, json_array_get(msgs, i));
    if (!head) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    tok_ids_t p = {0};
    rc = render(b, head, bos, true, vars, &t, &tm, e);
    if (!rc) rc = encode_rendering(b, &t, &tm, flags, &p, e);
    if (!rc) {
        size_t k = 0, total = out->n - start;
        while (k < p.n && k < total && p.v[k] == out->v[start + k]) k++;
        *prompt_len = k;
    }
    tok_ids_free(&p);
    tok_str_free(&t);
    tok_str_free(&tm);
    json_decref(head);
    return rc;
}

int chat_encode_json(tok_bundle_t *b, json_t *msgs, bool bos, bool gen_prompt, json_t *vars, unsigned flags,
                     tok_ids_t *out, size_t *prompt_len, lerr_t *e) {
    if (!json_is_array(msgs)) return lerr_set(e, EXIT_DATA, "chat: \"messages\" must be an array");
    size_t n = json_array_size(msgs);
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        if (!json_is_object(m) || !json_is_string(json_object_get(m, "role")))
            return lerr_set(e, EXIT_DATA, "messages[%zu] needs a string \"role\"", i);
    }
    if (!builtin(b)) return jinja_encode(b, msgs, bos, gen_prompt, vars, flags, out, prompt_len, e);
    chat_msg_t *m = calloc(n ? n : 1, sizeof *m);
    if (!m) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(msgs, i), *ro = json_object_get(o, "role"), *co = json_object_get(o, "content");
        if (!json_is_string(co)) {
            free(m);
            return lerr_set(e, EXIT_DATA, "messages[%zu] needs string \"role\" and \"content\"", i);
        }
        m[i] =
            (chat_msg_t){json_string_value(ro), json_string_value(co), json_string_length(ro), json_string_length(co)};
    }
    int rc = llada_encode(b, m, n, bos, gen_prompt, flags, out, prompt_len, e);
    free(m);
    return rc;
}

int chat_encode(tok_bundle_t *b, const chat_msg_t *m, size_t n, bool bos, bool gen_prompt, json_t *vars, unsigned flags,
                tok_ids_t *out, size_t *prompt_len, lerr_t *e) {
    if (builtin(b)) return llada_encode(b, m, n, bos, gen_prompt, flags, out, prompt_len, e);
    json_t *msgs = json_array();
    for (size_t i = 0; msgs && i < n; i++)
        if (json_array_append_new(msgs, json_pack("{s:s%,s:s%}", "role", m[i].role, m[i].role_len, "content",
                                                  m[i].content, m[i].content_len))) {
            json_decref(msgs);
            msgs = NULL;
        }
    if (!msgs) return lerr_set(e, EXIT_DATA, "chat: a message is not valid UTF-8, or out of memory");
    int rc = jinja_encode(b, msgs, bos, gen_prompt, vars, flags, out, prompt_len, e);
    json_decref(msgs);
    return rc;
}
