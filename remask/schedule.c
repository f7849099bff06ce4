/* schedule.c — Dream's timestep schedule (schedule.h) in float32: the linspace points with one
 * rounding each (fmaf, as torch's kernels fuse them), the ratios and counts with one rounding
 * per operation (volatile stores keep the compiler from fusing or widening them). */
#include <math.h>
#include "remask/schedule.h"

float rm_sched_linspace_f32(double eps, int n_points, int i) {
    float start = 1.0f, end = (float)eps;
    if (n_points <= 1) return start;
    volatile float step = (end - start) / (float)(n_points - 1);
    /* one rounding per value: torch's linspace kernels compute start + step*i (first half) and
     * end - step*(n-1-i) (second half) as fused multiply-adds (nvcc, -mfma CPU builds); fmaf
     * is exact whether or not this CPU has FMA */
    if (i < n_points / 2) return fmaf(step, (float)i, start);
    return fmaf(-step, (float)(n_points - i - 1), end);
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
