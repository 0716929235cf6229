/*
 * hotmem: anonymous memory a hot loop will touch from its first pass, mapped
 * and faulted in at once.
 *
 * Why not malloc: on this kind of paravirtualised guest a page fault costs
 * tens of microseconds, and an O_DIRECT write pins its buffer page by page
 * (get_user_pages with interrupts off). A buffer of 4 KiB pages faulted on
 * first touch pays both per 4 KiB; one mapped 2 MiB-aligned, advised for
 * transparent huge pages and populated in one madvise pays them per 2 MiB
 * when the kernel grants huge pages (THP "madvise" or "always"), and once at
 * start-up when it does not.
 *
 * Best effort by design: a kernel without MADV_POPULATE_WRITE (before 5.14)
 * gets the pages written once by memset, one without THP keeps 4 KiB pages.
 * The memory is zeroed either way.
 */
#ifndef SEED_HOTMEM_H
#define SEED_HOTMEM_H

#include <stddef.h>

/* len bytes (rounded up to 2 MiB), 2 MiB-aligned, zeroed and faulted in;
 * NULL when the mapping fails (errno set). Free with hotmem_free(p, len). */
void *hotmem_alloc(size_t len);
/* The same len as given to hotmem_alloc. NULL is fine. */
void hotmem_free(void *p, size_t len);

#endif
