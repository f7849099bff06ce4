/* api.h — the OpenAI JSON shapes serve writes: error bodies, completion and chat completion
 * objects, their streaming chunks (Server-Sent Events), the model list, and the
 * non-standard `event: diffusion.step` event of "stream_steps". Each appends to a buf_t and
 * returns 0, or -1 when out of memory. Field-by-field description: docs/serve.md. */
#ifndef LLADA_SERVE_API_H
#define LLADA_SERVE_API_H
#include "job.h"

int api_error_body(const serr_t *e, buf_t *out);
/* data: {chunk}\n\n for choice `row`: role (chat: first chunk of the choice), text delta,
 * finish reason (FINISH_NONE: null). */
int api_chunk(const sjob_t *j, int row, bool role, const char *delta, size_t n, int finish, buf_t *out);
/* The last chunk of stream_options.include_usage: no choices, usage. */
int api_usage_chunk(const sjob_t *j, buf_t *out);
int api_error_event(const serr_t *e, buf_t *out);
int api_done(buf_t *out);
/* event: diffusion.step: the partial canvas text of one choice (masked tokens shown as
 * U+2591 each). */
int api_step_event(const sjob_t *j, int row, int step, int steps, const char *text, size_t n, int masked, buf_t *out);
/* The complete (non-streamed) response. */
int api_response(const sjob_t *j, buf_t *out);
/* GET /v1/models: the list with one model; one: GET /v1/models/ID, the model object. */
/* GET /health: status, model, and the queue's counters. */
struct sched;
int api_health(const char *model, struct sched *s, buf_t *out);
int api_models(const char *model, long long created, bool one, buf_t *out);
#endif
