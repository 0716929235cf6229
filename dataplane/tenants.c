/*
 * tenants: see tenants.h. The bucket is one signed token count per tenant;
 * takers subtract with a CAS loop and never drive it negative, the refiller
 * adds rate x elapsed up to the burst (derived from the rate at each
 * refill). Slots sit on their own cache lines, the limits beside the
 * counters they bound.
 */
#include "tenants.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "fnv.h"

#define IDX_SIZE (2 * TENANTS_MAX)
/* A burst of 100 ms of the rate (at least 256 KiB) smooths the refill tick
 * without letting a peer run far ahead of the cap. */
#define BURST_MS  100
#define BURST_MIN (256u << 10)

struct slot {
	char id[TENANT_ID_MAX + 1]; /* written once, before the index entry */
	size_t id_len;
	_Atomic uint64_t rate;	    /* bytes/s, 0 = unlimited (or not in the catalog) */
	_Atomic uint32_t max_peers; /* 0 = unlimited */
	_Atomic int64_t tokens;
	_Atomic int64_t peers;
} __attribute__((aligned(64)));

struct tenants {
	struct slot s[TENANTS_MAX];
	uint32_t n;			/* main thread's count */
	_Atomic uint32_t idx[IDX_SIZE]; /* slot + 1, 0 = empty; never removed */
	uint64_t last_ns;
};

/* The bucket's depth for a rate: BURST_MS of it, at least BURST_MIN. */
static int64_t burst_of(uint64_t rate)
{
	uint64_t b = rate / (1000 / BURST_MS);
	return b < BURST_MIN ? (int64_t)BURST_MIN : b > INT64_MAX ? INT64_MAX : (int64_t)b;
}

/* bytes/s, 0 = unlimited */
static uint64_t slot_rate(const struct slot *s)
{
	return atomic_load_explicit(&((struct slot *)s)->rate, memory_order_relaxed);
}

/* Main thread: the limits a slot enforces from now on. */
static void slot_set(struct slot *s, uint64_t rate, uint32_t max_peers)
{
	/* a new cap starts from an empty bucket: no burst at the old rate */
	if (slot_rate(s) != rate)
		atomic_store_explicit(&s->tokens, 0, memory_order_relaxed);
	atomic_store_explicit(&s->rate, rate, memory_order_relaxed);
	atomic_store_explicit(&s->max_peers, max_peers, memory_order_relaxed);
}

int tenants_create(struct tenants **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void tenants_free(struct tenants *t)
{
	free(t);
}

int tenants_find(const struct tenants *t, const char *id, size_t len)
{
	for (size_t i = fnv1a64(id, len) % IDX_SIZE;; i = (i + 1) % IDX_SIZE) {
		uint32_t v = atomic_load_explicit(&t->idx[i], memory_order_acquire);
		if (!v)
			return -1;
		const struct slot *s = &t->s[v - 1];
		if (s->id_len == len && !memcmp(s->id, id, len))
			return (int)v - 1;
	}
}

static int add_slot(struct tenants *t, const char *id)
{
	size_t len = strlen(id);
	if (t->n == TENANTS_MAX || len >= sizeof(t->s[0].id))
		return -ENOSPC;
	struct slot *s = &t->s[t->n];
	memcpy(s->id, id, len + 1);
	s->id_len = len;
	size_t i = fnv1a64(id, len) % IDX_SIZE;
	while (atomic_load_explicit(&t->idx[i], memory_order_relaxed))
		i = (i + 1) % IDX_SIZE;
	atomic_store_explicit(&t->idx[i], t->n + 1, memory_order_release);
	return (int)t->n++;
}

int tenants_sync(struct tenants *t, const struct catalog *cat)
{
	bool seen[TENANTS_MAX] = { false };
	int rc = 0;
	uint32_t n = cat ? catalog_n_tenants(cat) : 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct tenant *ct = catalog_tenant_at(cat, i);
		int k = tenants_find(t, ct->id, strlen(ct->id));
		if (k < 0 && (k = add_slot(t, ct->id)) < 0) {
			rc = k;
			continue;
		}
		seen[k] = true;
		slot_set(&t->s[k], ct->bandwidth, ct->max_peers);
	}
	for (uint32_t k = 0; k < t->n; k++)
		if (!seen[k])
			slot_set(&t->s[k], 0, 0);
	return rc;
}

bool tenants_refill(struct tenants *t, uint64_t now_ns)
{
	bool any = false;
	if (!t->last_ns || now_ns <= t->last_ns) {
		t->last_ns = now_ns;
		for (uint32_t k = 0; k < t->n; k++)
			any |= slot_rate(&t->s[k]) != 0;
		return any;
	}
	uint64_t dt = now_ns - t->last_ns;
	if (dt > 1000000000u)
		dt = 1000000000u; /* a stalled main thread does not mint a flood */
	t->last_ns = now_ns;
	for (uint32_t k = 0; k < t->n; k++) {
		struct slot *s = &t->s[k];
		uint64_t rate = slot_rate(s);
		if (!rate)
			continue;
		any = true;
		/* rate <= INT64_MAX (the catalog's bound) and dt <= 1e9: the
		 * product fits in 128 bits, the quotient is cut to the burst */
		int64_t burst = burst_of(rate);
		unsigned __int128 add128 = (unsigned __int128)rate * dt / 1000000000u;
		int64_t add = add128 > (unsigned __int128)burst ? burst : (int64_t)add128;
		int64_t cur = atomic_load_explicit(&s->tokens, memory_order_relaxed);
		int64_t next;
		do {
			next = cur > burst - add ? burst : cur + add;
		} while (!atomic_compare_exchange_weak_explicit(
			&s->tokens, &cur, next, memory_order_relaxed, memory_order_relaxed));
	}
	return any;
}

bool tenants_capped(const struct tenants *t, int slot)
{
	return slot >= 0 && slot_rate(&t->s[slot]) != 0;
}

uint64_t tenants_take(struct tenants *t, int slot, uint64_t want)
{
	struct slot *s = &t->s[slot];
	int64_t cur = atomic_load_explicit(&s->tokens, memory_order_relaxed);
	int64_t got;
	do {
		if (cur <= 0)
			return 0;
		got = (uint64_t)cur < want ? cur : (int64_t)want;
	} while (!atomic_compare_exchange_weak_explicit(
		&s->tokens, &cur, cur - got, memory_order_relaxed, memory_order_relaxed));
	return (uint64_t)got;
}

void tenants_give_back(struct tenants *t, int slot, uint64_t n)
{
	if (n)
		atomic_fetch_add_explicit(&t->s[slot].tokens, (int64_t)n, memory_order_relaxed);
}

bool tenants_peer_add(struct tenants *t, int slot)
{
	struct slot *s = &t->s[slot];
	uint32_t max = atomic_load_explicit(&s->max_peers, memory_order_relaxed);
	int64_t now = atomic_fetch_add_explicit(&s->peers, 1, memory_order_relaxed) + 1;
	if (max && now > (int64_t)max) {
		atomic_fetch_sub_explicit(&s->peers, 1, memory_order_relaxed);
		return false;
	}
	return true;
}

void tenants_peer_del(struct tenants *t, int slot)
{
	atomic_fetch_sub_explicit(&t->s[slot].peers, 1, memory_order_relaxed);
}

int64_t tenants_peers(const struct tenants *t, int slot)
{
	return atomic_load_explicit(&((struct tenants *)t)->s[slot].peers, memory_order_relaxed);
}

void tenants_limits(const struct tenants *t, int slot, uint64_t *out_rate, uint32_t *out_max_peers)
{
	const struct slot *s = &t->s[slot];
	*out_rate = slot_rate(s);
	*out_max_peers = atomic_load_explicit(&((struct slot *)s)->max_peers, memory_order_relaxed);
}

unsigned tenants_count(const struct tenants *t)
{
	return t->n;
}

const char *tenants_id(const struct tenants *t, int slot)
{
	return t->s[slot].id;
}
