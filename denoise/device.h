/* device.h — which backend runs denoise's reverse steps: `--device cpu|cuda|auto`.
 *
 *   cpu          the CPU forward (OpenBLAS) and summaries
 *   cuda         the CUDA backend (denoise/backend_cuda.h); an error when this build has no
 *                CUDA backend or the machine no usable GPU. cuda:bf16 / cuda:f32 choose the
 *                precision (default: bf16 for bf16 checkpoints, f32 otherwise)
 *   auto         the GPU when one is usable, else the CPU with a one-line notice (builds
 *                with the CUDA backend only; a CPU-only build just uses the CPU)
 * Default: $LLADA_DEVICE when set, else auto without the notice (a machine without a GPU is
 * the ordinary CPU case; LLADA_DEVICE=cpu keeps test suites on the CPU on GPU machines).
 * The chosen backend is handed to the sampler through sampler_opts_t.backend.
 */
#ifndef LLADA_DEVICE_H
#define LLADA_DEVICE_H

#include <stddef.h>
#include "model/model.h"
#include "denoise/sampler.h"

typedef struct {
    sampler_backend_t sb; /* sb.step == NULL: CPU */
    void *impl;           /* owned backend (cuda_backend_t) */
    char name[420];       /* "cpu" or "cuda: <device>, <precision>" */
} denoise_device_t;

/* Validate a --device value; -1 with e (EXIT_USAGE) when unknown. */
int denoise_device_check(const char *spec, lerr_t *e);
/* Open the backend `spec` (NULL = the default above) for model m. On a fallback writes a one-line reason
 * to notice[n] (else notice[0] = 0). -1 with e when "cuda" cannot be honoured: EXIT_USAGE
 * without a CUDA build, EXIT_INTERNAL without a usable GPU or when the upload fails. */
int denoise_device_open(denoise_device_t *d, const char *spec, const model_t *m, char *notice, size_t n, lerr_t *e);
/* The sampler backend to put in sampler_opts_t.backend (NULL for the CPU). */
const sampler_backend_t *denoise_device_backend(const denoise_device_t *d);
void denoise_device_close(denoise_device_t *d);

#endif
