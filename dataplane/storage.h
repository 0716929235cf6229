/*
 * storage: a worker's NVMe reads, through its own io_uring (the "storage
 * ring": a ring set up for polled block I/O refuses most network
 * operations, so network and storage never share one).
 *
 * Reads land directly in cache memory, which is registered with the ring
 * once (READ_FIXED, no page pinning per read), from object files opened
 * with O_DIRECT. Completion is signalled on an eventfd the network loop
 * watches, so the worker sleeps in one place and wakes for either.
 */
#ifndef SEED_STORAGE_H
#define SEED_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "seed_err.h"

struct storage;

struct storage_done {
	uint64_t cookie;
	int32_t res; /* bytes read, or -errno */
};

/*
 * depth: reads in flight at most. mem/len: the region reads go to (the
 * cache), registered as fixed buffers; NULL to read without registration.
 */
int storage_create(unsigned depth, void *mem, size_t len, struct storage **out,
		   struct seed_err *err);
/*
 * The same over an IORING_SETUP_IOPOLL ring: reads complete on the
 * device's poll queues, without an interrupt, and are found by polling, so
 * the owner reaps on every pass of its loop while reads are in flight (no
 * eventfd: storage_eventfd is -1). Only for files on a device with poll
 * queues (storage_device_polls): elsewhere the kernel completes the read
 * with an interrupt anyway and the polling only burns CPU.
 */
int storage_create_iopoll(unsigned depth, void *mem, size_t len, struct storage **out,
			  struct seed_err *err);
int storage_is_iopoll(const struct storage *s);
/*
 * Whether the block device holding path has poll queues (sysfs
 * queue/io_poll of its disk is 1: an NVMe drive given poll_queues, see
 * docs/dataplane.md). Writes why (either way) to why[why_len]. 1 or 0.
 */
int storage_device_polls(const char *path, char *why, size_t why_len);
/*
 * Whether the file system and device under file complete an O_DIRECT read
 * through an IOPOLL ring: one read of its first 4 KiB (a device without
 * poll support refuses it: EOPNOTSUPP). Writes why not to why[why_len].
 */
int storage_probe_iopoll(const char *file, char *why, size_t why_len);
void storage_destroy(struct storage *s);

/* The eventfd that becomes readable when reads completed. */
int storage_eventfd(const struct storage *s);
/* The caller reaps on every pass of its loop (a busy-polling network
 * backend) and never sleeps on the eventfd: it goes, and reaping costs no
 * system call. */
void storage_set_polled(struct storage *s);

/*
 * Registers an empty table of capacity files that reads may name by index
 * (storage_set_file fills a slot). Once, before the first read; the table
 * counts against RLIMIT_NOFILE in the kernel's check.
 */
int storage_register_files(struct storage *s, unsigned capacity, struct seed_err *err);
/* Points slot idx at fd (-1 empties it); the caller keeps fd and makes sure
 * no read in flight names the slot. 0 or -errno. */
int storage_set_file(struct storage *s, unsigned idx, int fd);
/* Table size (0 when no table was registered). */
unsigned storage_file_capacity(const struct storage *s);

/*
 * Queues a read of len bytes at off of fd into buf (inside mem when fixed
 * buffers are registered). file_idx is fd's index in the registered table,
 * or -1; a registered index is used instead of fd. Submitted at the next
 * storage_submit. Returns 0 or -EAGAIN when depth reads are already in
 * flight.
 */
int storage_read(struct storage *s, int fd, int32_t file_idx, uint64_t off, void *buf, uint32_t len,
		 uint64_t cookie);
/*
 * Queues one read of several buffers (readahead.h): iov[0..n) filled in
 * order from off; the iovecs must stay valid until the read completes.
 * Same returns as storage_read, and -EINVAL for n outside 1..IOV_MAX.
 */
int storage_readv(struct storage *s, int fd, int32_t file_idx, uint64_t off,
		  const struct iovec *iov, uint32_t n, uint64_t cookie);
void storage_submit(struct storage *s);
unsigned storage_inflight(const struct storage *s);

/* Reaps up to cap completions without blocking; returns how many. */
int storage_reap(struct storage *s, struct storage_done *out, int cap);

#endif
