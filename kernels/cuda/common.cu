/* common.cu — the thread-local failure record behind CU_CHECK / CUBLAS_CHECK (common.cuh). */
#include <stdio.h>
#include "common.cuh"

static thread_local char g_err[512];

int cu_fail(const char *file, int line, const char *stmt, const char *msg) {
    snprintf(g_err, sizeof g_err, "%s:%d: %s: %s", file, line, stmt, msg);
    return -1;
}
const char *cu_last_error(void) { return g_err; }
void cu_clear_error(void) { g_err[0] = 0; }
