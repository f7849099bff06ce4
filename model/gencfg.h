/* gencfg.h — optional generation_config.json defaults of a model folder (see gencfg.c). */
#ifndef LLADA_GENCFG_H
#define LLADA_GENCFG_H
#include "lerr.h"
typedef struct {
    int block_length;   /* 0: not given */
    double temperature; /* < 0: not given */
    const char *policy; /* remask policy for Dream's "alg" (static string), NULL: not given */
    double eps;         /* Dream's "eps" (timestep schedule's last t), 0: not given */
} gencfg_t;
/* Fill *g from DIR/generation_config.json; 0 when absent or read, -1 (EXIT_DATA) when malformed. */
int gencfg_read(const char *dir, gencfg_t *g, lerr_t *e);
#endif
