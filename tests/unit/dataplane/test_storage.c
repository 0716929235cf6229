/*
 * Tests for dataplane/storage.c: O_DIRECT reads into registered memory,
 * completion through the eventfd that the network loop watches (netio
 * NETIO_EV_WAKE), depth bound, and read errors reported per read; and every
 * shard of store objects of both layouts (version 4, compact, and version 3
 * in a store upgraded to format 4) read the way the data plane reads them.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../storeutil.h"
#include "storage_fixture.h"
#include "hash.h"
#include "netio.h"
#include "served.h"
#include "storage.h"
#include "store_int.h"

/* write_temp of len bytes, byte i = i * mul + add, also left in data. */
static void write_pattern_temp(char *path, uint8_t *data, size_t len, unsigned mul, unsigned add)
{
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * mul + add);
	write_temp(path, data, len);
}

/* A storage of the given depth over mlen bytes of fresh memory (*out_mem). */
static struct storage *storage_over(unsigned depth, size_t mlen, uint8_t **out_mem)
{
	uint8_t *mem = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	struct storage *s;
	struct seed_err e;

	cr_assert_neq(mem, MAP_FAILED);
	seed_err_clear(&e);
	cr_assert_eq(storage_create(depth, mem, mlen, &s, &e), 0, "%s", e.msg);
	*out_mem = mem;
	return s;
}

Test(storage, direct_reads_wake_the_network_loop)
{
	char path[] = "/var/tmp/test_storage.XXXXXX";
	size_t flen = 4096 + 3 * 16384;
	uint8_t *data = malloc(flen);
	for (size_t i = 0; i < flen; i++)
		data[i] = (uint8_t)(i * 29 + (i >> 12));
	write_temp(path, data, flen);
	int fd = open(path, O_RDONLY | O_DIRECT);
	int direct = fd >= 0;
	if (!direct)
		fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);

	size_t mlen = 8 * 16384;
	uint8_t *mem;
	struct storage *s = storage_over(2, mlen, &mem);
	struct seed_err e;
	seed_err_clear(&e);

	struct netio *n;
	struct netio_config cfg = { .max_conns = 4 };
	cr_assert_eq(netio_uring_ops.create(&cfg, &n, &e), 0, "%s", e.msg);
	cr_assert_eq(netio_uring_ops.watch(n, storage_eventfd(s), 99, &e), 0, "%s", e.msg);

	cr_assert_eq(storage_read(s, fd, -1, 4096, mem, 16384, 1), 0);
	cr_assert_eq(storage_read(s, fd, -1, 4096 + 32768, mem + 16384, 16384, 2), 0);
	cr_assert_eq(storage_read(s, fd, -1, 0, mem + 32768, 4096, 3), -EAGAIN, "depth is 2");
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
	cr_assert_eq(storage_read(s, -1, -1, 0, mem, 4096, 7), 0);
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

/* Reads name a registered file by index: the fd argument is then unused
 * (an invalid one proves it), an empty slot fails the read, an index past
 * the table falls back to the fd, and a slot pointed at another file is
 * read from that file. */
Test(storage, registered_files_are_read_by_index)
{
	char path[] = "/var/tmp/test_storage_reg.XXXXXX";
	char path2[] = "/var/tmp/test_storage_reg2.XXXXXX";
	uint8_t data[8192], data2[8192];
	write_pattern_temp(path, data, sizeof(data), 13, 5);
	write_pattern_temp(path2, data2, sizeof(data2), 29, 11);
	int fds[2] = { open(path, O_RDONLY), open(path2, O_RDONLY) };
	cr_assert(fds[0] >= 0 && fds[1] >= 0);
	size_t mlen = 4 * 16384;
	uint8_t *mem;
	struct storage *s = storage_over(4, mlen, &mem);
	struct seed_err e;
	seed_err_clear(&e);
	cr_expect_eq(storage_file_capacity(s), 0);
	cr_expect_eq(storage_set_file(s, 0, fds[0]), -EINVAL, "no table yet");
	cr_assert_eq(storage_register_files(s, 2, &e), 0, "%s", e.msg);
	cr_expect_eq(storage_file_capacity(s), 2);
	seed_err_clear(&e);
	cr_expect_lt(storage_register_files(s, 4, &e), 0, "a second registration is refused");
	cr_assert_eq(storage_set_file(s, 1, fds[0]), 0);
	cr_expect_eq(storage_set_file(s, 2, fds[0]), -EINVAL, "the table holds 2");

	cr_assert_eq(storage_read(s, -1, 1, 4096, mem, 4096, 1), 0);
	cr_assert_eq(storage_read(s, -1, 7, 0, mem + 4096, 4096, 2), 0);
	cr_assert_eq(storage_read(s, -1, 0, 0, mem + 8192, 4096, 3), 0);
	storage_submit(s);
	struct storage_done d[4];
	cr_assert_eq(reap_waiting(s, d, 4, 3), 3);
	for (int i = 0; i < 3; i++) {
		if (d[i].cookie == 1) {
			cr_expect_eq(d[i].res, 4096, "registered index 1: %d", d[i].res);
			cr_expect_arr_eq(mem, data + 4096, 4096);
		} else if (d[i].cookie == 2) {
			cr_expect_eq(d[i].res, -EBADF,
				     "index 7 is not in the table: the fd (-1) is used");
		} else {
			cr_expect_eq(d[i].res, -EBADF, "slot 0 is empty: %d", d[i].res);
		}
	}
	/* the slot now names the second file; the first is closed by its owner */
	cr_assert_eq(storage_set_file(s, 1, fds[1]), 0);
	close(fds[0]);
	cr_assert_eq(storage_read(s, -1, 1, 0, mem, 4096, 4), 0);
	storage_submit(s);
	cr_assert_eq(reap_waiting(s, d, 4, 1), 1);
	cr_expect_eq(d[0].res, 4096);
	cr_expect_arr_eq(mem, data2, 4096);
	cr_assert_eq(storage_set_file(s, 1, -1), 0);
	cr_assert_eq(storage_read(s, -1, 1, 0, mem, 4096, 5), 0);
	storage_submit(s);
	cr_assert_eq(reap_waiting(s, d, 4, 1), 1);
	cr_expect_eq(d[0].res, -EBADF, "an emptied slot: %d", d[0].res);
	storage_destroy(s);
	munmap(mem, mlen);
	close(fds[1]);
	unlink(path);
	unlink(path2);
}

/* A busy-polling loop reaps on every pass: the eventfd goes (no system
 * call per reap), and reads still complete and are reaped, bytes intact. */
Test(storage, polled_reaping_needs_no_eventfd)
{
	char path[] = "/var/tmp/test_storage_poll.XXXXXX";
	uint8_t data[8192];
	write_pattern_temp(path, data, sizeof(data), 7, 3);
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	size_t mlen = 2 * 16384;
	uint8_t *mem;
	struct storage *s = storage_over(2, mlen, &mem);
	cr_assert_geq(storage_eventfd(s), 0);
	storage_set_polled(s);
	cr_expect_eq(storage_eventfd(s), -1);
	storage_set_polled(s); /* twice is harmless */
	cr_assert_eq(storage_read(s, fd, -1, 4096, mem, 4096, 9), 0);
	storage_submit(s);
	struct storage_done d[2];
	cr_assert_eq(reap_waiting(s, d, 2, 1), 1);
	cr_expect_eq(d[0].cookie, 9u);
	cr_expect_eq(d[0].res, 4096);
	cr_expect_arr_eq(mem, data + 4096, 4096);
	storage_destroy(s);
	munmap(mem, mlen);
	close(fd);
	unlink(path);
}

/*
 * The data plane reads a block, or a parity shard to rebuild one, with
 * O_DIRECT at the place store_shard gives, rounded up to 4 KiB, and checks
 * the bytes against its table entry. In a store upgraded from format 3 both
 * layouts sit side by side: objects of version 3 (whole-block parity,
 * tables in sectors of their own) and of version 4 (a one-block last stripe
 * with 4 KiB parity shards, tables in the header sectors). Each object of
 * each is loaded as the data plane loads it (served), with its own version,
 * and every data and parity shard read through storage matches its entry.
 */
Test(storage, every_shard_of_both_object_layouts_reads_direct)
{
	char dir[] = "/var/tmp/test_storage_store.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char tree[sizeof(dir) + 16], sp[sizeof(dir) + 16], p[sizeof(dir) + 64];
	snprintf(tree, sizeof(tree), "%s/tree", dir);
	snprintf(sp, sizeof(sp), "%s/store", dir);
	cr_assert_eq(mkdir(tree, 0755), 0);
	static const size_t lens[] = { 1, 3500, 16385, 262145, 300000 };
	struct seed_err e;
	seed_err_clear(&e);
	for (uint32_t v = 3; v <= 4; v++) {
		for (size_t i = 0; i < TU_N(lens); i++) {
			snprintf(p, sizeof(p), "%s/f%zu", tree, i);
			su_write_pattern(p, lens[i], 37 + v, (unsigned)i + 50 * v, 9);
		}
		struct store *st;
		cr_assert_eq(store_open(sp, STORE_CREATE, &st, &e), 0, "%s", e.msg);
		cr_assert_eq(store_set_obj_version(st, v), 0);
		char ver[4];
		snprintf(ver, sizeof(ver), "%u", v);
		struct ingest_opts o = su_opts("t", "n", ver, METAINFO_V2, 65536);
		su_ingest_into(st, tree, &o, NULL);
		store_close(st);
	}
	struct served *sv;
	cr_assert_eq(served_load(sp, &sv, &e), 0, "%s", e.msg);
	cr_assert_eq(served_object_count(sv), 2 * TU_N(lens));

	size_t mlen = 16384;
	uint8_t *mem;
	struct storage *s = storage_over(1, mlen, &mem);
	unsigned seen[5] = { 0 }, shards = 0, short_parity = 0;
	for (uint32_t h = 0; h < served_object_count(sv); h++) {
		const struct served_object *ob = served_object_load(sv, h);
		cr_assert_not_null(ob);
		cr_assert_eq(ob->unusable, 0);
		cr_assert(ob->version == 3 || ob->version == 4, "version %u", ob->version);
		seen[ob->version]++;
		struct store_geom g;
		served_object_geom(ob, &g);
		int fd = served_open_object(sv, h);
		cr_assert_geq(fd, 0);
		struct stat sb;
		cr_assert_eq(fstat(fd, &sb), 0);
		cr_assert_eq((uint64_t)sb.st_size, g.size, "the layout of its version");
		for (uint64_t stp = 0; stp < g.n_stripes; stp++)
			for (uint32_t i = 0; i < g.k + g.m; i++) {
				uint64_t off, ent;
				uint32_t len = store_shard(&g, stp, i, &off, &ent);
				if (!len)
					continue;
				uint32_t rlen = (len + 4095) & ~4095u;
				cr_assert_eq(off % 4096, 0);
				memset(mem, 0xee, rlen);
				cr_assert_eq(storage_read(s, fd, -1, off, mem, rlen, ent), 0);
				storage_submit(s);
				struct storage_done d;
				cr_assert_eq(reap_waiting(s, &d, 1, 1), 1);
				cr_assert_geq(d.res, (int32_t)len, "shard %u of stripe %llu: %d", i,
					      (unsigned long long)stp, d.res);
				uint8_t x[16];
				hash_xxh128(mem, len, x);
				cr_assert_arr_eq(x, ob->block_xxh + ent * 16, 16,
						 "version %u, %llu bytes: shard %u of stripe %llu",
						 ob->version, (unsigned long long)ob->length, i,
						 (unsigned long long)stp);
				shards++;
				short_parity += i >= g.k && len < STORE_BLOCK;
			}
		close(fd);
	}
	cr_assert_eq(seen[3], TU_N(lens));
	cr_assert_eq(seen[4], TU_N(lens));
	/* 1, 3,500 and 262,145 bytes end in a stripe of one short block: two
	 * short parity shards each, in version 4 only */
	cr_assert_eq(short_parity, 3 * 2);
	cr_assert_gt(shards, 0);
	storage_destroy(s);
	munmap(mem, mlen);
	served_free(sv);
	tu_rmtree(dir);
}

/* Which storage ring a store gets (docs/dataplane.md, "Polled reads"):
 * a store on no block device (tmpfs) never polls, and says so; the disk
 * under /var/tmp polls exactly when its queue says it has poll queues. */
Test(storage, poll_queues_are_read_from_the_stores_device)
{
	char why[256] = "";
	cr_assert_eq(storage_device_polls("/dev/shm", why, sizeof(why)), 0);
	cr_assert(strstr(why, "no block device"), "%s", why);
	why[0] = 0;
	cr_assert_eq(storage_device_polls("/nonexistent/store", why, sizeof(why)), 0);
	cr_assert(strstr(why, "/nonexistent/store"), "%s", why);
	why[0] = 0;
	int polls = storage_device_polls("/var/tmp", why, sizeof(why));
	cr_assert(strstr(why, polls ? "has poll queues" : "has no poll queues"), "%d: %s", polls,
		  why);
}

/* A polled ring's reads are found by polling (no eventfd), and a device
 * or file system that cannot poll refuses the read at once instead of
 * leaving it hanging; the probe says which before a worker starts. */
Test(storage, a_polled_ring_completes_or_refuses_at_once)
{
	char path[] = "/var/tmp/test_storage_poll.XXXXXX";
	uint8_t *data = malloc(3 * 16384);
	for (size_t i = 0; i < 3 * 16384; i++)
		data[i] = (uint8_t)(i * 7 + 1);
	write_temp(path, data, 3 * 16384);
	int fd = open(path, O_RDONLY | O_DIRECT);
	cr_assert_geq(fd, 0);
	uint8_t *mem =
		mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	cr_assert_neq(mem, MAP_FAILED);
	struct storage *s;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(storage_create_iopoll(8, mem, 1 << 20, &s, &e), 0, "%s", e.msg);
	cr_assert(storage_is_iopoll(s));
	cr_assert_eq(storage_eventfd(s), -1, "nothing to wake: the owner polls");
	cr_assert_eq(storage_read(s, fd, -1, 16384, mem, 16384, 5), 0);
	storage_submit(s);
	struct storage_done d;
	int n = 0;
	for (int i = 0; i < 1000 && !(n = storage_reap(s, &d, 1)); i++)
		usleep(1000);
	cr_assert_eq(n, 1, "the polled read neither completed nor failed within 1 s");
	cr_assert_eq(d.cookie, 5);
	char why[512] = "";
	int probe = storage_probe_iopoll(path, why, sizeof(why));
	if (d.res == -EOPNOTSUPP) {
		/* this machine's disk has no poll queues: the probe says so */
		cr_assert_eq(probe, 0);
		cr_assert(strstr(why, "Operation not supported"), "%s", why);
	} else {
		cr_assert_eq(d.res, 16384, "res %d", d.res);
		cr_assert_eq(memcmp(mem, data + 16384, 16384), 0);
		cr_assert_eq(probe, 1, "%s", why);
	}
	cr_assert_eq(storage_inflight(s), 0);
	storage_destroy(s);
	/* a file that is not there is named */
	cr_assert_eq(storage_probe_iopoll("/nonexistent/FORMAT", why, sizeof(why)), 0);
	cr_assert(strstr(why, "/nonexistent/FORMAT"), "%s", why);
	munmap(mem, 1 << 20);
	close(fd);
	unlink(path);
	free(data);
}
