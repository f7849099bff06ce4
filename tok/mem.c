/* mem.c — large allocations that ask for transparent huge pages (see mem.h). */
#include "mem.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

/* Below this, plain malloc: a small block in the heap costs few faults. From here up a 2 MB
 * huge page (cleared in ~0.2 ms) is cheaper than the 4 kB faults it replaces (32+ of them). */
#define BIG ((size_t)128 << 10)

void *tok_big_alloc(size_t n, int zero) {
    if (n < BIG) return zero ? calloc(n ? n : 1, 1) : malloc(n ? n : 1);
    size_t r = (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    if (r < n) return NULL;
    void *p = aligned_alloc(HUGE_PAGE, r);
    if (!p) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, r, MADV_HUGEPAGE); /* before the first touch, so faults come 2 MB at a time */
#endif
    if (zero) memset(p, 0, n);
    return p;
}
