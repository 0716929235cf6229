/*
 * storage: see storage.h. The region registered as fixed buffers is split
 * into iovecs of at most 1 GiB (the kernel's per-buffer limit); a read
 * names the iovec that holds its destination.
 */
#include "storage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define FIXED_MAX (1ull << 30)

struct storage {
	struct io_uring ring;
	int efd;
	int iopoll; /* IORING_SETUP_IOPOLL: completions are found by polling */
	unsigned depth, inflight;
	uint8_t *mem;
	size_t len;
	int fixed;
	unsigned cap_files; /* size of the sparse table (0: plain fds) */
};

static int create(unsigned depth, void *mem, size_t len, int iopoll, struct storage **out,
		  struct seed_err *err)
{
	struct storage *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return seed_err_set(err, -ENOMEM, "out of memory");
	if (!depth)
		depth = 256;
	s->depth = depth;
	s->mem = mem;
	s->len = len;
	s->efd = -1;
	s->iopoll = iopoll;
	rc = io_uring_queue_init(depth * 2, &s->ring, iopoll ? IORING_SETUP_IOPOLL : 0);
	if (rc < 0) {
		free(s);
		return seed_err_set(err, rc, "storage ring%s: %s", iopoll ? " (IOPOLL)" : "",
				    strerror(-rc));
	}
	/* A polled ring has nothing to signal: its owner reaps on every pass. */
	if (!iopoll) {
		s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (s->efd < 0 || io_uring_register_eventfd(&s->ring, s->efd) < 0) {
			rc = seed_err_set(err, -errno, "storage ring eventfd: %s", strerror(errno));
			goto fail;
		}
	}
	if (mem && len) {
		size_t n = (len + FIXED_MAX - 1) / FIXED_MAX;
		struct iovec *iov = calloc(n, sizeof(*iov));
		if (!iov) {
			rc = seed_err_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < n; i++) {
			iov[i].iov_base = s->mem + i * FIXED_MAX;
			iov[i].iov_len =
				len - i * FIXED_MAX < FIXED_MAX ? len - i * FIXED_MAX : FIXED_MAX;
		}
		/* Registration pins the memory once; when the locked-memory limit
		 * forbids it, reads still work, only without fixed buffers. */
		s->fixed = io_uring_register_buffers(&s->ring, iov, (unsigned)n) == 0;
		free(iov);
	}
	*out = s;
	return 0;
fail:
	if (s->efd >= 0)
		close(s->efd);
	io_uring_queue_exit(&s->ring);
	free(s);
	return rc;
}

int storage_create(unsigned depth, void *mem, size_t len, struct storage **out,
		   struct seed_err *err)
{
	return create(depth, mem, len, 0, out, err);
}

int storage_create_iopoll(unsigned depth, void *mem, size_t len, struct storage **out,
			  struct seed_err *err)
{
	return create(depth, mem, len, 1, out, err);
}

int storage_is_iopoll(const struct storage *s)
{
	return s->iopoll;
}

/* Reads the first line of path into buf (NUL-terminated, newline cut);
 * 0 or -errno. */
static int read_line(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	int ok = fgets(buf, (int)n, f) != NULL;
	fclose(f);
	if (!ok)
		return -EIO;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

int storage_device_polls(const char *path, char *why, size_t why_len)
{
	struct stat st;
	char dev[64], sys[PATH_MAX + 32], real[PATH_MAX], v[32] = "";
	if (stat(path, &st) < 0) {
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		return 0;
	}
	snprintf(dev, sizeof(dev), "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
	if (!realpath(dev, real)) {
		/* tmpfs, overlay, NFS: no block device of its own */
		snprintf(why, why_len, "the store is on no block device (%u:%u)", major(st.st_dev),
			 minor(st.st_dev));
		return 0;
	}
	/* a partition's queue is its disk's, one directory up */
	snprintf(sys, sizeof(sys), "%s/partition", real);
	if (access(sys, F_OK) == 0)
		*strrchr(real, '/') = 0;
	const char *name = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
	snprintf(sys, sizeof(sys), "%s/queue/io_poll", real);
	if (read_line(sys, v, sizeof(v)) < 0 || strcmp(v, "1") != 0) {
		snprintf(why, why_len, "%s has no poll queues: its queue/io_poll is %s", name,
			 v[0] ? v : "absent");
		return 0;
	}
	snprintf(why, why_len, "%s has poll queues", name);
	return 1;
}

int storage_probe_iopoll(const char *file, char *why, size_t why_len)
{
	int fd = open(file, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, why_len, "%s: %s", file, strerror(errno));
		return 0;
	}
	void *buf = NULL;
	struct storage *s = NULL;
	struct seed_err e;
	int ok = 0;
	seed_err_clear(&e);
	if (posix_memalign(&buf, 4096, 4096)) {
		snprintf(why, why_len, "out of memory");
	} else if (create(2, NULL, 0, 1, &s, &e) < 0) {
		snprintf(why, why_len, "%s", e.msg);
	} else if (storage_read(s, fd, -1, 0, buf, 4096, 1) < 0) {
		snprintf(why, why_len, "no room for a read");
	} else {
		storage_submit(s);
		struct storage_done d;
		int n = 0;
		/* a polled read of one page takes microseconds; a second is
		 * a device that never answers polls */
		for (int i = 0; i < 1000 && (n = storage_reap(s, &d, 1)) == 0; i++)
			usleep(1000);
		if (n == 0)
			snprintf(why, why_len, "a polled read of %s did not complete in 1 s", file);
		else if (d.res < 0)
			snprintf(why, why_len, "a polled read of %s failed: %s", file,
				 strerror(-d.res));
		else
			ok = 1;
	}
	/* A read still in flight may yet land in buf: both are left to the
	 * process's exit rather than freed under it. */
	if (!s || !storage_inflight(s)) {
		storage_destroy(s);
		free(buf);
	}
	close(fd);
	return ok;
}

void storage_destroy(struct storage *s)
{
	if (!s)
		return;
	io_uring_queue_exit(&s->ring);
	if (s->efd >= 0)
		close(s->efd);
	free(s);
}

int storage_eventfd(const struct storage *s)
{
	return s->efd;
}

void storage_set_polled(struct storage *s)
{
	if (s->efd < 0)
		return;
	io_uring_unregister_eventfd(&s->ring);
	close(s->efd);
	s->efd = -1;
}

unsigned storage_inflight(const struct storage *s)
{
	return s->inflight;
}

int storage_register_files(struct storage *s, unsigned capacity, struct seed_err *err)
{
	if (s->cap_files || capacity == 0)
		return seed_err_set(err, -EINVAL,
				    "storage ring: files already registered or bad size");
	/* sparse: slots are filled as objects are opened (ofd.h) */
	int rc = io_uring_register_files_sparse(&s->ring, capacity);
	if (rc < 0)
		return seed_err_set(err, rc, "storage ring: a table of %u files: %s", capacity,
				    strerror(-rc));
	s->cap_files = capacity;
	return 0;
}

int storage_set_file(struct storage *s, unsigned idx, int fd)
{
	if (idx >= s->cap_files)
		return -EINVAL;
	int rc = io_uring_register_files_update(&s->ring, idx, &fd, 1);
	return rc < 0 ? rc : 0;
}

unsigned storage_file_capacity(const struct storage *s)
{
	return s->cap_files;
}

/* The next SQE, submitting what is queued when the SQ ring is full; NULL
 * when depth reads are in flight or the ring stays full. */
static struct io_uring_sqe *next_sqe(struct storage *s)
{
	if (s->inflight >= s->depth)
		return NULL;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
	if (!sqe) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	return sqe;
}

/* Names the read's file by its registered slot when it has one, tags it. */
static void queue_sqe(struct storage *s, struct io_uring_sqe *sqe, int32_t file_idx,
		      uint64_t cookie)
{
	if (file_idx >= 0 && (uint32_t)file_idx < s->cap_files) {
		/* A registered file skips the fd table lookup and its reference
		 * counting on every read. */
		sqe->fd = file_idx;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	io_uring_sqe_set_data64(sqe, cookie);
	s->inflight++;
}

int storage_read(struct storage *s, int fd, int32_t file_idx, uint64_t off, void *buf, uint32_t len,
		 uint64_t cookie)
{
	struct io_uring_sqe *sqe = next_sqe(s);
	if (!sqe)
		return -EAGAIN;
	uint8_t *p = buf;
	if (s->fixed && p >= s->mem && p + len <= s->mem + s->len) {
		int idx = (int)((size_t)(p - s->mem) / FIXED_MAX);
		io_uring_prep_read_fixed(sqe, fd, buf, len, off, idx);
	} else {
		io_uring_prep_read(sqe, fd, buf, len, off);
	}
	queue_sqe(s, sqe, file_idx, cookie);
	return 0;
}

int storage_readv(struct storage *s, int fd, int32_t file_idx, uint64_t off,
		  const struct iovec *iov, uint32_t n, uint64_t cookie)
{
	if (n == 0 || n > IOV_MAX)
		return -EINVAL;
	struct io_uring_sqe *sqe = next_sqe(s);
	if (!sqe)
		return -EAGAIN;
	/* Plain READV: the kernel pins the pages for the read (registered
	 * buffers take one iovec per read before READV_FIXED), which costs
	 * little next to the reads it replaces. */
	io_uring_prep_readv(sqe, fd, iov, n, off);
	queue_sqe(s, sqe, file_idx, cookie);
	return 0;
}

void storage_submit(struct storage *s)
{
	io_uring_submit(&s->ring);
}

int storage_reap(struct storage *s, struct storage_done *out, int cap)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	uint64_t v;

	/* reset the eventfd before reaping, so a completion racing with us
	 * signals it again; one read resets it (not a semaphore), a second
	 * would only cost a system call to hear EAGAIN */
	if (s->efd >= 0 && read(s->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing signalled since the last reap; reap anyway */
	}
	/* a polled ring's completions are found only by entering the kernel
	 * to poll the device's queues (one call per reap, not per read) */
	if (s->iopoll && s->inflight)
		io_uring_get_events(&s->ring);
	io_uring_for_each_cqe(&s->ring, head, cqe)
	{
		if ((int)seen >= cap)
			break;
		out[seen].cookie = io_uring_cqe_get_data64(cqe);
		out[seen].res = cqe->res;
		seen++;
	}
	io_uring_cq_advance(&s->ring, seen);
	s->inflight -= seen;
	return (int)seen;
}
