/*
 * dpstats: the data plane's counters in a shared-memory file. See dpstats.h
 * for the layout rules; this file only maps, validates and sums.
 */
#include "dpstats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DPSTATS_MAGIC	"SEEDSTAT"
#define DPSTATS_VERSION 13
#define HDR_SIZE	4096

struct dpstats_hdr {
	char magic[8];
	uint32_t version;
	uint32_t hdr_size;
	uint32_t worker_size; /* sizeof(struct dpstats_worker) of the writer */
	uint32_t n_workers;
	uint32_t max_releases;
	uint32_t id_max;
	int32_t pid;
	uint32_t pad;
	uint64_t start_ns;
	uint64_t ids_off, workers_off, total_size;
	_Atomic uint32_t n_releases;
	_Atomic uint32_t n_tenants;
	uint64_t tenants_off;
	_Atomic uint64_t unloadable;		/* releases the last load could not serve */
	_Atomic uint64_t swarm[DPSTATS_NSWARM]; /* the main thread's sums (version 11) */
	uint64_t rswarm_off;			/* per release (version 13): after the tenants */
};

struct dpstats_tenant_slot {
	char id[40];
	_Atomic int64_t peers;
};

_Static_assert(sizeof(struct dpstats_hdr) <= HDR_SIZE, "header fits its page");
_Static_assert(sizeof(struct dpstats_worker) % 64 == 0, "worker blocks stay line-aligned");

const uint32_t dpstats_lat_bounds_us[DPSTATS_LAT_BUCKETS - 1] = {
	25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 1000000,
};

const char *const dpstats_refusal_names[DPSTATS_NREFUSALS] = {
	[DPSTATS_REFUSE_UNKNOWN] = "unknown",	    [DPSTATS_REFUSE_NOT_LIVE] = "not_live",
	[DPSTATS_REFUSE_EMBARGOED] = "embargoed",   [DPSTATS_REFUSE_CIDR] = "cidr",
	[DPSTATS_REFUSE_MAX_PEERS] = "max_peers",   [DPSTATS_REFUSE_DRAINING] = "draining",
	[DPSTATS_REFUSE_CORRUPT] = "corrupt_block",
};

const char *const dpstats_admit_names[DPSTATS_NADMIT] = {
	[DPSTATS_ADMIT_DENIED] = "denied",
	[DPSTATS_ADMIT_ADDR_CONNS] = "addr_conns",
	[DPSTATS_ADMIT_PREFIX_CONNS] = "prefix_conns",
	[DPSTATS_ADMIT_ADDR_RATE] = "addr_rate",
	[DPSTATS_ADMIT_MSE_RATE] = "mse_rate",
};

/* From the one list in close_reason.h (enum proto_close_reason is built
 * from it too); the slots no reason holds yet keep the placeholder labels
 * they have always been exported with. A reason given one of those values
 * later overrides its placeholder, which -Woverride-init reports: drop the
 * placeholder then. */
/* clang-format off */
const char *const dpstats_close_names[DPSTATS_CLOSE_REASONS] = {
	[0] = "none",
#define CLOSE_NAME_(name, value, label) [value] = label,
	SEED_CLOSE_REASONS(CLOSE_NAME_)
#undef CLOSE_NAME_
	[15] = "other15",
};
/* clang-format on */

#define CLOSE_FITS_(name, value, label)                                \
	_Static_assert((value) > 0 && (value) < DPSTATS_CLOSE_REASONS, \
		       "close reason " #name " has a counter slot");
SEED_CLOSE_REASONS(CLOSE_FITS_)
#undef CLOSE_FITS_

/* A repair record as the ring holds it: words another process may read
 * while the worker writes them; a record is published by the count. */
struct repair_slot {
	_Atomic uint64_t w[6]; /* root (4 words), length, block | rebuilt << 63 */
};

struct repair_ring {
	_Atomic uint64_t n; /* records ever written; slot n % RING is next */
	uint64_t pad[7];
	struct repair_slot e[DPSTATS_REPAIR_RING];
} __attribute__((aligned(64)));

struct dpstats {
	uint8_t *base;
	size_t len;
	int writable;
	int is_file;
	struct dpstats_hdr *h;
};

typedef _Atomic uint64_t rswarm_row[DPSTATS_NRSWARM];

/* Where the per-release swarm rows start: after the ids and the tenants. */
static uint64_t rswarm_off_of(uint64_t ids_off)
{
	uint64_t o = ids_off + (uint64_t)DPSTATS_MAX_RELEASES * DPSTATS_ID_MAX +
		     (uint64_t)DPSTATS_MAX_TENANTS * sizeof(struct dpstats_tenant_slot);
	return (o + 63) & ~(uint64_t)63;
}

static size_t layout_size(unsigned n_workers, uint64_t *ids_off, uint64_t *workers_off)
{
	*ids_off = HDR_SIZE;
	size_t w =
		(size_t)rswarm_off_of(HDR_SIZE) + (size_t)DPSTATS_MAX_RELEASES * sizeof(rswarm_row);
	w = (w + 4095) & ~(size_t)4095;
	*workers_off = w;
	return w + (size_t)n_workers * (sizeof(struct dpstats_worker) + sizeof(struct repair_ring));
}

static struct repair_ring *ring_of(const struct dpstats *s, unsigned i)
{
	return (struct repair_ring *)(void *)(s->base + s->h->workers_off +
					      (size_t)s->h->n_workers *
						      sizeof(struct dpstats_worker) +
					      (size_t)i * sizeof(struct repair_ring));
}

void dpstats_repair_note(struct dpstats *s, unsigned i, const struct dpstats_repair *r)
{
	if (!s || i >= s->h->n_workers)
		return;
	struct repair_ring *g = ring_of(s, i);
	uint64_t n = atomic_load_explicit(&g->n, memory_order_relaxed);
	struct repair_slot *e = &g->e[n % DPSTATS_REPAIR_RING];
	uint64_t w[6];
	memcpy(w, r->root, 32);
	w[4] = r->length;
	w[5] = r->block | (uint64_t)(r->rebuilt != 0) << 63;
	for (int k = 0; k < 6; k++)
		atomic_store_explicit(&e->w[k], w[k], memory_order_relaxed);
	atomic_store_explicit(&g->n, n + 1, memory_order_release);
}

size_t dpstats_repairs_read(const struct dpstats *s, unsigned i, uint64_t *seen,
			    struct dpstats_repair *out, size_t cap, uint64_t *missed)
{
	*missed = 0;
	if (i >= s->h->n_workers)
		return 0;
	const struct repair_ring *g = ring_of(s, i);
	uint64_t n = atomic_load_explicit(&g->n, memory_order_acquire);
	if (*seen > n) /* a reader that kept its count across a restart */
		*seen = 0;
	/* record j sits in slot j % RING until record j + RING is written
	 * there, which starts once n reaches j + RING: only the last RING - 1
	 * records are certain to be whole */
	if (n - *seen >= DPSTATS_REPAIR_RING) {
		*missed += n - *seen - (DPSTATS_REPAIR_RING - 1);
		*seen = n - (DPSTATS_REPAIR_RING - 1);
	}
	size_t got = 0;
	for (; *seen < n && got < cap; (*seen)++) {
		const struct repair_slot *e = &g->e[*seen % DPSTATS_REPAIR_RING];
		uint64_t w[6];
		for (int k = 0; k < 6; k++)
			w[k] = atomic_load_explicit(&e->w[k], memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		/* the writer may have lapped this slot while it was read */
		if (atomic_load_explicit(&g->n, memory_order_relaxed) - *seen >=
		    DPSTATS_REPAIR_RING) {
			(*missed)++;
			continue;
		}
		memcpy(out[got].root, w, 32);
		out[got].length = w[4];
		out[got].block = w[5] & ~(1ull << 63);
		out[got].rebuilt = (int)(w[5] >> 63);
		got++;
	}
	return got;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int dpstats_create(const char *path, unsigned n_workers, struct dpstats **out, struct seed_err *err)
{
	*out = NULL;
	if (n_workers == 0 || n_workers > DPSTATS_MAX_WORKERS)
		return seed_err_set(err, -EINVAL, "counters: %u workers (expected 1 to %d)",
				    n_workers, DPSTATS_MAX_WORKERS);
	uint64_t ids_off, workers_off;
	size_t len = layout_size(n_workers, &ids_off, &workers_off);
	struct dpstats *s = calloc(1, sizeof(*s));
	if (!s)
		return seed_err_set(err, -ENOMEM, "counters: out of memory");
	char tmp[4096];
	int fd = -1;
	if (path && *path) {
		int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
		if (n < 0 || (size_t)n >= sizeof(tmp)) {
			free(s);
			return seed_err_set(err, -ENAMETOOLONG, "counters file %s: path too long",
					    path);
		}
		fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			int e = errno;
			free(s);
			return seed_err_set(err, -e, "counters file %s: %s", tmp, strerror(e));
		}
		if (ftruncate(fd, (off_t)len) != 0) {
			int e = errno;
			close(fd);
			unlink(tmp);
			free(s);
			return seed_err_set(err, -e, "counters file %s: %s", tmp, strerror(e));
		}
		s->base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		s->is_file = 1;
	} else {
		s->base =
			mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (s->base == MAP_FAILED) {
		int e = errno;
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		free(s);
		return seed_err_set(err, -e, "counters: mmap of %zu bytes: %s", len, strerror(e));
	}
	s->len = len;
	s->writable = 1;
	s->h = (struct dpstats_hdr *)(void *)s->base;
	memcpy(s->h->magic, DPSTATS_MAGIC, 8);
	s->h->version = DPSTATS_VERSION;
	s->h->hdr_size = HDR_SIZE;
	s->h->worker_size = sizeof(struct dpstats_worker);
	s->h->n_workers = n_workers;
	s->h->max_releases = DPSTATS_MAX_RELEASES;
	s->h->id_max = DPSTATS_ID_MAX;
	s->h->pid = (int32_t)getpid();
	s->h->start_ns = now_ns();
	s->h->ids_off = ids_off;
	s->h->tenants_off = ids_off + (uint64_t)DPSTATS_MAX_RELEASES * DPSTATS_ID_MAX;
	s->h->rswarm_off = rswarm_off_of(ids_off);
	s->h->workers_off = workers_off;
	s->h->total_size = len;
	atomic_store(&s->h->n_releases, 0);
	if (fd >= 0) {
		/* The header is in place before the name appears: readers that
		 * open the file by name always see a complete header. */
		if (rename(tmp, path) != 0) {
			int e = errno;
			munmap(s->base, len);
			close(fd);
			unlink(tmp);
			free(s);
			return seed_err_set(err, -e, "counters file %s: rename: %s", path,
					    strerror(e));
		}
		close(fd);
	}
	*out = s;
	return 0;
}

int dpstats_open(const char *path, struct dpstats **out, struct seed_err *err)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		return seed_err_set(err, -e, "counters file %s: %s", path, strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return seed_err_set(err, -e, "counters file %s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode) || st.st_size < HDR_SIZE) {
		close(fd);
		return seed_err_set(err, -EINVAL,
				    "counters file %s: %lld bytes, not a data plane counters file",
				    path, (long long)st.st_size);
	}
	size_t len = (size_t)st.st_size;
	uint8_t *base = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (base == MAP_FAILED)
		return seed_err_set(err, -e, "counters file %s: mmap: %s", path, strerror(e));
	const struct dpstats_hdr *h = (const struct dpstats_hdr *)(void *)base;
	const char *why = NULL;
	uint64_t ids_off = 0, workers_off = 0;
	if (memcmp(h->magic, DPSTATS_MAGIC, 8) != 0)
		why = "bad magic";
	else if (h->version != DPSTATS_VERSION)
		why = "unknown version (a data plane of another release wrote it)";
	else if (h->hdr_size != HDR_SIZE || h->worker_size != sizeof(struct dpstats_worker) ||
		 h->max_releases != DPSTATS_MAX_RELEASES || h->id_max != DPSTATS_ID_MAX)
		why = "layout differs from this build's";
	else if (h->n_workers == 0 || h->n_workers > DPSTATS_MAX_WORKERS)
		why = "worker count out of range";
	else if (layout_size(h->n_workers, &ids_off, &workers_off) != len || h->total_size != len ||
		 h->ids_off != ids_off || h->workers_off != workers_off ||
		 h->tenants_off != ids_off + (uint64_t)DPSTATS_MAX_RELEASES * DPSTATS_ID_MAX ||
		 h->rswarm_off != rswarm_off_of(ids_off))
		why = "size does not match its header";
	if (why) {
		munmap(base, len);
		return seed_err_set(err, -EINVAL, "counters file %s: %s", path, why);
	}
	struct dpstats *s = calloc(1, sizeof(*s));
	if (!s) {
		munmap(base, len);
		return seed_err_set(err, -ENOMEM, "counters: out of memory");
	}
	s->base = base;
	s->len = len;
	s->h = (struct dpstats_hdr *)(void *)base;
	s->is_file = 1;
	*out = s;
	return 0;
}

void dpstats_close(struct dpstats *s)
{
	if (!s)
		return;
	munmap(s->base, s->len);
	free(s);
}

struct dpstats_worker *dpstats_worker(struct dpstats *s, unsigned i)
{
	if (!s->writable || i >= s->h->n_workers)
		return NULL;
	return (struct dpstats_worker *)(void *)(s->base + s->h->workers_off +
						 (size_t)i * sizeof(struct dpstats_worker));
}

static const struct dpstats_worker *worker_ro(const struct dpstats *s, unsigned i)
{
	return (const struct dpstats_worker *)(void *)(s->base + s->h->workers_off +
						       (size_t)i * sizeof(struct dpstats_worker));
}

const struct dpstats_worker *dpstats_worker_read(const struct dpstats *s, unsigned i)
{
	return i < s->h->n_workers ? worker_ro(s, i) : NULL;
}

static char *id_slot(const struct dpstats *s, unsigned i)
{
	return (char *)(s->base + s->h->ids_off + (size_t)i * DPSTATS_ID_MAX);
}

int dpstats_release_slot(struct dpstats *s, const char *id)
{
	if (!s->writable)
		return -EPERM;
	size_t len = strlen(id);
	if (len == 0 || len >= DPSTATS_ID_MAX)
		return -EINVAL;
	uint32_t n = atomic_load_explicit(&s->h->n_releases, memory_order_relaxed);
	/* Start-up and catalog switches only, a few thousand ids at most. */
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(id_slot(s, i), id))
			return (int)i;
	if (n >= DPSTATS_MAX_RELEASES)
		return -ENOSPC;
	memcpy(id_slot(s, n), id, len + 1);
	atomic_store_explicit(&s->h->n_releases, n + 1, memory_order_release);
	return (int)n;
}

static struct dpstats_tenant_slot *tslot(const struct dpstats *s, unsigned i)
{
	return (struct dpstats_tenant_slot *)(void *)(s->base + s->h->tenants_off +
						      (size_t)i *
							      sizeof(struct dpstats_tenant_slot));
}

int dpstats_tenant_set(struct dpstats *s, unsigned i, const char *id, int64_t peers)
{
	if (!s->writable || i >= DPSTATS_MAX_TENANTS || strlen(id) >= sizeof(tslot(s, 0)->id))
		return -EINVAL;
	uint32_t n = atomic_load_explicit(&s->h->n_tenants, memory_order_relaxed);
	if (i > n)
		return -EINVAL; /* slots are appended in order */
	struct dpstats_tenant_slot *t = tslot(s, i);
	atomic_store_explicit(&t->peers, peers, memory_order_relaxed);
	if (i == n) {
		snprintf(t->id, sizeof(t->id), "%s", id);
		atomic_store_explicit(&s->h->n_tenants, n + 1, memory_order_release);
	}
	return 0;
}

void dpstats_set_unloadable(struct dpstats *s, uint64_t n)
{
	atomic_store_explicit(&s->h->unloadable, n, memory_order_relaxed);
}

uint64_t dpstats_unloadable(const struct dpstats *s)
{
	return atomic_load_explicit(&s->h->unloadable, memory_order_relaxed);
}

const char *const dpstats_swarm_names[DPSTATS_NSWARM] = {
	"injected", "second", "fallbacks", "small", "passed",
	"released", "boot",   "refunded",  "late",
};

const char *const dpstats_rswarm_names[DPSTATS_NRSWARM] = {
	[DPSTATS_RSWARM_PEERS] = "peers",	[DPSTATS_RSWARM_LEECHERS] = "leechers",
	[DPSTATS_RSWARM_INJECTED] = "injected", [DPSTATS_RSWARM_PASSED] = "passed",
	[DPSTATS_RSWARM_BOOT] = "boot",		[DPSTATS_RSWARM_LATE] = "late",
};

static rswarm_row *rswarm(const struct dpstats *s, unsigned slot)
{
	return (rswarm_row *)(void *)(s->base + s->h->rswarm_off) + slot;
}

int dpstats_set_release_swarm(struct dpstats *s, unsigned slot, const uint64_t v[DPSTATS_NRSWARM])
{
	if (!s->writable || slot >= dpstats_n_releases(s))
		return -EINVAL;
	for (unsigned k = 0; k < DPSTATS_NRSWARM; k++)
		atomic_store_explicit(&(*rswarm(s, slot))[k], v[k], memory_order_relaxed);
	return 0;
}

void dpstats_release_swarm(const struct dpstats *s, unsigned slot, uint64_t out[DPSTATS_NRSWARM])
{
	int in = slot < dpstats_n_releases(s);

	for (unsigned k = 0; k < DPSTATS_NRSWARM; k++)
		out[k] =
			in ? atomic_load_explicit(&(*rswarm(s, slot))[k], memory_order_relaxed) : 0;
}

void dpstats_set_swarm(struct dpstats *s, const uint64_t v[DPSTATS_NSWARM])
{
	for (unsigned k = 0; k < DPSTATS_NSWARM; k++)
		atomic_store_explicit(&s->h->swarm[k], v[k], memory_order_relaxed);
}

void dpstats_swarm(const struct dpstats *s, uint64_t out[DPSTATS_NSWARM])
{
	for (unsigned k = 0; k < DPSTATS_NSWARM; k++)
		out[k] = atomic_load_explicit(&s->h->swarm[k], memory_order_relaxed);
}

unsigned dpstats_n_tenants(const struct dpstats *s)
{
	uint32_t n = atomic_load_explicit(&s->h->n_tenants, memory_order_acquire);
	return n > DPSTATS_MAX_TENANTS ? DPSTATS_MAX_TENANTS : n;
}

const char *dpstats_tenant_id(const struct dpstats *s, unsigned i)
{
	const char *p = tslot(s, i)->id;
	return memchr(p, 0, sizeof(tslot(s, 0)->id)) ? p : "";
}

int64_t dpstats_tenant_peers(const struct dpstats *s, unsigned i)
{
	return atomic_load_explicit(&tslot(s, i)->peers, memory_order_relaxed);
}

unsigned dpstats_n_workers(const struct dpstats *s)
{
	return s->h->n_workers;
}

unsigned dpstats_n_releases(const struct dpstats *s)
{
	uint32_t n = atomic_load_explicit(&s->h->n_releases, memory_order_acquire);
	return n > DPSTATS_MAX_RELEASES ? DPSTATS_MAX_RELEASES : n;
}

const char *dpstats_release_id(const struct dpstats *s, unsigned i)
{
	const char *p = id_slot(s, i);
	/* A hostile or torn file must not make a reader run off the slot. */
	return memchr(p, 0, DPSTATS_ID_MAX) ? p : "";
}

int32_t dpstats_pid(const struct dpstats *s)
{
	return s->h->pid;
}

uint64_t dpstats_start_ns(const struct dpstats *s)
{
	return s->h->start_ns;
}

static void add_arr(_Atomic uint64_t *dst, const _Atomic uint64_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		atomic_store_explicit(&dst[i],
				      atomic_load_explicit(&dst[i], memory_order_relaxed) +
					      atomic_load_explicit(&src[i], memory_order_relaxed),
				      memory_order_relaxed);
}

void dpstats_sum(const struct dpstats *s, struct dpstats_worker *out)
{
	memset(out, 0, sizeof(*out));
	/* Every field is a uint64_t counter: sum the block as an array. */
	size_t n = sizeof(*out) / sizeof(uint64_t);
	for (unsigned i = 0; i < s->h->n_workers; i++)
		add_arr((_Atomic uint64_t *)out, (const _Atomic uint64_t *)worker_ro(s, i), n);
}

unsigned dpstats_lat_bucket(uint64_t us)
{
	unsigned i = 0;
	while (i < DPSTATS_LAT_BUCKETS - 1 && us > dpstats_lat_bounds_us[i])
		i++;
	return i;
}
