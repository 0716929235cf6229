/*
 * ingest_io: the writes of one ingest worker, queued and completed out of
 * line so that hashing the next chunks overlaps them.
 *
 * With io_uring (the kernel here has it; a seccomp filter or the
 * io_uring_disabled sysctl may forbid it) writes are queued on a ring and
 * submitted in one call at the next ingest_io_reap(); without it every
 * write is a pwrite done inside ingest_io_write() and its completion waits
 * for the next reap, so the caller's code is the same either way.
 *
 * Writes meant for O_DIRECT name two descriptors: the O_DIRECT one and a
 * buffered one on the same file. A file system may open with O_DIRECT and
 * still refuse a write with EINVAL (alignment it does not support): that
 * write is done again through the buffered descriptor, and the completion
 * says so (done.buffered).
 *
 * Call order: ingest_io_create(), then ingest_io_open() per file and any
 * number of ingest_io_write() / ingest_io_reap(), then ingest_io_destroy(),
 * which waits for every write still in flight (their buffers are the
 * caller's until then). One thread per ingest_io; nothing is shared.
 */
#ifndef SEED_INGEST_IO_H
#define SEED_INGEST_IO_H

#include <stddef.h>
#include <stdint.h>

#include "seed_err.h"

/* Fault injection for the tests (SQLite's way: faults are ordinary tests). */
struct ingest_io_fault {
	int no_ring;		 /* behave as if io_uring were refused: pwrite */
	int refuse_direct;	 /* ingest_io_open() fails with -EINVAL (a fs without O_DIRECT) */
	int direct_write_einval; /* every O_DIRECT write fails with -EINVAL (then buffered) */
	int write_errno;	 /* non-zero: write number fail_after (0-based) fails with it */
	uint64_t fail_after;
};

struct ingest_io;

struct ingest_io_done {
	uint64_t tag; /* as given to ingest_io_write() */
	int res;      /* 0: all len bytes written; or -errno */
	int buffered; /* the O_DIRECT write was refused and redone buffered */
};

/*
 * depth: writes in flight at most. fault may be NULL; borrowed for the
 * life of the io. 0, or -ENOMEM; a ring the kernel refuses is not an error
 * (synchronous writes, ingest_io_async() says 0).
 */
int ingest_io_create(unsigned depth, const struct ingest_io_fault *fault, struct ingest_io **out_io,
		     struct seed_err *err);
/* Waits for the writes in flight, then frees the io. NULL is fine. */
void ingest_io_destroy(struct ingest_io *io);
/* 1 when writes go through io_uring, 0 when they are synchronous pwrites. */
int ingest_io_async(const struct ingest_io *io);

/* Opens path for writing with O_DIRECT into *out_fd: 0, -EINVAL when the
 * file system refuses O_DIRECT, or another -errno. */
int ingest_io_open(struct ingest_io *io, const char *path, int *out_fd);

/*
 * Queues a write of buf[0..len) at off into fd. buffered_fd: the same file
 * without O_DIRECT, used when an O_DIRECT write is refused, or -1 when fd
 * is buffered already. buf is borrowed until the completion with this tag
 * has been reaped. 0, or -EBUSY when depth writes are in flight (reap
 * first). Short writes are continued here; the caller sees one completion.
 */
int ingest_io_write(struct ingest_io *io, int fd, int buffered_fd, const void *buf, size_t len,
		    uint64_t off, uint64_t tag);

/*
 * Submits what was queued and returns completions into out[0..max): at
 * least min of them (waiting for them), as many as are ready otherwise.
 * min must not exceed ingest_io_inflight(). A count, or -errno when the
 * ring itself fails (the writes in flight are then lost to the caller).
 */
int ingest_io_reap(struct ingest_io *io, unsigned min, struct ingest_io_done *out, unsigned max);

/* Writes queued and not yet reaped. */
unsigned ingest_io_inflight(const struct ingest_io *io);

#endif
