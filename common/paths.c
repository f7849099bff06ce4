/* paths.c — locating the bundled default model (see paths.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "paths.h"

char *exe_dir(void) {
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return NULL;
    buf[n] = 0;
    char *slash = strrchr(buf, '/');
    if (!slash) return NULL;
    *slash = 0;
    return strdup(buf);
}

static int is_model_dir(const char *d) {
    char p[PATH_MAX + 128];
    struct stat st;
    snprintf(p, sizeof p, "%s/config.json", d);
    return stat(p, &st) == 0;
}

char *default_model_dir(void) {
    const char *env = getenv("LLADA_MODEL");
    if (env && *env) return strdup(env);
    char *dir = exe_dir();
    if (!dir) return NULL;
    /* bin/ in the source tree and PREFIX/lib/llada/bin when installed, build/san/bin for
     * sanitizer builds, PREFIX/bin of older installs */
    static const char *const rel[] = {"/../models/default", "/../../../models/default",
                                      "/../share/llada/models/default"};
    char p[PATH_MAX + 64];
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        snprintf(p, sizeof p, "%s%s", dir, rel[i]);
        if (is_model_dir(p)) {
            free(dir);
            char *real = realpath(p, NULL);
            return real ? real : strdup(p);
        }
    }
    free(dir);
    return NULL;
}
