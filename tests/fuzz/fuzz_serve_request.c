/* fuzz_serve_request.c — libFuzzer target for serve's request parser (serve/request.c).
 *
 * Arbitrary bytes as the body of a completions and of a chat completions request: the parser
 * must either accept them with every field inside its documented limits or refuse them with
 * a 4xx/500 OpenAI error that has a message, and never crash, leak or read out of bounds
 * (ASan + UBSan). Build: make fuzz; run: tests/e2e/serve_fuzz.sh.
 */
#include <stdlib.h>
#include <string.h>
#include "serve/request.h"

static const sreq_limits_t LIM = {
    .max_tokens = 64, .max_n = 4, .max_prompts = 4, .max_messages = 8, .max_stop_len = 16, .max_prompt_ids = 32};

static void check(const sreq_t *r) {
    if (r->n < 1 || r->n > LIM.max_n || r->max_tokens < 0 || r->max_tokens > LIM.max_tokens) abort();
    if (r->n_stop < 0 || r->n_stop > SREQ_MAX_STOP) abort();
    for (int i = 0; i < r->n_stop; i++)
        if (!r->stop[i].p || r->stop[i].n == 0 || r->stop[i].n > (size_t)LIM.max_stop_len) abort();
    if (r->kind == SREQ_COMPLETION) {
        if (r->n_prompts < 1 || r->n_prompts * r->n > LIM.max_n) abort();
        for (int i = 0; i < r->n_prompts; i++) {
            const sprompt_t *p = &r->prompts[i];
            if (p->ids) {
                if (p->n_ids < 1 || p->n_ids > (size_t)LIM.max_prompt_ids) abort();
            } else if (!p->text.p) abort();
            else if (memchr(p->text.p, 0, p->text.n)) abort(); /* no NUL inside */
        }
    } else {
        if (r->n_msgs < 1 || r->n_msgs > LIM.max_messages) abort();
        for (int i = 0; i < r->n_msgs; i++) {
            volatile size_t sum = 0; /* touch every byte: ASan checks the bounds */
            for (size_t k = 0; k < r->msgs[i].content.n; k++) sum += (unsigned char)r->msgs[i].content.p[k];
            if (!r->msgs[i].role.p || r->msgs[i].role.n == 0) abort();
        }
    }
    if (r->diff.steps < 0 || r->diff.steps > 16 * LIM.max_tokens || r->diff.block_length < 0 ||
        r->diff.block_length > LIM.max_tokens || (r->diff.has_cfg && !(r->diff.cfg >= 0 && r->diff.cfg <= 100)))
        abort();
    if (r->has_temperature && !(r->temperature >= 0 && r->temperature <= 2)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int kind = SREQ_COMPLETION; kind <= SREQ_CHAT; kind++) {
        sreq_t r;
        serr_t e = {0};
        if (sreq_parse(&r, kind, (const char *)data, size, &LIM, &e) == 0) {
            check(&r);
            sreq_free(&r);
        } else if (e.status < 400 || e.status > 500 || !e.msg[0]) {
            abort();
        }
    }
    return 0;
}
