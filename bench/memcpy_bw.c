/* bench/memcpy_bw: memory copy bandwidth, a limit for bench/compare.sh.
 *
 * Each thread copies its own source buffer into its own destination buffer
 * (both larger than the last-level cache, touched before timing) with
 * memcpy, over and over, for the given time. Prints the bytes copied per
 * second by all threads together (each copied byte is read once and written
 * once). Figures only.
 *
 * usage: memcpy_bw [--size BYTES] [--seconds S] [--threads N] [--json]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchopt.h"
#include "bytesize.h"

struct worker {
	pthread_t tid;
	size_t size;
	double seconds;
	uint64_t bytes;
	double elapsed;
	int failed;
};

static atomic_int start_flag;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	unsigned char *src = NULL, *dst = NULL;
	if (posix_memalign((void **)&src, 4096, w->size) ||
	    posix_memalign((void **)&dst, 4096, w->size)) {
		w->failed = 1;
		free(src);
		return NULL;
	}
	memset(src, 0x5a, w->size);
	memset(dst, 0xa5, w->size);
	while (!atomic_load(&start_flag))
		;
	double t0 = now_s(), t;
	uint64_t bytes = 0;
	do {
		memcpy(dst, src, w->size);
		/* Keep the copy from being optimized away or merged. */
		__asm__ volatile("" : : "r"(dst) : "memory");
		bytes += w->size;
		t = now_s();
	} while (t - t0 < w->seconds);
	w->bytes = bytes;
	w->elapsed = t - t0;
	free(src);
	free(dst);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: memcpy_bw [--size BYTES] [--seconds S] [--threads N] [--json]\n"
		   "  --size BYTES   buffer per thread, 4K to 1T, K/M/G/T suffixes (default 256M)\n"
		   "  --seconds S    how long to copy (default 1)\n"
		   "  --threads N    copying threads, each with its own buffers (default 1)\n"
		   "  --json         print one JSON object\n");
}

int main(int argc, char **argv)
{
	size_t size = (size_t)256 << 20;
	double seconds = 1.0;
	int threads = 1, json = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--size") && v) {
			uint64_t n;
			if (benchopt_size("memcpy_bw", "size", v, 4096, 1ull << 40, 1, &n) < 0)
				return 2;
			size = (size_t)n;
			i++;
		} else if (!strcmp(a, "--seconds") && v) {
			if (benchopt_seconds("memcpy_bw", v, &seconds) < 0)
				return 2;
			i++;
		} else if (!strcmp(a, "--threads") && v) {
			long t;
			if (benchopt_int("memcpy_bw", "threads", v, 1, 1024, &t) < 0)
				return 2;
			threads = (int)t;
			i++;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "memcpy_bw: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	if (!w) {
		perror("memcpy_bw: calloc");
		return 1;
	}
	for (int i = 0; i < threads; i++) {
		w[i].size = size;
		w[i].seconds = seconds;
		if (pthread_create(&w[i].tid, NULL, run, &w[i])) {
			fprintf(stderr, "memcpy_bw: pthread_create failed\n");
			return 1;
		}
	}
	/* Let the threads allocate and touch their buffers before timing. */
	struct timespec settle = { 0, 200 * 1000 * 1000 };
	nanosleep(&settle, NULL);
	atomic_store(&start_flag, 1);
	uint64_t bytes = 0;
	double elapsed = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].tid, NULL);
		if (w[i].failed) {
			fprintf(stderr, "memcpy_bw: cannot allocate 2 x %zu bytes\n", size);
			return 1;
		}
		bytes += w[i].bytes;
		if (w[i].elapsed > elapsed)
			elapsed = w[i].elapsed;
	}
	double gbps = (double)bytes / elapsed / 1e9;
	if (json)
		printf("{\"threads\":%d,\"size\":%zu,\"seconds\":%.3f,\"bytes\":%llu,"
		       "\"gb_s\":%.3f,\"gbit_s\":%.3f}\n",
		       threads, size, elapsed, (unsigned long long)bytes, gbps, gbps * 8);
	else
		printf("memcpy: %d thread(s), %zu-byte buffers: %.2f GB/s (%.1f Gbit/s)\n", threads,
		       size, gbps, gbps * 8);
	free(w);
	return 0;
}
