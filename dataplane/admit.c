/* admit: see admit.h. Runs on every worker thread at once: touches only its
 * arguments and the table's atomics. */
#include "admit.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "siphash.h"

#define MASK	(ADMIT_CELLS - 1)
#define MILLI	1000u /* a token, in the buckets' unit */
#define CAS_TRY 16

_Static_assert((ADMIT_CELLS & MASK) == 0 && ADMIT_CELLS <= 65536, "cells fit a uint16_t");

struct admit {
	struct admit_config cfg;
	uint8_t key[16];
	/* count-min rows: concurrent connections by address and by prefix */
	_Atomic uint32_t conns[2][ADMIT_CELLS];
	_Atomic uint32_t prefix[2][ADMIT_CELLS];
	/* token buckets: (last refill ms, low 32 bits) << 32 | debt in
	 * thousandths of a token. All zero is a full bucket, so a cell no
	 * address has used needs no set-up. */
	_Atomic uint64_t rate[2][ADMIT_CELLS];
	_Atomic uint64_t mse[2][ADMIT_CELLS];
};

int admit_create(const struct admit_config *cfg, struct admit **out, struct seed_err *err)
{
	*out = NULL;
	struct admit *a = calloc(1, sizeof(*a));
	if (!a)
		return seed_err_set(err, -ENOMEM, "admission table: out of memory");
	a->cfg = *cfg;
	if (getrandom(a->key, sizeof(a->key), 0) != (ssize_t)sizeof(a->key)) {
		int e = errno ? errno : EIO;
		free(a);
		return seed_err_set(err, -e, "admission table: no random key: %s", strerror(e));
	}
	*out = a;
	return 0;
}

void admit_free(struct admit *a)
{
	free(a);
}

/* The two cells (one per row) of an address's first plen bytes. */
static void cells(const struct admit *a, uint8_t kind, int fam, const uint8_t *addr, size_t plen,
		  uint16_t out[2])
{
	uint8_t buf[18];
	buf[0] = kind;
	buf[1] = (uint8_t)fam;
	memcpy(buf + 2, addr, plen);
	uint64_t h = siphash24(a->key, buf, plen + 2);
	out[0] = (uint16_t)(h & MASK);
	out[1] = (uint16_t)((h >> 32) & MASK);
}

static uint32_t count_of(_Atomic uint32_t rows[2][ADMIT_CELLS], const uint16_t c[2])
{
	uint32_t x = atomic_load_explicit(&rows[0][c[0]], memory_order_relaxed);
	uint32_t y = atomic_load_explicit(&rows[1][c[1]], memory_order_relaxed);
	return x < y ? x : y;
}

/* Takes a token from one bucket: 1 taken, 0 empty. A CAS that keeps
 * losing (other workers on the same cell) lets the connection through:
 * refusing on contention would refuse a stranger sharing the cell. */
static int take(_Atomic uint64_t *cell, uint32_t now, unsigned rate, unsigned burst)
{
	uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);
	for (int i = 0; i < CAS_TRY; i++) {
		uint32_t then = (uint32_t)(old >> 32);
		uint64_t debt = (uint32_t)old;
		/* workers read the clock at different moments: one a little
		 * behind the last writer sees no time pass (not 49 days) */
		int32_t elapsed = (int32_t)(now - then);
		uint64_t refill =
			elapsed > 0 ? (uint64_t)elapsed * rate : 0; /* rate/s = milli/ms */
		debt = refill >= debt ? 0 : debt - refill;
		if (debt + MILLI > (uint64_t)burst * MILLI)
			return 0;
		uint64_t nv = (uint64_t)now << 32 | (debt + MILLI);
		if (atomic_compare_exchange_weak_explicit(cell, &old, nv, memory_order_relaxed,
							  memory_order_relaxed))
			return 1;
	}
	return 1;
}

/* Both of an address's buckets: refused only when both are empty (a
 * stranger sharing one of them must not empty it for us). */
static int take2(_Atomic uint64_t rows[2][ADMIT_CELLS], const uint16_t c[2], uint64_t now_ms,
		 unsigned rate, unsigned burst)
{
	int x = take(&rows[0][c[0]], (uint32_t)now_ms, rate, burst);
	int y = take(&rows[1][c[1]], (uint32_t)now_ms, rate, burst);
	return x || y;
}

static size_t addr_len(int fam)
{
	return fam == AF_INET ? 4 : 16;
}

static int exempt(const struct admit *a, int fam, const uint8_t *addr)
{
	return a->cfg.exempt.n && cidr_set_match_raw(&a->cfg.exempt, fam, addr);
}

int admit_conn(struct admit *a, int fam, const uint8_t *addr, uint64_t now_ms,
	       struct admit_ticket *out, enum dpstats_admit *out_why)
{
	memset(out, 0, sizeof(*out));
	if (fam != AF_INET && fam != AF_INET6) {
		/* no address to count (a socket family we never listen on) */
		*out_why = DPSTATS_ADMIT_DENIED;
		return -EACCES;
	}
	if (a->cfg.deny.n && cidr_set_match_raw(&a->cfg.deny, fam, addr)) {
		*out_why = DPSTATS_ADMIT_DENIED;
		return -EACCES;
	}
	if (exempt(a, fam, addr))
		return 0;
	uint16_t ca[2], cp[2];
	cells(a, 1, fam, addr, addr_len(fam), ca);
	cells(a, 2, fam, addr, fam == AF_INET ? 3 : 7, cp); /* /24, /56 */
	if (a->cfg.addr_conns && count_of(a->conns, ca) >= a->cfg.addr_conns) {
		*out_why = DPSTATS_ADMIT_ADDR_CONNS;
		return -EACCES;
	}
	if (a->cfg.prefix_conns && count_of(a->prefix, cp) >= a->cfg.prefix_conns) {
		*out_why = DPSTATS_ADMIT_PREFIX_CONNS;
		return -EACCES;
	}
	if (a->cfg.addr_rate && !take2(a->rate, ca, now_ms, a->cfg.addr_rate, a->cfg.addr_burst)) {
		*out_why = DPSTATS_ADMIT_ADDR_RATE;
		return -EACCES;
	}
	for (int r = 0; r < 2; r++) {
		atomic_fetch_add_explicit(&a->conns[r][ca[r]], 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&a->prefix[r][cp[r]], 1, memory_order_relaxed);
	}
	out->cell[0] = ca[0];
	out->cell[1] = ca[1];
	out->cell[2] = cp[0];
	out->cell[3] = cp[1];
	out->held = 1;
	return 0;
}

void admit_release(struct admit *a, struct admit_ticket *t)
{
	if (!t->held)
		return;
	for (int r = 0; r < 2; r++) {
		atomic_fetch_sub_explicit(&a->conns[r][t->cell[r]], 1, memory_order_relaxed);
		atomic_fetch_sub_explicit(&a->prefix[r][t->cell[2 + r]], 1, memory_order_relaxed);
	}
	t->held = 0;
}

int admit_mse(struct admit *a, int fam, const uint8_t *addr, uint64_t now_ms)
{
	if (!a->cfg.mse_rate || (fam != AF_INET && fam != AF_INET6) || exempt(a, fam, addr))
		return 1;
	uint16_t ca[2];
	cells(a, 1, fam, addr, addr_len(fam), ca);
	return take2(a->mse, ca, now_ms, a->cfg.mse_rate, a->cfg.mse_burst);
}
