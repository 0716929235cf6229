/*
 * mem: releasing the buffers a struct owns in one call.
 *
 * A destructor of a struct with many malloc'd fields writes
 * `MEM_FREE_ALL(x->a, x->b, x->c, x);` instead of one free() a line: the
 * list is the struct's owned fields, and a field left out stands out. Each
 * pointer may be NULL (free(NULL) does nothing); the pointers are freed in
 * the order given, so the struct itself goes last. Header-only: a loop over
 * a compound literal on the caller's stack, nothing allocated.
 *
 * Only for memory from malloc/calloc/realloc/strdup: munmap, close and the
 * libraries' own destructors stay explicit calls beside it.
 *
 * And growing an array by doubling (mem_grow), with the overflow checks
 * the copies of that code each had to get right.
 */
#ifndef SEED_MEM_H
#define SEED_MEM_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* free() each of p[0..n-1]. */
static inline void mem_free_all(void *const *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i]);
}

/* free() each argument (void * or a pointer that converts to it), in order. */
#define MEM_FREE_ALL(...)                            \
	mem_free_all((void *const[]){ __VA_ARGS__ }, \
		     sizeof((void *const[]){ __VA_ARGS__ }) / sizeof(void *))

/*
 * Makes room for at least need elements of size elem in *p (capacity *cap):
 * doubles the capacity, starting at first, until it is enough. Returns 0
 * (the array and *cap updated), or -ENOMEM (nothing changed: *p is still
 * valid and still the caller's) when the size would overflow or realloc
 * fails.
 */
static inline int mem_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : (first ? first : 1);
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return -ENOMEM;
		n *= 2;
	}
	if (elem && n > SIZE_MAX / elem)
		return -ENOMEM;
	void *q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

#endif
