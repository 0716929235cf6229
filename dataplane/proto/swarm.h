/*
 * swarm: the seeding policy engine — which pieces a pure seed advertises to
 * each peer, so that the peers trade among themselves and the seed's upload
 * per delivered copy stays near one (issue 15, docs/swarm.md).
 *
 * Sans-I/O and pure: state and time (ms) in, decisions (pieces to announce
 * with HAVE) out. No clock, no socket, no allocation: the caller gives the
 * memory of a view (swarm_view_size) and of each peer (swarm_peer_mem).
 *
 * The view. One struct swarm_view per release, shared by every worker that
 * has a peer of it: per piece, how many connected peers hold it (avail,
 * from their bitfields, HAVE_ALL and HAVEs, v1 and v2 alike: one index
 * space, proto_release.h), to how many we advertised it and who has not got
 * it yet (pending), how many times we put it in flight (injected) and which
 * peer got our latest copy (holder: a HAVE of the piece from a peer we did
 * not send it to credits that peer, as having passed it on) and whether a
 * copy of ours landed (a peer reported it since we first put it in flight:
 * the latecomer test below). Fields are C11 atomics updated with
 * relaxed order: a worker never waits for another, two workers may both
 * pick the same piece at the same instant (a second copy, counted, never a
 * wrong byte), and counts are exact once the racing updates land (each peer
 * undoes exactly what it did, on leave). Cost: one atomic add per HAVE per
 * piece and n_pieces of them when a peer joins with a bitfield or leaves;
 * nothing per block sent.
 *
 * A peer (struct swarm_peer, one per connection, owned by the thread that
 * owns the connection) keeps three bitfields in caller memory: what it
 * holds, what we advertised to it, and which of those are top-ups it has
 * not asked us for yet.
 *
 * Policies (enum swarm_policy):
 *  - plain: we advertise every piece at once (HAVE_ALL / full bitfield) and
 *    serve what is asked; the view is not even needed.
 *  - super: BEP 16. We advertise one piece at a time, the rarest; the next
 *    one once the previous is held by another peer too (the peer passed it
 *    on), or the peer starved for cfg.starve_ms.
 *  - rarest: ours. Each peer has a window of pieces advertised and not yet
 *    held (cfg.window_kib, in pieces, at least one; up to twice that for a
 *    peer whose copies others picked up: its credit; at least twice the
 *    pieces of ours it completed in its last second, so a fast peer's pipe
 *    stays full whatever its round trip). The window is filled
 *    with the pieces of lowest score = avail + pending among those the peer
 *    lacks, and only with pieces of score 0 (nobody holds or is getting one:
 *    each piece goes out once before any goes out twice), unless
 *      - the swarm is small: fewer than cfg.small_swarm peers connected
 *        (the peer included; seeds count, as they serve too): any score
 *        (a lone peer is served as a plain seed serves it: there is no one
 *        else to get a piece from; its window grows with its rate);
 *      - the peer is slow (it took fewer than cfg.floor_kib KiB a second
 *        from everyone, ours included, in its last second: a newcomer,
 *        a peer the others' chokers pass over) and the view's top-up pool
 *        holds pieces: any score, one piece from the pool each. The pool
 *        is fed by latecomers (peers that join once every piece went out
 *        once and half of them landed: some peer reported them, as in a
 *        stream of arrivals; a crowd is all there before half a copy has
 *        crossed our uplink): each adds cfg.boot_pct % of
 *        the pieces it lacks at its first pick, so second copies stay
 *        under boot_pct % of a copy per latecomer, and a flash crowd
 *        (nobody late) gets none. A top-up is paid for when the peer asks
 *        us for it (swarm_peer_requested); one it gets elsewhere first, or
 *        never asks for, goes back to the pool. Pooled rather than each latecomer's
 *        own share: a peer that others feed well leaves its part to the
 *        peer they do not (a newcomer with nothing waits for optimistic
 *        unchokes; leechers' chokers favour peers that give);
 *      - the peer starves: it lacks pieces, has none of ours pending and
 *        reported no new piece for cfg.starve_ms: one piece of the lowest
 *        score, whatever it is, per starve period (a fallback, counted).
 *        This is what completes a swarm whose only copy of a piece sits on
 *        a peer that never uploads, or left.
 *    A piece we never put in flight scores its pending count alone: that a
 *    peer holds it is only that peer's claim, which a fake seed makes for
 *    every piece (believing none costs one copy at most).
 *    A leaving peer gives back its pending pieces (they score 0 again) and
 *    its held ones (avail drops); so does, for its pending ones, a peer
 *    that reported no new piece for cfg.starve_ms (a client that sends no
 *    HAVEs, or asks for nothing: it must not hold pieces back from the
 *    others), counted as released.
 *
 * Work per call is bounded: swarm_pick examines at most cfg.scan_max
 * pieces per piece it picks (from a per-peer cursor that starts at a random
 * piece, so peers on different workers spread over different pieces), and
 * returns at most cap pieces.
 *
 * Call order (per peer, one thread): swarm_peer_join, then any of
 * swarm_peer_bits / _have / _have_all / swarm_pick / swarm_peer_deadline,
 * then swarm_peer_leave. A view outlives its peers (the data plane frees
 * views at exit only).
 */
#ifndef SEED_SWARM_H
#define SEED_SWARM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum swarm_policy {
	SWARM_INHERIT = 0, /* a tenant without its own: the data plane's --seeding */
	SWARM_PLAIN = 1,
	SWARM_SUPER = 2,
	SWARM_RAREST = 3,
};
#define SWARM_POLICY_MAX 3

/* Releases with more pieces are seeded plain (counted by the caller): a
 * peer's three bitfields would cost over 384 KiB, 1.5 GiB for a worker's
 * 4,096 connections. seedctl aims at about 1,500 pieces a release (up to
 * 16 MiB each), so only a torrent made elsewhere with tiny pieces, or a
 * release of over 16 TiB, gets there. */
#define SWARM_MAX_PIECES     (1u << 20)
#define SWARM_CREDIT_SLOTS   256u
#define SWARM_NONE	     UINT32_MAX
#define SWARM_NO_DEADLINE    UINT64_MAX
#define SWARM_CREDIT_DIVISOR 2u /* credits per extra piece of window */
/* A peer whose window a pick left short looks again this often: what
 * frees pieces for it (a peer leaving, another passing its offer on under
 * super) happens on other connections. */
#define SWARM_POLL_MS	   250u
#define SWARM_SEED_HOLD_MS 30000u

/* "plain", "super", "rarest" ("default" for SWARM_INHERIT). */
const char *swarm_policy_name(enum swarm_policy p);
/* The policy named by s[0..len): 0, or -EINVAL. "default" is SWARM_INHERIT. */
int swarm_policy_parse(const char *s, size_t len, enum swarm_policy *out);

struct swarm_config {
	uint32_t window_kib;  /* advertised ahead of a peer, rarest */
	uint32_t small_swarm; /* fewer peers than this: any piece */
	uint32_t starve_ms;   /* no new piece this long: one piece anyway */
	uint32_t scan_max;    /* pieces examined per piece picked */
	uint32_t boot_pct;    /* each latecomer feeds the top-up pool this % */
	uint32_t floor_kib;   /* a peer taking less a second (all sources) is slow */
};

void swarm_config_default(struct swarm_config *c);
/* 0 when every field is in its bounds, else -EINVAL and *out_field names it. */
int swarm_config_check(const struct swarm_config *c, const char **out_field);

struct swarm_piece {
	_Atomic uint32_t avail;	   /* connected peers holding it */
	_Atomic uint32_t pending;  /* peers it is advertised to, not holding it */
	_Atomic uint32_t injected; /* times we advertised it (rarest, super) */
	_Atomic uint32_t holder;   /* token of the peer our latest copy went to */
	_Atomic uint32_t landed;   /* 1 once a peer reported it after we injected it */
};

/* Counters of a view (monotonic, relaxed): summed per release in the dump. */
struct swarm_view_counters {
	_Atomic uint64_t injected;  /* pieces advertised to a peer lacking them */
	_Atomic uint64_t second;    /* of them, of a piece some peer held or was getting */
	_Atomic uint64_t fallbacks; /* advertised to a starving peer */
	_Atomic uint64_t small;	    /* advertised under the small-swarm rule */
	_Atomic uint64_t passed;    /* HAVEs of a piece from a peer we never sent it to */
	_Atomic uint64_t released;  /* advertised pieces a stalled peer stopped holding back */
	_Atomic uint64_t boot;	    /* pieces others held, given to slow peers from the pool */
	_Atomic uint64_t refunded;  /* of them, back to the pool: got elsewhere first */
};

struct swarm_view {
	uint32_t n_pieces;
	uint64_t piece_length;
	_Atomic uint32_t peers;	    /* connected */
	_Atomic uint32_t leechers;  /* connected and lacking a piece */
	_Atomic uint32_t tokens;    /* last peer token handed out */
	_Atomic uint32_t covered;   /* pieces advertised at least once */
	_Atomic uint32_t landed;    /* pieces of ours some peer reported (landed) */
	_Atomic uint64_t seed_left; /* when a seed last left us (ms, 0: never) */
	_Atomic int64_t pool;	    /* top-up pieces latecomers brought, not yet given */
	_Atomic uint32_t late;	    /* latecomers that joined */
	/* when the first peer and the first latecomer joined (ms, 0: not yet):
	 * how long a stream took to get its pool going, for the operator */
	_Atomic uint64_t t_first, t_late;
	struct swarm_view_counters ctr;
	_Atomic uint32_t credit[SWARM_CREDIT_SLOTS]; /* by token: copies passed on */
	struct swarm_piece p[];
};

/* Bytes of a view of n_pieces pieces; 0 when n_pieces is 0 or over
 * SWARM_MAX_PIECES. */
size_t swarm_view_size(uint64_t n_pieces);
/* Sets up a view in size bytes of zeroed memory (swarm_view_size). */
void swarm_view_init(struct swarm_view *v, uint64_t n_pieces, uint64_t piece_length);

struct swarm_peer {
	struct swarm_view *v; /* borrowed; NULL: not joined */
	uint8_t *have, *adv;  /* bitfields in the caller's memory */
	uint8_t *topup;	      /* top-ups advertised, not asked for: the pool's on loan */
	uint8_t policy;	      /* SWARM_PLAIN, _SUPER or _RAREST */
	uint8_t leecher;      /* counted in v->leechers */
	uint32_t token;	      /* its credit slot is token % SWARM_CREDIT_SLOTS */
	uint32_t n_have, n_pending;
	uint32_t cursor;	/* where the next scan starts */
	uint32_t offer;		/* super: the piece on offer, SWARM_NONE */
	uint64_t t_progress;	/* last new piece, or when it joined */
	uint64_t t_poll;	/* look again then (SWARM_NO_DEADLINE: no need) */
	uint64_t fallbacks;	/* pieces this peer got as a starving peer */
	uint64_t advertised;	/* pieces we advertised to it */
	uint32_t rate_n, rate;	/* of ours received: this period, per s last period */
	uint64_t rate_t0;	/* the period's start */
	uint8_t late;		/* joined after every piece went out, half landed */
	uint8_t fed;		/* a latecomer that fed the pool (its first pick) */
	uint32_t boot_used;	/* top-up pieces it got from the pool */
	uint32_t in_n, in_rate; /* pieces from anyone: this period, per s last period */
};

/* Bytes of peer memory for view v: three bitfields. */
size_t swarm_peer_mem(const struct swarm_view *v);

/*
 * Joins peer p (zeroed or left) to view v under policy (not SWARM_INHERIT),
 * at now; mem has swarm_peer_mem(v) bytes (zeroed here; borrowed until
 * swarm_peer_leave). seed spreads peers' scan cursors.
 */
void swarm_peer_join(struct swarm_peer *p, struct swarm_view *v, enum swarm_policy policy,
		     uint8_t *mem, uint64_t now, uint32_t seed);
/*
 * Undoes everything p counted in the view, at now; p may be left again.
 * A peer that held every piece (a seed) usually leaves only us: clients
 * close a connection between two seeds, and a peer we advertised every
 * piece to sees us as one. It goes on serving the swarm, so for
 * SWARM_SEED_HOLD_MS after such a leave every piece scores one more
 * (rarest gives nothing new but to starving peers).
 */
void swarm_peer_leave(struct swarm_peer *p, uint64_t now);

/* The peer holds piece (a HAVE): 1 when new to it, 0 when known or out of
 * range. */
int swarm_peer_have(struct swarm_peer *p, uint64_t piece, uint64_t now);
/* Bitfield bytes [off, off + n) of the peer's BITFIELD (ORed in: a second
 * bitfield only adds; bits past n_pieces are ignored). */
void swarm_peer_bits(struct swarm_peer *p, uint64_t off, const uint8_t *bytes, size_t n,
		     uint64_t now);
/* HAVE_ALL: the peer is a seed. */
void swarm_peer_have_all(struct swarm_peer *p, uint64_t now);

/*
 * The pieces to advertise to p now (HAVE each, in order), at most cap,
 * written to out; marked advertised. 0 under plain, when nothing is due,
 * or when p is not joined.
 */
size_t swarm_pick(struct swarm_peer *p, const struct swarm_config *cfg, uint64_t now, uint32_t *out,
		  size_t cap);

/* When swarm_pick may have something for p without any input (a
 * starvation fallback), SWARM_NO_DEADLINE when never. */
uint64_t swarm_peer_deadline(const struct swarm_peer *p, const struct swarm_config *cfg);

/* The peer asked us for (a block of) piece: a top-up of it is spent. A
 * top-up it gets from another peer first, or never asks for before it
 * leaves or stalls, goes back to the pool: the pool pays for what the seed
 * serves, not for what it offers. */
void swarm_peer_requested(struct swarm_peer *p, uint64_t piece);

/* 1 when piece was advertised to p (always under plain). */
int swarm_advertised(const struct swarm_peer *p, uint64_t piece);

#endif
