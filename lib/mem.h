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
 */
#ifndef SEED_MEM_H
#define SEED_MEM_H

#include <stddef.h>
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

#endif
