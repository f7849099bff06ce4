/* testlib.h — minimal unit-test macros (llm.c/redis style) for tests/unit/test_*.c.
 * CHECK(cond, fmt, ...) records a pass or a failure with file:line; TEST_SUMMARY() prints
 * "N passed, N failed" and returns the exit status for main. */
#ifndef LLADA_TESTLIB_H
#define LLADA_TESTLIB_H
#include <stdio.h>
static int t_pass_, t_fail_;
#define CHECK(cond, ...) \
    do { \
        if (cond) { \
            t_pass_++; \
        } else { \
            t_fail_++; \
            fprintf(stdout, "not ok - %s:%d: ", __FILE__, __LINE__); \
            fprintf(stdout, __VA_ARGS__); \
            fputc('\n', stdout); \
        } \
    } while (0)
#define CHECK_NEAR(a, b, tol, what) \
    CHECK(fabs((double)(a) - (double)(b)) <= (tol), "%s: %g vs %g (tol %g)", what, (double)(a), (double)(b), \
          (double)(tol))
#define TEST_SUMMARY() (printf("%d passed, %d failed\n", t_pass_, t_fail_), t_fail_ ? 1 : 0)
#endif
