/*
 * scache: the block cache shared by every data-plane worker (API and which
 * calls lock in scache.h; design and operator notes in docs/cache.md, "The
 * shared cache").
 *
 * Memory. One mmap'd region of n slots x 16 KiB (2 MiB hugetlb pages when
 * asked for and available, plain pages with THP advised otherwise); slot i
 * is base + i * SCACHE_BLOCK, 4 KiB-aligned for O_DIRECT. Beside it, sized
 * once by scache_create:
 *   hot[n]      one cache line per slot: the slot word (state, generation,
 *               pin count), its key, its 2-bit frequency. A line each, so
 *               workers pinning neighbouring blocks do not bounce a line.
 *   cold[n]     what only the lock holder or the slot's filler touches:
 *               expected length and XXH3-128, queue, waiter list.
 *   idx[2^k]    open addressing, linear probing, backward-shift deletion:
 *               atomic 64-bit entries (hash tag << 32 | value), value = slot
 *               + 1, or GHOST | ghost ring position, or 0 for empty; ikey[]
 *               beside it holds each entry's key for the lock holder.
 *   small, main S3-FIFO's rings of slot numbers; ghost its ring of keys.
 *   free_stack  slots holding nothing.
 *   waiters     the pool of queued cookies and inbox entries, free-listed.
 *   per worker  counters and an inbox, each on its own cache lines.
 *
 * The slot word: pins in bits 0-23, state in 24-25, generation above. The
 * generation grows by one each time a slot stops holding a block (eviction
 * or failed fill): 38 bits do not wrap in the life of a process.
 *
 * Invariants (at every release of the lock).
 *   FREE     in free_stack, in no queue, no index entry, pins 0.
 *   FILLING  one index entry, in no queue (eviction never sees it), pins 1
 *            (the filler's), waiters queued in order, key/len/xxh fixed.
 *   VALID    one index entry, in exactly one of small/main, no waiters.
 *   small.count + main.count + filling + free_top == n.
 *   Waiter records queued on slots + records in inboxes + free records ==
 *   the pool: an inbox never overflows, it lives in the pool's bound.
 *   Under the lock every index slot entry names a FILLING or VALID slot
 *   holding that key; between lock holders a lock-free reader may see an
 *   entry whose slot is FREE or refilled (it checks, see below).
 *
 * Memory ordering: why a pinned slot is never reused.
 *   Only three writers change a slot word: the lock holder (FREE ->
 *   FILLING at claim, FILLING -> VALID or FREE at fill_done, VALID pins 0
 *   -> FREE at eviction), pinners (VALID pins p -> p + 1) and unpinners
 *   (p -> p - 1). Eviction is a CAS expecting pins == 0, a pin is a CAS
 *   expecting the state and generation it read, so the word's modification
 *   order decides every race: if the pin comes first the eviction's CAS
 *   fails (the evictor sees the pin and moves on), if the eviction comes
 *   first the pin's CAS fails and its retry sees FREE or a new generation
 *   (the pinner sees the eviction and looks elsewhere). There is no window
 *   between "checked" and "pinned": the CAS is both.
 *   Which block a pin holds: the hit path loads the word (acquire), then the
 *   key, then CASes the word it loaded. A key changes only after the slot
 *   left that generation (the claimer writes it after an eviction CAS or a
 *   failed fill, both bumping the generation), so a successful CAS means
 *   the key read belonged to the pinned generation. The claimer stores key,
 *   length and checksum before its release store of FILLING; the filler
 *   writes the bytes before its release store of VALID; every later value
 *   of the word in that generation comes from a CAS (the store's release
 *   sequence), so a pinner's acquire CAS sees the block's bytes and fields. An unpin is a release CAS and the
 *   eviction an acquire CAS: every read of the old bytes happens before the
 *   next fill writes the slot.
 *   The index: readers load entries with acquire and use them as hints
 *   only. A backward shift copies an entry into the hole before clearing
 *   its old place, so a reader can miss an entry (it then takes the locked
 *   path, which looks again) but never gets a wrong block: everything is
 *   checked on the slot word.
 *
 * Eviction: S3-FIFO, as cache.c, kept under the lock. It stays correct
 * under concurrency because the queues, the ghost ring and the index are
 * written only by the lock holder; the hit path writes two things outside
 * the lock, the pin count (seen by eviction through its CAS) and the
 * frequency (a lossy relaxed hint: a lost increment only changes which
 * block is kept, never correctness). A pin taken while the evictor scans
 * makes its CAS fail and the block goes round, as a pinned block does in
 * cache.c. The bound of one turn of small and four of main can run out when
 * hits raise counts during the scan: the get then says BUSY, as it does
 * when everything is pinned (cache.c knows that case by a count of pinned
 * slots; here that count would be a line written by every worker on every
 * hit, so a full scan finds it instead, under the lock, on a miss).
 *
 * Where scache.h is silent: each scache_get counts once in hits, misses
 * (= FILL), waits or busy, in its worker's counters; evictions count in the
 * counters of the worker whose miss evicted; fills, bytes_filled and
 * verify_failures in the filler's.
 */
#include "scache.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hash.h"
#include "hotmem.h"
#include "mem.h"

#define MIN_SLOTS   64u
#define MAX_SLOTS   (1u << 28) /* 4 TiB; slot + 1 and ghost positions fit 31 bits */
#define MAX_WAITERS (1u << 22) /* pins after a fill: 1 + every waiter, below PIN_MAX */
#define HUGE_2M	    ((size_t)2 << 20)
#define FREQ_MAX    3u
#define NIL	    UINT32_MAX
#define GHOST	    0x80000000u /* index value: a ghost ring position */
#define LINE	    64u

#define PIN_BITS   24
#define PIN_ONE	   1ull
#define PIN_MAX	   ((1ull << PIN_BITS) - 1)
#define ST_SHIFT   PIN_BITS
#define ST_MASK	   (3ull << ST_SHIFT)
#define GEN_SHIFT  (PIN_BITS + 2)
#define ST_FREE	   0ull
#define ST_FILLING 1ull
#define ST_VALID   2ull

/* The caller broke the contract (a foreign pointer, unpin of an unpinned
 * block, fill_done on a slot that is not filling, a worker out of range).
 * Debug builds stop here; release builds return without touching state. */
#define SCACHE_BUG(msg) assert(!(msg))

static inline uint64_t w_pins(uint64_t w)
{
	return w & PIN_MAX;
}
static inline uint64_t w_state(uint64_t w)
{
	return (w & ST_MASK) >> ST_SHIFT;
}
static inline uint64_t w_gen(uint64_t w)
{
	return w >> GEN_SHIFT;
}
static inline uint64_t w_make(uint64_t gen, uint64_t state, uint64_t pins)
{
	return gen << GEN_SHIFT | state << ST_SHIFT | pins;
}

struct hot {
	_Atomic uint64_t word;
	_Atomic uint64_t key; /* object << 32 | block */
	_Atomic uint8_t freq;
} __attribute__((aligned(LINE)));

enum { Q_SMALL = 0, Q_MAIN };

struct cold {
	uint32_t len;		       /* expected length, from the filling get */
	uint32_t wait_head, wait_tail; /* waiters, oldest first */
	uint8_t queue;		       /* where it goes (FILLING) or is (VALID) */
	uint8_t checked;	       /* FILLING: fill_check found it whole */
	uint8_t xxh[16];
};

struct ring {
	uint32_t *v;
	uint32_t cap, head, count;
};

/* A queued SCACHE_WAIT, then (after its fill) an inbox entry. */
struct waiter {
	uint64_t cookie;
	uint32_t next;
	uint32_t slot;
	int32_t err; /* in an inbox: 0 (the block is valid) or why not */
	uint16_t worker;
};

struct inbox {
	_Atomic uint32_t count; /* written under the lock, read without it */
	uint32_t head, tail;
} __attribute__((aligned(LINE)));

struct wctr {
	struct scache_counters c;
} __attribute__((aligned(LINE)));

struct scache {
	uint8_t *base;
	size_t map_len;
	uint32_t n;
	int huge;
	unsigned n_workers;
	scache_wake_fn wake;
	void *wake_arg;
	struct hot *hot;
	struct cold *cold;
	_Atomic uint64_t *idx;
	uint64_t *ikey;
	uint32_t mask;
	/* misses that found no slot, all workers: rare (only when every slot
	 * is pinned or filling), so one shared atomic costs nothing; workers
	 * watch it to let go of what their stalled peers hold */
	_Atomic uint64_t pressure;
	pthread_mutex_t lock;
	/* everything below: under the lock */
	struct ring small, main;
	uint32_t small_target;
	uint64_t *ghost;
	uint32_t g_cap, g_head, g_count;
	uint32_t *free_stack;
	uint32_t free_top;
	struct waiter *waiters;
	uint32_t w_free;
	struct inbox *inbox;
	struct wctr *ctr;
};

static inline uint8_t *slot_mem(const struct scache *sc, uint32_t i)
{
	return sc->base + (size_t)i * SCACHE_BLOCK;
}

static inline uint64_t key_val(struct scache_key k)
{
	return (uint64_t)k.object << 32 | k.block;
}

/* A full 64-bit mix: the low bits pick the home entry, the high ones the
 * tag that lets a reader skip other keys' entries without touching their
 * slots. */
static inline uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static inline uint64_t entry(uint64_t h, uint32_t val)
{
	return (h >> 32) << 32 | val;
}

static void ring_push(struct ring *r, uint32_t x)
{
	uint32_t i = r->head + r->count;

	if (i >= r->cap)
		i -= r->cap;
	r->v[i] = x;
	r->count++;
}

static uint32_t ring_pop(struct ring *r)
{
	uint32_t x = r->v[r->head];

	if (++r->head == r->cap)
		r->head = 0;
	r->count--;
	return x;
}

/* ---- the index, lock holder's side ---------------------------------- */

static uint32_t idx_find(const struct scache *sc, uint64_t kv)
{
	for (uint32_t p = (uint32_t)mix(kv) & sc->mask;; p = (p + 1) & sc->mask) {
		uint64_t e = atomic_load_explicit(&sc->idx[p], memory_order_relaxed);

		if ((uint32_t)e == 0)
			return NIL;
		if (sc->ikey[p] == kv)
			return p;
	}
}

/* Publishes (or, for a present key, rewrites) kv's entry. */
static void idx_set(struct scache *sc, uint64_t kv, uint32_t val)
{
	uint64_t h = mix(kv);
	uint32_t p = (uint32_t)h & sc->mask;

	for (;; p = (p + 1) & sc->mask) {
		uint64_t e = atomic_load_explicit(&sc->idx[p], memory_order_relaxed);

		if ((uint32_t)e == 0 || sc->ikey[p] == kv)
			break;
	}
	sc->ikey[p] = kv;
	atomic_store_explicit(&sc->idx[p], entry(h, val), memory_order_release);
}

/*
 * Backward-shift deletion, as cache.c. Each move writes the hole before
 * the entry's old place is reused, so a concurrent reader sees the entry
 * twice or misses it, never sees another key's slot as its own (it checks
 * the slot's key anyway).
 */
static void idx_delete_at(struct scache *sc, uint32_t hole)
{
	for (uint32_t j = hole;;) {
		j = (j + 1) & sc->mask;
		uint64_t e = atomic_load_explicit(&sc->idx[j], memory_order_relaxed);

		if ((uint32_t)e == 0)
			break;
		uint32_t home = (uint32_t)mix(sc->ikey[j]) & sc->mask;

		if (((j - home) & sc->mask) >= ((j - hole) & sc->mask)) {
			sc->ikey[hole] = sc->ikey[j];
			atomic_store_explicit(&sc->idx[hole], e, memory_order_release);
			hole = j;
		}
	}
	atomic_store_explicit(&sc->idx[hole], 0, memory_order_release);
}

void scache_prefetch(const struct scache *sc, struct scache_key key)
{
	__builtin_prefetch(&sc->idx[(uint32_t)mix(key_val(key)) & sc->mask]);
}

/* ---- S3-FIFO, under the lock ----------------------------------------- */

static void ghost_add(struct scache *sc, uint64_t kv)
{
	if (sc->g_count == sc->g_cap) {
		uint32_t p = idx_find(sc, sc->ghost[sc->g_head]);

		if (p != NIL && (uint32_t)atomic_load_explicit(&sc->idx[p], memory_order_relaxed) ==
					(GHOST | sc->g_head))
			idx_delete_at(sc, p);
		if (++sc->g_head == sc->g_cap)
			sc->g_head = 0;
		sc->g_count--;
	}
	uint32_t gp = sc->g_head + sc->g_count;

	if (gp >= sc->g_cap)
		gp -= sc->g_cap;
	sc->ghost[gp] = kv;
	sc->g_count++;
	idx_set(sc, kv, GHOST | gp);
}

/*
 * Takes slot i from VALID with no pin to FREE (next generation). Fails
 * when a pin is held, or lands while we try: the pinner won the race.
 */
static bool try_evict(struct scache *sc, uint32_t i)
{
	struct hot *h = &sc->hot[i];
	uint64_t w = atomic_load_explicit(&h->word, memory_order_acquire);

	while (w_state(w) == ST_VALID && w_pins(w) == 0) {
		if (atomic_compare_exchange_weak_explicit(
			    &h->word, &w, w_make(w_gen(w) + 1, ST_FREE, 0), memory_order_acq_rel,
			    memory_order_acquire))
			return true;
	}
	assert(w_state(w) == ST_VALID);
	return false;
}

static uint32_t evict_small(struct scache *sc)
{
	for (uint32_t budget = sc->small.count; budget > 0; budget--) {
		uint32_t i = ring_pop(&sc->small);
		struct hot *h = &sc->hot[i];

		if (atomic_load_explicit(&h->freq, memory_order_relaxed) > 0) {
			atomic_store_explicit(&h->freq, 0, memory_order_relaxed);
			sc->cold[i].queue = Q_MAIN;
			ring_push(&sc->main, i);
		} else if (!try_evict(sc, i)) {
			ring_push(&sc->small, i);
		} else {
			ghost_add(sc, atomic_load_explicit(&h->key, memory_order_relaxed));
			return i;
		}
	}
	return NIL;
}

static uint32_t evict_main(struct scache *sc)
{
	for (uint64_t budget = 4ull * sc->main.count; budget > 0; budget--) {
		uint32_t i = ring_pop(&sc->main);
		struct hot *h = &sc->hot[i];
		uint8_t f = atomic_load_explicit(&h->freq, memory_order_relaxed);

		if (f > 0) {
			atomic_store_explicit(&h->freq, f - 1, memory_order_relaxed);
			ring_push(&sc->main, i);
		} else if (!try_evict(sc, i)) {
			ring_push(&sc->main, i);
		} else {
			uint32_t p =
				idx_find(sc, atomic_load_explicit(&h->key, memory_order_relaxed));

			assert(p != NIL); /* a VALID slot has its entry */
			idx_delete_at(sc, p);
			return i;
		}
	}
	return NIL;
}

/* One slot made FREE for a miss, or NIL when none could be (see the file
 * header on the scan's bound). Same queue choice as cache.c. */
static uint32_t evict(struct scache *sc)
{
	uint32_t i;

	if (sc->small.count >= sc->small_target || sc->main.count == 0) {
		if ((i = evict_small(sc)) == NIL)
			i = evict_main(sc);
	} else if ((i = evict_main(sc)) == NIL && (i = evict_small(sc)) == NIL) {
		i = evict_main(sc);
	}
	return i;
}

/* ---- create / destroy ---------------------------------------------- */

static void *map_blocks(size_t len, int try_huge, size_t *out_map_len, int *out_huge)
{
	/* both kinds of mapping are whole 2 MiB pages long */
	size_t hl = (len + HUGE_2M - 1) & ~(HUGE_2M - 1);
	void *p;

	if (try_huge) {
		/* hugetlb reserves at mmap time: no pages, no mapping */
		p = mmap(NULL, hl, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT) |
				 MAP_POPULATE,
			 -1, 0);
		if (p != MAP_FAILED) {
			*out_map_len = hl;
			*out_huge = 1;
			return p;
		}
	}
	/* best effort: THP where the kernel allows it, faulted in now */
	if (!(p = hotmem_alloc(len)))
		return NULL;
	*out_map_len = hl;
	*out_huge = 0;
	return p;
}

/* n * size, or 0 when it overflows (every table here is non-empty). */
static size_t bytes_of(size_t n, size_t size)
{
	size_t r;

	return __builtin_mul_overflow(n, size, &r) ? 0 : r;
}

static void *zalloc_lines(size_t n, size_t size)
{
	size_t len = bytes_of(n, size);
	void *p;

	if (len == 0 || posix_memalign(&p, LINE, len) != 0)
		return NULL;
	memset(p, 0, len);
	return p;
}

int scache_create(const struct scache_config *cfg, struct scache **out_cache, struct seed_err *err)
{
	if (!cfg || !out_cache)
		return seed_err_set(err, -EINVAL, "shared cache: no config");
	*out_cache = NULL;

	size_t n = cfg->bytes / SCACHE_BLOCK;

	if (n < MIN_SLOTS)
		return seed_err_set(err, -EINVAL,
				    "shared cache: %zu bytes hold %zu blocks of %u; at least %u "
				    "(%u KiB) needed",
				    cfg->bytes, n, SCACHE_BLOCK, MIN_SLOTS,
				    MIN_SLOTS * SCACHE_BLOCK / 1024);
	if (n > MAX_SLOTS)
		return seed_err_set(
			err, -EINVAL,
			"shared cache: %zu bytes is more than the %u blocks it can index",
			cfg->bytes, MAX_SLOTS);
	if (cfg->n_workers < 1 || cfg->n_workers > SCACHE_MAX_WORKERS)
		return seed_err_set(err, -EINVAL,
				    "shared cache: %u workers; between 1 and %u supported",
				    cfg->n_workers, SCACHE_MAX_WORKERS);

	size_t max_w = cfg->max_waiters;

	if (max_w == 0)
		max_w = 4 * n < MAX_WAITERS ? 4 * n : MAX_WAITERS;
	if (max_w > MAX_WAITERS)
		return seed_err_set(err, -EINVAL,
				    "shared cache: max_waiters %zu is over the limit of %u", max_w,
				    MAX_WAITERS);

	struct scache *sc = calloc(1, sizeof(*sc));

	if (!sc)
		return seed_err_set(err, -ENOMEM, "shared cache: out of memory");
	if (pthread_mutex_init(&sc->lock, NULL) != 0) {
		free(sc);
		return seed_err_set(err, -ENOMEM, "shared cache: cannot create its lock");
	}
	sc->n = (uint32_t)n;
	sc->n_workers = cfg->n_workers;
	sc->wake = cfg->wake;
	sc->wake_arg = cfg->wake_arg;
	sc->small_target = sc->n / 10;
	sc->g_cap = sc->n - sc->small_target;

	size_t isize = 1;

	while (isize < 2 * ((size_t)sc->n + sc->g_cap))
		isize <<= 1;
	sc->mask = (uint32_t)(isize - 1);

	sc->hot = zalloc_lines(n, sizeof(*sc->hot));
	sc->cold = calloc(n, sizeof(*sc->cold));
	sc->idx = calloc(isize, sizeof(*sc->idx));
	sc->ikey = calloc(isize, sizeof(*sc->ikey));
	sc->small.v = calloc(n, sizeof(uint32_t));
	sc->main.v = calloc(n, sizeof(uint32_t));
	sc->ghost = calloc(sc->g_cap, sizeof(*sc->ghost));
	sc->free_stack = calloc(n, sizeof(uint32_t));
	sc->waiters = calloc(max_w, sizeof(*sc->waiters));
	sc->inbox = zalloc_lines(sc->n_workers, sizeof(*sc->inbox));
	sc->ctr = zalloc_lines(sc->n_workers, sizeof(*sc->ctr));
	if (!sc->hot || !sc->cold || !sc->idx || !sc->ikey || !sc->small.v || !sc->main.v ||
	    !sc->ghost || !sc->free_stack || !sc->waiters || !sc->inbox || !sc->ctr) {
		scache_destroy(sc);
		return seed_err_set(err, -ENOMEM,
				    "shared cache: out of memory for the tables of %zu blocks", n);
	}
	sc->base = map_blocks(n * SCACHE_BLOCK, cfg->try_hugepages, &sc->map_len, &sc->huge);
	if (!sc->base) {
		int e = errno;

		scache_destroy(sc);
		return seed_err_set(err, -e, "shared cache: cannot map %zu bytes: %s",
				    n * SCACHE_BLOCK, strerror(e));
	}
	sc->small.cap = sc->main.cap = sc->n;
	for (uint32_t i = 0; i < sc->n; i++) {
		atomic_init(&sc->hot[i].word, w_make(0, ST_FREE, 0));
		atomic_init(&sc->hot[i].key, 0);
		atomic_init(&sc->hot[i].freq, 0);
		sc->free_stack[i] = sc->n - 1 - i; /* slot 0 first */
	}
	sc->free_top = sc->n;
	for (size_t p = 0; p < isize; p++)
		atomic_init(&sc->idx[p], 0);
	for (size_t w = 0; w < max_w; w++)
		sc->waiters[w].next = w + 1 < max_w ? (uint32_t)(w + 1) : NIL;
	sc->w_free = 0;
	for (unsigned k = 0; k < sc->n_workers; k++) {
		atomic_init(&sc->inbox[k].count, 0);
		sc->inbox[k].head = sc->inbox[k].tail = NIL;
	}
	*out_cache = sc;
	return 0;
}

void scache_destroy(struct scache *sc)
{
	if (!sc)
		return;
	if (sc->base)
		munmap(sc->base, sc->map_len);
	pthread_mutex_destroy(&sc->lock);
	MEM_FREE_ALL(sc->hot, sc->cold, sc->idx, sc->ikey, sc->small.v, sc->main.v, sc->ghost,
		     sc->free_stack, sc->waiters, sc->inbox, sc->ctr, sc);
}

void *scache_memory(const struct scache *sc, size_t *out_len)
{
	if (out_len)
		*out_len = (size_t)sc->n * SCACHE_BLOCK;
	return sc->base;
}

int scache_uses_hugepages(const struct scache *sc)
{
	return sc->huge;
}

uint64_t scache_pressure(const struct scache *sc)
{
	return atomic_load_explicit(&sc->pressure, memory_order_relaxed);
}

const struct scache_counters *scache_counters(const struct scache *sc, unsigned worker)
{
	if (worker >= sc->n_workers) {
		SCACHE_BUG("scache_counters: worker out of range");
		return NULL;
	}
	return &sc->ctr[worker].c;
}

/* ---- lookups ---------------------------------------------------------- */

static inline void touch(struct hot *h)
{
	/* lossy on purpose: a hit writes the line only below the maximum */
	uint8_t f = atomic_load_explicit(&h->freq, memory_order_relaxed);

	if (f < FREQ_MAX)
		atomic_store_explicit(&h->freq, f + 1, memory_order_relaxed);
}

/* One more pin on a VALID slot whose word was w (gen, state checked by the
 * CAS). false when it is no longer VALID in that generation or is at the
 * pin limit. */
static bool pin_valid(struct hot *h, uint64_t w)
{
	uint64_t gen = w_gen(w);

	while (w_state(w) == ST_VALID && w_gen(w) == gen && w_pins(w) < PIN_MAX) {
		if (atomic_compare_exchange_weak_explicit(
			    &h->word, &w, w + PIN_ONE, memory_order_acquire, memory_order_acquire))
			return true;
	}
	return false;
}

enum probe { P_HIT, P_SLOW };

/*
 * The lock-free hit path: the index names candidate slots; a slot is ours
 * once a CAS pinned the generation whose key we read (file header). Any
 * doubt (a fill in flight, an entry moving, the pin limit) goes to the
 * locked path, which decides for sure.
 */
static enum probe probe(struct scache *sc, uint64_t kv, uint64_t h, uint32_t *out_slot)
{
	uint32_t tag = (uint32_t)(h >> 32);
	uint32_t p = (uint32_t)h & sc->mask;

	for (uint32_t steps = 0; steps <= sc->mask; steps++, p = (p + 1) & sc->mask) {
		uint64_t e = atomic_load_explicit(&sc->idx[p], memory_order_acquire);
		uint32_t v = (uint32_t)e;

		if (v == 0)
			return P_SLOW;
		if ((uint32_t)(e >> 32) != tag || (v & GHOST))
			continue;

		struct hot *hs = &sc->hot[v - 1];
		uint64_t w = atomic_load_explicit(&hs->word, memory_order_acquire);

		if (atomic_load_explicit(&hs->key, memory_order_acquire) != kv)
			continue;
		if (w_state(w) == ST_FILLING)
			return P_SLOW;
		if (w_state(w) != ST_VALID)
			continue;
		if (pin_valid(hs, w)) {
			touch(hs);
			*out_slot = v - 1;
			return P_HIT;
		}
		return P_SLOW;
	}
	return P_SLOW;
}

/* A cookie queued on filling slot i; false when the pool is empty. */
static bool add_waiter(struct scache *sc, uint32_t i, unsigned worker, uint64_t cookie)
{
	uint32_t w = sc->w_free;

	if (w == NIL)
		return false;
	struct waiter *wt = &sc->waiters[w];
	struct cold *c = &sc->cold[i];

	sc->w_free = wt->next;
	wt->cookie = cookie;
	wt->next = NIL;
	wt->slot = i;
	wt->worker = (uint16_t)worker;
	wt->err = 0;
	if (c->wait_head == NIL)
		c->wait_head = w;
	else
		sc->waiters[c->wait_tail].next = w;
	c->wait_tail = w;
	return true;
}

static bool begin_fill(struct scache *sc, struct scache_counters *ctr, uint64_t kv,
		       const uint8_t xxh[16], uint32_t len, bool ghost, uint32_t *out_slot);

/* The miss path, under the lock: a hit the probe missed, a wait, or a fill. */
static enum scache_status get_locked(struct scache *sc, unsigned worker, uint64_t kv,
				     const uint8_t xxh[16], uint32_t len, uint64_t cookie,
				     uint32_t *out_slot)
{
	struct scache_counters *ctr = &sc->ctr[worker].c;
	uint32_t p = idx_find(sc, kv);
	uint32_t v =
		p == NIL ? 0 : (uint32_t)atomic_load_explicit(&sc->idx[p], memory_order_relaxed);

	if (v != 0 && !(v & GHOST)) {
		uint32_t i = v - 1;
		struct hot *h = &sc->hot[i];
		uint64_t w = atomic_load_explicit(&h->word, memory_order_acquire);

		/* One key names one content: a recycled object handle would
		 * have to be purged first (there is no call for that yet). */
		assert(sc->cold[i].len == len && memcmp(sc->cold[i].xxh, xxh, 16) == 0);
		if (w_state(w) == ST_FILLING) {
			if (!add_waiter(sc, i, worker, cookie)) {
				ctr->busy++;
				return SCACHE_BUSY;
			}
			touch(h);
			ctr->waits++;
			return SCACHE_WAIT;
		}
		/* VALID: under the lock nobody evicts it; only pins move */
		if (!pin_valid(h, w)) {
			ctr->busy++;
			return SCACHE_BUSY;
		}
		touch(h);
		ctr->hits++;
		*out_slot = i;
		return SCACHE_HIT;
	}

	if (!begin_fill(sc, ctr, kv, xxh, len, v != 0, out_slot)) {
		ctr->busy++;
		atomic_fetch_add_explicit(&sc->pressure, 1, memory_order_relaxed);
		return SCACHE_BUSY;
	}
	ctr->misses++;
	return SCACHE_FILL;
}

/* Under the lock: a free or evicted slot made FILLING for kv, pinned once
 * for the filler (ghost: kv was evicted too early, it goes to the main
 * queue). false when every slot is pinned or filling. */
static bool begin_fill(struct scache *sc, struct scache_counters *ctr, uint64_t kv,
		       const uint8_t xxh[16], uint32_t len, bool ghost, uint32_t *out_slot)
{
	uint32_t i;

	if (sc->free_top > 0)
		i = sc->free_stack[--sc->free_top];
	else if ((i = evict(sc)) != NIL)
		ctr->evictions++;
	else
		return false;

	struct hot *h = &sc->hot[i];
	struct cold *c = &sc->cold[i];
	uint64_t w = atomic_load_explicit(&h->word, memory_order_relaxed);

	c->len = len;
	memcpy(c->xxh, xxh, 16);
	c->queue = ghost ? Q_MAIN : Q_SMALL; /* a ghost was evicted too early */
	c->checked = 0;
	c->wait_head = c->wait_tail = NIL;
	atomic_store_explicit(&h->freq, 0, memory_order_relaxed);
	atomic_store_explicit(&h->key, kv, memory_order_relaxed);
	atomic_store_explicit(&h->word, w_make(w_gen(w), ST_FILLING, 1), memory_order_release);
	/* eviction may have moved or dropped the ghost entry: idx_set looks again */
	idx_set(sc, kv, i + 1);
	*out_slot = i;
	return true;
}

enum scache_status scache_claim(struct scache *sc, unsigned worker, struct scache_key key,
				const uint8_t expected_xxh[16], uint32_t len, uint8_t **out_data,
				uint32_t *out_slot)
{
	*out_data = NULL;
	*out_slot = NIL;
	if (worker >= sc->n_workers || !expected_xxh || len == 0 || len > SCACHE_BLOCK) {
		SCACHE_BUG("scache_claim: worker out of range, or len not 1..SCACHE_BLOCK");
		return SCACHE_BUSY;
	}
	uint64_t kv = key_val(key);
	struct scache_counters *ctr = &sc->ctr[worker].c;
	enum scache_status st = SCACHE_HIT;
	uint32_t i;

	pthread_mutex_lock(&sc->lock);
	uint32_t p = idx_find(sc, kv);
	uint32_t v =
		p == NIL ? 0 : (uint32_t)atomic_load_explicit(&sc->idx[p], memory_order_relaxed);
	/* cached or being read (by any worker): nothing to do, nothing held */
	if (v == 0 || (v & GHOST)) {
		if (begin_fill(sc, ctr, kv, expected_xxh, len, v != 0, &i)) {
			ctr->claims++;
			st = SCACHE_FILL;
		} else {
			st = SCACHE_BUSY;
		}
	}
	pthread_mutex_unlock(&sc->lock);
	if (st == SCACHE_FILL) {
		*out_data = slot_mem(sc, i);
		*out_slot = i;
	}
	return st;
}

enum scache_status scache_get(struct scache *sc, unsigned worker, struct scache_key key,
			      const uint8_t expected_xxh[16], uint32_t len, uint64_t cookie,
			      uint8_t **out_data, uint32_t *out_slot)
{
	*out_data = NULL;
	*out_slot = NIL;
	if (worker >= sc->n_workers) {
		SCACHE_BUG("scache_get: worker out of range");
		return SCACHE_BUSY;
	}
	if (!expected_xxh || len == 0 || len > SCACHE_BLOCK) {
		SCACHE_BUG("scache_get: len must be 1..SCACHE_BLOCK with a checksum");
		sc->ctr[worker].c.busy++;
		return SCACHE_BUSY;
	}

	uint64_t kv = key_val(key);
	uint32_t i;

	if (probe(sc, kv, mix(kv), &i) == P_HIT) {
		assert(sc->cold[i].len == len);
		sc->ctr[worker].c.hits++;
		*out_data = slot_mem(sc, i);
		*out_slot = i;
		return SCACHE_HIT;
	}

	pthread_mutex_lock(&sc->lock);
	enum scache_status st = get_locked(sc, worker, kv, expected_xxh, len, cookie, &i);
	pthread_mutex_unlock(&sc->lock);
	if (st == SCACHE_HIT || st == SCACHE_FILL) {
		*out_data = slot_mem(sc, i);
		*out_slot = i;
	}
	return st;
}

/* ---- fills ------------------------------------------------------------ */

static bool filling(const struct scache *sc, uint32_t slot)
{
	return slot < sc->n && w_state(atomic_load_explicit(&sc->hot[slot].word,
							    memory_order_acquire)) == ST_FILLING;
}

int scache_fill_check(struct scache *sc, uint32_t slot, int64_t read_len)
{
	if (!filling(sc, slot))
		return 0;
	struct cold *c = &sc->cold[slot];
	uint8_t got[HASH_XXH128_LEN];

	c->checked = 0;
	if (read_len != (int64_t)c->len)
		return 0;
	hash_xxh128(slot_mem(sc, slot), c->len, got);
	c->checked = memcmp(got, c->xxh, sizeof(got)) == 0;
	return c->checked;
}

/* Appends waiter record w to its worker's inbox; the lock is held. */
static void inbox_push(struct scache *sc, uint32_t w)
{
	struct inbox *ib = &sc->inbox[sc->waiters[w].worker];

	sc->waiters[w].next = NIL;
	if (ib->head == NIL)
		ib->head = w;
	else
		sc->waiters[ib->tail].next = w;
	ib->tail = w;
	atomic_store_explicit(&ib->count,
			      atomic_load_explicit(&ib->count, memory_order_relaxed) + 1,
			      memory_order_release);
}

int scache_fill_done(struct scache *sc, unsigned worker, uint32_t slot, int64_t read_len,
		     uint64_t *out_cookies, size_t cap, size_t *out_n)
{
	*out_n = 0;
	if (worker >= sc->n_workers || !filling(sc, slot)) {
		SCACHE_BUG("scache_fill_done: slot is not filling (or worker out of range)");
		return -EINVAL;
	}

	struct scache_counters *ctr = &sc->ctr[worker].c;
	struct hot *h = &sc->hot[slot];
	struct cold *c = &sc->cold[slot];
	bool ok = read_len == (int64_t)c->len;
	int32_t err = ok ? 0 : read_len < 0 && read_len >= -4095 ? (int32_t)read_len : -EIO;

	/* the slot is this filler's alone until it is published: hash it
	 * before taking the lock */
	if (ok && !c->checked) {
		uint8_t got[HASH_XXH128_LEN];

		hash_xxh128(slot_mem(sc, slot), c->len, got);
		if (memcmp(got, c->xxh, sizeof(got)) != 0) {
			ok = false;
			err = -EBADMSG;
			ctr->verify_failures++;
		}
	}

	uint64_t woken[SCACHE_MAX_WORKERS / 64] = { 0 };
	size_t n_out = 0;
	uint64_t n_waiters = 0;

	pthread_mutex_lock(&sc->lock);
	for (uint32_t w = c->wait_head; w != NIL;) {
		struct waiter *wt = &sc->waiters[w];
		uint32_t next = wt->next;

		n_waiters++;
		if (wt->worker == worker && n_out < cap) {
			out_cookies[n_out++] = wt->cookie;
			wt->next = sc->w_free;
			sc->w_free = w;
		} else {
			/* another worker's, or past cap: its inbox, never lost */
			wt->err = err;
			inbox_push(sc, w);
			woken[wt->worker / 64] |= 1ull << (wt->worker % 64);
		}
		w = next;
	}
	c->wait_head = c->wait_tail = NIL;

	uint64_t wd = atomic_load_explicit(&h->word, memory_order_relaxed);

	if (ok) {
		/* nobody else writes a FILLING word: a store publishes it */
		atomic_store_explicit(&h->word, w_make(w_gen(wd), ST_VALID, 1 + n_waiters),
				      memory_order_release);
		ring_push(c->queue == Q_MAIN ? &sc->main : &sc->small, slot);
		ctr->fills++;
		ctr->bytes_filled += c->len;
	} else {
		/* never served: out of the index (not a ghost), slot free, the
		 * filler's pin consumed */
		uint32_t p = idx_find(sc, atomic_load_explicit(&h->key, memory_order_relaxed));

		assert(p != NIL); /* a FILLING slot has its entry */
		idx_delete_at(sc, p);
		atomic_store_explicit(&h->word, w_make(w_gen(wd) + 1, ST_FREE, 0),
				      memory_order_release);
		sc->free_stack[sc->free_top++] = slot;
	}
	pthread_mutex_unlock(&sc->lock);

	*out_n = n_out;
	if (sc->wake)
		for (unsigned k = 0; k < sc->n_workers; k++)
			if (woken[k / 64] & (1ull << (k % 64)))
				sc->wake(sc->wake_arg, k);
	return ok ? 1 : 0;
}

size_t scache_take(struct scache *sc, unsigned worker, struct scache_delivery *out, size_t cap)
{
	if (worker >= sc->n_workers) {
		SCACHE_BUG("scache_take: worker out of range");
		return 0;
	}
	struct inbox *ib = &sc->inbox[worker];

	if (cap == 0 || atomic_load_explicit(&ib->count, memory_order_acquire) == 0)
		return 0;

	size_t n = 0;

	pthread_mutex_lock(&sc->lock);
	while (n < cap && ib->head != NIL) {
		uint32_t w = ib->head;
		struct waiter *wt = &sc->waiters[w];

		ib->head = wt->next;
		out[n].cookie = wt->cookie;
		out[n].ok = wt->err == 0;
		out[n].err = wt->err;
		out[n].data = wt->err == 0 ? slot_mem(sc, wt->slot) : NULL;
		n++;
		wt->next = sc->w_free;
		sc->w_free = w;
	}
	if (ib->head == NIL)
		ib->tail = NIL;
	atomic_store_explicit(&ib->count,
			      atomic_load_explicit(&ib->count, memory_order_relaxed) - (uint32_t)n,
			      memory_order_relaxed);
	pthread_mutex_unlock(&sc->lock);
	return n;
}

void scache_unpin(struct scache *sc, const uint8_t *data)
{
	uintptr_t off = (uintptr_t)data - (uintptr_t)sc->base;

	if ((uintptr_t)data < (uintptr_t)sc->base || off >= (uintptr_t)sc->n * SCACHE_BLOCK) {
		SCACHE_BUG("scache_unpin: pointer outside the cache");
		return;
	}

	struct hot *h = &sc->hot[off / SCACHE_BLOCK];
	uint64_t w = atomic_load_explicit(&h->word, memory_order_relaxed);

	do {
		if (w_state(w) != ST_VALID || w_pins(w) == 0) {
			SCACHE_BUG("scache_unpin: block is not pinned");
			return;
		}
	} while (!atomic_compare_exchange_weak_explicit(
		&h->word, &w, w - PIN_ONE, memory_order_release, memory_order_relaxed));
}
