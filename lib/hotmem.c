#include "hotmem.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_2M ((size_t)2 << 20)

static size_t mapped_len(size_t len)
{
	return len > SIZE_MAX - (HUGE_2M - 1) ? 0 : (len + HUGE_2M - 1) & ~(HUGE_2M - 1);
}

void *hotmem_alloc(size_t len)
{
	size_t ml = mapped_len(len);
	if (len == 0 || ml == 0 || ml > SIZE_MAX - HUGE_2M) {
		errno = ENOMEM;
		return NULL;
	}
	/* Over-map by 2 MiB and trim both ends: mmap only promises 4 KiB
	 * alignment, and THP backs only whole aligned 2 MiB ranges. */
	uint8_t *raw = mmap(NULL, ml + HUGE_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	uintptr_t a = ((uintptr_t)raw + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1);
	uint8_t *p = (uint8_t *)a;
	size_t head = (size_t)(p - raw), tail = HUGE_2M - head;
	if (head)
		munmap(raw, head);
	if (tail)
		munmap(p + ml, tail);
	(void)madvise(p, ml, MADV_HUGEPAGE);
	if (madvise(p, ml, MADV_POPULATE_WRITE) != 0)
		memset(p, 0, ml);
	return p;
}

void hotmem_free(void *p, size_t len)
{
	if (p)
		munmap(p, mapped_len(len));
}
