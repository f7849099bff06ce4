/* net_curve.c — CURVE keys, allow-lists, the ZAP handler and the handshake monitor (see net_curve.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>
#include "net_curve.h"
#include "net.h"
#include "stream.h"

static int write_new(const char *path, const char *text, int mode, lerr_t *e) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) return lerr_set(e, EXIT_IO, "cannot create %s: %s", path, strerror(errno));
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    if (w != (ssize_t)n || close(fd)) return lerr_set(e, EXIT_IO, "cannot write %s", path);
    return 0;
}

int net_keygen(const char *name, lerr_t *e) {
    char pub[41], sec[41], path[4096], text[128];
    if (zmq_curve_keypair(pub, sec)) return lerr_set(e, EXIT_INTERNAL, "zmq_curve_keypair: %s", zmq_strerror(errno));
    snprintf(text, sizeof text, "public %s\nsecret %s\n", pub, sec);
    snprintf(path, sizeof path, "%s.key", name);
    if (write_new(path, text, 0600, e)) return -1;
    snprintf(text, sizeof text, "%s\n", pub);
    snprintf(path, sizeof path, "%s.pub", name);
    return write_new(path, text, 0644, e);
}

static bool z85_ok(const char *s) {
    uint8_t raw[32];
    return strlen(s) == 40 && zmq_z85_decode(raw, s) != NULL;
}

int net_key_read(const char *path, char pub[41], char sec[41], lerr_t *e) {
    FILE *f = fopen(path, "r");
    if (!f) return lerr_set(e, EXIT_IO, "cannot open key file %s: %s", path, strerror(errno));
    char line[256], a[64], b[64];
    pub[0] = sec[0] = 0;
    while (fgets(line, sizeof line, f)) {
        int n = sscanf(line, "%63s %63s", a, b);
        if (n == 2 && !strcmp(a, "public") && strlen(b) == 40) strcpy(pub, b);
        else if (n == 2 && !strcmp(a, "secret") && strlen(b) == 40) strcpy(sec, b);
        else if (n == 1 && strlen(a) == 40 && !pub[0]) strcpy(pub, a);
    }
    fclose(f);
    if (!z85_ok(pub) || (sec[0] && !z85_ok(sec)))
        return lerr_set(e, EXIT_DATA, "%s is not a key file (remask --keygen writes them)", path);
    return 0;
}

int net_curve_server(void *sock, const char *key_file, lerr_t *e) {
    char pub[41], sec[41];
    int one = 1;
    if (net_key_read(key_file, pub, sec, e)) return -1;
    if (!sec[0]) return lerr_set(e, EXIT_DATA, "%s has no secret key (use the .key file)", key_file);
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, 40) || zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "llada", 5))
        return lerr_set(e, EXIT_INTERNAL, "CURVE server setup: %s", zmq_strerror(errno));
    return 0;
}

int net_curve_client(void *sock, const char *key_file, const char *server_key_file, lerr_t *e) {
    char pub[41], sec[41], spub[41], ssec[41];
    if (!server_key_file) return lerr_set(e, EXIT_USAGE, "CURVE needs the server's public key file too");
    if (net_key_read(key_file, pub, sec, e) || net_key_read(server_key_file, spub, ssec, e)) return -1;
    if (!sec[0]) return lerr_set(e, EXIT_DATA, "%s has no secret key (use the .key file)", key_file);
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, spub, 40) || zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, 40) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, 40))
        return lerr_set(e, EXIT_INTERNAL, "CURVE client setup: %s", zmq_strerror(errno));
    return 0;
}

/* ---- allow-list + ZAP ---- */

enum { ZAP_MAX_KEYS = 4096, ZAP_MAX_REPORTED = 256, ZAP_PENDING = 16 };

struct net_zap {
    uint8_t (*keys)[32];
    int nkeys;
    void *sock;
    pthread_t th;
    atomic_int stop;
    atomic_long refused;
    /* refused keys already queued for a report (each once), and the queue: under `mu` */
    pthread_mutex_t mu;
    uint8_t reported[ZAP_MAX_REPORTED][32];
    int nreported;
    char pending[ZAP_PENDING][128];
    int npending;
};

/* ZAP thread: queue a refused key for one report line. */
static void note_refusal(net_zap_t *z, const void *key, size_t klen, const void *addr, size_t alen) {
    if (klen != 32) return;
    pthread_mutex_lock(&z->mu);
    bool seen = false;
    for (int i = 0; i < z->nreported && !seen; i++) seen = !memcmp(z->reported[i], key, 32);
    if (!seen && z->nreported < ZAP_MAX_REPORTED && z->npending < ZAP_PENDING) {
        memcpy(z->reported[z->nreported++], key, 32);
        char zk[41];
        zmq_z85_encode(zk, key, 32);
        snprintf(z->pending[z->npending++], sizeof z->pending[0], "client key %s (from %.*s) is not on the allow-list",
                 zk, (int)(alen > 60 ? 60 : alen), (const char *)addr);
    }
    pthread_mutex_unlock(&z->mu);
}

int net_zap_next_refusal(net_zap_t *z, char *line, size_t n) {
    if (!z) return 0;
    pthread_mutex_lock(&z->mu);
    int got = z->npending > 0;
    if (got) {
        snprintf(line, n, "%s", z->pending[0]);
        memmove(z->pending[0], z->pending[1], (size_t)(z->npending - 1) * sizeof z->pending[0]);
        z->npending--;
    }
    pthread_mutex_unlock(&z->mu);
    return got;
}

static int allow_add_file(net_zap_t *z, const char *path, lerr_t *e) {
    FILE *f = fopen(path, "r");
    if (!f) return lerr_set(e, EXIT_IO, "cannot open allow-list %s: %s", path, strerror(errno));
    char line[256], a[64], b[64];
    while (fgets(line, sizeof line, f)) {
        int n = sscanf(line, "%63s %63s", a, b);
        const char *k = n >= 1 && a[0] != '#' ? (n == 2 && !strcmp(a, "public") ? b : a) : NULL;
        if (!k || (n == 2 && !strcmp(a, "secret"))) continue;
        if (!z85_ok(k)) {
            fclose(f);
            return lerr_set(e, EXIT_DATA, "%s: '%.40s' is not a Z85 public key", path, k);
        }
        if (z->nkeys == ZAP_MAX_KEYS) {
            fclose(f);
            return lerr_set(e, EXIT_DATA, "allow-list longer than %d keys", ZAP_MAX_KEYS);
        }
        zmq_z85_decode(z->keys[z->nkeys++], k);
    }
    fclose(f);
    return 0;
}

static int allow_load(net_zap_t *z, const char *allow, lerr_t *e) {
    DIR *d = opendir(allow);
    if (!d) return allow_add_file(z, allow, e);
    struct dirent *de;
    char path[4096];
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".pub")) continue;
        snprintf(path, sizeof path, "%s/%s", allow, de->d_name);
        rc = allow_add_file(z, path, e);
    }
    closedir(d);
    return rc;
}

static bool allowed(const net_zap_t *z, const void *key, size_t len) {
    if (len != 32) return false;
    for (int i = 0; i < z->nkeys; i++)
        if (!memcmp(z->keys[i], key, 32)) return true;
    return false;
}

/* Answer one ZAP request: frames version, request id, domain, address, identity, mechanism,
 * credentials... (RFC 27). */
static void zap_answer(net_zap_t *z) {
    net_msg_t m;
    lerr_t e = {0};
    if (net_recv(z->sock, &m, ZMQ_DONTWAIT, &e)) return;
    bool ok = m.n >= 7 && net_frame_size(&m, 5) == 5 && !memcmp(net_frame_data(&m, 5), "CURVE", 5) &&
              allowed(z, net_frame_data(&m, 6), net_frame_size(&m, 6));
    if (!ok) {
        atomic_fetch_add(&z->refused, 1);
        if (m.n >= 7)
            note_refusal(z, net_frame_data(&m, 6), net_frame_size(&m, 6), net_frame_data(&m, 3), net_frame_size(&m, 3));
    }
    const char *status = ok ? "200" : "400", *text = ok ? "OK" : "client key not in the allow-list";
    const void *body[6] = {"1.0", m.n > 1 ? net_frame_data(&m, 1) : "", status, text, "", ""};
    size_t len[6] = {3, m.n > 1 ? net_frame_size(&m, 1) : 0, 3, strlen(text), 0, 0};
    net_send(z->sock, NULL, 0, body, len, 6, 0, &e);
    net_msg_close(&m);
}

static void *zap_main(void *arg) {
    net_zap_t *z = arg;
    while (!atomic_load(&z->stop))
        if (net_wait(z->sock, 100) > 0) zap_answer(z);
    return NULL;
}

net_zap_t *net_zap_start(const char *allow, lerr_t *e) {
    net_zap_t *z = calloc(1, sizeof *z);
    if (!z || !(z->keys = malloc(ZAP_MAX_KEYS * sizeof *z->keys))) {
        if (z) free(z);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&z->mu, NULL);
    if (allow_load(z, allow, e)) goto fail;
    z->sock = zmq_socket(stream_zmq_ctx(), ZMQ_REP);
    if (!z->sock) {
        lerr_set(e, EXIT_INTERNAL, "ZAP socket: %s", zmq_strerror(errno));
        goto fail;
    }
    net_sockopts(z->sock, 4096);
    if (zmq_bind(z->sock, "inproc://zeromq.zap.01")) {
        lerr_set(e, EXIT_INTERNAL, "ZAP bind: %s", zmq_strerror(errno));
        goto fail;
    }
    if (pthread_create(&z->th, NULL, zap_main, z)) {
        lerr_set(e, EXIT_INTERNAL, "cannot start the ZAP thread");
        goto fail;
    }
    return z;
fail:
    if (z->sock) zmq_close(z->sock);
    free(z->keys);
    free(z);
    return NULL;
}

void net_zap_stop(net_zap_t **zp) {
    net_zap_t *z = zp ? *zp : NULL;
    if (!z) return;
    atomic_store(&z->stop, 1);
    pthread_join(z->th, NULL);
    zmq_close(z->sock);
    free(z->keys);
    free(z);
    *zp = NULL;
}

long net_zap_refused(const net_zap_t *z) { return z ? atomic_load(&((net_zap_t *)z)->refused) : 0; }

/* ---- handshake monitor ---- */
struct net_hsmon {
    void *mon; /* PAIR connected to the monitor endpoint */
    bool server;
    char what[64];
};

net_hsmon_t *net_hsmon_new(void *ctx, void *sock, const char *what, bool server, lerr_t *e) {
    static atomic_long seq;
    net_hsmon_t *m = calloc(1, sizeof *m);
    if (!m) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://llada-hsmon-%ld-%ld", (long)getpid(), atomic_fetch_add(&seq, 1));
    int events =
        ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor(sock, ep, events) || !(m->mon = zmq_socket(ctx, ZMQ_PAIR)) || zmq_connect(m->mon, ep)) {
        lerr_set(e, EXIT_INTERNAL, "socket monitor: %s", zmq_strerror(errno));
        if (m->mon) zmq_close(m->mon);
        zmq_socket_monitor(sock, NULL, 0);
        free(m);
        return NULL;
    }
    net_sockopts(m->mon, 4096);
    m->server = server;
    snprintf(m->what, sizeof m->what, "%s", what ? what : "peer");
    return m;
}

int net_hsmon_poll(net_hsmon_t *m, char *msg, size_t n) {
    if (!m) return 0;
    net_msg_t f;
    lerr_t e = {0};
    while (net_recv(m->mon, &f, ZMQ_DONTWAIT, &e) == 0) {
        int ok = f.n >= 1 && net_frame_size(&f, 0) >= 6;
        uint16_t ev = 0;
        uint32_t val = 0;
        if (ok) {
            memcpy(&ev, net_frame_data(&f, 0), 2);
            memcpy(&val, (const uint8_t *)net_frame_data(&f, 0) + 2, 4);
        }
        char ep[128] = "";
        if (f.n >= 2)
            snprintf(ep, sizeof ep, "%.*s", (int)(net_frame_size(&f, 1) > 100 ? 100 : net_frame_size(&f, 1)),
                     (const char *)net_frame_data(&f, 1));
        net_msg_close(&f);
        if (!ok) continue;
        if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && m->server)
            snprintf(msg, n, "authentication failed: a client's key was refused on %s (ZAP status %u)", ep, val);
        else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            snprintf(msg, n, "authentication failed: the %s at %s refused this client's key (not on its --allow list)",
                     m->what, ep);
        else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && m->server)
            snprintf(msg, n,
                     "authentication failed: a peer's CURVE handshake on %s failed (it does not have this %s's public "
                     "key, or it is not using CURVE)",
                     ep, m->what);
        else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            snprintf(msg, n,
                     "authentication failed: the CURVE handshake with %s at %s failed (wrong --server-key, or it does "
                     "not use CURVE)",
                     m->what, ep);
        else continue;
        return 1;
    }
    return 0;
}

void net_hsmon_free(net_hsmon_t **mp) {
    net_hsmon_t *m = mp ? *mp : NULL;
    if (!m) return;
    zmq_close(m->mon);
    free(m);
    *mp = NULL;
}
