/*
 * swarm_peerwire: the peer-wire engine's side of the seeding policy — a
 * file of the peerwire module (it includes peerwire_int.h and owns no
 * state of its own), named for what it glues: swarm.h decides what each
 * peer is told we hold, this file tells it (HAVE_NONE at the greeting,
 * HAVEs after) and feeds the view what the peer says it holds. The
 * behaviour is in peerwire.h, "Seeding policy".
 *
 * Invariants: a connection is joined (c->sw.v) only between its handshake
 * and its close; every HAVE it sends names a piece swarm_pick returned for
 * it; nothing here runs for a plain connection but the attach.
 */
#include <stdlib.h>
#include <string.h>

#include "peerwire_int.h"

void peerwire_engine_set_swarm(struct peerwire_engine *e,
			       struct swarm_view *(*view)(void *ctx, void *peer,
							  const struct proto_release *r,
							  enum swarm_policy *out_policy),
			       void *ctx)
{
	e->swarm_view = view;
	e->swarm_ctx = ctx;
}

void pw_swarm_attach(struct peerwire_conn *c, const struct proto_release *r, uint64_t now)
{
	struct peerwire_engine *e = c->e;
	enum swarm_policy pol = SWARM_PLAIN;
	struct swarm_view *v;

	if (!e->swarm_view || c->sw.v)
		return;
	v = e->swarm_view(e->swarm_ctx, c->user, r, &pol);
	if (pol != SWARM_SUPER && pol != SWARM_RAREST)
		return;
	if (v && v->n_pieces == r->n_pieces)
		c->sw_mem = malloc(swarm_peer_mem(v));
	if (!c->sw_mem) {
		/* no view (too many pieces, no memory): a plain seed is
		 * slower on the seed's uplink, never wrong */
		c->stats.peerwire_swarm_plain_total++;
		return;
	}
	swarm_peer_join(&c->sw, v, pol, c->sw_mem, now, e->swarm_seed++);
}

void pw_swarm_on_message(struct peerwire_conn *c, uint64_t now)
{
	if (!pw_swarm_on(c))
		return;
	c->sw_ready = 1;
	if (c->msg_id == PW_MSG_HAVE)
		swarm_peer_have(&c->sw, byteio_be32(c->rbuf), now);
	else if (c->msg_id == PW_MSG_HAVE_ALL && c->peer_fast)
		swarm_peer_have_all(&c->sw, now);
}

void pw_swarm_bits(struct peerwire_conn *c, uint64_t off, const uint8_t *p, size_t n, uint64_t now)
{
	if (pw_swarm_on(c))
		swarm_peer_bits(&c->sw, off, p, n, now);
}

void pw_swarm_flush(struct peerwire_conn *c, struct proto_out *out, uint64_t now)
{
	uint32_t pieces[PEERWIRE_SWARM_BATCH];
	size_t cap, n;

	if (!pw_swarm_on(c) || !c->greeted)
		return;
	if (!c->sw_ready && now >= c->t_greet + PEERWIRE_SWARM_WAIT_MS)
		c->sw_ready = 1; /* no bitfield: it holds nothing */
	if (!c->sw_ready)
		return;
	cap = (PEERWIRE_SEND_BUF - c->sbuf_used) / 9;
	if (cap > PEERWIRE_SWARM_BATCH)
		cap = PEERWIRE_SWARM_BATCH;
	if (!cap || pw_out_free(out) < 2) { /* a SEND, and a CLOSE after it */
		c->sw_more = 1;
		return;
	}
	n = swarm_pick(&c->sw, &c->e->swarm_cfg, now, pieces, cap);
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = pw_emit(c, out, 9);

		byteio_put_be32(p, 5);
		p[4] = PW_MSG_HAVE;
		byteio_put_be32(p + 5, pieces[i]);
	}
	c->stats.peerwire_swarm_haves_total += n;
	c->sw_more = n == cap;
}

uint64_t pw_swarm_deadline(const struct peerwire_conn *c)
{
	uint64_t d;

	if (!pw_swarm_on(c) || !c->greeted)
		return PEERWIRE_NO_DEADLINE;
	if (!c->sw_ready)
		return c->t_greet + PEERWIRE_SWARM_WAIT_MS;
	if (c->sw_more)
		return 0;
	d = swarm_peer_deadline(&c->sw, &c->e->swarm_cfg);
	return d == SWARM_NO_DEADLINE ? PEERWIRE_NO_DEADLINE : d;
}

void pw_swarm_leave(struct peerwire_conn *c, int free_mem)
{
	swarm_peer_leave(&c->sw, c->e->last_now);
	if (free_mem) {
		free(c->sw_mem);
		c->sw_mem = NULL;
	}
}
