/*
 * Unit tests for lib/dlist.h: order after appends and removes from the
 * head, the middle and the tail, checked by walking both directions
 * against an array model; a node removed twice; an empty head.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "dlist.h"
#include "../testutil.h"

struct item {
	uint32_t id;
	struct dlist node;
};

#define N_ITEMS 8

/* The list h holds exactly want[0..n) in order, forwards and backwards. */
static void expect_order(const struct dlist *h, const uint32_t *want, size_t n)
{
	size_t k = 0;
	for (const struct dlist *p = h->next; p != h; p = p->next, k++) {
		cr_assert_lt(k, n, "more than %zu nodes forwards", n);
		cr_assert_eq(DLIST_ENTRY(p, struct item, node)->id, want[k], "node %zu forwards",
			     k);
	}
	cr_assert_eq(k, n, "%zu nodes forwards, want %zu", k, n);
	for (const struct dlist *p = h->prev; p != h; p = p->prev) {
		cr_assert_gt(k, 0, "more than %zu nodes backwards", n);
		k--;
		cr_assert_eq(DLIST_ENTRY(p, struct item, node)->id, want[k], "node %zu backwards",
			     k);
	}
	cr_assert_eq(k, 0);
	cr_assert_eq(dlist_empty(h), n == 0);
	if (n)
		cr_assert_eq(DLIST_ENTRY(dlist_first(h), struct item, node)->id, want[0]);
	else
		cr_assert_null(dlist_first(h));
}

/* Removes the model's element at position at, as the list does. */
static size_t model_remove(uint32_t *m, size_t n, size_t at)
{
	for (size_t i = at; i + 1 < n; i++)
		m[i] = m[i + 1];
	return n - 1;
}

Test(dlist, random_appends_and_removes_match_a_model)
{
	struct item it[N_ITEMS];
	struct dlist h;
	uint32_t model[N_ITEMS];
	size_t n = 0;

	dlist_init(&h);
	for (uint32_t i = 0; i < N_ITEMS; i++) {
		it[i].id = i;
		dlist_init(&it[i].node);
		cr_assert(!dlist_linked(&it[i].node));
	}
	tu_seed(7);
	for (int step = 0; step < 2000; step++) {
		uint32_t i = (uint32_t)(tu_rnd() % N_ITEMS);
		size_t at = n;
		for (size_t k = 0; k < n; k++)
			if (model[k] == i)
				at = k;
		if (at < n) {
			dlist_remove(&it[i].node);
			n = model_remove(model, n, at);
			cr_assert(!dlist_linked(&it[i].node), "step %d: %u still linked", step, i);
		} else {
			dlist_append(&h, &it[i].node);
			model[n++] = i;
			cr_assert(dlist_linked(&it[i].node));
		}
		expect_order(&h, model, n);
	}
}

Test(dlist, removing_twice_and_from_no_list_changes_nothing)
{
	struct item a = { .id = 1 }, b = { .id = 2 };
	struct dlist h;
	const uint32_t both[] = { 1, 2 }, only_b[] = { 2 };

	dlist_init(&h);
	dlist_init(&a.node);
	dlist_init(&b.node);
	expect_order(&h, NULL, 0);
	dlist_remove(&a.node); /* in no list */
	dlist_append(&h, &a.node);
	dlist_append(&h, &b.node);
	expect_order(&h, both, 2);
	dlist_remove(&a.node);
	dlist_remove(&a.node);
	expect_order(&h, only_b, 1);
	dlist_remove(&b.node);
	expect_order(&h, NULL, 0);
}
