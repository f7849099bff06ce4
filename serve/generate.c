/* generate.c — a parsed request becomes a job: the model name is checked, the sampler
 * options are resolved, the prompts are tokenized (chat: the model's chat template).
 *
 * Option precedence, as denoise (issue 11): the request's values stand where denoise's
 * command line does, above the model folder's generation_config.json, above the official
 * defaults (steps = block_length = generation length, temperature 0, the model's official
 * remasking as denoise's so_model_policy, else low_confidence),
 * resolved by denoise/options.c's so_resolve, the one resolver denoise and its cluster
 * workers use; its messages name the request's fields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "serve.h"
#include "tok/chat.h"

#define BAD(err, param, ...) serr_set(err, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

static uint64_t random_seed(void) {
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, 0) != sizeof s) s = (uint64_t)time(NULL) ^ (uint64_t)clock();
    return s & INT64_MAX; /* reported back as a JSON integer */
}

/* A cluster front forwards the request's sampler options with each row (remote.c; the worker
 * resolves them above its command line); what a worker cannot do per request is refused. */
static int refuse_remote_options(const sreq_t *r, serr_t *err) {
    const char *p = r->diff.stream_steps ? "diffusion.stream_steps" : r->diff.cache.p ? "diffusion.cache" : NULL;
    if (!p) return 0;
    return BAD(err, p, "'%s' cannot be set on a server fronting a cluster: %s (docs/serve.md)", p,
               r->diff.stream_steps ? "a worker answers each choice whole"
                                    : "the KV cache is the workers' command line");
}

static int resolve(serve_t *sv, const sreq_t *r, sjob_t *j, serr_t *err) {
    static const char *const names[SO__N] = {[SO_GEN] = "max_tokens",
                                             [SO_STEPS] = "diffusion.steps",
                                             [SO_BLOCK] = "diffusion.block_length",
                                             [SO_TEMP] = "temperature"};
    sampler_opts_t *o = &j->so;
    if (sv->m == NULL && refuse_remote_options(r, err)) return -1;
    so_spec_t s;
    so_spec_init(&s);
    s.gc = sv->gc;
    s.names = names;
    s.cli.gen_length = r->max_tokens ? r->max_tokens : sv->default_gen;
    s.set[SO_GEN] = true;
    if (r->diff.steps) {
        s.cli.steps = r->diff.steps;
        s.set[SO_STEPS] = true;
    }
    if (r->diff.block_length) {
        s.cli.block_length = r->diff.block_length;
        s.set[SO_BLOCK] = true;
    }
    if (r->has_temperature) {
        s.cli.temperature = r->temperature;
        s.set[SO_TEMP] = true;
    }
    s.cli.cfg_scale = r->diff.has_cfg ? r->diff.cfg : 0;
    s.cli.logits_eos_inf = r->diff.logits_eos_inf == 1;
    s.cli.conf_eos_eot_inf = r->diff.confidence_eos_eot_inf == 1;
    s.cli.fixed_eos = r->diff.fixed_eos == 1;
    s.cli.seed = r->has_seed ? r->seed : random_seed();
    s.cli.backend = sv->m ? denoise_device_backend(&sv->dev) : NULL;
    if (r->diff.precision.p) /* the GEMM precision is the loaded model's, not a request's */
        return BAD(err, "diffusion.precision", "diffusion.precision is not a per-request option");
    if (r->diff.cache.p) { /* KV cache (docs/denoise.md): CPU only, as the rows drop between steps */
        const char *c = r->diff.cache.p;
        size_t n = r->diff.cache.n;
        s.cli.cache = n == 4 && !memcmp(c, "none", 4)     ? SAMPLER_CACHE_NONE
                      : n == 6 && !memcmp(c, "prefix", 6) ? SAMPLER_CACHE_PREFIX
                      : n == 4 && !memcmp(c, "dual", 4)   ? SAMPLER_CACHE_DUAL
                                                          : -1;
        if (s.cli.cache < 0) return BAD(err, "diffusion.cache", "diffusion.cache must be none, prefix or dual");
        if (s.cli.cache && s.cli.backend)
            return BAD(err, "diffusion.cache", "diffusion.cache prefix/dual runs on the CPU; this server uses a GPU");
    }
    so_resolved_t res;
    lerr_t e = {0};
    int bad = so_resolve(&s, 0, &res, &e);
    *o = res.so;
    j->gen = o->gen_length;
    if (r->diff.remasking.p)
        snprintf(j->policy, sizeof j->policy, "%.*s", (int)r->diff.remasking.n, r->diff.remasking.p);
    else if (!so_model_policy(&sv->gc, sv->m, j->policy, sizeof j->policy)) /* as denoise without --remasking */
        snprintf(j->policy, sizeof j->policy, "low_confidence");
    lerr_t pe = {0};
    rm_policy_t *p = rm_policy_new(j->policy, &pe);
    if (!p) return BAD(err, "diffusion.remasking", "%s", pe.msg);
    rm_policy_destroy(&p);
    if (bad) return BAD(err, "diffusion", "%s", e.msg);
    j->fwd.steps = r->diff.steps > 0;
    j->fwd.block = r->diff.block_length > 0;
    j->fwd.temp = r->has_temperature;
    j->fwd.seed = r->has_seed;
    j->fwd.cfg = r->diff.has_cfg;
    j->fwd.policy = r->diff.remasking.p != NULL;
    j->fwd.leos = r->diff.logits_eos_inf >= 0;
    j->fwd.ceos = r->diff.confidence_eos_eot_inf >= 0;
    j->fwd.feos = r->diff.fixed_eos >= 0;
    return 0;
}

/* Tokenize prompt i of the request into j->prompt[i]. Under tok_mu. */
static int encode_prompt(serve_t *sv, const sreq_t *r, int i, sjob_t *j, serr_t *err) {
    tok_ids_t ids = {0};
    lerr_t e = {0};
    int rc = 0;
    if (r->kind == SREQ_CHAT) {
        chat_msg_t *m = calloc((size_t)r->n_msgs, sizeof *m);
        if (!m) return serr_set(err, 500, "server_error", NULL, NULL, "out of memory");
        for (int k = 0; k < r->n_msgs; k++)
            m[k] = (chat_msg_t){r->msgs[k].role.p, r->msgs[k].content.p, r->msgs[k].role.n, r->msgs[k].content.n};
        /* message text is untrusted: special-token text in it stays text (tok --chat -p) */
        rc = chat_encode(sv->b, m, (size_t)r->n_msgs, true, true, r->tpl_kwargs, TOK_SPECIAL_AS_TEXT, &ids, NULL, &e);
        free(m);
    } else if (r->prompts[i].ids) {
        for (size_t k = 0; k < r->prompts[i].n_ids && !rc; k++)
            if (r->prompts[i].ids[k] >= sv->vocab)
                rc = lerr_set(&e, EXIT_DATA, "prompt token %zu: id %d is outside the vocabulary [0, %d)", k,
                              r->prompts[i].ids[k], sv->vocab);
            else if (tok_ids_push(&ids, r->prompts[i].ids[k])) rc = lerr_set(&e, EXIT_INTERNAL, "out of memory");
    } else {
        /* the completions prompt is raw model input, encoded as `tok` does by default */
        rc = tok_encode(sv->b->tok, r->prompts[i].text.p, r->prompts[i].text.n, TOK_ADD_SPECIAL, &ids, &e);
    }
    if (!rc && ids.n == 0) rc = lerr_set(&e, EXIT_DATA, "the prompt is empty after tokenization");
    if (!rc && ids.n > (size_t)sv->max_prompt)
        rc =
            lerr_set(&e, EXIT_DATA, "the prompt has %zu tokens; this server accepts at most %d", ids.n, sv->max_prompt);
    if (rc) {
        tok_ids_free(&ids);
        return e.code == EXIT_INTERNAL ? serr_set(err, 500, "server_error", NULL, NULL, "%s", e.msg)
                                       : BAD(err, r->kind == SREQ_CHAT ? "messages" : "prompt", "%s", e.msg);
    }
    j->prompt[i] = ids.v;
    j->prompt_len[i] = (int)ids.n;
    j->prompt_tokens += ids.n;
    return 0;
}

sjob_t *serve_job_from_request(serve_t *sv, const sreq_t *r, serr_t *err) {
    if (r->model.p && (r->model.n != strlen(sv->model_id) || memcmp(r->model.p, sv->model_id, r->model.n))) {
        serr_set(err, 404, "invalid_request_error", "model", "model_not_found",
                 "the model '%.*s' does not exist; this server has '%s'", (int)(r->model.n > 80 ? 80 : r->model.n),
                 r->model.p, sv->model_id);
        return NULL;
    }
    sjob_t *j = job_new();
    if (!j) {
        serr_set(err, 500, "server_error", NULL, NULL, "out of memory");
        return NULL;
    }
    j->kind = r->kind;
    j->stream = r->stream;
    j->include_usage = r->include_usage;
    j->stream_steps = r->stream && r->diff.stream_steps;
    j->n = r->n;
    j->n_prompts = r->kind == SREQ_CHAT ? 1 : r->n_prompts;
    j->rows = j->n_prompts * j->n;
    j->created = (long long)time(NULL);
    j->mask_id = sv->mask_id;
    j->remote = sv->m == NULL;
    uint64_t idr = random_seed();
    snprintf(j->id, sizeof j->id, "%s-%016llx", r->kind == SREQ_CHAT ? "chatcmpl" : "cmpl", (unsigned long long)idr);
    snprintf(j->model, sizeof j->model, "%s", sv->model_id);
    j->prompt = calloc((size_t)j->n_prompts, sizeof *j->prompt);
    j->prompt_len = calloc((size_t)j->n_prompts, sizeof *j->prompt_len);
    if (!j->prompt || !j->prompt_len || job_set_stop(j, r->stop, r->n_stop)) {
        serr_set(err, 500, "server_error", NULL, NULL, "out of memory");
        goto bad;
    }
    if (resolve(sv, r, j, err)) goto bad;
    pthread_mutex_lock(&sv->tok_mu);
    int rc = 0;
    for (int i = 0; i < j->n_prompts && !rc; i++) rc = encode_prompt(sv, r, i, j, err);
    pthread_mutex_unlock(&sv->tok_mu);
    if (rc) goto bad;
    if (job_begin(j)) {
        serr_set(err, 500, "server_error", NULL, NULL, "out of memory");
        goto bad;
    }
    return j;
bad:
    job_unref(&j);
    return NULL;
}
