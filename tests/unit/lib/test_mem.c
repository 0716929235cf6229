/*
 * Unit tests for lib/mem.h: MEM_FREE_ALL frees every pointer it is given
 * (ASan's leak check fails the test on one left out), NULLs included, and
 * evaluates each argument once.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

struct owner {
	char *name;
	int *numbers;
	void *unused; /* never allocated: NULL */
	double *last;
};

Test(mem, frees_every_field_and_the_struct)
{
	struct owner *o = calloc(1, sizeof(*o));

	cr_assert_not_null(o);
	o->name = strdup("release");
	o->numbers = malloc(16 * sizeof(*o->numbers));
	o->last = malloc(sizeof(*o->last));
	cr_assert(o->name && o->numbers && o->last);
	MEM_FREE_ALL(o->name, o->numbers, o->unused, o->last, o);
}

Test(mem, one_pointer_and_only_nulls)
{
	MEM_FREE_ALL(malloc(1));
	MEM_FREE_ALL(NULL, NULL);
}

/* A fresh allocation that counts its calls: the macro names its arguments
 * twice (the array and its sizeof), and only the array may evaluate them. */
static void *counted(int *calls)
{
	(*calls)++;
	return malloc(8);
}

Test(mem, each_argument_evaluated_once)
{
	int calls = 0;

	MEM_FREE_ALL(counted(&calls), counted(&calls), counted(&calls));
	cr_assert_eq(calls, 3);
}

/* mem_grow doubles from the first capacity until need fits, keeps the
 * contents, does nothing when there is room, and refuses sizes that would
 * overflow without touching the array. */
Test(mem, grow_doubles_and_keeps_contents)
{
	int *a = NULL;
	size_t cap = 0;
	cr_assert_eq(mem_grow((void **)&a, &cap, 1, sizeof(*a), 8), 0);
	cr_assert_eq(cap, 8u);
	for (int i = 0; i < 8; i++)
		a[i] = i * 3;
	int *before = a;
	cr_assert_eq(mem_grow((void **)&a, &cap, 8, sizeof(*a), 8), 0);
	cr_assert_eq(cap, 8u, "room already: unchanged");
	cr_assert_eq(a, before);
	cr_assert_eq(mem_grow((void **)&a, &cap, 33, sizeof(*a), 8), 0);
	cr_assert_eq(cap, 64u, "8 doubled until 33 fits");
	for (int i = 0; i < 8; i++)
		cr_assert_eq(a[i], i * 3);
	a[63] = 7; /* the new room is usable (ASan checks) */
	int *kept = a;
	size_t kept_cap = cap;
	cr_assert_eq(mem_grow((void **)&a, &cap, SIZE_MAX / 2 + 2, sizeof(*a), 8), -ENOMEM);
	cr_assert_eq(mem_grow((void **)&a, &cap, SIZE_MAX / 4 + 1, 8, 8), -ENOMEM);
	cr_assert_eq(a, kept, "a refusal leaves the array as it was");
	cr_assert_eq(cap, kept_cap);
	free(a);
	char *b = NULL;
	size_t bcap = 0;
	cr_assert_eq(mem_grow((void **)&b, &bcap, 3, 1, 0), 0);
	cr_assert_eq(bcap, 4u, "first 0 starts at 1");
	free(b);
}
