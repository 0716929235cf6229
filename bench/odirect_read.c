/* bench/odirect_read: O_DIRECT read bandwidth of a set of files (the store's
 * objects), a limit for bench/compare.sh.
 *
 * Keeps DEPTH reads of BLOCK bytes in flight through one io_uring, at random
 * block-aligned offsets or sequentially through the files, for the given
 * time, and prints the bytes read per second. Only whole blocks are read
 * (a file's tail shorter than BLOCK is left out; files shorter than BLOCK
 * are skipped). The page cache plays no part (O_DIRECT). Figures only.
 *
 * usage: odirect_read [--block BYTES] [--depth Q] [--seconds S]
 *                     [--pattern random|sequential] [--json] FILE...
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchopt.h"
#include "bytesize.h"

struct file {
	int fd;
	uint64_t blocks;
};

struct slot {
	void *buf;
	size_t len;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: cheap and good enough for picking blocks. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: odirect_read [--block BYTES] [--depth Q] [--seconds S]\n"
		   "                    [--pattern random|sequential] [--json] FILE...\n"
		   "  --block BYTES   read size, a multiple of 4096, K/M suffixes (default 1M)\n"
		   "  --depth Q       reads in flight (default 16)\n"
		   "  --seconds S     how long to read (default 3)\n"
		   "  --pattern P     random block-aligned offsets or sequential (default random)\n"
		   "  --json          print one JSON object\n");
}

int main(int argc, char **argv)
{
	uint64_t block = 1u << 20;
	long depth_opt = 16;
	double seconds = 3.0;
	int json = 0, sequential = 0;
	static const char *const patterns[] = { "random", "sequential", NULL };
	const struct benchopt opts[] = {
		/* O_DIRECT reads whole 4 KiB sectors */
		BENCHOPT_SIZE_ROW("block", &block, 4096, 64u << 20, 4096),
		BENCHOPT_INT_ROW("depth", &depth_opt, 1, 4096),
		BENCHOPT_SECONDS_ROW(&seconds),
		BENCHOPT_CHOICE_ROW("pattern", &sequential, patterns),
		BENCHOPT_FLAG_ROW("json", &json),
	};
	int i;
	int rc = benchopt_parse("odirect_read", argc, argv, opts, sizeof(opts) / sizeof(opts[0]),
				&i, usage);
	if (rc >= 0)
		return rc;
	unsigned depth = (unsigned)depth_opt;
	int nfiles = argc - i;
	if (nfiles < 1) {
		usage(stderr);
		return 2;
	}
	struct file *files = calloc((size_t)nfiles, sizeof(*files));
	uint64_t *first = calloc((size_t)nfiles + 1, sizeof(*first));
	if (!files || !first) {
		perror("odirect_read: calloc");
		return 1;
	}
	int used = 0;
	uint64_t total_blocks = 0;
	for (int k = 0; k < nfiles; k++) {
		const char *path = argv[i + k];
		int fd = open(path, O_RDONLY | O_DIRECT);
		if (fd < 0) {
			fprintf(stderr, "odirect_read: open %s: %s\n", path, strerror(errno));
			return 1;
		}
		struct stat st;
		if (fstat(fd, &st)) {
			fprintf(stderr, "odirect_read: stat %s: %s\n", path, strerror(errno));
			return 1;
		}
		uint64_t nb = (uint64_t)st.st_size / block;
		if (!nb) {
			close(fd);
			continue;
		}
		files[used].fd = fd;
		files[used].blocks = nb;
		first[used] = total_blocks;
		total_blocks += nb;
		used++;
	}
	first[used] = total_blocks;
	if (!total_blocks) {
		fprintf(stderr, "odirect_read: no file holds a whole %llu-byte block\n",
			(unsigned long long)block);
		return 1;
	}

	struct io_uring ring;
	rc = io_uring_queue_init(depth, &ring, 0);
	if (rc < 0) {
		fprintf(stderr, "odirect_read: io_uring_queue_init: %s\n", strerror(-rc));
		return 1;
	}
	struct slot *slots = calloc(depth, sizeof(*slots));
	if (!slots) {
		perror("odirect_read: calloc");
		return 1;
	}
	for (unsigned k = 0; k < depth; k++) {
		if (posix_memalign(&slots[k].buf, 4096, block)) {
			fprintf(stderr, "odirect_read: cannot allocate %u buffers\n", depth);
			return 1;
		}
		memset(slots[k].buf, 0, block);
	}

	uint64_t next_seq = 0;
	/* Global block number -> (file, offset): binary search over first[]. */
	double t0 = now_s(), deadline = t0 + seconds, t_end = t0;
	uint64_t bytes = 0, reads = 0;
	unsigned inflight = 0;
	int stop = 0;
	for (;;) {
		while (!stop && inflight < depth) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			if (!sqe)
				break;
			uint64_t g = sequential ? next_seq++ % total_blocks : rng() % total_blocks;
			int lo = 0, hi = used - 1;
			while (lo < hi) {
				int mid = (lo + hi + 1) / 2;
				if (first[mid] <= g)
					lo = mid;
				else
					hi = mid - 1;
			}
			unsigned s;
			for (s = 0; s < depth; s++)
				if (!slots[s].len)
					break;
			slots[s].len = block;
			io_uring_prep_read(sqe, files[lo].fd, slots[s].buf, (unsigned)block,
					   (g - first[lo]) * block);
			io_uring_sqe_set_data64(sqe, s);
			inflight++;
		}
		if (!inflight)
			break;
		rc = io_uring_submit_and_wait(&ring, 1);
		if (rc < 0 && rc != -EINTR) {
			fprintf(stderr, "odirect_read: io_uring_submit_and_wait: %s\n",
				strerror(-rc));
			return 1;
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			unsigned s = (unsigned)io_uring_cqe_get_data64(cqe);
			if (cqe->res < 0) {
				fprintf(stderr, "odirect_read: read: %s\n", strerror(-cqe->res));
				return 1;
			}
			if (!stop) {
				bytes += (uint64_t)cqe->res;
				reads++;
			}
			slots[s].len = 0;
			inflight--;
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
		double t = now_s();
		if (!stop && t >= deadline) {
			stop = 1;
			t_end = t;
		}
	}
	double elapsed = t_end - t0;
	double gbps = (double)bytes / elapsed / 1e9;
	if (json)
		printf("{\"pattern\":\"%s\",\"block\":%llu,\"depth\":%u,\"files\":%d,"
		       "\"seconds\":%.3f,\"bytes\":%llu,\"reads\":%llu,\"iops\":%.0f,"
		       "\"gb_s\":%.3f,\"gbit_s\":%.3f,\"mib_s\":%.1f}\n",
		       sequential ? "sequential" : "random", (unsigned long long)block, depth, used,
		       elapsed, (unsigned long long)bytes, (unsigned long long)reads,
		       (double)reads / elapsed, gbps, gbps * 8,
		       (double)bytes / elapsed / 1048576.0);
	else
		printf("O_DIRECT %s reads of %llu bytes, depth %u, %d files: %.2f GB/s (%.1f "
		       "Gbit/s), "
		       "%.0f reads/s\n",
		       sequential ? "sequential" : "random", (unsigned long long)block, depth, used,
		       gbps, gbps * 8, (double)reads / elapsed);
	io_uring_queue_exit(&ring);
	return 0;
}
