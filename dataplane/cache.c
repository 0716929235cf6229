/*
 * cache: a worker's verified block cache (API in cache.h, policy and operator
 * notes in docs/cache.md).
 *
 * Memory. One mmap'd region of n slots x 16 KiB, 2 MiB hugetlb pages when
 * asked for and available, plain pages (THP advised) otherwise. Slot i is
 * base + i * CACHE_BLOCK: 4 KiB-aligned, so O_DIRECT reads land in place.
 * Beside it, allocated once by cache_create and never again:
 *   slots[n]        state, key, pin count, 2-bit frequency, expected len and
 *                   XXH3-128, the FIFO list of waiters while filling
 *   index[2^k]      open addressing with linear probing and backward-shift
 *                   deletion (no tombstones): key -> slot number, or key ->
 *                   GHOST_TAG | ghost ring position for recently evicted keys
 *   small, main     rings of slot numbers: S3-FIFO's S and M queues
 *   ghost           ring of keys evicted from S (S3-FIFO's G), keys only
 *   free_stack      slots holding nothing
 *   waiters         pool of CACHE_WAIT cookies, free-listed
 *
 * Invariants.
 *   FREE     slot is in free_stack, not in the index, in no queue, pins 0.
 *   FILLING  key is in the index, slot is in no queue (so eviction never
 *            sees it), pins == 1 (the filler's), waiters queued in order.
 *   VALID    key is in the index, slot is in exactly one of small/main,
 *            no waiters, pins >= 0; only pins == 0 slots are evicted.
 *   small.count + main.count + filling + free_top == n.
 *   n_pinned == number of slots with pins > 0, so "everything is pinned or
 *   filling" is one comparison and the eviction scan, when it runs, always
 *   finds a victim within its bound (see evict()).
 *   The index holds at most n resident + g_cap ghost keys and has at least
 *   twice that many entries (load <= 1/2). A ghost ring position whose key
 *   was since re-admitted stays in the ring, stale: its index entry no longer
 *   says GHOST_TAG | that position, and is left alone when it ages out.
 *
 * Call order: cache_create; then per block cache_get -> (FILL: read, then
 * cache_fill_done) -> cache_unpin once per pin; cache_destroy last, with no
 * read in flight. One thread only.
 *
 * Where cache.h is silent: a failed fill consumes the filler's pin (the slot
 * is free at once: do not unpin it); waiters past fill_done's cap are dropped
 * unpinned (a caller bug: pass cap >= max_waiters); each cache_get counts
 * once in hits, misses (= FILL), waits or busy; fills and bytes_filled count
 * verified blocks only; evictions count valid blocks pushed out for room.
 */
#include "cache.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hash.h"
#include "mem.h"

#define MIN_SLOTS   64u
#define MAX_SLOTS   (1u << 28) /* 4 TiB: index positions fit 32 bits */
#define MAX_WAITERS (1u << 30)
#define HUGE_2M	    ((size_t)2 << 20)
#define FREQ_MAX    3u	       /* two bits */
#define NIL	    UINT32_MAX /* no slot / no waiter / empty index entry */
#define GHOST_TAG   0x80000000u

/*
 * The caller broke the contract (unpin of an unpinned block, fill_done on a
 * slot that is not filling, a foreign pointer). Debug builds stop here;
 * release builds return without touching state.
 */
#define CACHE_BUG(msg) assert(!(msg))

enum slot_state { SLOT_FREE = 0, SLOT_FILLING, SLOT_VALID };
enum slot_queue { Q_SMALL = 0, Q_MAIN };

struct slot {
	struct cache_key key;
	uint32_t pins;
	uint32_t len;		       /* expected length, from cache_get */
	uint32_t wait_head, wait_tail; /* waiters, oldest first */
	uint8_t state;
	uint8_t freq;
	uint8_t queue;	 /* where it goes (FILLING) or is (VALID) */
	uint8_t checked; /* FILLING: cache_fill_check found it whole (no second hash) */
	uint8_t xxh[16]; /* expected XXH3-128, from cache_get */
};

struct ientry {
	struct cache_key key;
	uint32_t val; /* slot, GHOST_TAG | ghost pos, or NIL */
};

struct ring {
	uint32_t *v;
	uint32_t cap, head, count;
};

struct waiter {
	uint64_t cookie;
	uint32_t next;
};

struct cache {
	uint8_t *base;	/* n * CACHE_BLOCK bytes of blocks */
	size_t map_len; /* what was mmap'd (hugetlb rounds up) */
	uint32_t n;
	int huge;
	struct slot *slots;
	struct ientry *index;
	uint32_t mask; /* index entries - 1 */
	struct ring small, main;
	uint32_t small_target; /* small's share: n / 10 */
	struct cache_key *ghost;
	uint32_t g_cap, g_head, g_count;
	uint32_t *free_stack;
	uint32_t free_top;
	struct waiter *waiters;
	uint32_t w_free;   /* free list of the waiter pool */
	uint32_t n_pinned; /* slots with pins > 0 */
	struct cache_counters ctr;
};

static inline uint8_t *slot_mem(const struct cache *c, uint32_t i)
{
	return c->base + (size_t)i * CACHE_BLOCK;
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

static inline bool key_eq(struct cache_key a, struct cache_key b)
{
	return a.object == b.object && a.block == b.block;
}

/* A full 64-bit mix: consecutive blocks of one object spread evenly. */
static inline uint32_t idx_home(const struct cache *c, struct cache_key k)
{
	uint64_t x = ((uint64_t)k.object << 32) | k.block;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return (uint32_t)x & c->mask;
}

static uint32_t idx_find(const struct cache *c, struct cache_key k)
{
	for (uint32_t p = idx_home(c, k);; p = (p + 1) & c->mask) {
		if (c->index[p].val == NIL)
			return NIL;
		if (key_eq(c->index[p].key, k))
			return p;
	}
}

void cache_prefetch(const struct cache *c, struct cache_key key)
{
	__builtin_prefetch(&c->index[idx_home(c, key)]);
}

/* The key must be absent; load <= 1/2 guarantees an empty entry. */
static void idx_insert(struct cache *c, struct cache_key k, uint32_t val)
{
	uint32_t p = idx_home(c, k);

	while (c->index[p].val != NIL)
		p = (p + 1) & c->mask;
	c->index[p].key = k;
	c->index[p].val = val;
}

/*
 * Backward-shift deletion: pull each later entry of the probe run into the
 * hole when the hole lies between that entry's home and its position, so
 * every key stays reachable from its home without tombstones.
 */
static void idx_delete_at(struct cache *c, uint32_t hole)
{
	for (uint32_t j = hole;;) {
		j = (j + 1) & c->mask;
		if (c->index[j].val == NIL)
			break;
		uint32_t home = idx_home(c, c->index[j].key);

		if (((j - home) & c->mask) >= ((j - hole) & c->mask)) {
			c->index[hole] = c->index[j];
			hole = j;
		}
	}
	c->index[hole].val = NIL;
}

/* Slot i leaves small: its key becomes the newest ghost. */
static void ghost_add(struct cache *c, uint32_t i)
{
	struct cache_key k = c->slots[i].key;

	if (c->g_count == c->g_cap) {
		uint32_t p = idx_find(c, c->ghost[c->g_head]);

		if (p != NIL && c->index[p].val == (GHOST_TAG | c->g_head))
			idx_delete_at(c, p);
		if (++c->g_head == c->g_cap)
			c->g_head = 0;
		c->g_count--;
	}
	uint32_t gp = c->g_head + c->g_count;

	if (gp >= c->g_cap)
		gp -= c->g_cap;
	c->ghost[gp] = k;
	c->g_count++;
	c->index[idx_find(c, k)].val = GHOST_TAG | gp;
}

/*
 * One pass over small: a block read since it came in moves to main (its
 * frequency cleared: main must see it again to keep it), a pinned one goes
 * round, the first unread unpinned one is evicted to the ghost.
 */
static uint32_t evict_small(struct cache *c)
{
	for (uint32_t budget = c->small.count; budget > 0; budget--) {
		uint32_t i = ring_pop(&c->small);
		struct slot *s = &c->slots[i];

		if (s->freq > 0) {
			s->freq = 0;
			s->queue = Q_MAIN;
			ring_push(&c->main, i);
		} else if (s->pins > 0) {
			ring_push(&c->small, i);
		} else {
			ghost_add(c, i);
			return i;
		}
	}
	return NIL;
}

/*
 * CLOCK over main with a 2-bit count: a read block goes round once per
 * count, a pinned one goes round, the first unpinned one at zero is evicted
 * (no ghost: main's keys were already judged). Four turns of the ring take
 * any unpinned block to zero.
 */
static uint32_t evict_main(struct cache *c)
{
	for (uint64_t budget = 4ull * c->main.count; budget > 0; budget--) {
		uint32_t i = ring_pop(&c->main);
		struct slot *s = &c->slots[i];

		if (s->freq > 0) {
			s->freq--;
			ring_push(&c->main, i);
		} else if (s->pins > 0) {
			ring_push(&c->main, i);
		} else {
			idx_delete_at(c, idx_find(c, s->key));
			return i;
		}
	}
	return NIL;
}

/*
 * Frees one valid unpinned slot; the caller checked one exists. Small is
 * evicted while it holds its ~10% share (or main is empty), main otherwise.
 * When the preferred queue has nothing to give (all pinned), the other is
 * tried; a small pass that only promoted leaves its unpinned blocks at the
 * tail of main with zero counts, so a last main pass finds them.
 */
static uint32_t evict(struct cache *c)
{
	uint32_t i;

	if (c->small.count >= c->small_target || c->main.count == 0) {
		if ((i = evict_small(c)) == NIL)
			i = evict_main(c);
	} else if ((i = evict_main(c)) == NIL && (i = evict_small(c)) == NIL) {
		i = evict_main(c);
	}
	if (i != NIL)
		c->ctr.evictions++;
	return i;
}

static void *map_blocks(size_t len, int try_huge, size_t *out_map_len, int *out_huge)
{
	void *p;

	if (try_huge) {
		size_t hl = (len + HUGE_2M - 1) & ~(HUGE_2M - 1);

		/* hugetlb reserves at mmap time: no pages, no mapping. */
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
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Best effort: THP where the kernel allows it, faulted in now. */
	(void)madvise(p, len, MADV_HUGEPAGE);
	if (madvise(p, len, MADV_POPULATE_WRITE) != 0)
		memset(p, 0, len);
	*out_map_len = len;
	*out_huge = 0;
	return p;
}

int cache_create(const struct cache_config *cfg, struct cache **out_cache, struct seed_err *err)
{
	if (!cfg || !out_cache)
		return seed_err_set(err, -EINVAL, "cache: no config");
	*out_cache = NULL;

	size_t n = cfg->bytes / CACHE_BLOCK;

	if (n < MIN_SLOTS)
		return seed_err_set(
			err, -EINVAL,
			"cache: %zu bytes hold %zu blocks of %u; at least %u (%u KiB) needed",
			cfg->bytes, n, CACHE_BLOCK, MIN_SLOTS, MIN_SLOTS * CACHE_BLOCK / 1024);
	if (n > MAX_SLOTS)
		return seed_err_set(
			err, -EINVAL,
			"cache: %zu bytes is more than the %u blocks a worker cache can index",
			cfg->bytes, MAX_SLOTS);

	size_t max_w = cfg->max_waiters ? cfg->max_waiters : 4 * n;

	if (max_w > MAX_WAITERS)
		return seed_err_set(err, -EINVAL, "cache: max_waiters %zu is over the limit of %u",
				    max_w, MAX_WAITERS);

	struct cache *c = calloc(1, sizeof(*c));

	if (!c)
		return seed_err_set(err, -ENOMEM, "cache: out of memory");
	c->n = (uint32_t)n;
	c->small_target = c->n / 10;
	c->g_cap = c->n - c->small_target; /* as many ghosts as main's share */

	size_t isize = 1;

	while (isize < 2 * ((size_t)c->n + c->g_cap))
		isize <<= 1;
	c->mask = (uint32_t)(isize - 1);

	c->slots = calloc(n, sizeof(*c->slots));
	c->index = malloc(isize * sizeof(*c->index));
	c->small.v = malloc(n * sizeof(uint32_t));
	c->main.v = malloc(n * sizeof(uint32_t));
	c->ghost = malloc(c->g_cap * sizeof(*c->ghost));
	c->free_stack = malloc(n * sizeof(uint32_t));
	c->waiters = malloc(max_w * sizeof(*c->waiters));
	if (!c->slots || !c->index || !c->small.v || !c->main.v || !c->ghost || !c->free_stack ||
	    !c->waiters) {
		cache_destroy(c);
		return seed_err_set(err, -ENOMEM,
				    "cache: out of memory for the tables of %zu blocks", n);
	}
	c->base = map_blocks(n * CACHE_BLOCK, cfg->try_hugepages, &c->map_len, &c->huge);
	if (!c->base) {
		int e = errno;

		cache_destroy(c);
		return seed_err_set(err, -e, "cache: cannot map %zu bytes: %s", n * CACHE_BLOCK,
				    strerror(e));
	}
	for (size_t p = 0; p < isize; p++)
		c->index[p].val = NIL;
	c->small.cap = c->main.cap = c->n;
	/* Handed out from slot 0 upward: the low end of the region first. */
	for (uint32_t i = 0; i < c->n; i++)
		c->free_stack[i] = c->n - 1 - i;
	c->free_top = c->n;
	for (size_t w = 0; w < max_w; w++)
		c->waiters[w].next = w + 1 < max_w ? (uint32_t)(w + 1) : NIL;
	c->w_free = 0;
	*out_cache = c;
	return 0;
}

void cache_destroy(struct cache *c)
{
	if (!c)
		return;
	if (c->base)
		munmap(c->base, c->map_len);
	MEM_FREE_ALL(c->slots, c->index, c->small.v, c->main.v, c->ghost, c->free_stack, c->waiters,
		     c);
}

void *cache_memory(const struct cache *c, size_t *out_len)
{
	if (out_len)
		*out_len = (size_t)c->n * CACHE_BLOCK;
	return c->base;
}

int cache_uses_hugepages(const struct cache *c)
{
	return c->huge;
}

const struct cache_counters *cache_counters(const struct cache *c)
{
	return &c->ctr;
}

static void pin(struct cache *c, struct slot *s, uint32_t k)
{
	if (s->pins == 0 && k > 0)
		c->n_pinned++;
	s->pins += k;
}

static bool start_fill(struct cache *c, struct cache_key key, const uint8_t expected_xxh[16],
		       uint32_t len, bool to_main, uint8_t **out_data, uint32_t *out_slot);

enum cache_status cache_get(struct cache *c, struct cache_key key, const uint8_t expected_xxh[16],
			    uint32_t len, uint64_t cookie, uint8_t **out_data, uint32_t *out_slot)
{
	*out_data = NULL;
	*out_slot = NIL;
	if (!expected_xxh || len == 0 || len > CACHE_BLOCK) {
		CACHE_BUG("cache_get: len must be 1..CACHE_BLOCK with a checksum");
		c->ctr.busy++;
		return CACHE_BUSY;
	}

	uint32_t p = idx_find(c, key);
	bool to_main = false;

	if (p != NIL && !(c->index[p].val & GHOST_TAG)) {
		uint32_t i = c->index[p].val;
		struct slot *s = &c->slots[i];

		/* One key names one content: a recycled object handle would
		 * have to be purged first (there is no call for that yet). */
		assert(s->len == len && memcmp(s->xxh, expected_xxh, 16) == 0);
		if (s->state == SLOT_FILLING) {
			uint32_t w = c->w_free;

			if (w == NIL) {
				c->ctr.busy++;
				return CACHE_BUSY;
			}
			c->w_free = c->waiters[w].next;
			c->waiters[w].cookie = cookie;
			c->waiters[w].next = NIL;
			if (s->wait_head == NIL)
				s->wait_head = w;
			else
				c->waiters[s->wait_tail].next = w;
			s->wait_tail = w;
			if (s->freq < FREQ_MAX)
				s->freq++;
			c->ctr.waits++;
			return CACHE_WAIT;
		}
		if (s->freq < FREQ_MAX)
			s->freq++;
		pin(c, s, 1);
		c->ctr.hits++;
		*out_data = slot_mem(c, i);
		*out_slot = i;
		return CACHE_HIT;
	}
	if (p != NIL)
		to_main = true; /* a ghost: it was evicted too early */
	if (!start_fill(c, key, expected_xxh, len, to_main, out_data, out_slot)) {
		c->ctr.busy++;
		return CACHE_BUSY;
	}
	c->ctr.misses++;
	return CACHE_FILL;
}

/* Takes a free or evicted slot for key (absent from the index, or a ghost
 * there) and makes it FILLING, pinned once. false when none can be had. */
static bool start_fill(struct cache *c, struct cache_key key, const uint8_t expected_xxh[16],
		       uint32_t len, bool to_main, uint8_t **out_data, uint32_t *out_slot)
{
	uint32_t i, p;

	if (c->free_top > 0) {
		i = c->free_stack[--c->free_top];
	} else if (c->n_pinned == c->n || (i = evict(c)) == NIL) {
		return false;
	}

	struct slot *s = &c->slots[i];

	s->key = key;
	s->len = len;
	memcpy(s->xxh, expected_xxh, 16);
	s->state = SLOT_FILLING;
	s->checked = 0;
	s->freq = 0;
	s->queue = to_main ? Q_MAIN : Q_SMALL;
	s->wait_head = s->wait_tail = NIL;
	s->pins = 0;
	pin(c, s, 1);
	/* Eviction may have moved or dropped the ghost entry: look again. */
	p = idx_find(c, key);
	if (p != NIL)
		c->index[p].val = i;
	else
		idx_insert(c, key, i);
	*out_data = slot_mem(c, i);
	*out_slot = i;
	return true;
}

enum cache_status cache_claim(struct cache *c, struct cache_key key, const uint8_t expected_xxh[16],
			      uint32_t len, uint8_t **out_data, uint32_t *out_slot)
{
	*out_data = NULL;
	*out_slot = NIL;
	if (!expected_xxh || len == 0 || len > CACHE_BLOCK) {
		CACHE_BUG("cache_claim: len must be 1..CACHE_BLOCK with a checksum");
		return CACHE_BUSY;
	}
	uint32_t p = idx_find(c, key);
	if (p != NIL && !(c->index[p].val & GHOST_TAG))
		return CACHE_HIT; /* cached or being read: nothing to do */
	/* Only from free slots and unpinned ones, as any fill; a read-ahead
	 * block enters S3-FIFO's small queue with no use yet, so one that is
	 * never asked for leaves first. */
	if (!start_fill(c, key, expected_xxh, len, p != NIL, out_data, out_slot))
		return CACHE_BUSY;
	c->ctr.claims++;
	return CACHE_FILL;
}

int cache_fill_check(struct cache *c, uint32_t slot, int64_t read_len)
{
	if (slot >= c->n || c->slots[slot].state != SLOT_FILLING)
		return 0;
	struct slot *s = &c->slots[slot];
	uint8_t got[HASH_XXH128_LEN];
	s->checked = 0;
	if (read_len != (int64_t)s->len)
		return 0;
	hash_xxh128(slot_mem(c, slot), s->len, got);
	s->checked = memcmp(got, s->xxh, sizeof(got)) == 0;
	return s->checked;
}

int cache_fill_done(struct cache *c, uint32_t slot, int64_t read_len, uint64_t *out_cookies,
		    size_t cap, size_t *out_n)
{
	size_t n_out = 0;

	*out_n = 0;
	if (slot >= c->n || c->slots[slot].state != SLOT_FILLING) {
		CACHE_BUG("cache_fill_done: slot is not filling");
		return -EINVAL;
	}

	struct slot *s = &c->slots[slot];
	bool ok = read_len == (int64_t)s->len;

	if (ok && !s->checked) {
		uint8_t got[HASH_XXH128_LEN];

		hash_xxh128(slot_mem(c, slot), s->len, got);
		if (memcmp(got, s->xxh, sizeof(got)) != 0) {
			ok = false;
			c->ctr.verify_failures++;
		}
	}

	bool lost = false;

	for (uint32_t w = s->wait_head; w != NIL;) {
		uint32_t next = c->waiters[w].next;

		if (n_out < cap)
			out_cookies[n_out++] = c->waiters[w].cookie;
		else
			lost = true;
		c->waiters[w].next = c->w_free;
		c->w_free = w;
		w = next;
	}
	s->wait_head = s->wait_tail = NIL;
	*out_n = n_out;
	/* Waiters past cap are dropped without a pin; cap >= max_waiters
	 * never drops one. */
	if (lost)
		CACHE_BUG("cache_fill_done: more waiters than cap");

	if (!ok) {
		/* Never served: out of the index (not a ghost), slot free,
		 * the filler's pin consumed. */
		idx_delete_at(c, idx_find(c, s->key));
		s->state = SLOT_FREE;
		s->pins = 0;
		c->n_pinned--;
		c->free_stack[c->free_top++] = slot;
		return 0;
	}
	s->state = SLOT_VALID;
	pin(c, s, (uint32_t)n_out);
	ring_push(s->queue == Q_MAIN ? &c->main : &c->small, slot);
	c->ctr.fills++;
	c->ctr.bytes_filled += s->len;
	return 1;
}

void cache_unpin(struct cache *c, const uint8_t *data)
{
	uintptr_t off = (uintptr_t)data - (uintptr_t)c->base;

	if ((uintptr_t)data < (uintptr_t)c->base || off >= (uintptr_t)c->n * CACHE_BLOCK) {
		CACHE_BUG("cache_unpin: pointer outside the cache");
		return;
	}

	struct slot *s = &c->slots[off / CACHE_BLOCK];

	if (s->state != SLOT_VALID || s->pins == 0) {
		CACHE_BUG("cache_unpin: block is not pinned");
		return;
	}
	if (--s->pins == 0)
		c->n_pinned--;
}
