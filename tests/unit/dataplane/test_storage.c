/*
 * Tests for dataplane/storage.c: O_DIRECT reads into registered memory,
 * completion through the eventfd that the network loop watches (netio
 * NETIO_EV_WAKE), depth bound, and read errors reported per read.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "netio.h"
#include "storage.h"

Test(storage, direct_reads_wake_the_network_loop)
{
	char path[] = "/var/tmp/test_storage.XXXXXX";
	int wfd = mkstemp(path);
	cr_assert_geq(wfd, 0);
	size_t flen = 4096 + 3 * 16384;
	uint8_t *data = malloc(flen);
	for (size_t i = 0; i < flen; i++)
		data[i] = (uint8_t)(i * 29 + (i >> 12));
	cr_assert_eq(write(wfd, data, flen), (ssize_t)flen);
	close(wfd);
	int fd = open(path, O_RDONLY | O_DIRECT);
	int direct = fd >= 0;
	if (!direct)
		fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);

	size_t mlen = 8 * 16384;
	uint8_t *mem = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	cr_assert_neq(mem, MAP_FAILED);
	struct storage *s;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(storage_create(2, mem, mlen, &s, &e), 0, "%s", e.msg);

	struct netio *n;
	struct netio_config cfg = { .max_conns = 4 };
	cr_assert_eq(netio_uring_ops.create(&cfg, &n, &e), 0, "%s", e.msg);
	cr_assert_eq(netio_uring_ops.watch(n, storage_eventfd(s), 99, &e), 0, "%s", e.msg);

	cr_assert_eq(storage_read(s, fd, 4096, mem, 16384, 1), 0);
	cr_assert_eq(storage_read(s, fd, 4096 + 32768, mem + 16384, 16384, 2), 0);
	cr_assert_eq(storage_read(s, fd, 0, mem + 32768, 4096, 3), -EAGAIN, "depth is 2");
	storage_submit(s);

	int woke = 0, done = 0;
	struct storage_done d[4];
	for (int round = 0; round < 100 && done < 2; round++) {
		struct netio_event ev[4];
		int k = netio_uring_ops.poll(n, ev, 4, 50);
		for (int i = 0; i < k; i++)
			if (ev[i].kind == NETIO_EV_WAKE && ev[i].tag == 99)
				woke = 1;
		int r = storage_reap(s, d + done, 4 - done);
		done += r;
	}
	cr_assert(woke, "the storage eventfd woke the network poll");
	cr_assert_eq(done, 2);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(d[i].res, 16384, "read %llu: %d", (unsigned long long)d[i].cookie,
			     d[i].res);
	cr_assert_arr_eq(mem, data + 4096, 16384);
	cr_assert_arr_eq(mem + 16384, data + 4096 + 32768, 16384);
	cr_assert_eq(storage_inflight(s), 0);

	/* an error comes back per read, not as a failure of the ring */
	cr_assert_eq(storage_read(s, -1, 0, mem, 4096, 7), 0);
	storage_submit(s);
	int got = 0;
	for (int round = 0; round < 100 && !got; round++) {
		struct netio_event ev[4];
		netio_uring_ops.poll(n, ev, 4, 20);
		got = storage_reap(s, d, 4);
	}
	cr_assert_eq(got, 1);
	cr_assert_eq(d[0].cookie, 7);
	cr_assert_eq(d[0].res, -EBADF);

	netio_uring_ops.destroy(n);
	storage_destroy(s);
	munmap(mem, mlen);
	close(fd);
	unlink(path);
	free(data);
}
