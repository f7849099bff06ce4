/* client.c — the client stage of distributed generation, `denoise --remote tcp://broker:5555`:
 * reads records like denoise, sends each to the broker tagged with its input position,
 * keeps at most --window requests in flight, and writes the results in input order (a
 * reorder buffer of window entries), so `tok | denoise --remote EP | detok` behaves like
 * the local pipeline. A duplicate answer (impossible by the broker's rules, but cheap to
 * guard) is ignored; an error answer ends the stage with its exit code; a broker silent
 * for --timeout while answers are due is EXIT_PEER. Also: the option parsing of client.h
 * and the --policy-endpoint policy.
 * Every failure after the output is open (error answer, silent broker, bad result, bad
 * input) first writes the results already complete in input order, up to the first missing
 * one, then ends the output with an error record instead of the end record (wstream_fail), so
 * downstream gets what was computed and can tell an incomplete stream from an empty one.
 * Input is read only while the window has room, so an interactive producer sees an
 * answer once its next record arrives or its input ends (pipelines are unaffected).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "dist.h"
#include "remask/remote.h"
#include "net_curve.h"
#include "net.h"

int dist_option(dist_opts_t *d, const cli_t *cli, int opt, const char *arg) {
    bool ok = true;
    switch (opt) {
    case DIST_OPT_PEP: d->policy_endpoint = arg; return 1;
    case DIST_OPT_BROKER: d->broker = arg; return 1;
    case DIST_OPT_BACKEND: d->backend = arg; return 1;
    case DIST_OPT_WORKER: d->worker = arg; return 1;
    case DIST_OPT_REMOTE: d->remote = arg; return 1;
    case DIST_OPT_KEY: d->key = arg; return 1;
    case DIST_OPT_SKEY: d->server_key = arg; return 1;
    case DIST_OPT_ALLOW: d->allow = arg; return 1;
    case DIST_OPT_HB: d->heartbeat_ms = (int)cli_parse_int(arg, 10, 600000, &ok); break;
    case DIST_OPT_WINDOW: d->window = (int)cli_parse_int(arg, 1, 1000, &ok); break; /* <= ZeroMQ's HWM */
    case DIST_OPT_QUEUE: d->queue = (int)cli_parse_int(arg, 1, 1 << 20, &ok); break;
    case DIST_OPT_REQTO: d->request_timeout_ms = cli_parse_int(arg, 1, 86400000LL * 7, &ok); break;
    default: return 0;
    }
    if (!ok) cli_usage_error(cli, "bad value '%s' for a cluster option", arg);
    return 1;
}

rm_policy_t *dist_remote_policy(const dist_opts_t *d, const cli_t *cli) {
    rm_remote_opts_t ro = {.endpoint = d->policy_endpoint,
                           .policy = NULL,
                           .timeout_ms = cli->sopts.timeout_ms,
                           .key_file = d->key,
                           .server_key = d->server_key};
    lerr_t e = {0};
    rm_policy_t *p = rm_remote_new(&ro, &e);
    if (!p) cli_die(cli, &e);
    return p;
}

typedef struct {
    const dist_opts_t *d;
    cli_t *cli;
    void *ctx, *sock;
    rec_t **slot; /* [window] results waiting for their turn, by seq % window */
    int window;
    uint64_t next_out, sent;
    long long last_in;
    wstream_t *w;
    buf_t buf;
    net_hsmon_t *hs; /* handshake failures with the broker (authentication) */
} client_t;

static void write_ready(client_t *c);

/* Exit with `code` after writing what is complete and an error record (see the top). */
__attribute__((noreturn, format(printf, 3, 4))) static void client_die(client_t *c, int code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->w) {
        lerr_t e = {0};
        if (code != EXIT_IO) write_ready(c); /* an output error: writing more would fail too */
        if (code == EXIT_IO) wstream_abort(&c->w);
        else if (wstream_fail(&c->w, code, msg, &e)) fprintf(stderr, "%s: error: %s\n", c->cli->tool, e.msg);
    }
    cli_dief(c->cli, code, "%s", msg);
}

static void send_req(client_t *c, const rec_t *r) {
    lerr_t e = {0};
    uint8_t seq[8];
    dist_put64(seq, c->sent);
    c->buf.len = 0;
    if (rec_encode(r, &c->buf)) client_die(c, EXIT_INTERNAL, "out of memory");
    const void *body[3] = {DIST_REQ, seq, c->buf.data};
    size_t len[3] = {3, 8, c->buf.len};
    if (net_send(c->sock, NULL, 0, body, len, 3, 0, &e)) {
        char msg[300];
        if (net_hsmon_poll(c->hs, msg, sizeof msg)) client_die(c, EXIT_PEER, "%s", msg);
        lerr_wrap(&e, "broker %s", c->d->remote);
        client_die(c, e.code ? e.code : EXIT_PEER, "%s", e.msg);
    }
    c->sent++;
}

/* Handle one message from the broker: REP / ERR / HB. */
static void on_msg(client_t *c, net_msg_t *m) {
    c->last_in = net_now_ms();
    if (m->n == 3 && net_frame_size(m, 0) == 3 && net_frame_size(m, 1) == 8) {
        uint64_t seq = dist_get64(net_frame_data(m, 1));
        bool err = !memcmp(net_frame_data(m, 0), DIST_ERR, 3);
        if (seq < c->next_out || seq >= c->sent || c->slot[seq % c->window]) return; /* duplicate */
        if (err) {
            const uint8_t *p = net_frame_data(m, 2);
            size_t n = net_frame_size(m, 2);
            int code = n ? p[0] : EXIT_PEER;
            client_die(c, code >= 1 && code <= 5 ? code : EXIT_PEER, "%.*s", n > 1 ? (int)(n - 1) : 5,
                       n > 1 ? (const char *)p + 1 : "error");
        }
        lerr_t e = {0};
        rec_t *r = rec_decode(net_frame_data(m, 2), net_frame_size(m, 2), &c->cli->sopts.lim, 0, &e);
        if (!r) {
            lerr_wrap(&e, "result of record %llu", (unsigned long long)seq);
            client_die(c, e.code, "%s", e.msg);
        }
        c->slot[seq % c->window] = r;
    }
    write_ready(c);
}

/* Write the results that are next in input order. */
static void write_ready(client_t *c) {
    while (c->next_out < c->sent && c->slot[c->next_out % c->window]) {
        lerr_t e = {0};
        rec_t **r = &c->slot[c->next_out % c->window];
        if (wstream_write(c->w, *r, &e)) client_die(c, e.code ? e.code : EXIT_IO, "%s", e.msg);
        rec_destroy(r);
        c->next_out++;
    }
}

/* Wait for broker messages until fewer than `limit` requests are outstanding. */
static void drain(client_t *c, uint64_t limit) {
    int to = c->cli->sopts.timeout_ms > 0 ? c->cli->sopts.timeout_ms : 60000;
    net_msg_t m0;
    lerr_t e0 = {0};
    while (net_recv(c->sock, &m0, ZMQ_DONTWAIT, &e0) == 0) {
        on_msg(c, &m0);
        net_msg_close(&m0);
    }
    while (c->sent - c->next_out >= limit && c->sent > c->next_out) {
        int w = net_wait(c->sock, 100);
        if (w < 0 && errno != EINTR) client_die(c, EXIT_PEER, "broker %s: %s", c->d->remote, zmq_strerror(errno));
        net_msg_t m;
        lerr_t e = {0};
        while (net_recv(c->sock, &m, ZMQ_DONTWAIT, &e) == 0) {
            on_msg(c, &m);
            net_msg_close(&m);
        }
        char msg[300];
        if (net_hsmon_poll(c->hs, msg, sizeof msg)) client_die(c, EXIT_PEER, "%s", msg);
        if (net_now_ms() - c->last_in > to)
            client_die(c, EXIT_PEER, "broker %s silent for %d ms with %llu requests unanswered", c->d->remote, to,
                       (unsigned long long)(c->sent - c->next_out));
    }
}

int dist_client(const dist_opts_t *d, cli_t *cli) {
    client_t c = {.d = d, .cli = cli, .window = d->window > 0 ? d->window : 64};
    lerr_t e = {0};
    c.ctx = zmq_ctx_new();
    c.sock = c.ctx ? zmq_socket(c.ctx, ZMQ_DEALER) : NULL;
    c.slot = calloc((size_t)c.window, sizeof *c.slot);
    if (!c.sock || !c.slot) cli_dief(cli, EXIT_INTERNAL, "cannot create the client socket");
    net_sockopts(c.sock, (long long)cli->sopts.lim.max_record_bytes);
    int to = cli->sopts.timeout_ms > 0 ? cli->sopts.timeout_ms : -1;
    zmq_setsockopt(c.sock, ZMQ_SNDTIMEO, &to, sizeof to);
    if (d->key && net_curve_client(c.sock, d->key, d->server_key, &e)) cli_die(cli, &e);
    if (!(c.hs = net_hsmon_new(c.ctx, c.sock, "broker", false, &e))) cli_die(cli, &e);
    if (zmq_connect(c.sock, d->remote))
        cli_dief(cli, EXIT_USAGE, "cannot connect to %s: %s", d->remote, zmq_strerror(errno));
    rstream_t *in = cli_open_input(cli);
    c.w = cli_open_output(cli);
    rec_t *r;
    int rc;
    c.last_in = net_now_ms();
    while ((rc = rstream_read(in, &r, &e)) == 1) {
        if (c.sent == c.next_out) c.last_in = net_now_ms(); /* the silence clock runs only while waiting */
        send_req(&c, r);
        rec_destroy(&r);
        drain(&c, (uint64_t)c.window);
    }
    if (rc < 0) client_die(&c, e.code ? e.code : EXIT_DATA, "%s", e.msg);
    drain(&c, 1);
    rstream_destroy(&in);
    cli_close_output(cli, &c.w);
    net_hsmon_free(&c.hs);
    zmq_close(c.sock);
    zmq_ctx_term(c.ctx);
    free(c.slot);
    buf_free(&c.buf);
    return EXIT_OK;
}

int dist_main_nomodel(const dist_opts_t *d, cli_t *cli) {
    if (d->broker && d->remote) cli_usage_error(cli, "--broker and --remote exclude each other");
    if (d->broker) return dist_broker(d, cli);
    if (d->remote) return dist_client(d, cli);
    return -1;
}
