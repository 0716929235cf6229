/* bench/tsc_hz: the time-stamp counter's rate, for bench/veth.sh.
 *
 * The dpdk backend counts its workers' busy time in TSC cycles
 * (seed_busy_cycles_total); turning them into CPU seconds needs the TSC's
 * frequency. This reads the TSC (rdtsc) and CLOCK_MONOTONIC_RAW before and
 * after sleeping, a few times, and prints the median rate in Hz (the
 * machine must have an invariant TSC: /proc/cpuinfo's constant_tsc and
 * nonstop_tsc, as every x86 server since about 2008). Prints 0 and exits 1
 * on a CPU without a TSC. Figures only.
 *
 * usage: tsc_hz [--seconds S]   (S: the whole measurement, default 0.5)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchopt.h"

#define ROUNDS 5

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
static inline uint64_t tsc(void)
{
	return __rdtsc();
}
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
static inline uint64_t tsc(void)
{
	return 0;
}
#endif

static uint64_t ns_raw(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	double seconds = 0.5;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			if (benchopt_seconds("tsc_hz", argv[++i], &seconds))
				return 2;
		} else {
			fprintf(stderr, "usage: tsc_hz [--seconds S]\n");
			return !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") ? 0 : 2;
		}
	}
	if (!HAVE_TSC) {
		puts("0");
		return 1;
	}
	double hz[ROUNDS];
	long nap = (long)(seconds / ROUNDS * 1e9);
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t n0 = ns_raw(), c0 = tsc();
		struct timespec ts = { nap / 1000000000, nap % 1000000000 };
		nanosleep(&ts, NULL);
		uint64_t n1 = ns_raw(), c1 = tsc();
		hz[r] = (double)(c1 - c0) * 1e9 / (double)(n1 - n0);
	}
	qsort(hz, ROUNDS, sizeof(hz[0]), cmp_d);
	printf("%.0f\n", hz[ROUNDS / 2]);
	return 0;
}
