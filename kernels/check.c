/* check.c — what a failed KERN_ASSERT does (kernels.h): name the file, line and condition on
 * stderr and abort, as ggml's GGML_ASSERT does. A failed check is a bug in the caller; the
 * abort keeps the stack for a debugger or a sanitizer report. */
#include <stdio.h>
#include <stdlib.h>
#include "kernels.h"

void kern_assert_fail(const char *file, int line, const char *cond) {
    fprintf(stderr, "%s:%d: kernel check failed: %s\n", file, line, cond);
    fflush(stderr);
    abort();
}
