/* http.c — the HTTP/1.1 front of serve on libmicrohttpd: routing, API keys, request bodies
 * with a size limit, OpenAI error bodies, and the two ways a generation is answered (one
 * JSON body, or Server-Sent Events from a blocking content reader).
 *
 * Thread per connection: the connection's thread parses and tokenizes its request, submits
 * the job and then blocks in the handler (or in the stream's content reader) until the job
 * has output, looking at its socket every 100 ms so that a client that hangs up cancels its
 * rows. Endpoints: GET /health, GET /v1/models[/ID], POST /v1/completions,
 * POST /v1/chat/completions (docs/serve.md).
 */
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "http.h"
#include "api.h"

typedef struct {
    buf_t body;
    bool too_big;
} conn_t;
typedef struct {
    sjob_t *job;
    int fd;
} stream_t;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype, const void *p, size_t n,
                             const char *allow) {
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    if (status == 503) MHD_add_response_header(r, "Retry-After", "1");
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    if (allow) MHD_add_response_header(r, "Allow", allow);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, buf_t *b, const char *allow) {
    return reply(c, status, "application/json", b->data ? (const void *)b->data : "", b->len, allow);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, const serr_t *e, const char *allow) {
    buf_t b = {0};
    enum MHD_Result rc = api_error_body(e, &b) ? MHD_NO : reply_json(c, (unsigned)e->status, &b, allow);
    buf_free(&b);
    return rc;
}

static enum MHD_Result fail(struct MHD_Connection *c, int status, const char *type, const char *code, const char *allow,
                            const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static enum MHD_Result fail(struct MHD_Connection *c, int status, const char *type, const char *code, const char *allow,
                            const char *fmt, ...) {
    serr_t e;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    serr_set(&e, status, type, NULL, code, "%s", msg);
    return reply_error(c, &e, allow);
}

/* Constant-time comparison of the Bearer token against every key. */
static bool authorized(const serve_t *sv, struct MHD_Connection *c) {
    if (!sv->n_keys) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return false;
    h += 7;
    size_t n = strlen(h);
    bool ok = false;
    for (int i = 0; i < sv->n_keys; i++) {
        size_t m = strlen(sv->keys[i]);
        unsigned char d = n != m;
        for (size_t k = 0; k < m; k++) d |= (unsigned char)(sv->keys[i][k] ^ (k < n ? h[k] : 0));
        ok |= d == 0;
    }
    return ok;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_t *s = cls;
    ssize_t n = job_read(s->job, s->fd, buf, max);
    return n > 0 ? n : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls) {
    stream_t *s = cls;
    pthread_mutex_lock(&s->job->mu);
    if (!s->job->done) atomic_store(&s->job->cancelled, 1); /* the connection ended early */
    pthread_mutex_unlock(&s->job->mu);
    job_unref(&s->job);
    free(s);
}

static int conn_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

static enum MHD_Result generate(serve_t *sv, struct MHD_Connection *c, int kind, conn_t *cc) {
    serr_t err = {0};
    sreq_t r;
    if (sreq_parse(&r, kind, (const char *)cc->body.data, cc->body.len, &sv->lim, &err))
        return reply_error(c, &err, NULL);
    sjob_t *j = serve_job_from_request(sv, &r, &err);
    sreq_free(&r);
    if (!j) return reply_error(c, &err, NULL);
    if (sched_submit(&sv->sched, j)) {
        job_unref(&j);
        return fail(c, 503, "server_error", "queue_full", NULL, "the server is busy (queue full); retry later");
    }
    int fd = conn_fd(c);
    if (j->stream) {
        stream_t *s = malloc(sizeof *s);
        struct MHD_Response *resp =
            s ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, s, stream_free) : NULL;
        if (!resp) {
            free(s);
            atomic_store(&j->cancelled, 1);
            job_unref(&j);
            return MHD_NO;
        }
        *s = (stream_t){j, fd};
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        enum MHD_Result rc = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        return rc;
    }
    if (job_wait(j, fd)) { /* the client went away: its rows are dropped */
        job_unref(&j);
        return MHD_NO;
    }
    enum MHD_Result rc = j->err.status ? reply_error(c, &j->err, NULL) : reply_json(c, 200, &j->out, NULL);
    job_unref(&j);
    return rc;
}

static enum MHD_Result health(serve_t *sv, struct MHD_Connection *c) {
    buf_t b = {0};
    enum MHD_Result rc = api_health(sv->model_id, &sv->sched, &b) ? MHD_NO : reply_json(c, 200, &b, NULL);
    buf_free(&b);
    return rc;
}

static enum MHD_Result models(serve_t *sv, struct MHD_Connection *c, const char *id) {
    if (id && strcmp(id, sv->model_id))
        return fail(c, 404, "invalid_request_error", "model_not_found", NULL, "the model '%.80s' does not exist", id);
    buf_t b = {0};
    enum MHD_Result rc = api_models(sv->model_id, sv->started, id != NULL, &b) ? MHD_NO : reply_json(c, 200, &b, NULL);
    buf_free(&b);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    serve_t *sv = cls;
    bool post = !strcmp(method, "POST"), get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int kind = !strcmp(url, "/v1/completions")        ? SREQ_COMPLETION
               : !strcmp(url, "/v1/chat/completions") ? SREQ_CHAT
                                                      : -1;
    conn_t *cc = *con_cls;
    if (!cc) { /* first call: headers only */
        if (!(cc = calloc(1, sizeof *cc))) return MHD_NO;
        *con_cls = cc;
        if (post && kind >= 0) {
            const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
            if (!authorized(sv, c))
                return fail(c, 401, "invalid_request_error", "invalid_api_key", NULL, "missing or wrong API key");
            if (cl && strtoull(cl, NULL, 10) > sv->max_body)
                return fail(c, 413, "invalid_request_error", NULL, NULL, "the request body is larger than %zu bytes",
                            sv->max_body);
            return MHD_YES;
        }
    }
    if (*upload_size) { /* more of the body */
        if (!cc->too_big && cc->body.len + *upload_size > sv->max_body) {
            cc->too_big = true;
            buf_free(&cc->body);
        }
        if (!cc->too_big && buf_append(&cc->body, upload, *upload_size)) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (!strcmp(url, "/health"))
        return get ? health(sv, c) : fail(c, 405, "invalid_request_error", NULL, "GET", "use GET for %s", url);
    bool is_models = !strcmp(url, "/v1/models") || !strncmp(url, "/v1/models/", 11);
    if (kind < 0 && !is_models)
        return fail(c, 404, "invalid_request_error", NULL, NULL, "unknown endpoint %.80s %.200s", method, url);
    if (!authorized(sv, c))
        return fail(c, 401, "invalid_request_error", "invalid_api_key", NULL, "missing or wrong API key");
    if (is_models)
        return get ? models(sv, c, url[10] ? url + 11 : NULL)
                   : fail(c, 405, "invalid_request_error", NULL, "GET", "use GET for %s", url);
    if (!post) return fail(c, 405, "invalid_request_error", NULL, "POST", "use POST for %s", url);
    if (cc->too_big)
        return fail(c, 413, "invalid_request_error", NULL, NULL, "the request body is larger than %zu bytes",
                    sv->max_body);
    return generate(sv, c, kind, cc);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    conn_t *cc = *con_cls;
    if (cc) {
        buf_free(&cc->body);
        free(cc);
    }
    *con_cls = NULL;
}

static void on_log(void *cls, const char *fmt, va_list ap) {
    if (*(const bool *)cls) return;
    fputs("serve: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

struct MHD_Daemon *serve_http_start(serve_t *sv, const char *listen, int max_conn, const bool *quiet, int *port,
                                    lerr_t *e) {
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon) return lerr_set(e, EXIT_USAGE, "--listen wants HOST:PORT, got '%s'", listen), NULL;
    size_t hl = (size_t)(colon - listen);
    if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
        listen++;
        hl -= 2;
    }
    if (hl >= sizeof host) return lerr_set(e, EXIT_USAGE, "--listen: host too long"), NULL;
    memcpy(host, listen, hl);
    host[hl] = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV},
                    *ai = NULL;
    int gr = getaddrinfo(hl ? host : "127.0.0.1", colon + 1, &hints, &ai);
    if (gr) return lerr_set(e, EXIT_USAGE, "--listen %s: %s", listen, gai_strerror(gr)), NULL;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                     (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, sv, MHD_OPTION_EXTERNAL_LOGGER, on_log, (void *)quiet, MHD_OPTION_SOCK_ADDR,
        ai->ai_addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conn,
        MHD_OPTION_CONNECTION_TIMEOUT, 600u, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) return lerr_set(e, EXIT_IO, "cannot listen on %s (address in use or not available)", listen), NULL;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = di ? di->port : 0;
    return d;
}
