/*
 * storage_fixture: what the test files that drive dataplane/storage.c's
 * ring by hand share (test_storage.c, test_readahead.c): a temporary file
 * of given bytes to read from, and reaping without a network loop (no
 * eventfd watch: the tests poll, sleeping between tries).
 */
#ifndef SEED_TEST_STORAGE_FIXTURE_H
#define SEED_TEST_STORAGE_FIXTURE_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "storage.h"

/* Writes data[0..len) to a new file made from the mkstemp template path
 * (rewritten in place); the caller unlinks it. */
static inline void write_temp(char *path, const uint8_t *data, size_t len)
{
	int wfd = mkstemp(path);

	cr_assert_geq(wfd, 0, "mkstemp(%s)", path);
	cr_assert_eq(write(wfd, data, len), (ssize_t)len);
	close(wfd);
}

/* Reaps into d[0..cap) without a network loop, sleeping 5 ms between
 * tries, until want reads are done or a second has passed: how many were. */
static inline int reap_waiting(struct storage *s, struct storage_done *d, int cap, int want)
{
	int done = 0;

	for (int round = 0; round < 200 && done < want; round++) {
		done += storage_reap(s, d + done, cap - done);
		if (done < want)
			usleep(5000);
	}
	return done;
}

#endif
