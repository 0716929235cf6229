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
	uint64_t size_opt = (uint64_t)256 << 20;
	double seconds = 1.0;
	long threads_opt = 1;
	int json = 0;
	const struct benchopt opts[] = {
		BENCHOPT_SIZE_ROW("size", &size_opt, 4096, 1ull << 40, 1),
		BENCHOPT_SECONDS_ROW(&seconds),
		BENCHOPT_INT_ROW("threads", &threads_opt, 1, 1024),
		BENCHOPT_FLAG_ROW("json", &json),
	};
	int rc = benchopt_parse("memcpy_bw", argc, argv, opts, sizeof(opts) / sizeof(opts[0]), NULL,
				usage);
	if (rc >= 0)
		return rc;
	size_t size = (size_t)size_opt;
	int threads = (int)threads_opt;
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
