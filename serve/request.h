/* request.h — the body of an OpenAI completions / chat completions request, parsed and
 * checked into a plain struct before anything touches the model.
 *
 * Pure (no model, no tokenizer, no I/O) so that tests/fuzz/fuzz_serve_request.c can throw
 * arbitrary bytes at it. Every field the server understands is type-checked and
 * range-checked here; a bad request gets an OpenAI-style error (HTTP status, type, param,
 * message), never a crash. Fields that change the output and are not implemented
 * (logprobs, echo, best_of > 1, suffix, tools, non-text content parts) are refused by name;
 * fields with no effect on a diffusion sampler (top_p, penalties, user, ...) are ignored.
 * The non-standard "diffusion" object (openai clients: extra_body={"diffusion": {...}})
 * holds the sampler options; unknown keys in it are errors. Field list: docs/serve.md.
 */
#ifndef LLADA_SERVE_REQUEST_H
#define LLADA_SERVE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { SREQ_COMPLETION, SREQ_CHAT };
enum { SREQ_MAX_STOP = 4 };

/* An OpenAI error: HTTP status, "type", "param" (empty: null), "code" (empty: null), message. */
typedef struct {
    int status;
    char type[32], param[64], code[32], msg[256];
} serr_t;
/* Fill err; returns -1. */
int serr_set(serr_t *err, int status, const char *type, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

typedef struct {
    const char *p;
    size_t n;
} sstr_t;

/* One prompt of a completions request: text, or token ids (checked against the vocabulary
 * by the server, which knows it). */
typedef struct {
    sstr_t text;
    int32_t *ids; /* NULL for text */
    size_t n_ids;
} sprompt_t;

typedef struct {
    sstr_t role, content;
} smsg_t;

typedef struct {
    int max_tokens; /* upper limit for max_tokens (and steps: 16 x it) */
    int max_n;      /* n x prompts (rows of one request) */
    int max_prompts;
    int max_messages;
    int max_stop_len;   /* bytes per stop string */
    int max_prompt_ids; /* token ids in one prompt given as ids */
} sreq_limits_t;
extern const sreq_limits_t SREQ_LIMITS_DEFAULT;

typedef struct {
    int kind;     /* SREQ_COMPLETION / SREQ_CHAT */
    sstr_t model; /* p == NULL: not given */
    sprompt_t *prompts;
    int n_prompts; /* completions */
    smsg_t *msgs;
    int n_msgs;     /* chat */
    int max_tokens; /* 0: not given */
    int n;          /* choices per prompt (default 1) */
    bool has_temperature;
    double temperature;
    bool has_seed;
    uint64_t seed;
    sstr_t stop[SREQ_MAX_STOP];
    int n_stop;
    bool stream, include_usage;
    struct { /* "diffusion": 0 / NULL / -1 = not given */
        int steps, block_length;
        sstr_t remasking;
        bool has_cfg;
        double cfg;
        int logits_eos_inf, confidence_eos_eot_inf, fixed_eos; /* -1, 0, 1 */
        sstr_t cache, precision;                               /* accepted as strings; the server decides */
        bool stream_steps;
    } diff;
    void *tpl_kwargs; /* chat: "chat_template_kwargs" (json_t object of booleans /
                                        numbers, borrowed from root), template variables such as
                                        enable_thinking; NULL when absent */
    void *root;       /* owns every string above (json_t) */
    char **owned;
    int n_owned; /* joined content parts */
} sreq_t;

/* Parse body[0..len) as a request of `kind`. 0, or -1 with err (4xx) and *r freed. */
int sreq_parse(sreq_t *r, int kind, const char *body, size_t len, const sreq_limits_t *lim, serr_t *err);
void sreq_free(sreq_t *r);

#endif
