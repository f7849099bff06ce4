/* api.c — OpenAI response and chunk objects (see api.h), built with jansson. */
#include <jansson.h>
#include <string.h>
#include "api.h"
#include "sched.h"

static const char *finish_name(int f) { return f == FINISH_STOP ? "stop" : f == FINISH_LENGTH ? "length" : NULL; }

/* Append json (stolen) as `prefix` + compact JSON + `suffix`. */
static int emit(json_t *o, const char *prefix, const char *suffix, buf_t *out) {
    if (!o) return -1;
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(12));
    json_decref(o);
    int rc = !s || buf_append(out, prefix, strlen(prefix)) || buf_append(out, s, strlen(s)) ||
                     buf_append(out, suffix, strlen(suffix))
                 ? -1
                 : 0;
    free(s);
    return rc;
}

static json_t *str_or_null(const char *s) { return s && *s ? json_string(s) : json_null(); }

static json_t *error_obj(const serr_t *e) {
    return json_pack("{s:{s:s,s:s,s:o,s:o}}", "error", "message", e->msg, "type", e->type, "param",
                     str_or_null(e->param), "code", str_or_null(e->code));
}

int api_error_body(const serr_t *e, buf_t *out) { return emit(error_obj(e), "", "\n", out); }
int api_error_event(const serr_t *e, buf_t *out) { return emit(error_obj(e), "data: ", "\n\n", out); }
int api_done(buf_t *out) { return buf_append(out, "data: [DONE]\n\n", 14); }

static json_t *head(const sjob_t *j, const char *object) {
    return json_pack("{s:s,s:s,s:I,s:s}", "id", j->id, "object", object, "created", (json_int_t)j->created, "model",
                     j->model);
}

static json_t *usage(const sjob_t *j) {
    size_t c = 0;
    for (int i = 0; i < j->rows; i++) c += j->text[i].n_tokens;
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)j->prompt_tokens, "completion_tokens", (json_int_t)c,
                     "total_tokens", (json_int_t)(j->prompt_tokens + c));
}

int api_chunk(const sjob_t *j, int row, bool role, const char *delta, size_t n, int finish, buf_t *out) {
    bool chat = j->kind == SREQ_CHAT;
    json_t *o = head(j, chat ? "chat.completion.chunk" : "text_completion"), *ch = json_object();
    json_t *fr = finish_name(finish) ? json_string(finish_name(finish)) : json_null();
    json_object_set_new(ch, "index", json_integer(row));
    if (chat) {
        json_t *d = json_object();
        if (role) json_object_set_new(d, "role", json_string("assistant"));
        if (n || role) json_object_set_new(d, "content", json_stringn(delta ? delta : "", n));
        json_object_set_new(ch, "delta", d);
    } else {
        json_object_set_new(ch, "text", json_stringn(delta ? delta : "", n));
    }
    json_object_set_new(ch, "logprobs", json_null());
    json_object_set_new(ch, "finish_reason", fr);
    json_object_set_new(o, "choices", json_pack("[o]", ch));
    return emit(o, "data: ", "\n\n", out);
}

int api_usage_chunk(const sjob_t *j, buf_t *out) {
    json_t *o = head(j, j->kind == SREQ_CHAT ? "chat.completion.chunk" : "text_completion");
    json_object_set_new(o, "choices", json_array());
    json_object_set_new(o, "usage", usage(j));
    return emit(o, "data: ", "\n\n", out);
}

int api_step_event(const sjob_t *j, int row, int step, int steps, const char *text, size_t n, int masked, buf_t *out) {
    /* "object" and an empty "choices" let OpenAI clients, which yield every event, tell it apart */
    json_t *o = json_pack("{s:s,s:s,s:[],s:i,s:i,s:i,s:s%,s:i}", "id", j->id, "object", "diffusion.step", "choices",
                          "index", row, "step", step, "steps", steps, "text", text ? text : "", n, "masked", masked);
    return emit(o, "event: diffusion.step\ndata: ", "\n\n", out);
}

int api_response(const sjob_t *j, buf_t *out) {
    bool chat = j->kind == SREQ_CHAT;
    json_t *o = head(j, chat ? "chat.completion" : "text_completion"), *choices = json_array();
    for (int i = 0; i < j->rows; i++) {
        const stext_t *t = &j->text[i];
        json_t *txt = json_stringn(t->text.p ? t->text.p : "", t->text.n);
        json_t *c =
            chat ? json_pack("{s:i,s:{s:s,s:o},s:n,s:s}", "index", i, "message", "role", "assistant", "content", txt,
                             "logprobs", "finish_reason", finish_name(t->finish ? t->finish : FINISH_LENGTH))
                 : json_pack("{s:i,s:o,s:n,s:s}", "index", i, "text", txt, "logprobs", "finish_reason",
                             finish_name(t->finish ? t->finish : FINISH_LENGTH));
        json_array_append_new(choices, c);
    }
    json_object_set_new(o, "choices", choices);
    json_object_set_new(o, "usage", usage(j));
    if (j->remote)
        json_object_set_new(o, "diffusion",
                            json_pack("{s:b,s:i,s:i}", "cluster", 1, "gen_length", j->gen, "nfe", j->nfe));
    else
        json_object_set_new(o, "diffusion",
                            json_pack("{s:I,s:i,s:i,s:i,s:f,s:f,s:s,s:i}", "seed", (json_int_t)j->so.seed, "gen_length",
                                      j->gen, "steps", j->so.steps, "block_length", j->so.block_length, "temperature",
                                      j->so.temperature, "cfg", j->so.cfg_scale, "remasking", j->policy, "nfe",
                                      j->nfe));
    return emit(o, "", "\n", out);
}

int api_health(const char *model, sched_t *s, buf_t *out) {
    pthread_mutex_lock(&s->mu);
    int queued = s->queued;
    pthread_mutex_unlock(&s->mu);
    return emit(json_pack("{s:s,s:s,s:i,s:i,s:I,s:I,s:I,s:I,s:I}", "status", "ok", "model", model, "queued", queued,
                          "rows_running", atomic_load(&s->rows_running), "served", (json_int_t)atomic_load(&s->served),
                          "batches", (json_int_t)atomic_load(&s->batches), "batched_rows",
                          (json_int_t)atomic_load(&s->batched_rows), "cancelled_rows",
                          (json_int_t)atomic_load(&s->cancelled_rows), "refused", (json_int_t)atomic_load(&s->refused)),
                "", "\n", out);
}

int api_models(const char *model, long long created, bool one, buf_t *out) {
    json_t *m = json_pack("{s:s,s:s,s:I,s:s}", "id", model, "object", "model", "created", (json_int_t)created,
                          "owned_by", "llada-tools");
    return emit(one ? m : json_pack("{s:s,s:[o]}", "object", "list", "data", m), "", "\n", out);
}
