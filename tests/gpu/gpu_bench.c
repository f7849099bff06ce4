/* gpu_bench.c — benchmark of the CUDA backend on an 8B-shaped LLaDA (random bf16 weights made
 * on the device; no checkpoint): prints the table of cuda_bench_run (denoise/backend_cuda.h).
 *
 *   gpu_bench [--quick]     canvases 512/1024/2048 x batch 1/8 (--quick: 512 x 1/2 on a
 *                           4-layer model, for a smoke run)
 * Exits 77 without a GPU. */
#include <stdio.h>
#include <string.h>
#include "model/model.h"
#include "denoise/backend_cuda.h"

int main(int argc, char **argv) {
    char why[256];
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    if (!cuda_probe(why, sizeof why)) {
        printf("skip: no usable CUDA device: %s\n", why);
        return 77;
    }
    llada_config_t c;
    llada_config_default(&c); /* LLaDA-8B shapes */
    int Ls[] = {512, 1024, 2048}, Bs[] = {1, 8}, qL[] = {512}, qB[] = {1, 2};
    if (quick) c.n_layers = 4;
    printf("model: d=%d layers=%d heads=%d/%d ffn=%d vocab=%d (%.2fB params, bf16, random)\n", c.d_model, c.n_layers,
           c.n_heads, c.n_kv_heads, c.mlp_hidden_size, c.embedding_size, model_n_params(&c) / 1e9);
    lerr_t e = {0};
    int rc = quick ? cuda_bench_run(&c, qL, 1, qB, 2, stdout, &e) : cuda_bench_run(&c, Ls, 3, Bs, 2, stdout, &e);
    if (rc) {
        fprintf(stderr, "gpu_bench: error: %s\n", e.msg);
        return e.code ? e.code : 5;
    }
    return 0;
}
