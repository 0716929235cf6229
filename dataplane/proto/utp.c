/*
 * utp: the uTP engine. The protocol and the contract with the caller are
 * in utp.h, the behaviour operators see in docs/utp.md; this header says
 * how it is built. The delay measurement, LEDBAT and the retransmission
 * timer are in utp_cc.c, the wire header in utp_hdr.c; what the files
 * share is utp_int.h.
 *
 * Memory. utp_create sizes everything: a slot array of connections and,
 * per slot, a ring of packets in flight (max_packets), a ring of queued
 * send slices (max_sends), the reorder slots (max_reorder) and their byte
 * arena (rcv_buf). Nothing is allocated afterwards; a connection's memory
 * is its slot's share of those arrays.
 *
 * SYN cookies. A SYN makes no state: the STATE that answers it carries as
 * its sequence number S = 16 bits of SipHash over (peer address, the
 * connection id we would receive on, the SYN's sequence number, a minute
 * counter) under cfg.secret. The initiator's first DATA (or FIN) names that
 * connection id, carries the SYN's sequence number + 1, and acknowledges
 * S - 1 (libutp: the answer's seq_nr minus one) or S (accepted too, for
 * implementations that acknowledge the answer itself); the cookie is
 * recomputed for this minute and the previous one. Only then is a slot
 * taken and the admit hook asked. Why a cookie rather than a small table
 * of half-open connections: a table can be filled by spoofed SYNs (the
 * source address of a UDP datagram proves nothing), a cookie cannot, and
 * uTP's handshake already has the round trip a cookie needs. The price: a
 * blind spoofer hits a valid cookie once in 16,384 tries (2 minutes x 2
 * acknowledgement forms over 16 bits) and then holds one slot until the
 * idle timeout, under the admit hook's per-address limits like any other.
 * A first DATA that arrives after a later one (reordered or lost) fails
 * the check and is dropped silently: the initiator resends it. We send no
 * RESET for datagrams of unknown connections (libutp does, rate-limited):
 * the cookie check cannot tell a stale connection from a reordered first
 * packet, and a RESET to an unverified source is a reflection.
 *
 * Sequence arithmetic. Every comparison of seq/ack numbers is a 16-bit
 * difference (uint16_t)(a - b), every timestamp comparison a 32-bit one;
 * windows stay far below half the space (max_packets <= 4096,
 * max_reorder <= 256), so "ahead" and "behind" are never ambiguous.
 *
 * Send side. Queued slices (struct sref) are numbered by stream offset. A
 * packet is cut at its first transmission (offset, length) and its
 * payload slices are found again from the offset at each transmission, so
 * the in-flight ring holds 40 bytes a packet, not the slices. Bytes in
 * flight (c->flight) count packets sent and neither acknowledged,
 * selectively acknowledged nor declared lost; cwnd and the peer's window
 * bound it.
 *
 * Receive side. In-order payload is handed up straight from the datagram;
 * out-of-order packets are copied into the arena (bounded by rcv_buf and
 * max_reorder, compacted when it fills) and handed up when the gap fills.
 * ack_nr is the last packet received in order, dlv_nr the last handed up:
 * they differ only while events wait for room.
 *
 * Timers: each connection has one deadline (the earliest of retransmit,
 * keep-alive, idle and FIN timers) in a binary min-heap, so utp_poll costs
 * O(log n) per connection due, not a scan. Connections whose output or
 * events wait for room (or for utp_send/close/abort/connect) are on the
 * dirty list.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "byteio.h"
#include "siphash.h"
#include "utp_int.h"

/* ---- configuration ---- */

void utp_config_default(struct utp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_conns = 1024;
	cfg->max_packets = 512;
	cfg->near_packets = 128;
	cfg->near_rtt_us = 20000;
	cfg->max_sends = 256;
	cfg->sndbuf = 4u << 20;
	cfg->rcv_buf = 32768;
	cfg->max_reorder = 64;
	cfg->packet_size = 1400;
	cfg->target_delay_us = 100000;
	cfg->gain_bytes = 3000;
	cfg->base_bucket_ms = 60000;
	cfg->base_buckets = 2;
	cfg->rto_min_ms = 500;
	cfg->rto_init_ms = 1000;
	cfg->rto_max_ms = 30000;
	cfg->max_timeouts = 5;
	cfg->syn_resends = 2;
	cfg->idle_timeout_ms = 120000;
	cfg->keepalive_ms = 29000;
	cfg->fin_timeout_ms = 10000;
}

static int pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static int check_cfg(const struct utp_config *c, struct seed_err *err)
{
	static const struct {
		const char *name;
		size_t off;
		uint32_t min, max;
	} b[] = {
#define B(f, lo, hi) { #f, offsetof(struct utp_config, f), lo, hi }
		B(max_conns, 1, 1u << 20),
		B(max_packets, 16, 4096),
		B(near_packets, 0, 4096),
		B(near_rtt_us, 1000, 10000000),
		B(max_sends, 2, 65536),
		B(sndbuf, 1, UINT32_MAX),
		B(rcv_buf, 1500, 1u << 24),
		B(max_reorder, 4, 256),
		B(packet_size, 150, 65507),
		B(target_delay_us, 1000, 10000000),
		B(gain_bytes, 1, 1u << 20),
		B(base_bucket_ms, 1000, 3600000),
		B(base_buckets, 2, 16),
		B(rto_min_ms, 10, 60000),
		B(rto_init_ms, 10, 60000),
		B(rto_max_ms, 100, 600000),
		B(max_timeouts, 1, 64),
		B(syn_resends, 0, 16),
		B(idle_timeout_ms, 1000, 1u << 30),
		B(keepalive_ms, 1000, 1u << 30),
		B(fin_timeout_ms, 100, 1u << 30),
#undef B
	};
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		uint32_t v;

		memcpy(&v, (const char *)c + b[i].off, sizeof(v));
		if (v < b[i].min || v > b[i].max)
			return seed_err_set(err, -EINVAL, "utp: %s %u outside %u..%u", b[i].name, v,
					    b[i].min, b[i].max);
	}
	if (!pow2(c->max_packets) || !pow2(c->max_reorder))
		return seed_err_set(err, -EINVAL,
				    "utp: max_packets and max_reorder must be powers of two");
	if (c->rto_min_ms > c->rto_max_ms)
		return seed_err_set(err, -EINVAL, "utp: rto_min_ms over rto_max_ms");
	if (c->rcv_buf < c->packet_size)
		return seed_err_set(err, -EINVAL, "utp: rcv_buf under packet_size");
	return 0;
}

/* ---- slots, lookup, heap ---- */

static uint32_t cidx(const struct utp *u, const struct conn *c)
{
	return (uint32_t)(c - u->c);
}

static struct pkt *pkt_at(struct utp *u, struct conn *c, uint16_t seq)
{
	return &u->pkts[(size_t)cidx(u, c) * u->cfg.max_packets + (seq & (u->cfg.max_packets - 1))];
}

static struct sref *ref_at(struct utp *u, struct conn *c, uint32_t i)
{
	return &u->refs[(size_t)cidx(u, c) * u->cfg.max_sends + (c->rh + i) % u->cfg.max_sends];
}

static struct rslot *rs_at(struct utp *u, struct conn *c, uint16_t seq)
{
	return &u->rs[(size_t)cidx(u, c) * u->cfg.max_reorder + (seq & (u->cfg.max_reorder - 1))];
}

static uint8_t *arena_of(struct utp *u, struct conn *c)
{
	return u->arena + (size_t)cidx(u, c) * u->cfg.rcv_buf;
}

static uint32_t hkey(const struct utp *u, const struct utp_addr *a, uint16_t id)
{
	uint8_t b[1 + sizeof(*a) + 2];

	b[0] = 'h';
	memcpy(b + 1, a, sizeof(*a));
	byteio_put_be16(b + 1 + sizeof(*a), id);
	return (uint32_t)siphash24(u->cfg.secret, b, sizeof(b)) & u->hmask;
}

static struct conn *lookup(struct utp *u, const struct utp_addr *a, uint16_t id)
{
	for (uint32_t i = u->hash[hkey(u, a, id)]; i != UTP_NO_CONN; i = u->c[i].hnext) {
		struct conn *c = &u->c[i];

		if (c->recv_id == id && !memcmp(&c->peer, a, sizeof(*a)))
			return c;
	}
	return NULL;
}

static void hash_put(struct utp *u, struct conn *c)
{
	uint32_t *h = &u->hash[hkey(u, &c->peer, c->recv_id)];

	c->hnext = *h;
	*h = cidx(u, c);
}

static void hash_del(struct utp *u, struct conn *c)
{
	uint32_t *h = &u->hash[hkey(u, &c->peer, c->recv_id)];

	while (*h != UTP_NO_CONN) {
		if (*h == cidx(u, c)) {
			*h = c->hnext;
			return;
		}
		h = &u->c[*h].hnext;
	}
}

static void heap_swap(struct utp *u, uint32_t i, uint32_t j)
{
	uint32_t a = u->heap[i], b = u->heap[j];

	u->heap[i] = b;
	u->heap[j] = a;
	u->c[b].hpos = i;
	u->c[a].hpos = j;
}

static uint64_t heap_key(const struct utp *u, uint32_t i)
{
	return u->c[u->heap[i]].deadline;
}

static void heap_fix(struct utp *u, uint32_t i)
{
	while (i && heap_key(u, i) < heap_key(u, (i - 1) / 2)) {
		heap_swap(u, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;

		if (l < u->nheap && heap_key(u, l) < heap_key(u, m))
			m = l;
		if (l + 1 < u->nheap && heap_key(u, l + 1) < heap_key(u, m))
			m = l + 1;
		if (m == i)
			return;
		heap_swap(u, i, m);
		i = m;
	}
}

/* Files c under deadline d (UTP_NO_DEADLINE: out of the heap). */
static void heap_set(struct utp *u, struct conn *c, uint64_t d)
{
	c->deadline = d;
	if (d == UTP_NO_DEADLINE) {
		uint32_t i = c->hpos;

		if (i == UTP_NO_CONN)
			return;
		c->hpos = UTP_NO_CONN;
		if (i != --u->nheap) {
			u->heap[i] = u->heap[u->nheap];
			u->c[u->heap[i]].hpos = i;
			heap_fix(u, i);
		}
		return;
	}
	if (c->hpos == UTP_NO_CONN) {
		c->hpos = u->nheap;
		u->heap[u->nheap++] = cidx(u, c);
	}
	heap_fix(u, c->hpos);
}

static void mark_dirty(struct utp *u, struct conn *c)
{
	if (!dlist_linked(&c->dirty))
		dlist_append(&u->dirty, &c->dirty);
}

static struct conn *slot_take(struct utp *u, const struct utp_addr *peer, uint16_t recv_id,
			      uint16_t send_id, uint64_t now)
{
	struct conn *c;
	uint32_t mss = u->max_payload;

	if (!u->nfree)
		return NULL;
	c = &u->c[u->freel[--u->nfree]];
	memset(c, 0, sizeof(*c));
	c->hpos = UTP_NO_CONN;
	dlist_init(&c->dirty);
	c->peer = *peer;
	c->recv_id = recv_id;
	c->send_id = send_id;
	c->cwnd = INIT_CWND_PKT * mss;
	c->ssthresh = UINT32_MAX;
	c->ss = 1;
	c->peer_wnd = mss;
	c->rto = u->cfg.rto_init_ms * 1000;
	c->last_rx = c->last_tx = now;
	c->state = UTP_CONNECTED;
	hash_put(u, c);
	return c;
}

static void slot_free(struct utp *u, struct conn *c)
{
	heap_set(u, c, UTP_NO_DEADLINE);
	dlist_remove(&c->dirty);
	c->state = UTP_FREE;
	u->freel[u->nfree++] = cidx(u, c);
}

/* Ends c: no more packets are taken for it; its events go out from the
 * dirty list, then the slot is freed. */
static void conn_kill(struct utp *u, struct conn *c, int32_t res, const char *detail)
{
	if (c->state == UTP_DEAD)
		return;
	hash_del(u, c);
	c->state = UTP_DEAD;
	c->res = res;
	c->detail = detail;
	heap_set(u, c, UTP_NO_DEADLINE);
	mark_dirty(u, c);
}

/* ---- create ---- */

int utp_create(const struct utp_config *cfg, struct utp **out, struct seed_err *err)
{
	struct utp *u;
	size_t n;
	int rc;
	struct utp_config def;

	*out = NULL;
	if (!cfg) {
		utp_config_default(&def);
		cfg = &def;
	}
	rc = check_cfg(cfg, err);
	if (rc)
		return rc;
	u = calloc(1, sizeof(*u));
	if (!u)
		return seed_err_set(err, -ENOMEM, "utp: out of memory");
	u->cfg = *cfg;
	n = cfg->max_conns;
	u->hmask = 1;
	while (u->hmask < 2 * n)
		u->hmask <<= 1;
	u->c = calloc(n, sizeof(*u->c));
	u->pkts = calloc(n * cfg->max_packets, sizeof(*u->pkts));
	u->refs = calloc(n * cfg->max_sends, sizeof(*u->refs));
	u->rs = calloc(n * cfg->max_reorder, sizeof(*u->rs));
	u->arena = malloc(n * cfg->rcv_buf);
	u->scratch = malloc(cfg->rcv_buf);
	u->hash = malloc(u->hmask * sizeof(*u->hash));
	u->heap = malloc(n * sizeof(*u->heap));
	u->freel = malloc(n * sizeof(*u->freel));
	if (!u->c || !u->pkts || !u->refs || !u->rs || !u->arena || !u->scratch || !u->hash ||
	    !u->heap || !u->freel) {
		utp_destroy(u);
		return seed_err_set(err, -ENOMEM, "utp: out of memory for %zu connections", n);
	}
	u->hmask--;
	memset(u->hash, 0xff, (u->hmask + 1) * sizeof(*u->hash));
	for (uint32_t i = 0; i < n; i++)
		u->freel[i] = (uint32_t)(n - 1 - i);
	u->nfree = (uint32_t)n;
	dlist_init(&u->dirty);
	u->max_payload = cfg->packet_size - UTP_HDR_LEN;
	*out = u;
	return 0;
}

void utp_destroy(struct utp *u)
{
	if (!u)
		return;
	free(u->c);
	free(u->pkts);
	free(u->refs);
	free(u->rs);
	free(u->arena);
	free(u->scratch);
	free(u->hash);
	free(u->heap);
	free(u->freel);
	free(u);
}

/* ---- output ---- */

/* Our receive window: what the arena can still hold. */
static uint32_t our_wnd(const struct utp *u, const struct conn *c)
{
	return u->cfg.rcv_buf - c->held_bytes;
}

/* The selective-ACK mask for what we hold past ack_nr; its length (0:
 * nothing held out of order). */
static uint8_t sack_mask(struct utp *u, struct conn *c, uint8_t *m)
{
	uint32_t bits = u->cfg.max_reorder < 32 ? 32 : u->cfg.max_reorder;
	uint8_t len = 0;

	if (bits > UTP_OUR_SACK * 8)
		bits = UTP_OUR_SACK * 8;
	if (c->held == (uint16_t)(c->ack_nr - c->dlv_nr))
		return 0; /* everything held is in order */
	memset(m, 0, bits / 8);
	for (uint32_t i = 0; i < bits; i++) {
		uint16_t seq = (uint16_t)(c->ack_nr + 2 + i);
		struct rslot *r;

		if ((uint16_t)(seq - c->dlv_nr) > u->cfg.max_reorder)
			break;
		r = rs_at(u, c, seq);
		if (r->present && r->seq == seq) {
			m[i / 8] |= (uint8_t)(1u << (i % 8));
			len = (uint8_t)((i / 32 + 1) * 4);
		}
	}
	return len;
}

/* The queued slice holding stream offset off: the first whose end lies
 * past it (binary search: ends grow along the ring). */
static uint32_t ref_find(struct utp *u, struct conn *c, uint64_t off)
{
	uint32_t lo = 0, hi = c->rn;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (ref_at(u, c, mid)->end <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* One datagram of c: a packet of the ring (p), or a bare type (STATE,
 * RESET) when p is NULL. 0, or -ENOSPC when tx is full. */
static int emit(struct utp *u, struct conn *c, uint8_t type, const struct pkt *p, uint64_t now,
		struct utp_out *out)
{
	struct utp_tx *tx;
	struct utp_hdr h = { 0 };
	uint8_t mask[UTP_OUR_SACK];

	if (out->ntx >= out->txcap) {
		u->st.tx_full++;
		return -ENOSPC;
	}
	tx = &out->tx[out->ntx];
	h.type = type;
	h.conn_id = type == UTP_ST_SYN ? c->recv_id : c->send_id;
	h.ts_us = (uint32_t)now;
	h.ts_diff_us = c->reply_micro;
	h.wnd = our_wnd(u, c);
	h.seq = p ? p->seq : c->seq_nr;
	h.ack = c->ack_nr;
	if (type != UTP_ST_SYN && type != UTP_ST_RESET && c->state != UTP_SYN_SENT) {
		h.sack_len = sack_mask(u, c, mask);
		h.sack = mask;
	}
	tx->to = c->peer;
	tx->conn = cidx(u, c);
	tx->hdr_len = (uint16_t)utp_build(tx->hdr, &h);
	tx->n_pay = 0;
	tx->pay_len = 0;
	if (p && p->len) {
		uint64_t at = p->off, left = p->len;

		for (uint32_t i = ref_find(u, c, at);
		     left && i < c->rn && tx->n_pay < UTP_TX_SLICES; i++) {
			const struct sref *r = ref_at(u, c, i);
			uint64_t start = r->end - r->len;
			uint32_t take = (uint32_t)(r->end - at < left ? r->end - at : left);

			tx->pay[tx->n_pay].p = r->p + (at - start);
			tx->pay[tx->n_pay].len = take;
			tx->n_pay++;
			at += take;
			left -= take;
		}
		tx->pay_len = p->len;
	}
	out->ntx++;
	u->st.datagrams_out++;
	u->st.bytes_out += tx->pay_len;
	c->pkts_out++;
	c->bytes_out += tx->pay_len;
	c->last_tx = now;
	c->ack_due = 0;
	if (type == UTP_ST_RESET)
		u->st.resets_out++;
	return 0;
}

/* A datagram that belongs to no connection (SYN answer, RESET). */
static void emit_bare(struct utp *u, const struct utp_addr *to, uint8_t type, uint16_t conn_id,
		      uint16_t seq, uint16_t ack, uint32_t ts_diff, uint64_t now,
		      struct utp_out *out)
{
	struct utp_tx *tx;
	struct utp_hdr h = { 0 };

	if (out->ntx >= out->txcap) {
		u->st.tx_full++;
		return;
	}
	tx = &out->tx[out->ntx++];
	h.type = type;
	h.conn_id = conn_id;
	h.ts_us = (uint32_t)now;
	h.ts_diff_us = ts_diff;
	h.wnd = u->cfg.rcv_buf;
	h.seq = seq;
	h.ack = ack;
	tx->to = *to;
	tx->conn = UTP_NO_CONN;
	tx->hdr_len = (uint16_t)utp_build(tx->hdr, &h);
	tx->n_pay = 0;
	tx->pay_len = 0;
	u->st.datagrams_out++;
	if (type == UTP_ST_RESET)
		u->st.resets_out++;
}

static void arm_rto(struct conn *c, uint64_t now)
{
	if (!c->rto_at)
		c->rto_at = now + c->rto;
}

/* Sends one packet of the ring (first time or again). */
static int send_pkt(struct utp *u, struct conn *c, struct pkt *p, uint64_t now, struct utp_out *out)
{
	if (emit(u, c, p->type, p, now, out))
		return -ENOSPC;
	if (p->tx) {
		c->retransmits++;
		u->st.retransmits++;
		if (p->flags & P_FAST)
			u->st.fast_retransmits++;
	}
	p->tx++;
	p->sent_us = now;
	if (p->flags & P_LOST) {
		p->flags &= (uint8_t)~P_LOST;
		c->flight += p->len;
	} else if (p->tx == 1) {
		c->flight += p->len;
	}
	arm_rto(c, now);
	return 0;
}

static uint16_t in_flight_pkts(const struct conn *c)
{
	return (uint16_t)(c->seq_nr - c->una);
}

/* Length of the next packet: up to max_payload bytes of queued slices, as
 * far as UTP_TX_SLICES slices reach. */
static uint32_t next_len(struct utp *u, struct conn *c)
{
	uint64_t want = c->off_end - c->off_nxt, at = c->off_nxt;
	uint32_t slices = 0;

	if (want > u->max_payload)
		want = u->max_payload;
	for (uint32_t i = ref_find(u, c, at);
	     i < c->rn && at < c->off_nxt + want && slices < UTP_TX_SLICES; i++) {
		at = ref_at(u, c, i)->end;
		slices++;
	}
	if (at > c->off_nxt + want)
		at = c->off_nxt + want;
	return (uint32_t)(at - c->off_nxt);
}

/* Packets c may have in flight (utp_config.near_packets): never more than
 * the ring holds less one, which keeps the ring's seq arithmetic
 * unambiguous. Before an RTT sample, the short path's. */
static uint16_t flight_cap(const struct utp *u, const struct conn *c)
{
	uint32_t ring = u->cfg.max_packets - 1;
	uint64_t cap;

	if (!u->cfg.near_packets || u->cfg.near_packets >= ring)
		return (uint16_t)ring;
	cap = u->cfg.near_packets;
	if (c->srtt > u->cfg.near_rtt_us)
		cap = cap * c->srtt / u->cfg.near_rtt_us;
	return (uint16_t)(cap < ring ? cap : ring);
}

/* May a packet of len bytes go now? */
static int window_ok(const struct conn *c, uint32_t len)
{
	uint32_t w = c->cwnd < c->peer_wnd ? c->cwnd : c->peer_wnd;

	if (c->flight == 0 && (c->peer_wnd > 0 || c->probe))
		return 1; /* always one packet in flight, even over a small window */
	return c->flight + len <= w;
}

/* Cuts the next packet (type, len bytes from off_nxt) and sends it; 0, or
 * -ENOSPC (nothing cut: c waits on the dirty list for tx room). */
static int new_pkt(struct utp *u, struct conn *c, uint8_t type, uint32_t len, uint64_t now,
		   struct utp_out *out)
{
	struct pkt *p;

	if (out->ntx >= out->txcap) {
		u->st.tx_full++;
		mark_dirty(u, c);
		return -ENOSPC;
	}
	p = pkt_at(u, c, c->seq_nr);
	memset(p, 0, sizeof(*p));
	p->seq = c->seq_nr;
	p->type = type;
	p->off = c->off_nxt;
	p->len = len;
	c->seq_nr++;
	c->off_nxt += len;
	return send_pkt(u, c, p, now, out);
}

/* Everything c may send now: RESET, SYN, retransmissions, new data, FIN,
 * a bare ACK. Stops when tx is full (the rest waits: c is dirty). */
static void conn_output(struct utp *u, struct conn *c, uint64_t now, struct utp_out *out)
{
	uint16_t n = in_flight_pkts(c);

	if (c->state == UTP_SYN_SENT) {
		struct pkt *p = pkt_at(u, c, c->una);

		if ((!p->tx || (p->flags & P_LOST)) && send_pkt(u, c, p, now, out))
			mark_dirty(u, c);
		return;
	}
	for (uint16_t i = 0; i < n; i++) {
		struct pkt *p = pkt_at(u, c, (uint16_t)(c->una + i));

		if (!(p->flags & P_LOST))
			continue;
		/* a fast retransmission goes at once, whatever the window
		 * (as TCP's, RFC 5681 §3.2): the window was just halved */
		if (!window_ok(c, p->len) && !((p->flags & P_FAST) && p->tx == 1)) {
			c->cwnd_limited = 1;
			if (!c->flight)
				arm_rto(c, now); /* a zero window: probe when it fires */
			goto ack;
		}
		if (send_pkt(u, c, p, now, out)) {
			mark_dirty(u, c);
			return;
		}
		c->probe = 0;
	}
	while (c->off_nxt < c->off_end && in_flight_pkts(c) < flight_cap(u, c)) {
		uint32_t len = next_len(u, c);

		if (!window_ok(c, len)) {
			c->cwnd_limited = 1;
			if (!c->flight)
				arm_rto(c, now);
			goto ack;
		}
		if (new_pkt(u, c, UTP_ST_DATA, len, now, out))
			return;
		c->probe = 0;
	}
	if (c->off_nxt == c->off_end)
		c->cwnd_limited = 0;
	if (c->closing && !c->fin_sent && c->off_nxt == c->off_end &&
	    in_flight_pkts(c) < flight_cap(u, c)) {
		if (new_pkt(u, c, UTP_ST_FIN, 0, now, out))
			return;
		c->fin_sent = 1;
	}
ack:
	if (c->ack_due && emit(u, c, UTP_ST_STATE, NULL, now, out))
		mark_dirty(u, c); /* the ACK waits for room */
}

/* ---- events ---- */

static struct utp_ev *ev_new(struct utp_out *out, struct conn *c, struct utp *u, enum utp_ev_kind k)
{
	struct utp_ev *e;

	if (out->nev >= out->evcap)
		return NULL;
	e = &out->ev[out->nev++];
	memset(e, 0, sizeof(*e));
	e->kind = k;
	e->conn = cidx(u, c);
	e->user = c->user;
	return e;
}

/* Hands up what is held in order past dlv_nr, then the peer's FIN. 0 when
 * done, -ENOSPC when events ran out. */
static int deliver(struct utp *u, struct conn *c, struct utp_out *out)
{
	while (c->dlv_nr != c->ack_nr) {
		uint16_t seq = (uint16_t)(c->dlv_nr + 1);
		struct rslot *r = rs_at(u, c, seq);

		if (r->len) {
			struct utp_ev *e = ev_new(out, c, u, UTP_EV_DATA);

			if (!e)
				return -ENOSPC;
			e->data = arena_of(u, c) + r->off;
			e->len = r->len;
		}
		c->held--;
		c->held_bytes -= r->len;
		r->present = 0;
		c->dlv_nr = seq;
		if (r->fin)
			c->fin_done = 2; /* reach: report below */
	}
	if (!c->held)
		c->arena_used = 0;
	if (c->fin_done == 2) {
		if (!ev_new(out, c, u, UTP_EV_PEER_FIN))
			return -ENOSPC;
		c->fin_done = 1;
	}
	return 0;
}

/* ACKED for each finished send, in order (every queued one when dead). */
static int report_acked(struct utp *u, struct conn *c, struct utp_out *out)
{
	while (c->rn) {
		struct sref *r = ref_at(u, c, 0);

		if (c->state != UTP_DEAD && r->end > c->off_una)
			break;
		if (r->last) {
			struct utp_ev *e = ev_new(out, c, u, UTP_EV_ACKED);

			if (!e)
				return -ENOSPC;
			e->cookie = r->cookie;
		}
		c->rh = (c->rh + 1) % u->cfg.max_sends;
		c->rn--;
	}
	return 0;
}

static uint64_t conn_deadline(const struct utp *u, const struct conn *c)
{
	uint64_t d = c->last_rx + (uint64_t)u->cfg.idle_timeout_ms * 1000;
	uint64_t k = c->last_tx + (uint64_t)u->cfg.keepalive_ms * 1000;

	if (c->state == UTP_SYN_SENT)
		return c->rto_at ? c->rto_at : d;
	if (k < d)
		d = k;
	if (c->rto_at && c->rto_at < d)
		d = c->rto_at;
	if (c->fin_at && c->fin_at < d)
		d = c->fin_at;
	return d;
}

/* Output, deferred events, then the connection's next deadline; a dead
 * connection reports its end and frees its slot. */
static void conn_run(struct utp *u, struct conn *c, uint64_t now, struct utp_out *out)
{
	if (c->state == UTP_DEAD) {
		if (c->abort_tx) {
			/* once: a RESET that finds tx full is counted, not retried */
			c->abort_tx = 0;
			emit(u, c, UTP_ST_RESET, NULL, now, out);
		}
		if (report_acked(u, c, out)) {
			mark_dirty(u, c);
			return;
		}
		if (!c->closed_ev) {
			struct utp_ev *e = ev_new(out, c, u, UTP_EV_CLOSED);

			if (!e) {
				mark_dirty(u, c);
				return;
			}
			e->res = c->res;
			e->detail = c->detail;
			c->closed_ev = 1;
		}
		slot_free(u, c);
		return;
	}
	dlist_remove(&c->dirty);
	if (c->state != UTP_SYN_SENT) {
		if (c->connected_ev == 1) {
			if (!ev_new(out, c, u, UTP_EV_CONNECTED)) {
				mark_dirty(u, c);
				return;
			}
			c->connected_ev = 2;
		}
		if (deliver(u, c, out))
			mark_dirty(u, c);
	}
	conn_output(u, c, now, out);
	if (report_acked(u, c, out))
		mark_dirty(u, c);
	if (c->state == UTP_FIN_SENT && c->fin_acked && c->fin_done) {
		conn_kill(u, c, 0, "closed");
		conn_run(u, c, now, out);
		return;
	}
	heap_set(u, c, conn_deadline(u, c));
}

/* ---- input ---- */

/* Acknowledgements of a packet (k packets newly acknowledged, already
 * validated). */
static void on_ack(struct utp *u, struct conn *c, const struct utp_hdr *h, uint16_t k, uint64_t now)
{
	uint32_t acked = 0;
	uint64_t rtt_sent = 0;
	int lost = 0, newly_sacked = 0;
	uint16_t n;

	for (uint16_t i = 0; i < k; i++) {
		struct pkt *p = pkt_at(u, c, (uint16_t)(c->una + i));

		if (!(p->flags & (P_SACKED | P_LOST)))
			c->flight -= p->len;
		if (!(p->flags & P_SACKED))
			acked += p->len;
		if (p->tx == 1 && !(p->flags & P_SACKED))
			rtt_sent = p->sent_us;
		if (p->type == UTP_ST_FIN && !c->fin_acked) {
			/* the peer has until fin_timeout to close its side */
			c->fin_acked = 1;
			c->fin_at = now + (uint64_t)u->cfg.fin_timeout_ms * 1000;
		}
		c->off_una = p->off + p->len;
	}
	c->una = (uint16_t)(c->una + k);
	if ((uint16_t)(c->loss_seq - c->una) > in_flight_pkts(c))
		c->loss_seq = c->una;
	if (k) {
		c->backoff = 0;
		c->dup_acks = 0;
		c->rto_at = 0;
		if (rtt_sent)
			utp_cc_rtt_sample(u, c, now, rtt_sent);
		else if (c->srtt)
			/* new data acknowledged ends the back-off even without
			 * a sample (only retransmitted packets acknowledged, as
			 * Linux does), or a lossy tail would wait up to rto_max
			 * for each resend */
			utp_cc_rto_set(u, c);
	}
	n = in_flight_pkts(c);
	if (h->sack && n) {
		uint32_t count = 0;

		for (uint32_t i = 0; i < (uint32_t)h->sack_len * 8; i++) {
			uint16_t seq = (uint16_t)(h->ack + 2 + i);
			struct pkt *p;

			if (!(h->sack[i / 8] >> (i % 8) & 1) || (uint16_t)(seq - c->una) >= n)
				continue;
			p = pkt_at(u, c, seq);
			if (p->flags & P_SACKED || !p->tx)
				continue;
			if (!(p->flags & P_LOST))
				c->flight -= p->len;
			p->flags = (uint8_t)((p->flags | P_SACKED) & ~P_LOST);
			acked += p->len;
			newly_sacked = 1;
			c->sacks++;
		}
		/* lost: an unacknowledged packet with 3 or more acknowledged
		 * after it (BEP 29), resent once until the next timeout */
		for (uint16_t i = n; i-- > 0;) {
			struct pkt *p = pkt_at(u, c, (uint16_t)(c->una + i));

			if (p->flags & P_SACKED) {
				count++;
			} else if (count >= 3 && p->tx && !(p->flags & (P_LOST | P_FAST))) {
				p->flags |= P_LOST | P_FAST;
				c->flight -= p->len;
				if (!lost)
					utp_cc_loss(u, c, p->seq);
				lost = 1;
			}
		}
	}
	if (h->type == UTP_ST_STATE && !k && n && !newly_sacked &&
	    h->ack == (uint16_t)(c->una - 1)) {
		c->dup_acks_total++;
		if (++c->dup_acks == 3) {
			struct pkt *p = pkt_at(u, c, c->una);

			if (p->tx && !(p->flags & (P_SACKED | P_LOST | P_FAST))) {
				p->flags |= P_LOST | P_FAST;
				c->flight -= p->len;
				utp_cc_loss(u, c, p->seq);
			}
		}
	}
	utp_cc_ack(u, c, acked);
	if (c->flight || in_flight_pkts(c))
		arm_rto(c, now);
}

/* Data or FIN of the peer (the ack part is done). */
static void on_data(struct utp *u, struct conn *c, const struct utp_hdr *h, const uint8_t *pay,
		    uint32_t plen, struct utp_out *out)
{
	uint16_t d = (uint16_t)(h->seq - c->ack_nr);
	struct rslot *r;
	struct utp_ev *e = NULL;
	int fin = h->type == UTP_ST_FIN;

	c->ack_due = 1;
	if (fin)
		plen = 0;
	if (d == 0 || d >= 0x8000) {
		u->st.dup_packets++;
		return;
	}
	if (c->got_fin && (int16_t)(h->seq - c->fin_seq) >= (fin ? 1 : 0)) {
		u->st.out_of_window++; /* past the end of the stream */
		return;
	}
	if ((uint16_t)(h->seq - c->dlv_nr) > u->cfg.max_reorder) {
		u->st.out_of_window++;
		return;
	}
	if (fin) {
		if (c->got_fin && c->fin_seq != h->seq)
			return;
		c->got_fin = 1;
		c->fin_seq = h->seq;
	}
	c->bytes_in += plen;
	u->st.bytes_in += plen;
	if (d == 1 && c->dlv_nr == c->ack_nr && (!plen || (e = ev_new(out, c, u, UTP_EV_DATA)))) {
		/* in order with nothing waiting: straight from the datagram */
		if (e) {
			e->data = pay;
			e->len = plen;
		}
		c->ack_nr = c->dlv_nr = h->seq;
		if (fin)
			c->fin_done = 2;
	} else {
		r = rs_at(u, c, h->seq);
		if (r->present) {
			u->st.dup_packets++;
			return;
		}
		if (plen > u->cfg.rcv_buf - c->arena_used) {
			/* compact: the held packets to the front, in any order */
			uint8_t *a = arena_of(u, c);
			uint32_t used = 0;

			for (uint32_t i = 1; i <= u->cfg.max_reorder; i++) {
				struct rslot *q = rs_at(u, c, (uint16_t)(c->dlv_nr + i));

				if (!q->present)
					continue;
				memcpy(u->scratch + used, a + q->off, q->len);
				q->off = used;
				used += q->len;
			}
			memcpy(a, u->scratch, used);
			c->arena_used = used;
			if (plen > u->cfg.rcv_buf - used) {
				u->st.out_of_window++;
				return;
			}
		}
		memcpy(arena_of(u, c) + c->arena_used, pay, plen);
		r->off = c->arena_used;
		r->len = plen;
		r->seq = h->seq;
		r->fin = (uint8_t)fin;
		r->present = 1;
		c->arena_used += plen;
		c->held++;
		c->held_bytes += plen;
	}
	/* the gap may be filled: ack_nr runs over what is held */
	for (;;) {
		uint16_t nx = (uint16_t)(c->ack_nr + 1);
		struct rslot *q = rs_at(u, c, nx);

		if ((uint16_t)(nx - c->dlv_nr) > u->cfg.max_reorder || !q->present || q->seq != nx)
			break;
		c->ack_nr = nx;
	}
}

/* The peer's RESET names our send_id or our recv_id (libutp accepts
 * both); our recv_id is send_id + 1 when we accepted, - 1 when we
 * connected. */
static struct conn *lookup_reset(struct utp *u, const struct utp_addr *a, uint16_t id)
{
	struct conn *c = lookup(u, a, id);

	if (!c) {
		c = lookup(u, a, (uint16_t)(id + 1));
		if (c && c->send_id != id)
			c = NULL;
	}
	if (!c) {
		c = lookup(u, a, (uint16_t)(id - 1));
		if (c && c->send_id != id)
			c = NULL;
	}
	return c;
}

static uint16_t cookie(const struct utp *u, const struct utp_addr *a, uint16_t recv_id,
		       uint16_t syn_seq, uint64_t ctr)
{
	uint8_t b[1 + sizeof(*a) + 12];

	b[0] = 'c';
	memcpy(b + 1, a, sizeof(*a));
	byteio_put_be16(b + 1 + sizeof(*a), recv_id);
	byteio_put_be16(b + 3 + sizeof(*a), syn_seq);
	byteio_put_be64(b + 5 + sizeof(*a), ctr);
	return (uint16_t)siphash24(u->cfg.secret, b, sizeof(b));
}

static void on_syn(struct utp *u, const struct utp_addr *from, const struct utp_hdr *h,
		   uint64_t now, struct utp_out *out)
{
	uint16_t recv_id = (uint16_t)(h->conn_id + 1);
	struct conn *c = lookup(u, from, recv_id);
	uint32_t ts_diff = h->ts_us ? (uint32_t)now - h->ts_us : 0;

	if (c) {
		/* a SYN resent after its connection exists (our answer was
		 * lost and its DATA overtook it) is acknowledged again; one
		 * with another sequence number is an id collision: ignored */
		if (!c->initiator && c->syn_seq == h->seq && c->send_id == h->conn_id)
			c->ack_due = 1;
		return;
	}
	u->st.syn_in++;
	emit_bare(u, from, UTP_ST_STATE, h->conn_id,
		  cookie(u, from, recv_id, h->seq, now / COOKIE_PERIOD), h->seq, ts_diff, now, out);
}

/* DATA or FIN for no connection: a valid cookie makes one. */
static struct conn *on_cookie(struct utp *u, const struct utp_addr *from, const struct utp_hdr *h,
			      uint64_t now, struct utp_out *out)
{
	uint64_t ctr = now / COOKIE_PERIOD;
	uint16_t syn_seq = (uint16_t)(h->seq - 1), first = 0;
	int ok = 0;
	struct conn *c;
	struct utp_ev *ev;
	void *user = NULL;

	for (uint64_t d = 0; d < 2 && d <= ctr && !ok; d++) {
		uint16_t s = cookie(u, from, h->conn_id, syn_seq, ctr - d);

		if (h->ack == (uint16_t)(s - 1)) {
			first = s;
			ok = 1;
		} else if (h->ack == s) {
			first = (uint16_t)(s + 1);
			ok = 1;
		}
	}
	if (!ok) {
		u->st.cookie_bad++;
		return NULL;
	}
	if (!u->nfree) {
		u->st.table_full++;
		emit_bare(u, from, UTP_ST_RESET, (uint16_t)(h->conn_id - 1), first, h->seq, 0, now,
			  out);
		return NULL;
	}
	if (u->cfg.admit && u->cfg.admit(u->cfg.admit_ctx, from, now, &user) < 0) {
		u->st.refused++;
		emit_bare(u, from, UTP_ST_RESET, (uint16_t)(h->conn_id - 1), first, h->seq, 0, now,
			  out);
		return NULL;
	}
	c = slot_take(u, from, h->conn_id, (uint16_t)(h->conn_id - 1), now);
	c->user = user;
	c->seq_nr = c->una = c->loss_seq = first;
	c->ack_nr = c->dlv_nr = c->syn_seq = syn_seq;
	u->st.accepts++;
	ev = ev_new(out, c, u, UTP_EV_ACCEPT); /* room: UTP_EV_MIN */
	if (ev)
		ev->peer = *from;
	return c;
}

void utp_input(struct utp *u, const struct utp_addr *from, const uint8_t *p, size_t len,
	       uint64_t now, struct utp_out *out)
{
	struct utp_hdr h;
	size_t fault;
	struct conn *c;
	uint16_t k = 0;

	u->st.datagrams_in++;
	if (out->evcap - out->nev < UTP_EV_MIN) {
		u->st.ev_short++;
		return;
	}
	if (utp_parse(p, len, &h, &fault)) {
		u->st.malformed++;
		return;
	}
	if (h.type == UTP_ST_SYN) {
		on_syn(u, from, &h, now, out);
		c = lookup(u, from, (uint16_t)(h.conn_id + 1));
		if (c && c->ack_due)
			conn_run(u, c, now, out);
		return;
	}
	if (h.type == UTP_ST_RESET) {
		c = lookup_reset(u, from, h.conn_id);
		if (!c) {
			u->st.no_conn++;
			return;
		}
		u->st.resets_in++;
		c->pkts_in++;
		conn_kill(u, c, c->state == UTP_SYN_SENT ? -ECONNREFUSED : -ECONNRESET,
			  c->state == UTP_SYN_SENT ? "connection refused" : "reset by peer");
		conn_run(u, c, now, out);
		return;
	}
	c = lookup(u, from, h.conn_id);
	if (!c) {
		if (h.type == UTP_ST_STATE) {
			u->st.no_conn++;
			return;
		}
		c = on_cookie(u, from, &h, now, out);
		if (!c)
			return;
	}
	if (c->state == UTP_SYN_SENT) {
		/* only the answer to our SYN: a STATE acknowledging it */
		if (h.type != UTP_ST_STATE || h.ack != c->una) {
			u->st.bad_ack++;
			return;
		}
		c->state = c->closing ? UTP_FIN_SENT : UTP_CONNECTED;
		c->ack_nr = c->dlv_nr = (uint16_t)(h.seq - 1);
		c->connected_ev = 1;
		k = 1;
	} else {
		/* the acknowledgement must lie between the oldest packet we
		 * still hold minus a window and the last we sent */
		uint16_t n = in_flight_pkts(c);

		k = (uint16_t)(h.ack - (uint16_t)(c->una - 1));
		if (k > n) {
			if ((uint16_t)((uint16_t)(c->una - 1) - h.ack) > u->cfg.max_packets) {
				u->st.bad_ack++;
				return;
			}
			k = 0; /* an old acknowledgement, reordered */
		}
	}
	c->pkts_in++;
	c->last_rx = now;
	c->peer_wnd = h.wnd;
	utp_cc_timestamps(u, c, &h, now);
	on_ack(u, c, &h, k, now);
	if (h.type == UTP_ST_DATA || h.type == UTP_ST_FIN)
		on_data(u, c, &h, p + h.data_off, (uint32_t)(len - h.data_off), out);
	conn_run(u, c, now, out);
}

/* ---- timers ---- */

static void on_timer(struct utp *u, struct conn *c, uint64_t now)
{
	if (now - c->last_rx >= (uint64_t)u->cfg.idle_timeout_ms * 1000 &&
	    c->state != UTP_SYN_SENT) {
		conn_kill(u, c, -ETIMEDOUT, "idle timeout");
		return;
	}
	if (c->fin_at && now >= c->fin_at) {
		conn_kill(u, c, 0, "fin timeout"); /* our side is done */
		return;
	}
	if (c->rto_at && now >= c->rto_at) {
		uint16_t n = in_flight_pkts(c);

		c->rto_at = 0;
		if (c->state == UTP_SYN_SENT) {
			if (c->backoff >= u->cfg.syn_resends) {
				conn_kill(u, c, -ETIMEDOUT, "connect timeout");
				return;
			}
			c->backoff++;
			c->rto = c->rto * 2 > u->cfg.rto_max_ms * 1000 ? u->cfg.rto_max_ms * 1000
								       : c->rto * 2;
			pkt_at(u, c, c->una)->flags |= P_LOST;
			return;
		}
		if (n) {
			if (++c->backoff > u->cfg.max_timeouts) {
				/* only our FIN's acknowledgement missing, after
				 * every byte of ours was acknowledged and the
				 * peer's FIN came in, is an orderly end: the peer
				 * closed without lingering to acknowledge it again
				 * (uTP has no TIME-WAIT) */
				if (c->fin_sent && c->fin_done && c->off_una == c->off_end)
					conn_kill(u, c, 0, "fin not acknowledged");
				else
					conn_kill(u, c, -ETIMEDOUT, "too many resends");
				return;
			}
			c->timeouts++;
			u->st.timeouts++;
			c->rto = c->rto * 2 > u->cfg.rto_max_ms * 1000 ? u->cfg.rto_max_ms * 1000
								       : c->rto * 2;
			/* everything unacknowledged is presumed lost, the
			 * selectively acknowledged too (a peer may have
			 * dropped them: RFC 2018 §8; the next ACK's SACK marks
			 * again what it holds, before the window lets them go
			 * out); the window restarts at one packet and
			 * slow-starts to half of what it was */
			c->ssthresh = c->cwnd / 2 > 2 * utp_cc_min_cwnd(u) ? c->cwnd / 2
									   : 2 * utp_cc_min_cwnd(u);
			c->cwnd = utp_cc_min_cwnd(u);
			c->ss = 1;
			c->loss_seq = c->seq_nr;
			for (uint16_t i = 0; i < n; i++) {
				struct pkt *p = pkt_at(u, c, (uint16_t)(c->una + i));

				p->flags &= (uint8_t)~P_FAST;
				if (p->tx && !(p->flags & P_LOST)) {
					if (!(p->flags & P_SACKED))
						c->flight -= p->len;
					p->flags = (uint8_t)((p->flags & ~P_SACKED) | P_LOST);
				}
			}
			c->dup_acks = 0;
		} else if (c->off_nxt < c->off_end && c->peer_wnd == 0) {
			c->probe = 1; /* a zero window: one packet may test it */
		}
	}
	if (now - c->last_tx >= (uint64_t)u->cfg.keepalive_ms * 1000)
		c->ack_due = 1;
}

void utp_poll(struct utp *u, uint64_t now, struct utp_out *out)
{
	struct dlist work;

	while (u->nheap && u->c[u->heap[0]].deadline <= now) {
		struct conn *c = &u->c[u->heap[0]];

		heap_set(u, c, UTP_NO_DEADLINE);
		on_timer(u, c, now);
		conn_run(u, c, now, out);
		if (c->state != UTP_FREE && c->state != UTP_DEAD && c->deadline <= now)
			heap_set(u, c, now + 1000); /* nothing left to do now: not again at once */
	}
	/* each dirty connection once: one that stays dirty waits for the
	 * next poll (the caller has to drain tx or ev first) */
	dlist_init(&work);
	if (!dlist_empty(&u->dirty)) {
		work.next = u->dirty.next;
		work.prev = u->dirty.prev;
		work.next->prev = &work;
		work.prev->next = &work;
		dlist_init(&u->dirty);
	}
	while (!dlist_empty(&work)) {
		struct conn *c = DLIST_ENTRY(dlist_first(&work), struct conn, dirty);

		dlist_remove(&c->dirty);
		conn_run(u, c, now, out);
	}
}

uint64_t utp_next_deadline(const struct utp *u)
{
	if (!dlist_empty(&u->dirty))
		return 0;
	return u->nheap ? u->c[u->heap[0]].deadline : UTP_NO_DEADLINE;
}

/* ---- calls from the caller ---- */

static struct conn *conn_get(struct utp *u, uint32_t id)
{
	if (id >= u->cfg.max_conns)
		return NULL;
	return u->c[id].state == UTP_FREE ? NULL : &u->c[id];
}

int utp_connect(struct utp *u, const struct utp_addr *to, void *user, uint64_t now,
		uint32_t *out_conn)
{
	struct conn *c = NULL;
	struct pkt *p;

	for (int tries = 0; tries < 16; tries++) {
		uint8_t b[9] = { 'i' };
		uint16_t id;

		byteio_put_be64(b + 1, u->id_ctr++);
		id = (uint16_t)siphash24(u->cfg.secret, b, sizeof(b));
		if (lookup(u, to, id) || lookup(u, to, (uint16_t)(id + 1)))
			continue;
		c = slot_take(u, to, id, (uint16_t)(id + 1), now);
		break;
	}
	if (!c)
		return -ENOSPC;
	u->st.connects++;
	c->initiator = 1;
	c->user = user;
	c->state = UTP_SYN_SENT;
	c->seq_nr = 1;
	c->una = 1;
	p = pkt_at(u, c, 1);
	memset(p, 0, sizeof(*p));
	p->seq = 1;
	p->type = UTP_ST_SYN;
	c->seq_nr = 2;
	c->loss_seq = 1;
	mark_dirty(u, c);
	*out_conn = cidx(u, c);
	return 0;
}

int utp_send(struct utp *u, uint32_t id, const struct iovec *iov, int n, uint64_t cookie)
{
	struct conn *c = conn_get(u, id);
	uint64_t bytes = 0;
	int slices = 0, last = -1;

	if (!c || c->state == UTP_DEAD || c->closing)
		return -ENOTCONN;
	if (n < 1)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len) {
			slices++;
			last = i;
		}
		bytes += iov[i].iov_len;
	}
	if (!slices || bytes > UINT32_MAX)
		return -EINVAL;
	if (c->rn + (uint32_t)slices > u->cfg.max_sends ||
	    c->off_end - c->off_una + bytes > u->cfg.sndbuf)
		return -EAGAIN;
	for (int i = 0; i <= last; i++) {
		struct sref *r;

		if (!iov[i].iov_len)
			continue;
		r = ref_at(u, c, c->rn++);
		r->p = iov[i].iov_base;
		r->len = (uint32_t)iov[i].iov_len;
		c->off_end += r->len;
		r->end = c->off_end;
		r->last = i == last;
		r->cookie = cookie;
	}
	mark_dirty(u, c);
	return 0;
}

void utp_close(struct utp *u, uint32_t id)
{
	struct conn *c = conn_get(u, id);

	if (!c || c->state == UTP_DEAD || c->closing)
		return;
	c->closing = 1;
	if (c->state == UTP_CONNECTED)
		c->state = UTP_FIN_SENT; /* SYN_SENT: once connected */
	mark_dirty(u, c);
}

void utp_abort(struct utp *u, uint32_t id)
{
	struct conn *c = conn_get(u, id);

	if (!c || c->state == UTP_DEAD)
		return;
	c->abort_tx = c->state != UTP_SYN_SENT;
	conn_kill(u, c, -ECONNABORTED, "aborted");
}

void utp_set_user(struct utp *u, uint32_t id, void *user)
{
	struct conn *c = conn_get(u, id);

	if (c)
		c->user = user;
}

int utp_conn_info(const struct utp *u, uint32_t id, struct utp_conn_info *out)
{
	const struct conn *c;

	if (id >= u->cfg.max_conns || u->c[id].state == UTP_FREE)
		return -ENOENT;
	c = &u->c[id];
	memset(out, 0, sizeof(*out));
	out->state = (enum utp_state)c->state;
	out->peer = c->peer;
	out->recv_id = c->recv_id;
	out->send_id = c->send_id;
	out->cwnd = c->cwnd;
	out->peer_wnd = c->peer_wnd;
	out->flight = c->flight;
	out->our_delay_us = c->our_delay;
	out->base_delay_us = c->txh.base;
	out->srtt_us = c->srtt;
	out->rttvar_us = c->rttvar;
	out->rto_us = c->rto;
	out->slow_start = c->ss;
	out->queued = (uint32_t)(c->off_end - c->off_una);
	out->pkts_in = c->pkts_in;
	out->pkts_out = c->pkts_out;
	out->bytes_in = c->bytes_in;
	out->bytes_out = c->bytes_out;
	out->retransmits = c->retransmits;
	out->timeouts = c->timeouts;
	out->dup_acks = c->dup_acks_total;
	out->sacks = c->sacks;
	return 0;
}

const struct utp_stats *utp_stats(const struct utp *u)
{
	return &u->st;
}

uint32_t utp_conns(const struct utp *u)
{
	return u->cfg.max_conns - u->nfree;
}
