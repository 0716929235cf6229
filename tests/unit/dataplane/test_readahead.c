/*
 * Tests for dataplane/readahead.c: the window a miss may read (never past
 * its object, its piece or range, the connection's queue or the worker's
 * budget), the budget's accounting across reads, and what a failed or short
 * read of several blocks does to each block (fault injection: errors and
 * short counts given to ra_complete, then a real short readv through the
 * storage ring from a file cut in the middle of a read-ahead).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "readahead.h"
#include "storage.h"
#include "storage_fixture.h"

#define B RA_BLOCK

static struct ra *mk(uint32_t groups, uint64_t budget)
{
	struct ra *ra;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(ra_create(groups, budget, &ra, &e), 0, "%s", e.msg);
	return ra;
}

/* A group of n blocks from block `first` of an object of obj_len bytes,
 * slots 100 + i, buffers at fake addresses (never touched), submitted. */
static int32_t group_of(struct ra *ra, uint64_t obj_len, uint32_t first, uint32_t n)
{
	int32_t g = ra_begin(ra, 4096 + (uint64_t)first * B);
	cr_assert_geq(g, 0);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t at = (uint64_t)(first + i) * B;
		uint32_t blen = (uint32_t)(obj_len - at < B ? obj_len - at : B);
		ra_add(ra, g, 100 + i, (void *)(uintptr_t)(0x100000 + (uint64_t)i * B), blen,
		       ra_read_len(blen));
	}
	const struct iovec *iov;
	uint32_t niov;
	uint64_t off, len;
	ra_submit(ra, g, &iov, &niov, &off, &len);
	cr_assert_eq(niov, n);
	return g;
}

Test(readahead, never_past_the_object_or_its_padding)
{
	struct ra *ra = mk(4, 1ull << 30);
	const uint64_t lens[] = { 1,	 4095,	      4096,   B - 1,	  B,
				  B + 1, 5 * B + 777, 64 * B, 64 * B + 1, 1000 * B + 12345 };
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		uint64_t len = lens[li];
		uint64_t blocks = (len + B - 1) / B;
		/* the object's data is padded with zeros to whole 4 KiB sectors */
		uint64_t padded = (len + 4095) & ~4095ull;
		for (uint32_t first = 0; first < blocks + 2; first++) {
			uint32_t n = ra_window(ra, len, first, UINT32_MAX, 1000);
			if (first >= blocks) {
				cr_assert_eq(n, 0, "len %lu first %u: past the end", len, first);
				continue;
			}
			cr_assert_geq(n, 1);
			cr_assert_leq(first + n, blocks, "len %lu first %u n %u", len, first, n);
			cr_assert_leq(n, RA_MAX_BLOCKS);
			/* the last block read, rounded to sectors, stays in the padding */
			uint64_t last = first + n - 1, at = last * B;
			uint32_t blen = (uint32_t)(len - at < B ? len - at : B);
			cr_assert_leq(at + ra_read_len(blen), padded, "len %lu block %lu", len,
				      last);
		}
	}
	ra_destroy(ra);
}

Test(readahead, stops_at_the_piece_or_range_and_the_connections_queue)
{
	struct ra *ra = mk(4, 1ull << 30);
	uint64_t len = 1000 * B;
	/* a 256 KiB piece: blocks 16..31; a miss at 20 reads 20..31 */
	cr_assert_eq(ra_window(ra, len, 20, 32, 1000), 12);
	/* a range that ends at its own block: that block only */
	cr_assert_eq(ra_window(ra, len, 20, 21, 1000), 1);
	cr_assert_eq(ra_window(ra, len, 20, 3, 1000), 1, "an end before the block: itself");
	/* an idle connection still gets RA_MIN_AHEAD blocks ahead */
	cr_assert_eq(ra_window(ra, len, 0, 1000, 0), 1 + RA_MIN_AHEAD);
	/* a deep queue: as many blocks ahead as it holds, up to the cap */
	cr_assert_eq(ra_window(ra, len, 0, 1000, 20), 21);
	cr_assert_eq(ra_window(ra, len, 0, 1000, 500), RA_MAX_BLOCKS);
	ra_destroy(ra);
}

Test(readahead, budget_bounds_the_bytes_in_flight)
{
	/* 8 blocks ahead in flight at most */
	struct ra *ra = mk(8, 8 * B);
	uint64_t len = 1000 * B;
	cr_assert_eq(ra_window(ra, len, 0, 64, 1000), 9);
	int32_t g1 = group_of(ra, len, 0, 6); /* 5 blocks ahead */
	cr_assert_eq(ra_inflight(ra), 5 * B);
	/* 3 left: the next miss reads itself and 3 more */
	cr_assert_eq(ra_window(ra, len, 100, 164, 1000), 4);
	int32_t g2 = group_of(ra, len, 100, 4);
	cr_assert_eq(ra_inflight(ra), 8 * B);
	/* spent: one block per miss, and the wait is counted */
	uint64_t waits = ra_counters(ra)->budget_waits;
	cr_assert_eq(ra_window(ra, len, 200, 264, 1000), 1);
	cr_assert_eq(ra_counters(ra)->budget_waits, waits + 1);
	struct ra_block out[RA_MAX_BLOCKS];
	cr_assert_eq(ra_complete(ra, g1, 6 * B, out), 6);
	cr_assert_eq(ra_inflight(ra), 3 * B, "a completed read gives its budget back");
	cr_assert_eq(ra_complete(ra, g2, -EIO, out), 4);
	cr_assert_eq(ra_inflight(ra), 0, "a failed one too");
	/* an aborted group gives it back as well */
	int32_t g3 = group_of(ra, len, 300, 9);
	cr_assert_eq(ra_inflight(ra), 8 * B);
	ra_abort(ra, g3);
	cr_assert_eq(ra_inflight(ra), 0);
	/* a budget of 0 never reads ahead */
	struct ra *none = mk(1, 0);
	cr_assert_eq(ra_window(none, len, 0, 64, 1000), 1);
	ra_destroy(none);
	ra_destroy(ra);
}

Test(readahead, groups_are_bounded)
{
	struct ra *ra = mk(3, 1ull << 30);
	int32_t g[3];
	for (int i = 0; i < 3; i++)
		cr_assert_geq(g[i] = ra_begin(ra, 0), 0);
	cr_assert_eq(ra_begin(ra, 0), -1, "every group in flight: read one block");
	ra_abort(ra, g[1]);
	cr_assert_eq(ra_begin(ra, 0), g[1]);
	/* a group takes RA_MAX_BLOCKS blocks, no more */
	for (uint32_t i = 0; i < RA_MAX_BLOCKS + 5; i++)
		ra_add(ra, g[0], i, (void *)(uintptr_t)(0x1000 * (i + 1)), B, B);
	cr_assert_eq(ra_count(ra, g[0]), RA_MAX_BLOCKS);
	cr_assert_eq(ra_count(ra, 77), 0, "an unknown group is empty");
	struct ra_block out[RA_MAX_BLOCKS];
	cr_assert_eq(ra_complete(ra, g[2], B, out), 0, "never submitted: nothing completes");
	struct seed_err e;
	struct ra *bad;
	seed_err_clear(&e);
	cr_assert_lt(ra_create(0, 1, &bad, &e), 0);
	cr_assert(strstr(e.msg, "groups"), "%s", e.msg);
	ra_destroy(ra);
}

/* Fault injection at the completion: what each block becomes. */
Test(readahead, an_error_or_short_read_fails_only_what_it_did_not_bring)
{
	struct ra *ra = mk(4, 1ull << 30);
	uint64_t len = 5 * B + 5000; /* 6 blocks, the last 5,000 bytes (read as 8 KiB) */
	struct ra_block out[RA_MAX_BLOCKS];

	/* whole: every block, the last at its own length */
	int32_t g = group_of(ra, len, 0, 6);
	cr_assert_eq(ra_complete(ra, g, 5 * B + 8192, out), 6);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(out[i].got, B);
	cr_assert_eq(out[5].got, 5000);
	cr_assert_eq(out[5].slot, 105);

	/* EIO: nothing came back, every block is read again alone */
	g = group_of(ra, len, 0, 6);
	cr_assert_eq(ra_complete(ra, g, -EIO, out), 6);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(out[i].got, RA_REREAD, "block %d", i);

	/* short in the middle of block 2: 0 and 1 whole, 2.. again */
	g = group_of(ra, len, 0, 6);
	cr_assert_eq(ra_complete(ra, g, 2 * B + 4096, out), 6);
	cr_assert_eq(out[0].got, B);
	cr_assert_eq(out[1].got, B);
	for (int i = 2; i < 6; i++)
		cr_assert_eq(out[i].got, RA_REREAD, "block %d", i);

	/* short by one sector at the very end: only the last block */
	g = group_of(ra, len, 0, 6);
	cr_assert_eq(ra_complete(ra, g, 5 * B + 4096, out), 6);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(out[i].got, B);
	cr_assert_eq(out[5].got, RA_REREAD);

	/* 0 bytes (the file ends where the read starts) */
	g = group_of(ra, len, 0, 6);
	cr_assert_eq(ra_complete(ra, g, 0, out), 6);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(out[i].got, RA_REREAD);

	const struct ra_counters *ct = ra_counters(ra);
	cr_assert_eq(ct->reads, 5);
	cr_assert_eq(ct->blocks, 25);
	cr_assert_eq(ct->splits, 4);
	cr_assert_eq(ra_inflight(ra), 0);
	ra_destroy(ra);
}

/*
 * A real short read: 8 blocks read ahead from a file cut 2.5 blocks into
 * them. The blocks before the cut arrive whole with the file's bytes, the
 * rest are marked for a single read, and those single reads (issued as the
 * data plane issues them) fail each on its own.
 */
Test(readahead, a_file_cut_mid_read_fails_only_the_blocks_past_the_cut)
{
	char path[] = "/var/tmp/test_readahead.XXXXXX";
	size_t flen = 4096 + 2 * B + B / 2;
	uint8_t *data = malloc(flen);
	for (size_t i = 0; i < flen; i++)
		data[i] = (uint8_t)(i * 131 + (i >> 14));
	write_temp(path, data, flen);
	int fd = open(path, O_RDONLY | O_DIRECT);
	if (fd < 0)
		fd = open(path, O_RDONLY); /* a filesystem without O_DIRECT: same bytes */
	cr_assert_geq(fd, 0);

	size_t mlen = 8 * B;
	uint8_t *mem = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	cr_assert_neq(mem, MAP_FAILED);
	memset(mem, 0xee, mlen);
	struct storage *st;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(storage_create(16, mem, mlen, &st, &e), 0, "%s", e.msg);

	struct ra *ra = mk(2, 1ull << 20);
	uint64_t obj_len = 8 * B; /* the object as its table says: 8 blocks */
	cr_assert_eq(ra_window(ra, obj_len, 0, 8, 100), 8);
	int32_t g = ra_begin(ra, 4096);
	for (uint32_t i = 0; i < 8; i++)
		ra_add(ra, g, i, mem + (size_t)i * B, B, B);
	const struct iovec *iov;
	uint32_t niov;
	uint64_t off, len;
	ra_submit(ra, g, &iov, &niov, &off, &len);
	cr_assert_eq(len, 8 * B);
	cr_assert_eq(storage_readv(st, fd, -1, off, iov, niov, 7), 0);
	storage_submit(st);
	struct storage_done d[8];
	cr_assert_eq(reap_waiting(st, d, 1, 1), 1);
	cr_assert_eq(d[0].cookie, 7);
	cr_assert_eq(d[0].res, (int32_t)(flen - 4096), "the read stops at the cut");

	struct ra_block out[RA_MAX_BLOCKS];
	cr_assert_eq(ra_complete(ra, g, d[0].res, out), 8);
	cr_assert_eq(out[0].got, B);
	cr_assert_eq(out[1].got, B);
	cr_assert_eq(memcmp(mem, data + 4096, 2 * B), 0, "the whole blocks hold the file's bytes");
	for (uint32_t i = 2; i < 8; i++)
		cr_assert_eq(out[i].got, RA_REREAD, "block %u", i);

	/* the single reads of blocks 2..7: 2 is short (half a block), the
	 * others find nothing: each fails alone, 0 and 1 stand */
	for (uint32_t i = 2; i < 8; i++)
		cr_assert_eq(
			storage_read(st, fd, -1, 4096 + (uint64_t)i * B, mem + (size_t)i * B, B, i),
			0);
	storage_submit(st);
	cr_assert_eq(reap_waiting(st, d, 6, 6), 6);
	for (int k = 0; k < 6; k++) {
		if (d[k].cookie == 2)
			cr_assert_eq(d[k].res, (int32_t)(B / 2));
		else
			cr_assert_eq(d[k].res, 0, "block %lu", (unsigned long)d[k].cookie);
		cr_assert_lt(d[k].res, (int32_t)B, "none of them whole");
	}
	cr_assert_eq(memcmp(mem, data + 4096, 2 * B), 0);

	/* a readv of no buffers is refused */
	cr_assert_eq(storage_readv(st, fd, -1, 0, iov, 0, 1), -EINVAL);
	ra_destroy(ra);
	storage_destroy(st);
	munmap(mem, mlen);
	close(fd);
	unlink(path);
	free(data);
}
