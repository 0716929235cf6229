/* posidx: see posidx.h. */
#include "posidx.h"

#include <errno.h>
#include <stdlib.h>

int posidx_reserve(struct posidx *x, size_t n, size_t want,
		   uint64_t (*hash_at)(const void *arr, size_t i), const void *arr)
{
	if (x->size && 2 * want + 2 <= x->size)
		return 0;
	return posidx_rebuild(x, n, want, hash_at, arr);
}

int posidx_rebuild(struct posidx *x, size_t n, size_t want,
		   uint64_t (*hash_at)(const void *arr, size_t i), const void *arr)
{
	size_t size = 16;
	while (size < 2 * want + 2)
		size *= 2;
	uint32_t *slot = calloc(size, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	free(x->slot);
	x->slot = slot;
	x->size = size;
	for (size_t i = 0; i < n; i++)
		posidx_put(x, hash_at(arr, i), i);
	return 0;
}

void posidx_put(struct posidx *x, uint64_t h, size_t pos)
{
	size_t j = posidx_first(x, h);
	while (x->slot[j])
		j = posidx_next(x, j);
	x->slot[j] = (uint32_t)pos + 1;
}

void posidx_free(struct posidx *x)
{
	free(x->slot);
	x->slot = NULL;
	x->size = 0;
}
