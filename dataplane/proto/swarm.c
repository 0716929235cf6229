/*
 * swarm: the seeding policy engine. What it decides and why is in swarm.h
 * and docs/swarm.md; this header says how it is built.
 *
 * Invariants, per peer p of view v (once its updates have landed):
 *  - p->n_have = popcount(have), p->n_pending = popcount(adv & ~have);
 *  - v->p[i].avail counts the joined peers with have bit i, v->p[i].pending
 *    those with adv bit i and no have bit i; each peer adds and removes
 *    exactly its own share, so a leave restores the counts it found;
 *  - p->leecher is 1 iff p is joined and n_have < n_pieces, and
 *    v->leechers counts those peers;
 *  - adv bits are never cleared while joined: a HAVE cannot be taken back;
 *  - v->covered counts the pieces with injected > 0; v->p[i].landed goes
 *    from 0 to 1 once (the first report of a piece with injected > 0) and
 *    never back, and v->landed counts the pieces with it set: both only
 *    grow (a leave takes nothing from them: the copy went out), and
 *    landed <= covered.
 * The bit after the last piece is never set in either bitfield.
 */
#include "swarm.h"

#include <errno.h>
#include <string.h>

#include "tenant.h"

#define RLX memory_order_relaxed

/* One list of names and values: a tenant's config says the same words. */
_Static_assert(SWARM_PLAIN == (int)TENANT_SEEDING_PLAIN &&
		       SWARM_SUPER == (int)TENANT_SEEDING_SUPER &&
		       SWARM_RAREST == (int)TENANT_SEEDING_RAREST &&
		       SWARM_POLICY_MAX == TENANT_SEEDING_MAX,
	       "enum swarm_policy must match enum tenant_seeding");

const char *swarm_policy_name(enum swarm_policy p)
{
	return tenant_seeding_name((unsigned)p);
}

int swarm_policy_parse(const char *s, size_t len, enum swarm_policy *out)
{
	uint8_t v;
	int rc = tenant_seeding_parse(s, len, &v);

	if (!rc)
		*out = (enum swarm_policy)v;
	return rc;
}

void swarm_config_default(struct swarm_config *c)
{
	c->window_kib = 1024;
	c->small_swarm = 2;
	c->starve_ms = 2000;
	c->scan_max = 4096;
	c->boot_pct = 15;
	/* 8 MiB/s, over the downlinks of bench/swarm.sh's leechers (40 Mbit/s):
	 * there every leecher counts as slow and what latecomers brought to the
	 * pool alone bounds the top-ups. With 2 or 4 MiB/s the seed went quiet
	 * at about 35 s of a Poisson stream while a plain seed served it to the
	 * end, and the stream's middle took 10-25 % longer than under plain;
	 * with 8 MiB/s and a pool of 40-50 % per latecomer, 0-6 % longer
	 * leecher for leecher, at 0.20-0.21 copies per download
	 * (bench/results/swarm.md, 2026-12-07 09:46-11:02 UTC). */
	c->floor_kib = 8192;
}

int swarm_config_check(const struct swarm_config *c, const char **out_field)
{
	const char *bad = NULL;

	if (c->window_kib < 16 || c->window_kib > (1u << 20))
		bad = "window_kib";
	else if (c->small_swarm > 65535)
		bad = "small_swarm";
	else if (c->starve_ms < 100 || c->starve_ms > 600000)
		bad = "starve_ms";
	else if (c->scan_max < 16 || c->scan_max > (1u << 24))
		bad = "scan_max";
	else if (c->boot_pct > 100)
		bad = "boot_pct";
	else if (c->floor_kib > (1u << 24))
		bad = "floor_kib";
	if (out_field)
		*out_field = bad;
	return bad ? -EINVAL : 0;
}

/* ---- the view ---- */

size_t swarm_view_size(uint64_t n_pieces)
{
	if (n_pieces == 0 || n_pieces > SWARM_MAX_PIECES)
		return 0;
	return sizeof(struct swarm_view) + (size_t)n_pieces * sizeof(struct swarm_piece);
}

void swarm_view_init(struct swarm_view *v, uint64_t n_pieces, uint64_t piece_length)
{
	v->n_pieces = (uint32_t)n_pieces;
	v->piece_length = piece_length;
}

static void add32(_Atomic uint32_t *a, int32_t d)
{
	if (d >= 0)
		atomic_fetch_add_explicit(a, (uint32_t)d, RLX);
	else
		atomic_fetch_sub_explicit(a, (uint32_t)-d, RLX);
}

static void count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, RLX);
}

static uint32_t ld(_Atomic uint32_t *a)
{
	return atomic_load_explicit(a, RLX);
}

/* Sets *t to now (1 for 0: 0 is "not yet") unless it was set. */
static void first_time(_Atomic uint64_t *t, uint64_t now)
{
	uint64_t zero = 0;

	if (!atomic_load_explicit(t, RLX))
		atomic_compare_exchange_strong_explicit(t, &zero, now ? now : 1, RLX, RLX);
}

/* ---- bitfields ---- */

static size_t bf_bytes(const struct swarm_view *v)
{
	return ((size_t)v->n_pieces + 7) / 8;
}

static int bit(const uint8_t *bf, uint32_t i)
{
	return (bf[i >> 3] >> (7 - (i & 7))) & 1;
}

static void set_bit(uint8_t *bf, uint32_t i)
{
	bf[i >> 3] |= (uint8_t)(0x80u >> (i & 7));
}

static void clear_bit(uint8_t *bf, uint32_t i)
{
	bf[i >> 3] &= (uint8_t) ~(0x80u >> (i & 7));
}

size_t swarm_peer_mem(const struct swarm_view *v)
{
	return 3 * bf_bytes(v);
}

/* ---- peers ---- */

/* Top-up piece i of p goes back to the pool: p got it from another peer,
 * or left, or stalled, before asking us for it. */
static void refund(struct swarm_peer *p, uint32_t i)
{
	clear_bit(p->topup, i);
	atomic_fetch_add_explicit(&p->v->pool, 1, RLX);
	count(&p->v->ctr.refunded);
}

static void leecher_update(struct swarm_peer *p)
{
	int want = p->n_have < p->v->n_pieces;

	if (want != p->leecher) {
		add32(&p->v->leechers, want ? 1 : -1);
		p->leecher = (uint8_t)want;
	}
}

void swarm_peer_join(struct swarm_peer *p, struct swarm_view *v, enum swarm_policy policy,
		     uint8_t *mem, uint64_t now, uint32_t seed)
{
	memset(p, 0, sizeof(*p));
	p->v = v;
	p->policy = (uint8_t)(policy == SWARM_INHERIT ? SWARM_PLAIN : policy);
	p->have = mem;
	p->adv = mem + bf_bytes(v);
	p->topup = mem + 2 * bf_bytes(v);
	memset(mem, 0, swarm_peer_mem(v));
	p->token = atomic_fetch_add_explicit(&v->tokens, 1, RLX) + 1;
	if (!p->token) /* wrapped: 0 means "no holder" */
		p->token = atomic_fetch_add_explicit(&v->tokens, 1, RLX) + 1;
	atomic_store_explicit(&v->credit[p->token % SWARM_CREDIT_SLOTS], 0, RLX);
	p->cursor = (uint32_t)(((uint64_t)seed * 2654435761u) % v->n_pieces);
	p->offer = SWARM_NONE;
	p->t_progress = now;
	p->rate_t0 = now;
	p->t_poll = SWARM_NO_DEADLINE;
	/* a latecomer: every piece went out once, and half of them landed
	 * (some peer reported them), before it came. Advertised alone, a wide
	 * window covers the release long before its pieces arrive (at
	 * --swarm-window 4096, 128 pieces a peer, eight peers of a flash crowd
	 * covered it and the other twelve fed the pool: 3.89 copies). Every
	 * piece landed, a stream's first latecomer came only after the seed's
	 * whole copy arrived, and its first leechers waited longer for the pool
	 * (per leecher 1.06-1.17x plain's against 1.00-1.05x with half;
	 * bench/results/swarm.md, 2026-12-07 13:25-14:18 UTC). A crowd is all
	 * there before half a copy has crossed the seed's uplink. */
	p->late = ld(&v->covered) >= v->n_pieces && 2 * (uint64_t)ld(&v->landed) >= v->n_pieces;
	first_time(&v->t_first, now);
	if (p->late) {
		add32(&v->late, 1);
		first_time(&v->t_late, now);
	}
	add32(&v->peers, 1);
	leecher_update(p);
}

void swarm_peer_leave(struct swarm_peer *p, uint64_t now)
{
	struct swarm_view *v = p->v;
	size_t nb;

	if (!v)
		return;
	nb = bf_bytes(v);
	for (size_t b = 0; b < nb; b++) {
		uint8_t h = p->have[b], a = p->adv[b] & (uint8_t)~h;

		for (unsigned k = 0; p->topup[b] && k < 8; k++)
			if (p->topup[b] & (0x80u >> k))
				refund(p, (uint32_t)(b * 8 + k));

		for (unsigned k = 0; (h | a) && k < 8; k++) {
			uint32_t i = (uint32_t)(b * 8 + k);
			uint8_t m = (uint8_t)(0x80u >> k);

			if (h & m)
				add32(&v->p[i].avail, -1);
			else if (a & m)
				add32(&v->p[i].pending, -1);
		}
	}
	if (p->leecher)
		add32(&v->leechers, -1);
	else if (p->n_have)
		atomic_store_explicit(&v->seed_left, now ? now : 1, RLX);
	add32(&v->peers, -1);
	p->v = NULL;
	p->leecher = 0;
}

/* Piece i is new to p (its have bit clear): counts it. */
static void got(struct swarm_peer *p, uint32_t i)
{
	struct swarm_view *v = p->v;
	uint32_t h;

	if (bit(p->topup, i))
		refund(p, i);
	set_bit(p->have, i);
	p->n_have++;
	add32(&v->p[i].avail, 1);
	/* our copy landed (from us, or from a peer it reached): counted once;
	 * a piece we never put in flight (a peer had it from elsewhere) does
	 * not count, as it did not for "advertised". A peer that lies with
	 * HAVEs can make the release land no sooner than it was advertised:
	 * the old rule, not worse */
	if (!ld(&v->p[i].landed) && ld(&v->p[i].injected) &&
	    !atomic_exchange_explicit(&v->p[i].landed, 1, RLX))
		add32(&v->landed, 1);
	if (bit(p->adv, i)) {
		p->rate_n++;
		p->n_pending--;
		add32(&v->p[i].pending, -1);
		return;
	}
	/* not from us: when our first copy went to another peer, that peer
	 * (or one it fed) passed it on */
	h = ld(&v->p[i].holder);
	if (h && h != p->token) {
		add32(&v->credit[h % SWARM_CREDIT_SLOTS], 1);
		count(&v->ctr.passed);
	}
}

int swarm_peer_have(struct swarm_peer *p, uint64_t piece, uint64_t now)
{
	if (!p->v || piece >= p->v->n_pieces || bit(p->have, (uint32_t)piece))
		return 0;
	got(p, (uint32_t)piece);
	p->t_progress = now;
	p->in_n++;
	if (now >= p->rate_t0 + 1000) {
		uint64_t dt = now - p->rate_t0;

		p->rate = (uint32_t)((uint64_t)p->rate_n * 1000 / dt);
		p->in_rate = (uint32_t)((uint64_t)p->in_n * 1000 / dt);
		p->rate_n = 0;
		p->in_n = 0;
		p->rate_t0 = now;
	}
	leecher_update(p);
	return 1;
}

void swarm_peer_bits(struct swarm_peer *p, uint64_t off, const uint8_t *bytes, size_t n,
		     uint64_t now)
{
	struct swarm_view *v = p->v;
	size_t nb;
	int any = 0;

	if (!v)
		return;
	nb = bf_bytes(v);
	for (size_t j = 0; j < n && off + j < nb; j++) {
		uint8_t fresh = bytes[j] & (uint8_t)~p->have[off + j];

		for (unsigned k = 0; fresh && k < 8; k++) {
			uint64_t i = (off + j) * 8 + k;

			if ((fresh & (0x80u >> k)) && i < v->n_pieces) {
				got(p, (uint32_t)i);
				any = 1;
			}
		}
	}
	if (any)
		p->t_progress = now;
	leecher_update(p);
}

void swarm_peer_have_all(struct swarm_peer *p, uint64_t now)
{
	uint8_t ones[64];

	if (!p->v)
		return;
	memset(ones, 0xff, sizeof(ones));
	for (uint64_t off = 0; off < bf_bytes(p->v); off += sizeof(ones))
		swarm_peer_bits(p, off, ones, sizeof(ones), now);
}

void swarm_peer_requested(struct swarm_peer *p, uint64_t piece)
{
	if (p->v && piece < p->v->n_pieces && bit(p->topup, (uint32_t)piece))
		clear_bit(p->topup, (uint32_t)piece);
}

int swarm_advertised(const struct swarm_peer *p, uint64_t piece)
{
	if (!p->v || p->policy == SWARM_PLAIN)
		return 1;
	return piece < p->v->n_pieces && bit(p->adv, (uint32_t)piece);
}

/* ---- picking ---- */

/*
 * The lacking, not yet advertised piece of lowest score (avail + pending)
 * among at most scan_max from p's cursor; SWARM_NONE when there is none
 * in that stretch (the cursor then moves past it). A score of 0 ends the
 * scan (nothing is lower).
 */
static uint32_t rarest(struct swarm_peer *p, uint32_t scan_max, uint64_t now, uint32_t *out_score)
{
	struct swarm_view *v = p->v;
	uint64_t gone = atomic_load_explicit(&v->seed_left, RLX);
	/* a seed that left us recently still holds every piece */
	uint32_t base = gone && now < gone + SWARM_SEED_HOLD_MS ? 1 : 0;
	uint32_t n = v->n_pieces, best = SWARM_NONE, best_s = UINT32_MAX;
	uint32_t i = p->cursor % n;

	for (uint32_t seen = 0; seen < n && seen < scan_max;) {
		uint8_t used = p->have[i >> 3] | p->adv[i >> 3];

		if (!(i & 7) && used == 0xff && n - i >= 8) {
			/* a whole byte held or advertised */
			seen += 8;
			i = i + 8 < n ? i + 8 : 0;
			continue;
		}
		if (!bit(p->have, i) && !bit(p->adv, i)) {
			/* a piece we never put in flight is held only on peers'
			 * word (bitfields, HAVE_ALL, HAVEs): a fake seed claims
			 * every piece and serves none, and would hold the whole
			 * first copy back. Believing no such claim costs one copy
			 * at most, when the claims were true */
			uint32_t s = ld(&v->p[i].pending);

			if (ld(&v->p[i].injected))
				s += base + ld(&v->p[i].avail);

			if (s < best_s) {
				best = i;
				best_s = s;
				if (!s)
					break;
			}
		}
		seen++;
		i = i + 1 < n ? i + 1 : 0;
	}
	if (best == SWARM_NONE)
		p->cursor = i; /* the next call looks at the next stretch */
	*out_score = best_s;
	return best;
}

static void advertise(struct swarm_peer *p, uint32_t i, uint32_t score)
{
	struct swarm_view *v = p->v;

	set_bit(p->adv, i);
	p->n_pending++;
	p->advertised++;
	add32(&v->p[i].pending, 1);
	if (!atomic_fetch_add_explicit(&v->p[i].injected, 1, RLX))
		add32(&v->covered, 1);
	/* the latest copy's peer: copies of a piece that a peer never passed
	 * on are injected again, and the next HAVEs are the new holder's */
	atomic_store_explicit(&v->p[i].holder, p->token, RLX);
	count(&v->ctr.injected);
	if (score)
		count(&v->ctr.second);
	p->cursor = i + 1 < v->n_pieces ? i + 1 : 0;
}

/*
 * p took fewer than cfg->floor_kib KiB a second from everyone: over its last
 * full period, or over the one running when that is a second old already
 * (a peer that gets nothing has no HAVE to end its period); a peer joined
 * less than a second ago has no period yet and counts as slow.
 */
static int slow(const struct swarm_peer *p, const struct swarm_config *cfg, uint64_t now)
{
	uint64_t rate = p->in_rate;

	if (now >= p->rate_t0 + 1000)
		rate = (uint64_t)p->in_n * 1000 / (now - p->rate_t0);
	return rate * p->v->piece_length < ((uint64_t)cfg->floor_kib << 10);
}

/* One piece from the view's top-up pool: 1, or 0 when it is empty. */
static int pool_take(struct swarm_view *v)
{
	if (atomic_load_explicit(&v->pool, RLX) <= 0)
		return 0;
	if (atomic_fetch_sub_explicit(&v->pool, 1, RLX) > 0)
		return 1;
	atomic_fetch_add_explicit(&v->pool, 1, RLX); /* raced to empty */
	return 0;
}

static int starving(const struct swarm_peer *p, const struct swarm_config *cfg, uint64_t now)
{
	return p->leecher && !p->n_pending && now >= p->t_progress + cfg->starve_ms;
}

/* Pieces in p's window (rarest): the base, plus one per
 * SWARM_CREDIT_DIVISOR copies others picked up from it (up to twice the
 * base), or twice its rate. */
static uint32_t window(const struct swarm_peer *p, const struct swarm_config *cfg)
{
	uint64_t base = ((uint64_t)cfg->window_kib << 10) / p->v->piece_length, w;
	uint32_t credit;

	if (base < 1)
		base = 1;
	credit = ld(&p->v->credit[p->token % SWARM_CREDIT_SLOTS]) / SWARM_CREDIT_DIVISOR;
	w = base + (credit < base ? credit : base);
	/* what it took from us in the last second, twice: a fast peer's
	 * pipe stays full whatever its round trip */
	if (w < 2 * (uint64_t)p->rate)
		w = 2 * (uint64_t)p->rate;
	return (uint32_t)(w < p->v->n_pieces ? w : p->v->n_pieces);
}

/*
 * A peer that reported no new piece for starve_ms while pieces we
 * advertised to it are pending holds them back from everyone else (a
 * client that sends no HAVEs, one that asks for nothing, one waiting for
 * an upload slot, a hostile one): they stop counting as on their way, as
 * if never advertised (a HAVE we sent cannot be taken back: if it asks,
 * it is served; if it reports one later, nothing is undone twice).
 */
static int release_stale(struct swarm_peer *p, const struct swarm_config *cfg, uint64_t now)
{
	struct swarm_view *v = p->v;
	size_t nb = bf_bytes(v);

	if (!p->n_pending || now < p->t_progress + cfg->starve_ms)
		return 0;
	for (size_t b = 0; b < nb; b++) {
		uint8_t a = p->adv[b] & (uint8_t)~p->have[b];

		for (unsigned k = 0; a && k < 8; k++) {
			if (a & (0x80u >> k)) {
				add32(&v->p[b * 8 + k].pending, -1);
				atomic_fetch_add_explicit(&v->ctr.released, 1, RLX);
				if (bit(p->topup, (uint32_t)(b * 8 + k)))
					refund(p, (uint32_t)(b * 8 + k));
			}
		}
		p->adv[b] &= p->have[b];
	}
	p->n_pending = 0;
	return 1;
}

static size_t pick_rarest(struct swarm_peer *p, const struct swarm_config *cfg, uint64_t now,
			  uint32_t *out, size_t cap)
{
	/* a stalled peer gets what a starving one gets: one piece */
	int stalled = release_stale(p, cfg, now);
	int small = ld(&p->v->peers) < cfg->small_swarm;
	int starve = starving(p, cfg, now);
	uint32_t w = window(p, cfg);
	/* top-ups: second copies for a slow peer while the pool lasts */
	int topup;
	size_t n = 0;

	if (p->late && !p->fed) {
		/* a latecomer brings its part of the pool, once its bitfield
		 * says what it lacks (a peer that reconnects brings little) */
		p->fed = 1;
		atomic_fetch_add_explicit(
			&p->v->pool,
			(int64_t)((uint64_t)(p->v->n_pieces - p->n_have) * cfg->boot_pct / 100),
			RLX);
	}
	/* not for a peer that just stalled: it would take the top-ups it gave
	 * back, and hold them another starve period */
	topup = !small && !stalled && p->leecher && slow(p, cfg, now);
	while (n < cap && p->n_pending < w) {
		uint32_t s, i = rarest(p, cfg->scan_max, now, &s);

		if (i == SWARM_NONE)
			break;
		if (s && !small && topup && !pool_take(p->v))
			topup = 0;
		if (s && !small && !starve && !topup)
			break;
		advertise(p, i, s);
		out[n++] = i;
		if (small && s)
			count(&p->v->ctr.small);
		if (s && !small && topup) {
			/* spent when it asks us for the piece; back to the
			 * pool if it gets it elsewhere first */
			set_bit(p->topup, i);
			p->boot_used++;
			count(&p->v->ctr.boot);
			continue;
		}
		if (s && !small) {
			/* one piece per starve period */
			count(&p->v->ctr.fallbacks);
			p->fallbacks++;
			p->t_progress = now;
			break;
		}
		if (stalled && !small) {
			p->t_progress = now; /* likewise */
			break;
		}
	}
	return n;
}

/* BEP 16: one piece on offer; the next once another peer holds it too. */
static size_t pick_super(struct swarm_peer *p, const struct swarm_config *cfg, uint64_t now,
			 uint32_t *out, size_t cap)
{
	struct swarm_view *v = p->v;
	uint32_t s, i;

	if (!cap || !p->leecher)
		return 0;
	if (p->offer != SWARM_NONE) {
		int spread = bit(p->have, p->offer) && ld(&v->p[p->offer].avail) >= 2;

		if (!spread && !starving(p, cfg, now))
			return 0;
		if (!spread) {
			count(&v->ctr.fallbacks);
			p->fallbacks++;
		}
	}
	i = rarest(p, cfg->scan_max, now, &s);
	if (i == SWARM_NONE)
		return 0;
	advertise(p, i, s);
	p->offer = i;
	p->t_progress = now;
	out[0] = i;
	return 1;
}

size_t swarm_pick(struct swarm_peer *p, const struct swarm_config *cfg, uint64_t now, uint32_t *out,
		  size_t cap)
{
	size_t n = 0;
	int short_of = 0;

	if (!p->v || p->policy == SWARM_PLAIN)
		return 0;
	if (p->policy == SWARM_RAREST) {
		n = pick_rarest(p, cfg, now, out, cap);
		short_of =
			p->n_pending < window(p, cfg) && p->n_have + p->n_pending < p->v->n_pieces;
	} else {
		n = pick_super(p, cfg, now, out, cap);
		short_of = !p->n_pending;
	}
	p->t_poll = p->leecher && short_of && n < cap ? now + SWARM_POLL_MS : SWARM_NO_DEADLINE;
	return n;
}

uint64_t swarm_peer_deadline(const struct swarm_peer *p, const struct swarm_config *cfg)
{
	uint64_t d;

	if (!p->v || p->policy == SWARM_PLAIN || !p->leecher)
		return SWARM_NO_DEADLINE;
	d = p->t_poll;
	/* rarest: a starving peer, or pending pieces to release */
	if ((!p->n_pending || p->policy == SWARM_RAREST) && p->t_progress + cfg->starve_ms < d)
		d = p->t_progress + cfg->starve_ms;
	return d;
}
