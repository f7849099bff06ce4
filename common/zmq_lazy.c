/* zmq_lazy.c — the libzmq entry points this project calls, loading libzmq.so.5 with dlopen on
 * the first call, so a process that never opens a ZeroMQ socket never loads it. Linking it cost
 * every process ~10 ms of CPU at start (libzmq and its dependencies: libsodium, libpgm, libnorm,
 * Kerberos, libstdc++; a `tok` start on an AMD EPYC Zen 5 VM was 15 ms with it, 6 ms without).
 *
 * Each function has zmq.h's prototype (checked by including it) and forwards to libzmq's. When
 * libzmq cannot be loaded, each fails as libzmq's own functions fail (-1 or NULL) with errno
 * ELIBACC, and zmq_strerror(ELIBACC) says why in one line. With SAN=1 the Makefile also links
 * libzmq (LeakSanitizer and dlopened libraries with threads do not mix); dlopen then finds it.
 * Only the entry points listed here exist: a new zmq_* call needs a line in ZMQ_LAZY_FUNCS. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

/* return type, name, parameters, arguments, what it returns when libzmq is missing */
#define ZMQ_LAZY_FUNCS(X) \
    X(void *, zmq_ctx_new, (void), (), NULL) \
    X(int, zmq_ctx_term, (void *c), (c), -1) \
    X(void *, zmq_socket, (void *c, int type), (c, type), NULL) \
    X(int, zmq_close, (void *s), (s), -1) \
    X(int, zmq_setsockopt, (void *s, int o, const void *v, size_t n), (s, o, v, n), -1) \
    X(int, zmq_getsockopt, (void *s, int o, void *v, size_t *n), (s, o, v, n), -1) \
    X(int, zmq_bind, (void *s, const char *a), (s, a), -1) \
    X(int, zmq_connect, (void *s, const char *a), (s, a), -1) \
    X(int, zmq_send, (void *s, const void *b, size_t n, int f), (s, b, n, f), -1) \
    X(int, zmq_poll, (zmq_pollitem_t * it, int n, long t), (it, n, t), -1) \
    X(int, zmq_socket_monitor, (void *s, const char *a, int ev), (s, a, ev), -1) \
    X(int, zmq_msg_init, (zmq_msg_t * m), (m), -1) \
    X(int, zmq_msg_init_data, (zmq_msg_t * m, void *d, size_t n, zmq_free_fn *f, void *h), (m, d, n, f, h), -1) \
    X(int, zmq_msg_send, (zmq_msg_t * m, void *s, int f), (m, s, f), -1) \
    X(int, zmq_msg_recv, (zmq_msg_t * m, void *s, int f), (m, s, f), -1) \
    X(int, zmq_msg_close, (zmq_msg_t * m), (m), -1) \
    X(int, zmq_msg_move, (zmq_msg_t * d, zmq_msg_t * s), (d, s), -1) \
    X(void *, zmq_msg_data, (zmq_msg_t * m), (m), NULL) \
    X(size_t, zmq_msg_size, (const zmq_msg_t *m), (m), 0) \
    X(int, zmq_msg_more, (const zmq_msg_t *m), (m), 0) \
    X(char *, zmq_z85_encode, (char *d, const uint8_t *b, size_t n), (d, b, n), NULL) \
    X(uint8_t *, zmq_z85_decode, (uint8_t * d, const char *s), (d, s), NULL) \
    X(int, zmq_curve_keypair, (char *pub, char *sec), (pub, sec), -1)

static struct {
#define ZL_FIELD(ret, name, params, args, fail) ret(*name) params;
    ZMQ_LAZY_FUNCS(ZL_FIELD)
#undef ZL_FIELD
    const char *(*zmq_strerror)(int);
} Z;
static int Z_ok;
static char Z_err[256];
static pthread_once_t Z_once = PTHREAD_ONCE_INIT;

static void load(void) {
    static const char *const names[] = {"libzmq.so.5", "libzmq.so"};
    void *h = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !h; i++) h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(Z_err, sizeof Z_err, "cannot load ZeroMQ (libzmq.so.5; Debian: libzmq5): %s", why ? why : "not found");
        return;
    }
#define ZL_LOAD(ret, name, params, args, fail) \
    if (!(Z.name = (__typeof__(Z.name))dlsym(h, #name))) { \
        snprintf(Z_err, sizeof Z_err, "libzmq.so.5 lacks %s: not ZeroMQ 4.x?", #name); \
        return; \
    }
    ZMQ_LAZY_FUNCS(ZL_LOAD)
    ZL_LOAD(const char *, zmq_strerror, (int), (), NULL)
#undef ZL_LOAD
    Z_ok = 1;
}

static int loaded(void) {
    pthread_once(&Z_once, load);
    if (!Z_ok) errno = ELIBACC;
    return Z_ok;
}

#define ZL_DEFINE(ret, name, params, args, fail) \
    ret name params { return loaded() ? Z.name args : fail; }
ZMQ_LAZY_FUNCS(ZL_DEFINE)
#undef ZL_DEFINE

const char *zmq_strerror(int e) {
    if (loaded()) return Z.zmq_strerror(e);
    return e == ELIBACC ? Z_err : strerror(e);
}
