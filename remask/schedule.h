/* schedule.h — how many masked positions a reverse step commits under a schedule that is
 * not LLaDA's linear one (that one lives with the sampler's blocks in sampler.c).
 *
 * Dream's diffusion_generate (llada.md §4.5): timesteps t = torch.linspace(1, eps, steps+1)
 * in float32; step i of `steps` commits int(n * (1 - t[i+1] / t[i])) of the n masks still
 * left (float32 arithmetic, truncated), and every one left at the last step. Inside a block
 * of the sampler, `steps` is the block's and n counts the block's masks, which is Dream's
 * whole-canvas rule when there is one block (its only mode). The sampler uses the count;
 * the `origin` policy (origin.c) the same timesteps for its reveal probability 1 - t[i+1]/t[i]. */
#ifndef LLADA_REMASK_SCHEDULE_H
#define LLADA_REMASK_SCHEDULE_H

/* t[i] of torch.linspace(1, eps, n_points) in float32 as torch computes it: step =
 * float32((eps - 1) / (n_points - 1)); i < n_points/2: 1 + step*i, else
 * eps - step*(n_points - 1 - i), each a fused multiply-add (one rounding; nvcc and the
 * FMA-enabled CPU kernels fuse them). */
float rm_sched_linspace_f32(double eps, int n_points, int i);

/* Masks committed at step i (0-based) of `steps` with n masks left (Dream's count). */
int rm_sched_timestep_count(int n, int i, int steps, double eps);
/* 1 - t[i+1]/t[i] in float32 (1 at the last step): the fraction of the masks left that
 * Dream's step i reveals. */
float rm_sched_timestep_frac(int i, int steps, double eps);

#endif
