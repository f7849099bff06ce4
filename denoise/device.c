/* device.c — `--device` selection for denoise (see device.h). The only place outside
 * denoise/cuda/ that knows whether the CUDA backend was built (LLADA_CUDA). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
static int open_cuda(denoise_device_t *d, const char *spec, const model_t *m, lerr_t *e) {
    cuda_prec_t p = !strcmp(spec, "cuda:f32") ? CUDA_PREC_F32
                  : !strcmp(spec, "cuda:bf16") ? CUDA_PREC_BF16 : CUDA_PREC_AUTO;
    cuda_backend_t *b = cuda_backend_new(m, p, e);
    if (!b) return -1;
    d->impl = b;
    d->sb.step = cuda_sampler_step;
    d->sb.step_rows = cuda_sampler_step_rows;
    d->sb.ctx = b;
    snprintf(d->name, sizeof d->name, "cuda: %s, %s", cuda_backend_device(b),
             cuda_backend_prec(b) == CUDA_PREC_F32 ? "f32" : "bf16");
    return 0;
}
#endif

int denoise_device_open(denoise_device_t *d, const char *spec, const model_t *m, char *notice,
                        size_t n, lerr_t *e) {
    use_cpu(d);
    if (n) notice[0] = 0;
    bool quiet = false;   /* the implicit default says nothing on a machine without a GPU */
    if (!spec) spec = getenv("LLADA_DEVICE");
    if (!spec || !*spec) { spec = "auto"; quiet = true; }
    if (denoise_device_check(spec, e)) return -1;
    if (!strcmp(spec, "cpu")) return 0;
#ifdef LLADA_CUDA
    if (strcmp(model_family_name(m), "llada")) {   /* denoise/cuda/ runs LLaDA's graph only */
        if (strcmp(spec, "auto"))
            return lerr_set(e, EXIT_USAGE, "--device %s: the CUDA backend runs LLaDA models, not %s", spec,
                            model_family_name(m));
        return 0;
    }
    char why[256];
    if (cuda_probe(why, sizeof why) == 0) {
        if (strcmp(spec, "auto"))
            return lerr_set(e, EXIT_INTERNAL, "--device %s: no usable CUDA device (%s)", spec, why);
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

const sampler_backend_t *denoise_device_backend(const denoise_device_t *d) {
    return d->sb.step ? &d->sb : NULL;
}

void denoise_device_close(denoise_device_t *d) {
#ifdef LLADA_CUDA
    cuda_backend_t *b = (cuda_backend_t *)d->impl;
    cuda_backend_destroy(&b);
#endif
    use_cpu(d);
}
