/*
 * fsutil: see fsutil.h. Temporary names carry the pid and a counter so that
 * concurrent writers never collide and a crashed writer's leftovers are
 * recognisable (".tmp." infix) for cleanup.
 */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byteio.h"

int fsu_mkdir_p(const char *dir, mode_t mode, struct seed_err *err)
{
	char buf[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(buf))
		return seed_err_set(err, -ENAMETOOLONG, "%s: bad directory name", dir);
	memcpy(buf, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return seed_err_set(err, -errno, "%s: cannot create directory: %s", buf,
					    strerror(errno));
		buf[i] = c;
	}
	struct stat st;
	if (stat(dir, &st) < 0)
		return seed_err_set(err, -errno, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return seed_err_set(err, -ENOTDIR, "%s: not a directory", dir);
	return 0;
}

int fsu_fsync_dir(const char *dir, struct seed_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return seed_err_set(err, -errno, "%s: cannot open directory: %s", dir,
				    strerror(errno));
	int rc = 0;
	if (fsync(fd) < 0)
		rc = seed_err_set(err, -errno, "%s: fsync failed: %s", dir, strerror(errno));
	close(fd);
	return rc;
}

/*
 * pwrite() or pread() until len bytes are done, retrying EINTR. A call
 * that moves nothing means the disk is full (write) or the file ends
 * (read).
 */
static int full_io(int fd, uint8_t *p, size_t len, uint64_t off, bool write)
{
	while (len > 0) {
		ssize_t n = write ? pwrite(fd, p, len, (off_t)off) : pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return write ? -ENOSPC : -ENODATA;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int fsu_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	/* when writing, full_io() only reads the buffer */
	return full_io(fd, (uint8_t *)(uintptr_t)buf, len, off, true);
}

int fsu_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	return full_io(fd, buf, len, off, false);
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int fsu_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		     struct seed_err *err)
{
	static atomic_uint counter;
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", path, (long)getpid(),
			 atomic_fetch_add(&counter, 1));
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return seed_err_set(err, -ENAMETOOLONG, "%s: path too long", path);

	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return seed_err_set(err, -errno, "%s: cannot create: %s", tmp, strerror(errno));
	int rc = fsu_pwrite_full(fd, data, len, 0);
	if (rc < 0) {
		seed_err_set(err, rc, "%s: write failed: %s", path, strerror(-rc));
		goto fail;
	}
	if (fsync(fd) < 0) {
		rc = seed_err_set(err, -errno, "%s: fsync failed: %s", path, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = seed_err_set(err, -errno, "%s: close failed: %s", path, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = seed_err_set(err, -errno, "%s: rename failed: %s", path, strerror(errno));
		goto fail;
	}
	char *dir = dir_of(path);
	if (!dir)
		return seed_err_set(err, -ENOMEM, "out of memory");
	rc = fsu_fsync_dir(dir, err);
	free(dir);
	return rc;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int fsu_read_file(const char *path, size_t max, uint8_t **out_buf, size_t *out_len,
		  struct seed_err *err)
{
	*out_buf = NULL;
	*out_len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return seed_err_set(err, -errno, "%s: %s", path, strerror(errno));
	struct stat st;
	int rc;
	if (fstat(fd, &st) < 0) {
		rc = seed_err_set(err, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = seed_err_set(err, -EINVAL, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = seed_err_set(err, -EFBIG, "%s: %lld bytes, more than the %zu allowed", path,
				  (long long)st.st_size, max);
		goto out;
	}
	size_t len = (size_t)st.st_size;
	uint8_t *buf = malloc(len + 1);
	if (!buf) {
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = fsu_pread_full(fd, buf, len, 0);
	if (rc < 0) {
		free(buf);
		seed_err_set(err, rc, "%s: read failed: %s", path,
			     rc == -ENODATA ? "file shrank while read" : strerror(-rc));
		goto out;
	}
	buf[len] = 0;
	*out_buf = buf;
	*out_len = len;
out:
	close(fd);
	return rc;
}

uint8_t *fsu_image_new(const char magic[8], uint32_t version, size_t hdr_len, size_t body_len,
		       size_t tail_len, struct seed_err *err)
{
	uint8_t *f = malloc(hdr_len + body_len + tail_len);
	if (!f) {
		seed_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	memset(f, 0, hdr_len);
	memcpy(f, magic, 8);
	byteio_put_le32(f + 8, version);
	return f;
}

char *fsu_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	while (la > 1 && a[la - 1] == '/')
		la--;
	char *s = malloc(la + 1 + lb + 1);
	if (!s)
		return NULL;
	memcpy(s, a, la);
	s[la] = '/';
	memcpy(s + la + 1, b, lb + 1);
	return s;
}

/* ---- files kept twice ---- */

static char *copy_path(const char *path, int copy)
{
	char *p = NULL;
	if (copy == 0)
		return strdup(path);
	if (asprintf(&p, "%s%s", path, FSU_COPY2_SUFFIX) < 0)
		return NULL;
	return p;
}

int fsu_write_twice(const char *path, const void *data, size_t len, mode_t mode,
		    struct seed_err *err)
{
	for (int k = 0; k < 2; k++) {
		char *p = copy_path(path, k);
		if (!p)
			return seed_err_set(err, -ENOMEM, "out of memory");
		int rc = fsu_write_atomic(p, data, len, mode, err);
		free(p);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Reads and checks copy k: 0 and the buffer, or -errno with why set. */
static int read_copy(const char *path, int k, size_t max, fsu_check_fn check, void *ctx,
		     uint8_t **buf, size_t *len, struct seed_err *why)
{
	char *p = copy_path(path, k);
	if (!p)
		return seed_err_set(why, -ENOMEM, "out of memory");
	int rc = fsu_read_file(p, max, buf, len, why);
	if (rc == 0) {
		rc = check(*buf, *len, ctx, why);
		if (rc < 0) {
			seed_err_prefix(why, "%s: ", p);
			free(*buf);
			*buf = NULL;
		}
	}
	free(p);
	return rc;
}

int fsu_read_twice(const char *path, size_t max, fsu_check_fn check, void *ctx, enum fsu_twice how,
		   uint8_t **out_buf, size_t *out_len, struct fsu_copies *rep, struct seed_err *err)
{
	uint8_t *buf[2] = { NULL, NULL };
	size_t len[2] = { 0, 0 };
	int rc[2];

	memset(rep, 0, sizeof(*rep));
	*out_buf = NULL;
	*out_len = 0;
	for (int k = 0; k < 2; k++) {
		seed_err_clear(&rep->why[k]);
		rc[k] = 0;
		if (k == 1 && how == FSU_FIRST_GOOD && !rep->bad)
			break; /* copy 1 serves; verify and the writer look at copy 2 */
		rc[k] = read_copy(path, k, max, check, ctx, &buf[k], &len[k], &rep->why[k]);
		if (rc[k] < 0)
			rep->bad |= 1u << k;
	}
	if (rc[0] == -ENOENT && rc[1] == -ENOENT)
		return seed_err_set(err, -ENOENT, "%s: %s", path, strerror(ENOENT));
	if (rep->bad == 3) { /* the damage of copy 1, or of 2 when 1 is gone */
		int k = rc[0] == -ENOENT ? 1 : 0;
		*err = rep->why[k];
		return rc[k];
	}
	int good = rep->bad & 1u ? 1 : 0;
	/* Both whole but different: a writer stopped between the two renames;
	 * copy 1 is the newer. */
	if (how != FSU_FIRST_GOOD && !rep->bad &&
	    (len[0] != len[1] || memcmp(buf[0], buf[1], len[0]))) {
		rep->bad = 2;
		seed_err_set(&rep->why[1], -ESTALE, "%s%s: older than copy 1", path,
			     FSU_COPY2_SUFFIX);
	}
	if (how == FSU_REPAIR && rep->bad) {
		int k = !good;
		char *p = copy_path(path, k), *gp = copy_path(path, good);
		struct stat st;
		mode_t mode = gp && stat(gp, &st) == 0 ? st.st_mode & 0777 : 0644;
		free(gp);
		if (!p) {
			seed_err_set(&rep->why[k], -ENOMEM, "out of memory");
		} else {
			struct seed_err we;
			seed_err_clear(&we);
			if (fsu_write_atomic(p, buf[good], len[good], mode, &we) == 0) {
				rep->repaired |= 1u << k;
			} else {
				/* why it was bad, then why it is still bad */
				char was[SEED_ERR_MSG_MAX];
				snprintf(was, sizeof(was), "%s", rep->why[k].msg);
				seed_err_clear(&rep->why[k]);
				seed_err_set(&rep->why[k], we.code, "%s; rewriting it failed: %s",
					     was, we.msg);
			}
		}
		free(p);
	}
	*out_buf = buf[good];
	*out_len = len[good];
	free(buf[!good]);
	return 0;
}

int fsu_unlink_twice(const char *path, struct seed_err *err)
{
	for (int k = 0; k < 2; k++) {
		char *p = copy_path(path, k);
		if (!p)
			return seed_err_set(err, -ENOMEM, "out of memory");
		int rc = unlink(p) < 0 && errno != ENOENT ? -errno : 0;
		if (rc < 0)
			seed_err_set(err, rc, "%s: cannot remove: %s", p, strerror(-rc));
		free(p);
		if (rc < 0)
			return rc;
	}
	char *dir = dir_of(path);
	if (!dir)
		return seed_err_set(err, -ENOMEM, "out of memory");
	int rc = fsu_fsync_dir(dir, err);
	free(dir);
	return rc;
}
