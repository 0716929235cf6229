/*
 * Unit tests for lib/fnv.h: 64-bit FNV-1a against the published test
 * vectors (Fowler, Noll, Vo: "FNV-1a 64 bit" in the reference test suite,
 * http://www.isthe.com/chongo/tech/comp/fnv/), and its reading of exactly
 * n bytes.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fnv.h"

static const struct {
	const char *s;
	uint64_t h;
} vectors[] = {
	{ "", 0xcbf29ce484222325ull },	    { "a", 0xaf63dc4c8601ec8cull },
	{ "b", 0xaf63df4c8601f1a5ull },	    { "c", 0xaf63de4c8601eff2ull },
	{ "foo", 0xdcb27518fed9d577ull },   { "foob", 0xdd120e790c2512afull },
	{ "fooba", 0xcac165afa2fef40aull }, { "foobar", 0x85944171f73967e8ull },
};

Test(fnv, published_vectors)
{
	for (size_t k = 0; k < sizeof(vectors) / sizeof(vectors[0]); k++) {
		size_t n = strlen(vectors[k].s);
		/* An exact-size heap copy: a read past n is an ASan error. */
		char *p = malloc(n ? n : 1);

		cr_assert_not_null(p);
		memcpy(p, vectors[k].s, n);
		uint64_t got = fnv1a64(p, n);

		free(p);
		cr_assert_eq(got, vectors[k].h, "\"%s\": got 0x%016llx, want 0x%016llx",
			     vectors[k].s, (unsigned long long)got,
			     (unsigned long long)vectors[k].h);
	}
}

/* The offset basis is the hash of nothing, whatever the pointer. */
Test(fnv, empty_is_the_offset_basis)
{
	cr_assert_eq(FNV1A64_INIT, 0xcbf29ce484222325ull);
	cr_assert_eq(fnv1a64("xyz", 0), FNV1A64_INIT);
}

/* Only the n bytes count: a NUL is data, bytes after n are not. */
Test(fnv, hashes_exactly_n_bytes)
{
	/* FNV-1a of one zero byte: (basis ^ 0) * prime mod 2^64. */
	cr_assert_eq(fnv1a64("\0", 1), 0xaf63bd4c8601b7dfull);
	cr_assert_eq(fnv1a64("foobar!", 6), 0x85944171f73967e8ull);
	cr_assert_neq(fnv1a64("a\0", 2), fnv1a64("a", 1));
	cr_assert_neq(fnv1a64("ab", 2), fnv1a64("ba", 2));
}

/* Bytes above 0x7f are taken unsigned (a signed char would sign-extend
 * into the upper bits before the XOR). */
Test(fnv, high_bytes_are_unsigned)
{
	/* (basis ^ 0xff) * prime mod 2^64, computed by hand: */
	uint64_t want = (0xcbf29ce484222325ull ^ 0xffull) * 0x100000001b3ull;

	cr_assert_eq(fnv1a64("\xff", 1), want);
}
