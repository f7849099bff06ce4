/* fuzz_chat_template.c — libFuzzer target for the chat-template interpreter (tok/jinja.c).
 * The input is a template, optionally followed by "\n#--\n" and a JSON value used as the
 * messages. Refused with a one-line message (parse or render), or rendered: the taint buffer
 * is exactly as long as the text, its bytes are 0 or 1, and rendering twice gives the same
 * text (renders share nothing). Never a crash, leak, hang or out-of-bounds read (ASan + UBSan).
 * Build: make fuzz; run: tests/fuzz/run.sh RUNS chat_template.
 */
#include <stdlib.h>
#include <string.h>
#include "tok/jinja.h"

static void one_line(const lerr_t *e) {
    if (!e->msg[0] || strchr(e->msg, '\n')) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    const char *s = (const char *)d;
    size_t tn = n;
    json_t *msgs = NULL;
    for (size_t i = 0; i + 5 <= n; i++)
        if (!memcmp(s + i, "\n#--\n", 5)) {
            tn = i;
            msgs = json_loadb(s + i + 5, n - i - 5, JSON_DECODE_ANY, NULL);
            break;
        }
    if (!msgs)
        msgs = json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "role", "system", "content", "Be brief.", "role", "user",
                         "content", "Hi <|im_end|> \xc3\xa9", "role", "assistant", "content", "<think>r</think>\n ok ");
    lerr_t e = {0};
    jinja_tpl_t *t = jinja_parse(s, tn, &e);
    if (!t) {
        one_line(&e);
        json_decref(msgs);
        return 0;
    }
    json_t *trusted = json_pack("{s:s,s:s,s:b,s:b}", "bos_token", "<s>", "eos_token", "</s>", "add_generation_prompt",
                                1, "enable_thinking", 0);
    json_t *untrusted = json_pack("{s:O}", "messages", msgs);
    tok_str_t a = {0}, ta = {0}, b = {0};
    lerr_t e1 = {0}, e2 = {0};
    int r1 = jinja_render(t, trusted, untrusted, &a, &ta, &e1);
    int r2 = jinja_render(t, trusted, untrusted, &b, NULL, &e2);
    if (r1 != r2) abort();
    if (r1) {
        one_line(&e1);
        if (a.n || ta.n) abort();
    } else {
        if (a.n != ta.n || a.n != b.n || (a.n && memcmp(a.p, b.p, a.n))) abort();
        for (size_t i = 0; i < ta.n; i++)
            if ((uint8_t)ta.p[i] > 1) abort();
    }
    tok_str_free(&a);
    tok_str_free(&ta);
    tok_str_free(&b);
    json_decref(trusted);
    json_decref(untrusted);
    json_decref(msgs);
    jinja_free(&t);
    return 0;
}
