/* schedule.c — Dream's timestep schedule (schedule.h). Plain float32 scalar arithmetic: the
 * build targets x86-64-v2 (no FMA), so no product is fused with a sum and every operation
 * rounds as torch's scalar float kernel does. */
#include "remask/schedule.h"

float rm_sched_linspace_f32(double eps, int n_points, int i) {
    float start = 1.0f, end = (float)eps;
    if (n_points <= 1) return start;
    float step = (end - start) / (float)(n_points - 1);
    volatile float prod;   /* rounded before the sum, whatever the compiler flags */
    if (i < n_points / 2) {
        prod = step * (float)i;
        return start + prod;
    }
    prod = step * (float)(n_points - i - 1);
    return end - prod;
}

float rm_sched_timestep_frac(int i, int steps, double eps) {
    if (i >= steps - 1) return 1.0f;
    float t = rm_sched_linspace_f32(eps, steps + 1, i), s = rm_sched_linspace_f32(eps, steps + 1, i + 1);
    volatile float ratio = s / t;
    return 1.0f - ratio;
}

int rm_sched_timestep_count(int n, int i, int steps, double eps) {
    if (i >= steps - 1) return n;
    volatile float frac = rm_sched_timestep_frac(i, steps, eps);
    volatile float k = (float)n * frac;
    int c = (int)k;
    return c < 0 ? 0 : c > n ? n : c;
}
