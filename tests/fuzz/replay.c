/*
 * replay: runs a fuzz target over every file of a corpus directory, so each
 * committed corpus is an ordinary test on every build and compiler.
 *
 * Shared by all tests/fuzz/fuzz_<parser>.c: it only knows the libFuzzer
 * entry points. Files are read in name order, each into a buffer of exactly
 * its size (so ASan flags any read past the input), and capped at
 * REPLAY_MAX_INPUT like libFuzzer's -max_len. A crash or abort in the target
 * fails the test; exit 1 also when the directory is missing or holds no
 * regular file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPLAY_MAX_INPUT ((size_t)1 << 20)

extern int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* optional in a target, as with libFuzzer */
extern int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Reads at most REPLAY_MAX_INPUT bytes of dir/name; 1 done, 0 skipped. */
static int replay_one(int dfd, const char *dir, const char *name)
{
	struct stat st;
	uint8_t *buf;
	size_t len = 0, want;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "replay: %s/%s: %s\n", dir, name, strerror(errno));
		exit(1);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	want = (uint64_t)st.st_size < REPLAY_MAX_INPUT ? (size_t)st.st_size : REPLAY_MAX_INPUT;
	buf = malloc(want ? want : 1);
	if (!buf) {
		fprintf(stderr, "replay: out of memory\n");
		exit(1);
	}
	while (len < want) {
		ssize_t n = read(fd, buf + len, want - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "replay: %s/%s: %s\n", dir, name, strerror(errno));
			exit(1);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 1;
}

int main(int argc, char **argv)
{
	struct dirent **names;
	size_t count = 0;
	int n, dfd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 1;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		fprintf(stderr, "replay: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	n = scandir(argv[1], &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.')
			count += (size_t)replay_one(dfd, argv[1], names[i]->d_name);
		free(names[i]);
	}
	free(names);
	close(dfd);
	printf("replay: %zu inputs from %s\n", count, argv[1]);
	if (!count) {
		fprintf(stderr, "replay: %s holds no input\n", argv[1]);
		return 1;
	}
	return 0;
}
