/* request.c — OpenAI request bodies -> sreq_t (see request.h). Strings point into the jansson
 * tree, which the request owns; only chat content given as an array of text parts is
 * joined into a new string. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "request.h"

const sreq_limits_t SREQ_LIMITS_DEFAULT = {.max_tokens = 1024,
                                           .max_n = 8,
                                           .max_prompts = 8,
                                           .max_messages = 256,
                                           .max_stop_len = 256,
                                           .max_prompt_ids = 65536};

int serr_set(serr_t *err, int status, const char *type, const char *param, const char *code, const char *fmt, ...) {
    if (!err) return -1;
    err->status = status;
    snprintf(err->type, sizeof err->type, "%s", type);
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    snprintf(err->code, sizeof err->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

#define BAD(err, param, ...) serr_set(err, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

void sreq_free(sreq_t *r) {
    for (int i = 0; i < r->n_owned; i++) free(r->owned[i]);
    free(r->owned);
    if (r->prompts)
        for (int i = 0; i < r->n_prompts; i++) free(r->prompts[i].ids);
    free(r->prompts);
    free(r->msgs);
    json_decref((json_t *)r->root);
    memset(r, 0, sizeof *r);
}

static sstr_t jstr(const json_t *j) { return (sstr_t){json_string_value(j), json_string_length(j)}; }

/* Integer field in [lo, hi]; absent or null leaves *out. */
static int get_int(json_t *o, const char *key, const char *param, long long lo, long long hi, long long *out,
                   serr_t *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return BAD(err, param, "'%s' must be an integer", param);
    long long x = json_integer_value(v);
    if (x < lo || x > hi) return BAD(err, param, "'%s' is %lld; it must be in [%lld, %lld]", param, x, lo, hi);
    *out = x;
    return 0;
}

/* Number field in [lo, hi]; *has set when present and not null. */
static int get_num(json_t *o, const char *key, const char *param, double lo, double hi, bool *has, double *out,
                   serr_t *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return BAD(err, param, "'%s' must be a number", param);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) return BAD(err, param, "'%s' is %g; it must be in [%g, %g]", param, x, lo, hi);
    *out = x;
    if (has) *has = true;
    return 0;
}

static int get_bool(json_t *o, const char *key, const char *param, bool *out, serr_t *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return BAD(err, param, "'%s' must be a boolean", param);
    *out = json_is_true(v);
    return 0;
}

static int get_str(json_t *o, const char *key, const char *param, size_t max, sstr_t *out, serr_t *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return BAD(err, param, "'%s' must be a string", param);
    if (json_string_length(v) > max) return BAD(err, param, "'%s' is longer than %zu bytes", param, max);
    *out = jstr(v);
    return 0;
}

static int get_stop(sreq_t *r, json_t *o, const sreq_limits_t *lim, serr_t *err) {
    json_t *v = json_object_get(o, "stop");
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) {
        if (json_string_length(v) == 0 || json_string_length(v) > (size_t)lim->max_stop_len)
            return BAD(err, "stop", "a stop string must have 1 to %d bytes", lim->max_stop_len);
        r->stop[r->n_stop++] = jstr(v);
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) > SREQ_MAX_STOP)
        return BAD(err, "stop", "'stop' must be a string or an array of at most %d strings", SREQ_MAX_STOP);
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) > (size_t)lim->max_stop_len)
            return BAD(err, "stop", "stop[%zu] must be a string of 1 to %d bytes", i, lim->max_stop_len);
        r->stop[r->n_stop++] = jstr(s);
    }
    return 0;
}

/* Token ids of an array of integers (values checked against the vocabulary later). */
static int get_ids(json_t *a, const sreq_limits_t *lim, sprompt_t *p, serr_t *err) {
    size_t n = json_array_size(a);
    if (n == 0 || n > (size_t)lim->max_prompt_ids)
        return BAD(err, "prompt", "a prompt of token ids must have 1 to %d ids", lim->max_prompt_ids);
    if (!(p->ids = malloc(n * sizeof *p->ids))) return serr_set(err, 500, "server_error", NULL, NULL, "out of memory");
    p->n_ids = n;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
            return BAD(err, "prompt", "prompt token %zu is not a token id", i);
        p->ids[i] = (int32_t)json_integer_value(v);
    }
    return 0;
}

/* "prompt": string | [string, ...] | [int, ...] | [[int, ...], ...] */
static int get_prompts(sreq_t *r, json_t *o, const sreq_limits_t *lim, serr_t *err) {
    json_t *v = json_object_get(o, "prompt");
    if (!v) return BAD(err, "prompt", "'prompt' is required");
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    bool ids = json_is_array(v) && n > 0 && json_is_integer(json_array_get(v, 0));
    if (ids) n = 1;
    if (!json_is_string(v) && !json_is_array(v))
        return BAD(err, "prompt", "'prompt' must be a string, an array of strings or an array of token ids");
    if (n == 0 || n > (size_t)lim->max_prompts)
        return BAD(err, "prompt", "'prompt' must hold 1 to %d prompts", lim->max_prompts);
    if (!(r->prompts = calloc(n, sizeof *r->prompts)))
        return serr_set(err, 500, "server_error", NULL, NULL, "out of memory");
    r->n_prompts = (int)n;
    if (json_is_string(v)) {
        r->prompts[0].text = jstr(v);
        return 0;
    }
    if (ids) return get_ids(v, lim, &r->prompts[0], err);
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(v, i);
        if (json_is_string(p)) r->prompts[i].text = jstr(p);
        else if (json_is_array(p)) {
            if (get_ids(p, lim, &r->prompts[i], err)) return -1;
        } else return BAD(err, "prompt", "prompt[%zu] must be a string or an array of token ids", i);
    }
    return 0;
}

/* Message content: a string, null (empty) or an array of {"type":"text","text":...} parts,
 * joined with newlines. */
static int get_content(sreq_t *r, json_t *c, size_t i, sstr_t *out, serr_t *err) {
    if (!c || json_is_null(c)) {
        *out = (sstr_t){"", 0};
        return 0;
    }
    if (json_is_string(c)) {
        *out = jstr(c);
        return 0;
    }
    if (!json_is_array(c))
        return BAD(err, "messages", "messages[%zu].content must be a string or an array of text parts", i);
    size_t total = 0, np = json_array_size(c);
    for (size_t k = 0; k < np; k++) {
        json_t *part = json_array_get(c, k), *ty = json_object_get(part, "type"), *tx = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(ty) || strcmp(json_string_value(ty), "text") ||
            !json_is_string(tx))
            return BAD(err, "messages",
                       "messages[%zu].content[%zu]: only {\"type\": \"text\", \"text\": ...} parts are supported", i,
                       k);
        total += json_string_length(tx) + 1;
    }
    char *s = malloc(total + 1), **own = realloc(r->owned, (r->n_owned + 1) * sizeof *own);
    if (own) r->owned = own;
    if (!s || !own) {
        free(s);
        return serr_set(err, 500, "server_error", NULL, NULL, "out of memory");
    }
    r->owned[r->n_owned++] = s;
    size_t n = 0;
    for (size_t k = 0; k < np; k++) {
        json_t *tx = json_object_get(json_array_get(c, k), "text");
        if (k) s[n++] = '\n';
        memcpy(s + n, json_string_value(tx), json_string_length(tx));
        n += json_string_length(tx);
    }
    s[n] = 0;
    *out = (sstr_t){s, n};
    return 0;
}

static int get_messages(sreq_t *r, json_t *o, const sreq_limits_t *lim, serr_t *err) {
    json_t *v = json_object_get(o, "messages");
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > (size_t)lim->max_messages)
        return BAD(err, "messages", "'messages' must be an array of 1 to %d messages", lim->max_messages);
    size_t n = json_array_size(v);
    if (!(r->msgs = calloc(n, sizeof *r->msgs))) return serr_set(err, 500, "server_error", NULL, NULL, "out of memory");
    r->n_msgs = (int)n;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(v, i), *role = json_object_get(m, "role");
        if (!json_is_object(m) || !json_is_string(role))
            return BAD(err, "messages", "messages[%zu] must be an object with a string 'role'", i);
        const char *rs = json_string_value(role);
        if (!strcmp(rs, "developer")) r->msgs[i].role = (sstr_t){"system", 6}; /* OpenAI's newer name */
        else if (!strcmp(rs, "system") || !strcmp(rs, "user") || !strcmp(rs, "assistant")) r->msgs[i].role = jstr(role);
        else
            return BAD(err, "messages", "messages[%zu].role '%.40s' is not supported (system, user, assistant)", i, rs);
        json_t *tc = json_object_get(m, "tool_calls");
        if (tc && !json_is_null(tc) && !(json_is_array(tc) && json_array_size(tc) == 0))
            return BAD(err, "messages", "messages[%zu]: tool calls are not supported", i);
        if (get_content(r, json_object_get(m, "content"), i, &r->msgs[i].content, err)) return -1;
    }
    return 0;
}

/* Fields that would change the answer and are not implemented. */
static int refuse_unsupported(json_t *o, serr_t *err) {
    json_t *v;
    if ((v = json_object_get(o, "logprobs")) && !json_is_null(v) && !json_is_false(v) &&
        !(json_is_integer(v) && json_integer_value(v) == 0))
        return BAD(err, "logprobs", "'logprobs' is not supported");
    if ((v = json_object_get(o, "top_logprobs")) && !json_is_null(v) &&
        !(json_is_integer(v) && json_integer_value(v) == 0))
        return BAD(err, "top_logprobs", "'top_logprobs' is not supported");
    if ((v = json_object_get(o, "echo")) && json_is_true(v)) return BAD(err, "echo", "'echo' is not supported");
    if ((v = json_object_get(o, "best_of")) && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 1))
        return BAD(err, "best_of", "'best_of' other than 1 is not supported");
    if ((v = json_object_get(o, "suffix")) && !json_is_null(v)) return BAD(err, "suffix", "'suffix' is not supported");
    static const char *const lists[] = {"tools", "functions"};
    for (int i = 0; i < 2; i++)
        if ((v = json_object_get(o, lists[i])) && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0))
            return BAD(err, lists[i], "'%s' is not supported", lists[i]);
    v = json_object_get(o, "response_format");
    json_t *ty = json_object_get(v, "type");
    if (v && !json_is_null(v) && !(json_is_string(ty) && !strcmp(json_string_value(ty), "text")))
        return BAD(err, "response_format", "only response_format {\"type\": \"text\"} is supported");
    return 0;
}

static int tri(json_t *d, const char *key, const char *param, int *out, serr_t *err) {
    bool b = false;
    json_t *v = json_object_get(d, key);
    if (!v || json_is_null(v)) return 0;
    if (get_bool(d, key, param, &b, err)) return -1;
    *out = b;
    return 0;
}

static int get_diffusion(sreq_t *r, json_t *o, const sreq_limits_t *lim, serr_t *err) {
    json_t *d = json_object_get(o, "diffusion");
    r->diff.logits_eos_inf = r->diff.confidence_eos_eot_inf = r->diff.fixed_eos = -1;
    if (!d || json_is_null(d)) return 0;
    if (!json_is_object(d)) return BAD(err, "diffusion", "'diffusion' must be an object");
    static const char *const known[] = {
        "steps",          "block_length",           "remasking", "cfg",          "cache", "precision",
        "logits_eos_inf", "confidence_eos_eot_inf", "fixed_eos", "stream_steps", NULL};
    const char *key;
    json_t *val;
    json_object_foreach(d, key, val) {
        int k = 0;
        while (known[k] && strcmp(known[k], key)) k++;
        if (!known[k]) return BAD(err, "diffusion", "unknown diffusion option '%.60s'", key);
    }
    long long steps = 0, block = 0;
    if (get_int(d, "steps", "diffusion.steps", 1, 16LL * lim->max_tokens, &steps, err) ||
        get_int(d, "block_length", "diffusion.block_length", 1, lim->max_tokens, &block, err) ||
        get_str(d, "remasking", "diffusion.remasking", 64, &r->diff.remasking, err) ||
        get_num(d, "cfg", "diffusion.cfg", 0, 100, &r->diff.has_cfg, &r->diff.cfg, err) ||
        get_str(d, "cache", "diffusion.cache", 64, &r->diff.cache, err) ||
        get_str(d, "precision", "diffusion.precision", 64, &r->diff.precision, err) ||
        tri(d, "logits_eos_inf", "diffusion.logits_eos_inf", &r->diff.logits_eos_inf, err) ||
        tri(d, "confidence_eos_eot_inf", "diffusion.confidence_eos_eot_inf", &r->diff.confidence_eos_eot_inf, err) ||
        tri(d, "fixed_eos", "diffusion.fixed_eos", &r->diff.fixed_eos, err) ||
        get_bool(d, "stream_steps", "diffusion.stream_steps", &r->diff.stream_steps, err))
        return -1;
    r->diff.steps = (int)steps;
    r->diff.block_length = (int)block;
    return 0;
}

/* chat_template_kwargs (vLLM's and SGLang's name): template variables. Only booleans, numbers
 * and null: a client's string would reach the rendered text as template-made (trusted) bytes. */
static int get_tpl_kwargs(sreq_t *r, int kind, json_t *o, serr_t *err) {
    json_t *v = json_object_get(o, "chat_template_kwargs");
    if (!v || json_is_null(v)) return 0;
    if (kind != SREQ_CHAT) return BAD(err, "chat_template_kwargs", "'chat_template_kwargs' is for chat completions");
    if (!json_is_object(v) || json_object_size(v) > 32)
        return BAD(err, "chat_template_kwargs", "'chat_template_kwargs' must be an object of at most 32 entries");
    const char *key;
    json_t *x;
    json_object_foreach(v, key, x) {
        if (!(json_is_boolean(x) || json_is_number(x) || json_is_null(x)))
            return BAD(err, "chat_template_kwargs", "chat_template_kwargs.%.40s must be a boolean, a number or null",
                       key);
        if (!strcmp(key, "messages") || !strcmp(key, "bos_token") || !strcmp(key, "eos_token") ||
            !strcmp(key, "add_generation_prompt"))
            return BAD(err, "chat_template_kwargs", "chat_template_kwargs.%s is set by the server", key);
    }
    r->tpl_kwargs = v;
    return 0;
}

int sreq_parse(sreq_t *r, int kind, const char *body, size_t len, const sreq_limits_t *lim, serr_t *err) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->n = 1;
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    r->root = o;
    if (!o) {
        BAD(err, NULL, "malformed JSON at line %d column %d: %.120s", je.line, je.column, je.text);
        goto bad;
    }
    if (!json_is_object(o)) {
        BAD(err, NULL, "the request body must be a JSON object");
        goto bad;
    }
    json_t *m = json_object_get(o, "model");
    if (m && !json_is_null(m) && !json_is_string(m)) {
        BAD(err, "model", "'model' must be a string");
        goto bad;
    }
    if (json_is_string(m)) r->model = jstr(m);
    long long mt = 0, n = 1, seed = 0, mct = 0;
    json_t *so = json_object_get(o, "stream_options");
    if ((kind == SREQ_COMPLETION ? get_prompts(r, o, lim, err) : get_messages(r, o, lim, err)) ||
        get_int(o, "max_tokens", "max_tokens", 1, lim->max_tokens, &mt, err) ||
        get_int(o, "max_completion_tokens", "max_completion_tokens", 1, lim->max_tokens, &mct, err) ||
        get_int(o, "n", "n", 1, lim->max_n, &n, err) ||
        get_num(o, "temperature", "temperature", 0, 2, &r->has_temperature, &r->temperature, err) ||
        get_int(o, "seed", "seed", INT64_MIN, INT64_MAX, &seed, err) || get_stop(r, o, lim, err) ||
        get_bool(o, "stream", "stream", &r->stream, err) ||
        (so && !json_is_null(so) && !json_is_object(so) &&
         BAD(err, "stream_options", "'stream_options' must be an object")) ||
        (json_is_object(so) && get_bool(so, "include_usage", "stream_options.include_usage", &r->include_usage, err)) ||
        refuse_unsupported(o, err) || get_diffusion(r, o, lim, err) || get_tpl_kwargs(r, kind, o, err))
        goto bad;
    json_t *sv = json_object_get(o, "seed");
    r->has_seed = sv && !json_is_null(sv);
    r->seed = (uint64_t)seed;
    r->max_tokens = (int)(mct ? mct : mt);
    r->n = (int)n;
    if ((long long)r->n * (kind == SREQ_COMPLETION ? r->n_prompts : 1) > lim->max_n) {
        BAD(err, "n", "n x prompts is %lld; at most %d choices per request", (long long)r->n * r->n_prompts,
            lim->max_n);
        goto bad;
    }
    return 0;
bad:
    sreq_free(r);
    return -1;
}
