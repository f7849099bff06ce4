/* device.c — `--device` selection for denoise (see device.h). The only place outside
 * denoise/cuda/ that knows whether the CUDA backend was built (LLADA_CUDA), and the one that
 * loads it (a dlopen'ed plugin, only when a GPU run is asked for or `auto` sees a driver). */
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "denoise/device.h"
#ifdef LLADA_CUDA
#include "denoise/backend_cuda.h"
#endif

int denoise_device_check(const char *spec, lerr_t *e) {
    static const char *const ok[] = {"cpu", "cuda", "cuda:bf16", "cuda:f32", "auto"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (!strcmp(spec, ok[i])) return 0;
    return lerr_set(e, EXIT_USAGE, "--device must be cpu, cuda, cuda:bf16, cuda:f32 or auto, not '%s'", spec);
}

static void use_cpu(denoise_device_t *d) {
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "cpu");
}

#ifdef LLADA_CUDA
/* The CUDA backend lives in a plugin (Makefile: libllada-cuda.so, the CUDA objects linked
 * with cuBLAS and cudart), loaded on first use so that CPU runs never map those libraries
 * (seconds of start-up). Its entry points are those of backend_cuda.h. */
static struct {
    __typeof__(cuda_probe) *probe;
    __typeof__(cuda_backend_new) *backend_new;
    __typeof__(cuda_backend_destroy) *destroy;
    __typeof__(cuda_backend_prec) *prec;
    __typeof__(cuda_backend_device) *device;
    __typeof__(cuda_sampler_step) *step;
    __typeof__(cuda_sampler_step_rows) *step_rows;
    bool tried;
    char err[400];
} P;

/* $LLADA_CUDA_PLUGIN, else <dir of this executable>/../lib/llada/libllada-cuda.so (the
 * source tree after make), else <dir of this executable>/../libllada-cuda.so (make install:
 * PREFIX/lib/llada/bin/denoise beside PREFIX/lib/llada/libllada-cuda.so). */
static int plugin_load(void) {
    if (P.tried) return P.probe ? 0 : -1;
    P.tried = true;
    char path[4200];
    const char *env = getenv("LLADA_CUDA_PLUGIN");
    if (env && *env) snprintf(path, sizeof path, "%s", env);
    else {
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) {
            snprintf(P.err, sizeof P.err, "cannot find this executable: %s", strerror(errno));
            return -1;
        }
        exe[n] = 0;
        const char *d = dirname(exe);
        snprintf(path, sizeof path, "%s/../lib/llada/libllada-cuda.so", d);
        if (access(path, F_OK) != 0) snprintf(path, sizeof path, "%s/../libllada-cuda.so", d);
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(P.err, sizeof P.err, "cannot load the CUDA backend: %.340s", dlerror());
        return -1;
    }
    P.probe = (__typeof__(P.probe))dlsym(h, "cuda_probe");
    P.backend_new = (__typeof__(P.backend_new))dlsym(h, "cuda_backend_new");
    P.destroy = (__typeof__(P.destroy))dlsym(h, "cuda_backend_destroy");
    P.prec = (__typeof__(P.prec))dlsym(h, "cuda_backend_prec");
    P.device = (__typeof__(P.device))dlsym(h, "cuda_backend_device");
    P.step = (__typeof__(P.step))dlsym(h, "cuda_sampler_step");
    P.step_rows = (__typeof__(P.step_rows))dlsym(h, "cuda_sampler_step_rows");
    if (!P.probe || !P.backend_new || !P.destroy || !P.prec || !P.device || !P.step || !P.step_rows) {
        snprintf(P.err, sizeof P.err, "%.300s is not this build's CUDA backend", path);
        P.probe = NULL;
        return -1;
    }
    return 0;
}

/* Whether this machine shows an NVIDIA driver at all (cheap; no library loaded). */
static bool driver_present(void) {
    return access("/dev/nvidiactl", F_OK) == 0 || access("/proc/driver/nvidia/version", F_OK) == 0 ||
           access("/dev/dxg", F_OK) == 0;
}

static int open_cuda(denoise_device_t *d, const char *spec, const model_t *m, lerr_t *e) {
    cuda_prec_t p = !strcmp(spec, "cuda:f32")    ? CUDA_PREC_F32
                    : !strcmp(spec, "cuda:bf16") ? CUDA_PREC_BF16
                                                 : CUDA_PREC_AUTO;
    cuda_backend_t *b = P.backend_new(m, p, e);
    if (!b) return -1;
    d->impl = b;
    d->sb.step = P.step;
    d->sb.step_rows = P.step_rows;
    d->sb.ctx = b;
    snprintf(d->name, sizeof d->name, "cuda: %s, %s", P.device(b), P.prec(b) == CUDA_PREC_F32 ? "f32" : "bf16");
    return 0;
}
#endif

int denoise_device_open(denoise_device_t *d, const char *spec, const model_t *m, char *notice, size_t n, lerr_t *e) {
    use_cpu(d);
    if (n) notice[0] = 0;
    bool quiet = false; /* the implicit default says nothing on a machine without a GPU */
    if (!spec) spec = getenv("LLADA_DEVICE");
    if (!spec || !*spec) {
        spec = "auto";
        quiet = true;
    }
    if (denoise_device_check(spec, e)) return -1;
    if (!strcmp(spec, "cpu")) return 0;
#ifdef LLADA_CUDA
    if (strcmp(model_family_name(m), "llada")) { /* denoise/cuda/ runs LLaDA's graph only */
        if (strcmp(spec, "auto"))
            return lerr_set(e, EXIT_USAGE, "--device %s: the CUDA backend runs LLaDA models, not %s", spec,
                            model_family_name(m));
        return 0;
    }
    char why[420];
    bool explicit = strcmp(spec, "auto") != 0; /* asked for: load the backend and let it say why */
    if (!explicit && !driver_present()) snprintf(why, sizeof why, "no NVIDIA driver: /dev/nvidiactl is absent");
    else if (plugin_load()) snprintf(why, sizeof why, "%s", P.err);
    else why[0] = 0;
    if (why[0] || P.probe(why, sizeof why) == 0) {
        if (explicit)
            return lerr_set(e, EXIT_INTERNAL,
                            "--device %s: this machine has no usable GPU (%s); use --device cpu or auto", spec, why);
        if (!quiet) snprintf(notice, n, "no usable CUDA device (%s); running on the CPU", why);
        return 0;
    }
    return open_cuda(d, strcmp(spec, "auto") ? spec : "cuda", m, e);
#else
    (void)m;
    (void)quiet;
    if (strcmp(spec, "auto"))
        return lerr_set(e, EXIT_USAGE, "--device %s: this build has no CUDA backend (no nvcc at build time)", spec);
    return 0;
#endif
}

const sampler_backend_t *denoise_device_backend(const denoise_device_t *d) { return d->sb.step ? &d->sb : NULL; }

void denoise_device_close(denoise_device_t *d) {
#ifdef LLADA_CUDA
    cuda_backend_t *b = (cuda_backend_t *)d->impl;
    if (b) P.destroy(&b);
#endif
    use_cpu(d);
}
