/*
 * Unit tests for lib/hotmem: the mapping is 2 MiB-aligned (or THP could not
 * back it), zeroed, writable, resident before its first touch (the point of
 * it: no fault per page in the hot loop), gone after hotmem_free, and
 * lengths that cannot be mapped are refused with ENOMEM, not wrapped.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hotmem.h"

#define MIB ((size_t)1 << 20)

/* Pages of [p, p + len) that are resident, per mincore(). */
static size_t resident_pages(void *p, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = (len + pg - 1) / pg, in = 0;
	unsigned char *v = malloc(n);

	cr_assert_not_null(v);
	cr_assert_eq(mincore(p, len, v), 0, "mincore: %s", strerror(errno));
	for (size_t i = 0; i < n; i++)
		in += v[i] & 1;
	free(v);
	return in;
}

Test(hotmem, aligned_zeroed_resident_and_writable)
{
	/* not a multiple of 2 MiB: the whole rounded length is the caller's */
	size_t len = 5 * MIB + 12345, full = 6 * MIB;
	uint8_t *p = hotmem_alloc(len);

	cr_assert_not_null(p, "hotmem_alloc: %s", strerror(errno));
	cr_assert_eq((uintptr_t)p % (2 * MIB), 0, "not 2 MiB-aligned: %p", (void *)p);
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	cr_assert_eq(resident_pages(p, full), full / pg, "pages left to fault in on first touch");
	for (size_t i = 0; i < full; i += 4093)
		cr_assert_eq(p[i], 0, "byte %zu not zero", i);
	cr_assert_eq(p[full - 1], 0);
	memset(p, 0xa5, full);
	cr_assert_eq(p[full - 1], 0xa5);
	hotmem_free(p, len);
	/* unmapped now: mincore refuses the range */
	unsigned char v;
	cr_assert_eq(mincore(p, pg, &v), -1);
	cr_assert_eq(errno, ENOMEM);
}

Test(hotmem, refuses_lengths_it_cannot_map)
{
	errno = 0;
	cr_assert_null(hotmem_alloc(0));
	cr_assert_eq(errno, ENOMEM);
	errno = 0;
	cr_assert_null(hotmem_alloc(SIZE_MAX));
	cr_assert_eq(errno, ENOMEM);
	errno = 0;
	cr_assert_null(hotmem_alloc(SIZE_MAX - 3 * MIB)); /* rounds up past SIZE_MAX - 2 MiB */
	cr_assert_eq(errno, ENOMEM);
	hotmem_free(NULL, 123); /* nothing to do, no crash */
}
