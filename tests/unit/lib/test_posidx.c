/*
 * test_posidx: lib/posidx.c — positions found by key after puts and after
 * the table grows, colliding hashes kept apart by the caller's compare, a
 * rebuild over a new array, and a failed lookup ending at an empty slot.
 */
#include "posidx.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* The array the index points into: keys whose hash is key / 3, so three
 * keys share each hash (the probing must step over the others). */
static uint64_t keys[5000];

static uint64_t hash_at(const void *arr, size_t i)
{
	return ((const uint64_t *)arr)[i] / 3;
}

static size_t find(const struct posidx *x, const uint64_t *arr, uint64_t key)
{
	for (size_t j = posidx_first(x, key / 3); x->slot[j]; j = posidx_next(x, j))
		if (arr[x->slot[j] - 1] == key)
			return x->slot[j] - 1;
	return SIZE_MAX;
}

Test(posidx, finds_every_position_as_it_grows)
{
	struct posidx x = { 0 };
	for (size_t i = 0; i < 5000; i++) {
		keys[i] = 7 * i + 1;
		cr_assert_eq(posidx_reserve(&x, i, i + 1, hash_at, keys), 0);
		cr_assert_geq(x.size, 2 * (i + 1) + 2, "at most half full");
		posidx_put(&x, hash_at(keys, i), i);
		if (i % 997 == 0)
			for (size_t k = 0; k <= i; k++)
				cr_assert_eq(find(&x, keys, keys[k]), k, "key %llu after %zu puts",
					     (unsigned long long)keys[k], i + 1);
	}
	for (size_t k = 0; k < 5000; k++)
		cr_assert_eq(find(&x, keys, keys[k]), k);
	cr_expect_eq(find(&x, keys, 0), SIZE_MAX, "not there");
	cr_expect_eq(find(&x, keys, 7 * 5000 + 1), SIZE_MAX);
	size_t size = x.size;
	cr_assert_eq(posidx_reserve(&x, 5000, 100, hash_at, keys), 0);
	cr_expect_eq(x.size, size, "room enough: nothing rebuilt");
	posidx_free(&x);
	cr_expect_null(x.slot);
	cr_expect_eq(x.size, 0);
}

Test(posidx, rebuild_indexes_a_new_array)
{
	static uint64_t other[64];
	struct posidx x = { 0 };
	for (size_t i = 0; i < 64; i++)
		keys[i] = i;
	cr_assert_eq(posidx_rebuild(&x, 64, 64, hash_at, keys), 0);
	cr_expect_eq(find(&x, keys, 40), 40);
	/* the same keys in reverse order: positions follow the new array */
	for (size_t i = 0; i < 64; i++)
		other[i] = 63 - i;
	cr_assert_eq(posidx_rebuild(&x, 64, 64, hash_at, other), 0);
	for (size_t k = 0; k < 64; k++)
		cr_assert_eq(find(&x, other, k), 63 - k);
	/* fewer entries than before, a smaller table */
	cr_assert_eq(posidx_rebuild(&x, 3, 3, hash_at, other), 0);
	cr_expect_eq(x.size, 16);
	cr_expect_eq(find(&x, other, 62), 1);
	cr_expect_eq(find(&x, other, 40), SIZE_MAX, "not among the first 3");
	posidx_free(&x);
}
