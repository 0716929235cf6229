/*
 * tsan_scache: the shared cache's stress run (scache_stress.h) as a plain
 * program, for the ThreadSanitizer build that tsan_scache.sh makes: the
 * suite's ASan+UBSan build cannot carry TSan, and criterion's runner would
 * only add threads and forks TSan does not need to see.
 *
 * Usage: tsan_scache [seconds]. Exit 0: no failed check (TSan itself exits
 * with TSAN_OPTIONS' exitcode on a report); 1: a check failed.
 */
#include <stdio.h>
#include <stdlib.h>

#include "scache_stress.h"

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	/* four workers; a cache of 64 and of 256 slots, each under a key
	 * space four times its size; then the small one under pressure: pins
	 * and open fills can take every slot and the waiter pool holds 8, so
	 * both kinds of BUSY happen while evictions scan past pinned slots */
	const struct st_opts runs[] = {
		{ .threads = 4,
		  .slots = 64,
		  .keys = 256,
		  .max_ops = 2000000,
		  .seconds = seconds,
		  .seed = 1 },
		{ .threads = 4,
		  .slots = 256,
		  .keys = 1024,
		  .max_ops = 2000000,
		  .seconds = seconds,
		  .seed = 2 },
		{ .threads = 4,
		  .slots = 64,
		  .keys = 256,
		  .max_ops = 2000000,
		  .seconds = seconds,
		  .seed = 3,
		  .held = 16,
		  .max_waiters = 8 },
	};
	int rc = 0;

	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		char msg[256];
		uint64_t ops = 0;

		if (scache_stress(&runs[i], msg, sizeof(msg), &ops) != 0) {
			fprintf(stderr, "tsan_scache: run %zu (%u slots): %s\n", i, runs[i].slots,
				msg);
			rc = 1;
		} else {
			printf("tsan_scache: run %zu (%u slots, %u keys, %u workers): %llu "
			       "operations, no failed check (%s)\n",
			       i, runs[i].slots, runs[i].keys, runs[i].threads,
			       (unsigned long long)ops, msg);
		}
	}
	return rc;
}
