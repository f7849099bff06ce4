/* tmpreg.c — registry of temporary output files removed on exit and on fatal signals (tmpreg.h).
 *
 * Slots are static storage so the signal handler touches no heap: a slot's path is written
 * before its `used` flag is raised (with release ordering) and the flag is lowered before the
 * slot is reused, so the handler only ever reads complete paths.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tmpreg.h"

static struct {
    int used; /* accessed with __atomic builtins */
    char path[TMPREG_PATH_MAX];
} g_slots[TMPREG_SLOTS];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_installed;

static const int g_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGPIPE};

void tmpreg_unlink_all(void) {
    for (int i = 0; i < TMPREG_SLOTS; i++)
        if (__atomic_exchange_n(&g_slots[i].used, 0, __ATOMIC_ACQ_REL)) unlink(g_slots[i].path);
}

static void on_fatal(int sig) {
    tmpreg_unlink_all();
    signal(sig, SIG_DFL);
    raise(sig); /* delivered on return from the handler: the process ends by `sig` */
}

static void at_exit(void) { tmpreg_unlink_all(); }

static void install(void) {
    atexit(at_exit);
    for (size_t i = 0; i < sizeof g_signals / sizeof g_signals[0]; i++) {
        struct sigaction old;
        if (sigaction(g_signals[i], NULL, &old) || old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) continue;
        struct sigaction sa = {.sa_handler = on_fatal, .sa_flags = SA_RESETHAND};
        sigemptyset(&sa.sa_mask);
        sigaction(g_signals[i], &sa, NULL);
    }
}

int tmpreg_add(const char *path) {
    size_t n = strlen(path);
    if (n >= TMPREG_PATH_MAX) return -1;
    int id = -1;
    pthread_mutex_lock(&g_lock);
    if (!g_installed) {
        install();
        g_installed = 1;
    }
    for (int i = 0; i < TMPREG_SLOTS && id < 0; i++) {
        if (__atomic_load_n(&g_slots[i].used, __ATOMIC_ACQUIRE)) continue;
        memcpy(g_slots[i].path, path, n + 1);
        __atomic_store_n(&g_slots[i].used, 1, __ATOMIC_RELEASE);
        id = i;
    }
    pthread_mutex_unlock(&g_lock);
    return id;
}

void tmpreg_remove(int id) {
    if (id < 0 || id >= TMPREG_SLOTS) return;
    pthread_mutex_lock(&g_lock);
    __atomic_store_n(&g_slots[id].used, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&g_lock);
}
