/*
 * ingest_io: see ingest_io.h.
 *
 * Every write holds one request of a pool sized at create (no allocation
 * per write); its index is the SQE's user data. A request is free, in
 * flight on the ring, or done and waiting in the ready list for the next
 * reap (synchronous writes, injected faults and writes redone buffered
 * complete there without a CQE).
 *
 * Invariant: inflight = requests not free = ring requests + ready ones.
 */
#include "ingest_io.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"

struct req {
	int fd, buffered_fd;
	const uint8_t *buf;
	size_t len, done;
	uint64_t off, tag;
	int res, buffered;
};

struct ingest_io {
	struct io_uring ring;
	int has_ring;
	unsigned depth, inflight, queued; /* queued: SQEs not yet submitted */
	struct req *req;
	unsigned *free_list, n_free;
	unsigned *ready, n_ready;
	const struct ingest_io_fault *fault;
	uint64_t n_writes;
};

int ingest_io_create(unsigned depth, const struct ingest_io_fault *fault, struct ingest_io **out_io,
		     struct seed_err *err)
{
	struct ingest_io *io = calloc(1, sizeof(*io));

	*out_io = NULL;
	if (!io || !depth)
		goto nomem;
	io->depth = depth;
	io->fault = fault;
	io->req = calloc(depth, sizeof(*io->req));
	io->free_list = calloc(depth, sizeof(*io->free_list));
	io->ready = calloc(depth, sizeof(*io->ready));
	if (!io->req || !io->free_list || !io->ready)
		goto nomem;
	for (unsigned i = 0; i < depth; i++)
		io->free_list[io->n_free++] = depth - 1 - i;
	/* Without a ring (ENOSYS, EPERM under seccomp or io_uring_disabled)
	 * the writes are synchronous: slower, never wrong. */
	io->has_ring = !(fault && fault->no_ring) && io_uring_queue_init(depth, &io->ring, 0) == 0;
	*out_io = io;
	return 0;
nomem:
	ingest_io_destroy(io);
	return seed_err_set(err, -ENOMEM, "out of memory for the write queue");
}

int ingest_io_async(const struct ingest_io *io)
{
	return io->has_ring;
}

void ingest_io_destroy(struct ingest_io *io)
{
	struct ingest_io_done d[16];

	if (!io)
		return;
	if (io->req) {
		/* The kernel may still read the caller's buffers: wait. */
		while (io->inflight && ingest_io_reap(io, 1, d, 16) >= 0)
			;
	}
	if (io->has_ring)
		io_uring_queue_exit(&io->ring);
	free(io->req);
	free(io->free_list);
	free(io->ready);
	free(io);
}

int ingest_io_open(struct ingest_io *io, const char *path, int *out_fd)
{
	*out_fd = -1;
	if (io->fault && io->fault->refuse_direct)
		return -EINVAL;
	int fd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*out_fd = fd;
	return 0;
}

static void complete(struct ingest_io *io, unsigned i, int res)
{
	io->req[i].res = res;
	io->ready[io->n_ready++] = i;
}

/* A write done synchronously, through the buffered descriptor when the
 * O_DIRECT one is refused. */
static void write_sync(struct ingest_io *io, unsigned i)
{
	struct req *r = &io->req[i];
	int rc = -EINVAL;

	if (r->fd != r->buffered_fd && !(io->fault && io->fault->direct_write_einval))
		rc = fsu_pwrite_full(r->fd, r->buf + r->done, r->len - r->done, r->off + r->done);
	if (rc == -EINVAL && r->buffered_fd >= 0) {
		r->buffered = 1;
		rc = fsu_pwrite_full(r->buffered_fd, r->buf + r->done, r->len - r->done,
				     r->off + r->done);
	}
	complete(io, i, rc);
}

static int queue_sqe(struct ingest_io *io, unsigned i)
{
	struct req *r = &io->req[i];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);

	if (!sqe) {
		/* The SQ holds depth entries and at most depth requests exist,
		 * but submit anyway rather than trust that. */
		int rc = io_uring_submit(&io->ring);
		if (rc < 0)
			return rc;
		io->queued = 0;
		if (!(sqe = io_uring_get_sqe(&io->ring)))
			return -EBUSY;
	}
	io_uring_prep_write(sqe, r->fd, r->buf + r->done, (unsigned)(r->len - r->done),
			    r->off + r->done);
	io_uring_sqe_set_data64(sqe, i);
	io->queued++;
	return 0;
}

int ingest_io_write(struct ingest_io *io, int fd, int buffered_fd, const void *buf, size_t len,
		    uint64_t off, uint64_t tag)
{
	if (!io->n_free)
		return -EBUSY;
	unsigned i = io->free_list[--io->n_free];
	struct req *r = &io->req[i];

	*r = (struct req){
		.fd = fd, .buffered_fd = buffered_fd, .buf = buf, .len = len, .off = off, .tag = tag
	};
	io->inflight++;
	const struct ingest_io_fault *f = io->fault;
	if (f && f->write_errno && io->n_writes++ == f->fail_after) {
		complete(io, i, -f->write_errno);
		return 0;
	}
	if (!io->has_ring || (f && f->direct_write_einval && fd != buffered_fd) ||
	    len > INT32_MAX) {
		write_sync(io, i);
		return 0;
	}
	int rc = queue_sqe(io, i);
	if (rc < 0)
		complete(io, i, rc);
	return 0;
}

static void requeue(struct ingest_io *io, unsigned i)
{
	int rc = queue_sqe(io, i);
	if (rc < 0)
		complete(io, i, rc);
}

/* Handles one CQE of request i: done, continued, or redone buffered. */
static void on_cqe(struct ingest_io *io, unsigned i, int res)
{
	struct req *r = &io->req[i];

	if (res == -EAGAIN || res == -EINTR) {
		requeue(io, i);
	} else if (res == -EINVAL && r->buffered_fd >= 0 && r->fd != r->buffered_fd) {
		write_sync(io, i);
	} else if (res < 0) {
		complete(io, i, res);
	} else if (res == 0) {
		/* No progress and no error: a full device that says nothing. */
		complete(io, i, -ENOSPC);
	} else if ((r->done += (size_t)res) < r->len) {
		requeue(io, i);
	} else {
		complete(io, i, 0);
	}
}

int ingest_io_reap(struct ingest_io *io, unsigned min, struct ingest_io_done *out, unsigned max)
{
	unsigned n = 0;

	if (min > io->inflight)
		min = io->inflight;
	if (min > max)
		min = max;
	for (;;) {
		while (io->n_ready && n < max) {
			unsigned i = io->ready[--io->n_ready];
			out[n++] = (struct ingest_io_done){ .tag = io->req[i].tag,
							    .res = io->req[i].res,
							    .buffered = io->req[i].buffered };
			io->free_list[io->n_free++] = i;
			io->inflight--;
		}
		if (!io->has_ring || n >= max)
			return (int)n;
		struct io_uring_cqe *cqe;
		unsigned wait = n < min && !io->n_ready && io->inflight ? 1 : 0;
		int rc = io->queued || wait ? io_uring_submit_and_wait(&io->ring, wait) : 0;
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			return rc;
		if (rc >= 0)
			io->queued = 0;
		unsigned seen = 0, head;
		io_uring_for_each_cqe(&io->ring, head, cqe)
		{
			seen++;
			on_cqe(io, (unsigned)io_uring_cqe_get_data64(cqe), cqe->res);
		}
		io_uring_cq_advance(&io->ring, seen);
		if (n >= min && !io->n_ready && !io->queued)
			return (int)n;
	}
}

unsigned ingest_io_inflight(const struct ingest_io *io)
{
	return io->inflight;
}
