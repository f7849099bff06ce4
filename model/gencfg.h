/* gencfg.h — optional generation_config.json defaults of a model folder (see gencfg.c). */
#ifndef LLADA_GENCFG_H
#define LLADA_GENCFG_H
#include "lerr.h"
typedef struct {
    int block_length;   /* 0: not given */
    double temperature; /* < 0: not given */
    const char *policy; /* remask policy for Dream's "alg" (static string), NULL: not given */
    double eps;         /* Dream's "eps" (timestep schedule's last t), 0: not given */
    /* Dream folders only (gencfg.c): */
    int steps;          /* Dream's "steps" (diffusion steps), 0: not given */
    double top_p;       /* Dream's "top_p" in (0, 1], 0: not given (null) */
    int top_k;          /* Dream's "top_k" > 0, 0: not given (null) */
    double alg_temp;    /* Dream's "alg_temp" >= 0, 0: not given (null, or 0: off as in Dream) */
} gencfg_t;
/* Fill *g from DIR/generation_config.json; 0 when absent or read, -1 (EXIT_DATA) when malformed. */
int gencfg_read(const char *dir, gencfg_t *g, lerr_t *e);
#endif
