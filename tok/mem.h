/* mem.h — large allocations that ask for transparent huge pages (mem.c).
 *
 * On the VMs these tools run on, a 4 kB page fault costs ~10 us (measured here: touching 64 MB
 * of fresh malloc memory takes 240 ms, of huge-page-advised memory 4-5 ms; on the AMD EPYC Zen 5
 * VMs 4 ms per MB in 4 kB pages against 0.09 ms in huge pages), so the first touch of
 * a multi-megabyte table or buffer can cost more than the work done in it. tok_big_alloc hands
 * out ordinary heap memory (free() / realloc() it as usual), 2 MB aligned and advised
 * MADV_HUGEPAGE when large; the advice is only a hint (no effect where THP is off).
 */
#ifndef TOK_MEM_H
#define TOK_MEM_H
#include <stddef.h>

/* n bytes (zeroed when `zero`), or NULL. Below 128 kB this is plain malloc / calloc; above, the
 * block is rounded up to whole 2 MB pages (memory that is never touched costs nothing, but a
 * touched huge page is backed whole: up to 2 MB more resident per block). */
void *tok_big_alloc(size_t n, int zero);

#endif
