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
