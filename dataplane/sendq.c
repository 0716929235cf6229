/* sendq: see sendq.h. */
#include "sendq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "mse.h"

static void sendq_release(struct worker *w, struct wconn *c);

void sendq_unpin(struct worker *w, struct seg *s)
{
	if (s->pin) {
		scache_unpin(w->cache, s->pin);
		s->pin = NULL;
	}
}

static int push_seg(struct wconn *c, const struct seg *s)
{
	if (qlen(c) >= QCAP)
		return -ENOSPC;
	*qat(c, c->qt) = *s;
	c->qt++;
	return 0;
}

int sendq_push_bytes(struct wconn *c, const uint8_t *p, size_t len, uint32_t group)
{
	if (c->tx_used + len > TXCAP)
		return -ENOSPC;
	memcpy(c->tx + c->tx_used, p, len);
	struct seg s = { .kind = SEG_BYTES,
			 .state = S_READY,
			 .len = (uint32_t)len,
			 .p = c->tx + c->tx_used,
			 .group = group };
	c->tx_used += (uint32_t)len;
	return push_seg(c, &s);
}

int sendq_push_data(struct worker *w, struct wconn *c, uint32_t ci, const struct proto_action *a,
		    uint32_t group)
{
	const struct proto_release *r = served_release(w->p.served, a->u.data.release);
	if (!r || a->u.data.file >= r->n_files)
		return -EINVAL;
	const struct proto_file *f = &r->files[a->u.data.file];
	const struct served_object *o = served_object(w->p.served, f->object);
	uint64_t off = a->u.data.offset, end = off + a->u.data.len;
	if (!o || end > o->length || end < off)
		return -EINVAL;
	/* How far a miss may read ahead (readahead.h): a peer-wire request to
	 * the end of its piece (files start on piece boundaries, so pieces
	 * are piece_length apart in the object too), an HTTP range to its end. */
	uint64_t ra_to = end;
	if (c->kind == TAG_BT && r->piece_length) {
		uint64_t pe = (off / r->piece_length + 1) * r->piece_length;
		ra_to = pe < o->length ? pe : o->length;
	}
	uint32_t ra_end = (uint32_t)((ra_to + SCACHE_BLOCK - 1) / SCACHE_BLOCK);
	int32_t rslot = served_stats_slot(w->p.served, a->u.data.release);
	dpstats_add(&w->ctr->requests[proto_of(c)], 1);
	if (rslot >= 0)
		dpstats_add(&w->ctr->rel[rslot].requests[proto_of(c)], 1);
	while (off < end) {
		uint32_t b = (uint32_t)(off / SCACHE_BLOCK);
		uint32_t in = (uint32_t)(off % SCACHE_BLOCK);
		uint64_t bstart = (uint64_t)b * SCACHE_BLOCK;
		uint32_t blen = (uint32_t)(o->length - bstart < SCACHE_BLOCK ? o->length - bstart
									     : SCACHE_BLOCK);
		uint32_t take = (uint32_t)(end - off < blen - in ? end - off : blen - in);
		struct seg s = { .kind = SEG_BLOCK,
				 .state = S_FETCH,
				 .len = take,
				 .group = group,
				 .piece = a->u.data.piece,
				 .begin = a->u.data.begin,
				 .rslot = rslot,
				 .object = f->object,
				 .block = b,
				 .in_off = in,
				 .blen = blen,
				 .ra_end = ra_end,
				 .last = off + take == end };
		uint32_t si = c->qt;
		if (push_seg(c, &s) < 0)
			return -ENOSPC;
		fetch_seg(w, c, ci, si);
		off += take;
	}
	return 0;
}

int sendq_push_zero(struct worker *w, struct wconn *c, uint32_t len, uint32_t group)
{
	while (len) {
		uint32_t take = len < SCACHE_BLOCK ? len : SCACHE_BLOCK;
		struct seg s = { .kind = SEG_ZERO,
				 .state = S_READY,
				 .len = take,
				 .p = w->zero,
				 .group = group };
		if (push_seg(c, &s) < 0)
			return -ENOSPC;
		len -= take;
	}
	return 0;
}

/* An RC4 peer's send: the gathered segments (iov[k] is queue entry
 * qs + k) are copied into the stage, those from rc4_from on encrypted in
 * send order (the step-4 answer queued before goes out as the engine made
 * it), and go out as one segment. end: the queue index past the last. */
static void stage_encrypt(struct wconn *c, struct iovec *iov, int *n, uint32_t end)
{
	uint32_t off = 0, plain = 0;
	for (int k = 0; k < *n; k++) {
		memcpy(c->stage + off, iov[k].iov_base, iov[k].iov_len);
		/* queue indices only grow (mod 2^32): before rc4_from is behind */
		if ((int32_t)(c->qs + (uint32_t)k - c->rc4_from) < 0)
			plain = off + (uint32_t)iov[k].iov_len;
		off += (uint32_t)iov[k].iov_len;
	}
	mse_rc4_crypt(c->rc4_tx, c->stage + plain, off - plain);
	c->stage_len = off;
	c->stage_segs = end - c->qs;
	iov[0].iov_base = c->stage;
	iov[0].iov_len = off;
	*n = 1;
}

void sendq_flush(struct worker *w, struct wconn *c, uint32_t ci)
{
	if (c->sending || c->closing || c->rt - c->rh >= RECS)
		return;
	if (c->stage_busy && !c->stage_segs)
		return; /* the next ciphertext waits for the stage (worker_int.h) */
	struct iovec iov[NETIO_MAX_IOV];
	int n = 0, zc = 0, starved = 0;
	uint32_t i = c->qs, staged = 0;
	if (c->stage_segs) {
		/* ciphertext made for a send that did not go: send it as is */
		iov[0].iov_base = c->stage;
		iov[0].iov_len = c->stage_len;
		n = 1;
		i = c->qs + c->stage_segs;
		goto submit;
	}
	/* A capped tenant's payload goes out only against tokens; headers and
	 * protocol messages are free (they are not what a cap is about). */
	int capped = c->peer.tslot >= 0 && tenants_capped(w->p.tenants, c->peer.tslot);
	uint64_t budget =
		capped ? tenants_take(w->p.tenants, c->peer.tslot, BATCH_TOKENS) : UINT64_MAX;
	uint64_t spent = 0;
	while (i != c->qt && n < NETIO_MAX_IOV) {
		struct seg *s = qat(c, i);
		if (s->state == S_SKIP) {
			/* a withdrawn request: send up to it first, then step over */
			if (n)
				break;
			c->qs = ++i;
			continue;
		}
		if (s->group) {
			/* a request goes out whole or not yet */
			uint32_t j = i, k = 0, bytes = 0;
			int ok = 1;
			uint64_t pay = 0;
			while (j != c->qt && qat(c, j)->group == s->group) {
				ok &= qat(c, j)->state == S_READY;
				if (qat(c, j)->kind == SEG_BLOCK)
					pay += qat(c, j)->len;
				bytes += qat(c, j)->len;
				j++;
				k++;
			}
			if (!ok || n + (int)k > NETIO_MAX_IOV ||
			    (n && staged + bytes > c->send_cap))
				break;
			if (c->rc4_tx && staged + bytes > STAGE_CAP)
				break;
			staged += bytes;
			if (spent + pay > budget) {
				starved = 1;
				break;
			}
			spent += pay;
			for (uint32_t m = i; m != j; m++) {
				struct seg *g = qat(c, m);
				iov[n].iov_base = (void *)g->p;
				iov[n++].iov_len = g->len;
				zc |= g->kind == SEG_BLOCK;
			}
			i = j;
			continue;
		}
		if (s->state != S_READY || (n && staged + s->len > c->send_cap))
			break;
		if (c->rc4_tx && staged + s->len > STAGE_CAP)
			break;
		staged += s->len;
		if (s->kind == SEG_BLOCK) {
			if (spent + s->len > budget) {
				starved = 1;
				break;
			}
			spent += s->len;
		}
		iov[n].iov_base = (void *)s->p;
		iov[n++].iov_len = s->len;
		zc |= s->kind == SEG_BLOCK;
		i++;
	}
	if (capped)
		tenants_give_back(w->p.tenants, c->peer.tslot, budget - spent);
	if (starved && !n)
		worker_throttle(w, c, ci);
	if (!n) {
		sendq_release(w, c);
		if (c->close_after && c->qh == c->qt)
			worker_conn_close(w, c, ci);
		return;
	}
	if (c->rc4_tx)
		stage_encrypt(c, iov, &n, i);
submit:;
	/* Only block payloads are worth zero-copy (SEND_ZC pays off above
	 * ~3 KB), and not once staged for RC4: the stage is our own copy. The
	 * backend decides whether the socket gains from it (netio.h). */
	uint32_t r = c->rt % RECS;
	int rc = w->nio->send(w->net, ci, iov, n, zc && !c->rc4_tx, c->rt);
	if (rc == 0) {
		if (c->rc4_tx) {
			c->stage_busy = 1;
			c->stage_rec = c->rt;
		}
		c->stage_segs = 0;
		c->rec[r].start = c->qs;
		c->rec[r].count = i - c->qs;
		c->rec[r].freed = 0;
		c->rt++;
		c->qs = i;
		c->sending = 1;
		c->progress_at = w->now;
	} else if (rc == -EAGAIN) {
		worker_mark_retry(w, c, ci);
	} else {
		worker_conn_close(w, c, ci);
	}
}

/* Gives back what sends whose memory is free held: pins, engine requests. */
static void sendq_release(struct worker *w, struct wconn *c)
{
	for (;;) {
		uint32_t limit = c->rh != c->rt ? c->rec[c->rh % RECS].start : c->qs;
		/* withdrawn segments before the oldest send */
		while (c->qh != limit) {
			sendq_unpin(w, qat(c, c->qh));
			c->qh++;
		}
		if (c->rh == c->rt || !c->rec[c->rh % RECS].freed)
			break;
		uint32_t end = c->rec[c->rh % RECS].start + c->rec[c->rh % RECS].count;
		for (; c->qh != end; c->qh++) {
			struct seg *s = qat(c, c->qh);
			if (s->kind == SEG_BLOCK && c->kind == TAG_BT && s->last)
				peerwire_data_done(&c->e.pw, s->piece, s->begin);
			sendq_unpin(w, s);
		}
		c->rh++;
	}
	if (c->qh == c->qt)
		c->tx_used = 0; /* every SEND byte is out and free: reuse the buffer */
}

void sendq_on_sent(struct worker *w, struct wconn *c, uint32_t ci, const struct netio_event *ev)
{
	if (ev->kind == NETIO_EV_SENT) {
		c->sending = 0;
		uint32_t r = (uint32_t)ev->cookie;
		if (ev->res >= 0) {
			c->progress_at = w->now;
			c->send_cap = c->send_cap < SEND_MAX ? 2 * c->send_cap : SEND_MAX;
			if (c->parked) {
				/* it reads again: fetch what was let go */
				c->parked = 0;
				worker_mark_retry(w, c, ci);
			}
		}
		/* a failed send closes, but what it pinned is still let go below
		 * (ev->freed) */
		if (ev->res < 0) {
			worker_conn_close(w, c, ci);
		} else if (r - c->rh < c->rt - c->rh) {
			/* payload counts when the kernel took it, whatever comes after */
			uint64_t bytes = 0;
			unsigned pr = proto_of(c);
			for (uint32_t k = 0; k < c->rec[r % RECS].count; k++) {
				const struct seg *g = qat(c, c->rec[r % RECS].start + k);
				if (g->kind != SEG_BLOCK)
					continue;
				bytes += g->len;
				if (g->rslot >= 0)
					dpstats_add(&w->ctr->rel[g->rslot].bytes[pr], g->len);
				else
					dpstats_add(&w->ctr->unrouted_bytes[pr], g->len);
			}
			dpstats_add(&w->ctr->payload_bytes[pr], bytes);
			if (c->utp)
				dpstats_add(&w->ctr->utp_payload_bytes, bytes);
			if (c->kind == TAG_HTTP)
				http_on_sent(&c->e.http, w->now);
		}
	}
	if (ev->kind == NETIO_EV_FREED || ev->freed) {
		uint32_t r = (uint32_t)ev->cookie;
		if (r - c->rh < c->rt - c->rh)
			c->rec[r % RECS].freed = 1;
		if (c->stage_busy && c->stage_rec == r)
			c->stage_busy = 0;
		sendq_release(w, c);
	}
}

/* The engine just selected RC4 for this peer (MSE): what it did not
 * consume is ciphertext, and so is all later input and output. */
int sendq_rc4_start(struct worker *w, struct wconn *c, uint32_t ci)
{
	c->stage = malloc(STAGE_CAP);
	if (!c->stage) {
		worker_conn_close(w, c, ci);
		return -ENOMEM;
	}
	c->rc4_rx = peerwire_rc4_rx(&c->e.pw);
	c->rc4_tx = peerwire_rc4_tx(&c->e.pw);
	c->rc4_from = c->qt; /* everything queued from now on */
	mse_rc4_crypt(c->rc4_rx, c->rx, c->rx_len);
	return 0;
}
