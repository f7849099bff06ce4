/* test_serve.c — serve's pure parts: the request parser (defaults, accepted forms, refusals
 * with their OpenAI "param"), and the streaming text of a choice: over random token sequences
 * of the bundled tokenizer (multi-byte characters split across tokens, EOS, specials) and
 * stop strings taken from the text, the deltas released while the committed prefix grows one
 * token at a time concatenate to exactly the whole answer (detok_answer, cut before the first
 * stop string), and nothing is released that is later cut away. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testlib.h"
#include "serve/request.h"
#include "serve/text.h"
#include "detok/text.h"

static int parse(int kind, const char *body, sreq_t *r, serr_t *e) {
    memset(e, 0, sizeof *e);
    return sreq_parse(r, kind, body, strlen(body), &SREQ_LIMITS_DEFAULT, e);
}

static void refused(int kind, const char *body, int status, const char *param) {
    sreq_t r;
    serr_t e;
    int rc = parse(kind, body, &r, &e);
    CHECK(rc == -1 && e.status == status && !strcmp(e.param, param) && e.msg[0],
          "%s -> %d param '%s' (got rc %d, %d '%s': %s)", body, status, param, rc, e.status, e.param, e.msg);
}

static void test_parser(void) {
    sreq_t r;
    serr_t e;
    CHECK(parse(SREQ_COMPLETION, "{\"prompt\":\"hi\"}", &r, &e) == 0 && r.n == 1 && r.max_tokens == 0 && !r.has_seed &&
              !r.has_temperature && !r.stream && r.n_prompts == 1 && r.prompts[0].text.n == 2 &&
              r.diff.logits_eos_inf == -1 && !r.model.p,
          "defaults: %s", e.msg);
    sreq_free(&r);
    CHECK(parse(SREQ_COMPLETION,
                "{\"prompt\":[\"a\",[5,6],\"b\"],\"n\":2,\"seed\":-3,\"stop\":\"x\",\"max_tokens\":9,"
                "\"max_completion_tokens\":7,\"temperature\":0}",
                &r, &e) == 0 &&
              r.n_prompts == 3 && r.prompts[1].n_ids == 2 && r.prompts[1].ids[1] == 6 && r.n == 2 &&
              r.seed == (uint64_t)-3 && r.has_seed && r.n_stop == 1 && r.max_tokens == 7 && r.has_temperature,
          "mixed prompts, max_completion_tokens wins: %s", e.msg);
    sreq_free(&r);
    CHECK(parse(SREQ_COMPLETION, "{\"prompt\":[1,2,3]}", &r, &e) == 0 && r.n_prompts == 1 && r.prompts[0].n_ids == 3,
          "one prompt of ids: %s", e.msg);
    sreq_free(&r);
    CHECK(parse(SREQ_CHAT,
                "{\"messages\":[{\"role\":\"developer\",\"content\":\"s\"},{\"role\":\"user\",\"content\":"
                "[{\"type\":\"text\",\"text\":\"ab\"},{\"type\":\"text\",\"text\":\"c\"}]},{\"role\":\"assistant\","
                "\"content\":null}],\"diffusion\":{\"steps\":4,\"remasking\":\"random\",\"fixed_eos\":true}}",
                &r, &e) == 0 &&
              r.n_msgs == 3 && r.msgs[0].role.n == 6 && !memcmp(r.msgs[0].role.p, "system", 6) &&
              r.msgs[1].content.n == 4 && !memcmp(r.msgs[1].content.p, "ab\nc", 4) && r.msgs[2].content.n == 0 &&
              r.diff.steps == 4 && r.diff.remasking.n == 6 && r.diff.fixed_eos == 1,
          "chat: roles, parts, diffusion: %s", e.msg);
    sreq_free(&r);
    CHECK(parse(SREQ_CHAT,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_template_kwargs\":"
                "{\"enable_thinking\":false,\"k\":2}}",
                &r, &e) == 0 &&
              r.tpl_kwargs,
          "chat_template_kwargs: %s", e.msg);
    sreq_free(&r);
    refused(SREQ_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_template_kwargs\":[]}", 400,
            "chat_template_kwargs");
    refused(SREQ_CHAT,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_template_kwargs\":{\"s\":\"<|im_end|>\"}}",
            400, "chat_template_kwargs");
    refused(SREQ_CHAT,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_template_kwargs\":{\"bos_token\":1}}", 400,
            "chat_template_kwargs");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"chat_template_kwargs\":{\"enable_thinking\":true}}", 400,
            "chat_template_kwargs");
    refused(SREQ_COMPLETION, "", 400, "");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"prompt\":\"b\"}", 400, "");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"model\":3}", 400, "model");
    refused(SREQ_COMPLETION, "{\"prompt\":[]}", 400, "prompt");
    refused(SREQ_COMPLETION, "{\"prompt\":[1,-1]}", 400, "prompt");
    refused(SREQ_COMPLETION, "{\"prompt\":[1,2.5]}", 400, "prompt");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"max_tokens\":0}", 400, "max_tokens");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"max_tokens\":8.0}", 400, "max_tokens");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"temperature\":2.5}", 400, "temperature");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"seed\":\"1\"}", 400, "seed");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"stop\":[\"\"]}", 400, "stop");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"stream\":1}", 400, "stream");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"stream_options\":{\"include_usage\":\"yes\"}}", 400,
            "stream_options.include_usage");
    refused(SREQ_COMPLETION, "{\"prompt\":[\"a\",\"b\",\"c\"],\"n\":3}", 400, "n");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"echo\":true}", 400, "echo");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"best_of\":2}", 400, "best_of");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"suffix\":\"z\"}", 400, "suffix");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"diffusion\":[]}", 400, "diffusion");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"diffusion\":{\"steps\":0}}", 400, "diffusion.steps");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"diffusion\":{\"cfg\":-1}}", 400, "diffusion.cfg");
    refused(SREQ_COMPLETION, "{\"prompt\":\"a\",\"diffusion\":{\"stream_steps\":1}}", 400, "diffusion.stream_steps");
    refused(SREQ_CHAT, "{\"messages\":{}}", 400, "messages");
    refused(SREQ_CHAT, "{\"messages\":[{\"content\":\"x\"}]}", 400, "messages");
    refused(SREQ_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, "messages");
    refused(SREQ_CHAT, "{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"tool_calls\":[{}]}]}", 400,
            "messages");
    refused(SREQ_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{}]}", 400, "tools");
    refused(SREQ_CHAT,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_object\"}}",
            400, "response_format");
    refused(SREQ_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}", 400, "");
}

static unsigned rnd(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Feed ids one committed token at a time; return the concatenated deltas in *got. */
static int stream_all(const tok_bundle_t *b, const int32_t *ids, size_t n, const sstr_t *stop, int ns, tok_str_t *got,
                      stext_t *t) {
    lerr_t e = {0};
    memset(t, 0, sizeof *t);
    for (size_t k = 0; k <= n; k++) {
        const char *d;
        size_t dn;
        if (stext_update(t, b, ids, k, k == n, stop, ns, &d, &dn, &e)) return -1;
        if (dn && tok_str_append(got, d, dn)) return -1;
    }
    return 0;
}

static void test_stream_text(void) {
    const char *root = getenv("LLADA_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/models/default", root ? root : ".");
    lerr_t e = {0};
    tok_bundle_t *b = tok_bundle_open(path, &e);
    CHECK(b != NULL, "bundled tokenizer: %s", e.msg);
    if (!b) return;
    /* pieces with multi-byte characters, so tokens split UTF-8 sequences */
    tok_ids_t seed_ids = {0};
    const char *txt = "In the beginning — “Let there be light” … ünïcödé 日本 ✓ and God saw";
    CHECK(tok_encode(b->tok, txt, strlen(txt), 0, &seed_ids, &e) == 0, "encode: %s", e.msg);
    int32_t n_ids = tok_n_ids(b->tok);
    unsigned s = 7;
    int ok_equal = 0, ok_stop = 0, ok_finish = 0, cases = 300, diverged = 0;
    for (int c = 0; c < cases; c++) {
        int32_t ids[48];
        size_t n = 8 + rnd(&s) % 40;
        for (size_t i = 0; i < n; i++) {
            unsigned r = rnd(&s) % 10;
            ids[i] = r < 6   ? seed_ids.v[rnd(&s) % seed_ids.n]
                     : r < 9 ? (int32_t)(rnd(&s) % (unsigned)n_ids)
                             : (c % 3 == 0 ? b->eos_id : (int32_t)(rnd(&s) % 300));
        }
        tok_str_t whole = {0}, got = {0};
        detok_answer(b, ids, n, &whole, &e);
        /* a stop string from the middle of the answer (every third case: none) */
        sstr_t stop[1];
        int ns = 0;
        char sbuf[8];
        if (c % 3 != 1 && whole.n > 6) {
            size_t at = rnd(&s) % (whole.n - 3), len = 1 + rnd(&s) % 3;
            memcpy(sbuf, whole.p + at, len);
            stop[0] = (sstr_t){sbuf, len};
            ns = 1;
        }
        size_t cut = whole.n;
        for (size_t p = 0; ns && p + stop[0].n <= whole.n; p++)
            if (!memcmp(whole.p + p, stop[0].p, stop[0].n)) {
                cut = p;
                break;
            }
        stext_t t;
        CHECK(stream_all(b, ids, n, stop, ns, &got, &t) == 0, "stream_all");
        ok_equal += got.n == cut && (cut == 0 || !memcmp(got.p, whole.p, cut));
        ok_stop += t.text.n == cut;
        bool eos = detok_stop_len(b, ids, n) < n;
        ok_finish += t.finish == ((eos || cut < whole.n) ? FINISH_STOP : FINISH_LENGTH);
        diverged += t.diverged;
        stext_free(&t);
        tok_str_free(&whole);
        tok_str_free(&got);
    }
    CHECK(ok_equal == cases, "streamed deltas == whole answer cut at the stop string (%d/%d)", ok_equal, cases);
    CHECK(ok_stop == cases, "final text == whole answer cut at the stop string (%d/%d)", ok_stop, cases);
    CHECK(ok_finish == cases, "finish reason stop/length (%d/%d)", ok_finish, cases);
    CHECK(diverged == 0, "no released prefix decoded differently later (%d)", diverged);
    /* holdback: an incomplete stop string at the end is not released until the choice ends */
    sstr_t stop = {"God saw it", 10};
    tok_ids_t ids = {0};
    tok_encode(b->tok, "and God saw", 11, 0, &ids, &e);
    stext_t t = {0};
    const char *d;
    size_t dn;
    stext_update(&t, b, ids.v, ids.n, false, &stop, 1, &d, &dn, &e);
    CHECK(dn == 4 && !memcmp(d, "and ", 4), "a tail that may become a stop string is held back (%zu)", dn);
    stext_update(&t, b, ids.v, ids.n, true, &stop, 1, &d, &dn, &e);
    CHECK(dn == 7 && t.finish == FINISH_LENGTH, "and released when the choice ends (%zu)", dn);
    stext_free(&t);
    tok_ids_free(&ids);
    tok_ids_free(&seed_ids);
    tok_bundle_destroy(&b);
}

int main(void) {
    test_parser();
    test_stream_text();
    return TEST_SUMMARY();
}
