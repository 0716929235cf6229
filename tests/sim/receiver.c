/*
 * receiver: the simulator's client and judge (see receiver.h). Written
 * from the RFCs, not from the stack: own header parsing, own checksums.
 */
#include "receiver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_frames.h"
#include "simlink.h"

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* The first violation, kept in r->err (receiver.h). */
#define fail(r, ...) sim_fail(&(r)->failed, (r)->err, sizeof((r)->err), __VA_ARGS__)

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RFC 1071 over native-order words (the fold is byte-order neutral);
 * every piece but the last starts at an even offset. */
static uint64_t sum_add(uint64_t acc, const uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		acc += (w & 0xffffffffu) + (w >> 32);
		p += 8;
		n -= 8;
	}
	while (n >= 2) {
		uint16_t w;
		memcpy(&w, p, 2);
		acc += w;
		p += 2;
		n -= 2;
	}
	if (n) {
		uint8_t b[2] = { p[0], 0 };
		uint16_t w;
		memcpy(&w, b, 2);
		acc += w;
	}
	return acc;
}

static uint16_t sum_fold(uint64_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

static uint64_t pseudo_sum(uint32_t src, uint32_t dst, uint16_t len)
{
	uint8_t ph[12];
	cf_put32(ph, src);
	cf_put32(ph + 4, dst);
	ph[8] = 0;
	ph[9] = 6;
	cf_put16(ph + 10, len);
	return sum_add(0, ph, sizeof(ph));
}

static uint32_t ts_now(const struct rcv *r)
{
	return (uint32_t)(r->now / 1000000) + r->cfg.ts_off;
}

/* ---- building our frames ---- */

static void emit_ip(struct rcv *r, uint8_t *f, uint32_t l4_len)
{
	const struct cf_ipv4 h = {
		.dst_mac = r->srv_mac,
		.src_mac = r->cfg.mac,
		.src = r->cfg.ip,
		.dst = r->cfg.srv_ip,
		.id = (uint16_t)r->st.frames,
		.frag = 0x4000, /* DF */
		.proto = 6,
	};
	uint8_t *th = cf_ipv4(f, &h, l4_len);
	uint16_t tc = (uint16_t)~sum_fold(
		sum_add(pseudo_sum(r->cfg.ip, r->cfg.srv_ip, (uint16_t)l4_len), th, l4_len));
	memcpy(th + 16, &tc, 2);
	r->cfg.send(r->cfg.arg, f, 14 + 20 + l4_len);
}

static uint16_t wnd_field(const struct rcv *r, int syn)
{
	uint64_t w = r->cfg.rcvbuf;
	if (!syn) {
		/* as Linux: data held out of order takes receive space, so
		 * the window closes while holes wait to be filled, but its
		 * right edge never moves back */
		uint64_t held = 0;
		for (uint32_t k = 0; k < r->n_ooo; k++)
			held += r->ooo[k].e - r->ooo[k].s;
		w = w > held ? w - held : 0;
		if (r->right_edge > r->rcv_nxt + w)
			w = r->right_edge - r->rcv_nxt;
	}
	if (!syn && r->ws_ok)
		w >>= r->rcv_shift;
	return (uint16_t)(w > 65535 ? 65535 : w);
}

/* The SACK blocks to send: a D-SACK first when one is owed, then the
 * ranges by how recently they grew. */
static uint32_t sack_blocks(struct rcv *r, uint64_t bl[4][2])
{
	uint32_t max = r->ts_ok ? 3 : 4, n = 0;
	if (r->have_dsack && r->cfg.dsack) {
		bl[n][0] = r->ds_s;
		bl[n][1] = r->ds_e;
		n++;
		r->st.dsacks++;
	}
	r->have_dsack = 0;
	uint64_t below = UINT64_MAX;
	while (n < max) {
		/* the most recently touched range under the last one taken */
		uint64_t best = 0;
		int bi = -1;
		for (uint32_t k = 0; k < r->n_ooo; k++) {
			uint64_t t = r->ooo[k].touched;
			if (t < below && (bi < 0 || t > best)) {
				best = t;
				bi = (int)k;
			}
		}
		if (bi < 0)
			break;
		bl[n][0] = r->ooo[bi].s;
		bl[n][1] = r->ooo[bi].e;
		below = best;
		n++;
	}
	return n;
}

static void send_seg(struct rcv *r, uint32_t seq, uint8_t flags, const uint8_t *pay, uint32_t plen)
{
	uint8_t f[1600];
	uint8_t *th = f + 14 + 20;
	uint8_t *o = th + 20;
	size_t n = 0;
	int syn = !!(flags & F_SYN);
	if (syn) {
		if (r->cfg.mss) {
			o[n++] = 2;
			o[n++] = 4;
			cf_put16(o + n, r->cfg.mss);
			n += 2;
		}
		if (r->cfg.sack && r->cfg.ts) {
			o[n++] = 4;
			o[n++] = 2;
		} else if (r->cfg.sack) {
			o[n++] = 1;
			o[n++] = 1;
			o[n++] = 4;
			o[n++] = 2;
		} else if (r->cfg.ts) {
			o[n++] = 1;
			o[n++] = 1;
		}
		if (r->cfg.ts) {
			o[n++] = 8;
			o[n++] = 10;
			cf_put32(o + n, ts_now(r));
			cf_put32(o + n + 4, 0);
			n += 8;
		}
		if (r->cfg.ws >= 0) {
			o[n++] = 1;
			o[n++] = 3;
			o[n++] = 3;
			o[n++] = (uint8_t)r->cfg.ws;
		}
	} else {
		if (r->ts_ok) {
			o[n++] = 1;
			o[n++] = 1;
			o[n++] = 8;
			o[n++] = 10;
			cf_put32(o + n, ts_now(r));
			cf_put32(o + n + 4, r->ts_recent);
			n += 8;
		}
		uint64_t bl[4][2];
		uint32_t nb = r->sack_ok && (flags & F_ACK) ? sack_blocks(r, bl) : 0;
		if (nb) {
			o[n++] = 1;
			o[n++] = 1;
			o[n++] = 5;
			o[n++] = (uint8_t)(2 + 8 * nb);
			for (uint32_t k = 0; k < nb; k++) {
				cf_put32(o + n, r->irs + 1 + (uint32_t)bl[k][0]);
				cf_put32(o + n + 4, r->irs + 1 + (uint32_t)bl[k][1]);
				n += 8;
			}
			r->st.sack_blocks += nb;
		}
	}
	uint32_t ack = r->irs + 1 + (uint32_t)r->rcv_nxt + (uint32_t)r->got_fin;
	cf_put16(th, r->cfg.port);
	cf_put16(th + 2, r->cfg.srv_port);
	cf_put32(th + 4, seq);
	cf_put32(th + 8, (flags & F_ACK) ? ack : 0);
	th[12] = (uint8_t)(((20 + n) / 4) << 4);
	th[13] = flags;
	uint16_t w = wnd_field(r, syn);
	cf_put16(th + 14, w);
	cf_put16(th + 16, 0);
	cf_put16(th + 18, 0);
	if (plen)
		memcpy(th + 20 + n, pay, plen);
	if (flags & F_ACK) {
		uint64_t edge = r->rcv_nxt + ((uint64_t)w << (r->ws_ok ? r->rcv_shift : 0));
		if (edge > r->right_edge)
			r->right_edge = edge;
		r->last_ack_off = r->rcv_nxt;
		r->pending = 0;
		r->delack_at = UINT64_MAX;
		r->st.acks++;
	}
	emit_ip(r, f, (uint32_t)(20 + n + plen));
}

static void send_ack(struct rcv *r)
{
	send_seg(r, r->snd_nxt, F_ACK, NULL, 0);
}

/* An ARP request (op 1) or reply (op 2), padded to Ethernet's 60 bytes. */
static void send_arp(struct rcv *r, int op, const uint8_t *tha, uint32_t tpa)
{
	uint8_t f[60] = { 0 };
	cf_arp(f, (uint16_t)op, r->cfg.mac, r->cfg.ip, tha, tpa);
	r->cfg.send(r->cfg.arg, f, sizeof(f));
}

/* Our own data: the request, then the FIN once the server's is in. */
static void send_ours(struct rcv *r, int rtx)
{
	uint32_t iss1 = r->cfg.isn + 1;
	if (SEQ_LT(r->snd_una, iss1 + r->cfg.req_len)) {
		uint32_t off = r->snd_una - iss1;
		send_seg(r, r->snd_una, F_ACK | F_PSH, r->cfg.req + off, r->cfg.req_len - off);
		if (rtx)
			r->st.rtx++;
	}
	if (r->fin_sent && SEQ_LT(r->snd_una, r->snd_nxt)) {
		send_seg(r, iss1 + r->cfg.req_len, F_ACK | F_FIN, NULL, 0);
		if (rtx)
			r->st.rtx++;
	}
}

static void arm_rtx(struct rcv *r)
{
	r->rtx_at = r->now + (r->rto_ns << (r->rtx_count < 10 ? r->rtx_count : 10));
}

int rcv_init(struct rcv *r, const struct rcv_cfg *cfg, uint64_t now_ns)
{
	memset(r, 0, sizeof(*r));
	r->cfg = *cfg;
	if (!r->cfg.delack_ns)
		r->cfg.delack_ns = 40000000;
	if (!r->cfg.rto_min_ns)
		r->cfg.rto_min_ns = 200000000;
	if (!r->cfg.quickack)
		r->cfg.quickack = 16;
	r->ooo_cap = 64;
	r->ooo = malloc(r->ooo_cap * sizeof(*r->ooo));
	if (!r->ooo)
		return -ENOMEM;
	r->now = now_ns;
	r->state = RCV_ARP;
	r->delack_at = UINT64_MAX;
	r->rto_ns = 1000000000;
	send_arp(r, 1, NULL, r->cfg.srv_ip);
	arm_rtx(r);
	return 0;
}

void rcv_free(struct rcv *r)
{
	free(r->ooo);
	r->ooo = NULL;
}

static void send_syn(struct rcv *r)
{
	r->t_syn = r->t_syn ? r->t_syn : r->now;
	send_seg(r, r->cfg.isn, F_SYN, NULL, 0);
}

uint64_t rcv_deadline(const struct rcv *r)
{
	if (r->failed || r->state == RCV_DONE)
		return UINT64_MAX;
	uint64_t d = r->delack_at;
	int waiting =
		r->state == RCV_ARP || r->state == RCV_SYN_SENT || SEQ_LT(r->snd_una, r->snd_nxt);
	if (waiting && r->rtx_at < d)
		d = r->rtx_at;
	return d;
}

void rcv_timer(struct rcv *r, uint64_t now_ns)
{
	r->now = now_ns;
	if (r->failed)
		return;
	if (r->delack_at <= now_ns && r->state >= RCV_EST)
		send_ack(r);
	int waiting =
		r->state == RCV_ARP || r->state == RCV_SYN_SENT || SEQ_LT(r->snd_una, r->snd_nxt);
	if (!waiting || r->rtx_at > now_ns)
		return;
	r->rtx_count++;
	if (r->rtx_count > 12) {
		fail(r, "client: gave up after %u retransmissions (state %d)", r->rtx_count,
		     r->state);
		return;
	}
	switch (r->state) {
	case RCV_ARP: send_arp(r, 1, NULL, r->cfg.srv_ip); break;
	case RCV_SYN_SENT:
		send_syn(r);
		r->st.rtx++;
		break;
	default: send_ours(r, 1); break;
	}
	arm_rtx(r);
}

static void on_arp(struct rcv *r, const uint8_t *a, size_t len)
{
	if (len < 28 || get16(a) != 1 || get16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4) {
		fail(r, "client: malformed ARP from the server");
		return;
	}
	uint16_t op = get16(a + 6);
	uint32_t spa = get32(a + 14), tpa = get32(a + 24);
	if (spa != r->cfg.srv_ip || tpa != r->cfg.ip) {
		fail(r, "client: ARP with addresses %08x -> %08x", spa, tpa);
		return;
	}
	if (op == 1) {
		r->st.arp_answered++;
		send_arp(r, 2, a + 8, spa);
		return;
	}
	if (op != 2) {
		fail(r, "client: ARP operation %u", op);
		return;
	}
	if (memcmp(a + 18, r->cfg.mac, 6)) {
		fail(r, "client: ARP reply for another MAC");
		return;
	}
	if (r->state != RCV_ARP)
		return;
	memcpy(r->srv_mac, a + 8, 6);
	r->state = RCV_SYN_SENT;
	r->rtx_count = 0;
	send_syn(r);
	arm_rtx(r);
}

struct opts {
	int mss, ws, sack_ok, ts, nsack;
	uint32_t tsval, tsecr;
};

static int parse_opts(struct rcv *r, const uint8_t *p, size_t n, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mss = o->ws = -1;
	size_t i = 0;
	while (i < n) {
		if (p[i] == 0)
			break;
		if (p[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= n || p[i + 1] < 2 || i + p[i + 1] > n) {
			fail(r, "server: malformed TCP option %u", p[i]);
			return -1;
		}
		uint8_t k = p[i], l = p[i + 1];
		if (k == 2 && l == 4)
			o->mss = get16(p + i + 2);
		else if (k == 3 && l == 3)
			o->ws = p[i + 2];
		else if (k == 4 && l == 2)
			o->sack_ok = 1;
		else if (k == 8 && l == 10) {
			o->ts = 1;
			o->tsval = get32(p + i + 2);
			o->tsecr = get32(p + i + 6);
		} else if (k == 5)
			o->nsack++;
		else {
			fail(r, "server: unexpected option %u len %u", k, l);
			return -1;
		}
		i += l;
	}
	return 0;
}

static void on_synack(struct rcv *r, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
		      const struct opts *o)
{
	if (flags != (F_SYN | F_ACK) || ack != r->cfg.isn + 1) {
		fail(r, "server: flags %#x ack %u in SYN-ACK (isn %u)", flags, ack, r->cfg.isn);
		return;
	}
	if (o->mss < 0 || o->mss > r->cfg.mtu - 40) {
		fail(r, "server: SYN-ACK MSS %d (mtu %u)", o->mss, r->cfg.mtu);
		return;
	}
	if ((o->ws >= 0) != (r->cfg.ws >= 0) || o->ws > 14) {
		fail(r, "server: SYN-ACK window scale %d, ours %d", o->ws, r->cfg.ws);
		return;
	}
	if (o->sack_ok != !!r->cfg.sack || o->ts != !!r->cfg.ts) {
		fail(r, "server: SYN-ACK sack %d ts %d, offered %d %d", o->sack_ok, o->ts,
		     r->cfg.sack, r->cfg.ts);
		return;
	}
	if (o->ts && o->tsecr != ts_now(r) && SEQ_LT(ts_now(r), o->tsecr)) {
		fail(r, "server: SYN-ACK echoes a future timestamp");
		return;
	}
	(void)win;
	r->irs = seq;
	r->ws_ok = o->ws >= 0;
	r->rcv_shift = (uint8_t)(r->ws_ok ? r->cfg.ws : 0);
	r->sack_ok = o->sack_ok;
	r->ts_ok = o->ts;
	r->ts_recent = o->tsval;
	uint32_t mss = r->cfg.mss ? r->cfg.mss : 536;
	if ((uint32_t)o->mss < mss)
		mss = (uint32_t)o->mss;
	r->eff_mss = mss - (r->ts_ok ? 12 : 0);
	r->quick_left = r->cfg.quickack;
	uint32_t cap = r->cfg.rcvbuf / (2 * r->eff_mss);
	if (r->quick_left > cap)
		r->quick_left = cap;
	r->state = RCV_EST;
	r->t_est = r->now;
	/* RFC 6298 §2.1-ish: our RTO from the handshake's round trip */
	uint64_t rtt = r->now - r->t_syn;
	r->rto_ns = 3 * rtt > r->cfg.rto_min_ns ? 3 * rtt : r->cfg.rto_min_ns;
	r->snd_una = r->snd_nxt = r->cfg.isn + 1;
	r->rtx_count = 0;
	send_ack(r);
	r->snd_nxt += r->cfg.req_len;
	send_ours(r, 0);
	arm_rtx(r);
}

static void ooo_insert(struct rcv *r, uint64_t s, uint64_t e)
{
	uint32_t k = 0;
	while (k < r->n_ooo && r->ooo[k].e < s)
		k++;
	uint32_t j = k;
	while (j < r->n_ooo && r->ooo[j].s <= e) {
		if (r->ooo[j].s < s)
			s = r->ooo[j].s;
		if (r->ooo[j].e > e)
			e = r->ooo[j].e;
		j++;
	}
	if (j == k) {
		if (r->n_ooo == r->ooo_cap) {
			struct rcv_range *n = realloc(r->ooo, 2 * r->ooo_cap * sizeof(*n));
			if (!n) {
				fail(r, "client: out of memory");
				return;
			}
			r->ooo = n;
			r->ooo_cap *= 2;
		}
		memmove(&r->ooo[k + 1], &r->ooo[k], (r->n_ooo - k) * sizeof(*r->ooo));
		r->n_ooo++;
	} else if (j > k + 1) {
		memmove(&r->ooo[k + 1], &r->ooo[j], (r->n_ooo - j) * sizeof(*r->ooo));
		r->n_ooo -= j - k - 1;
	}
	r->ooo[k].s = s;
	r->ooo[k].e = e;
	r->ooo[k].touched = ++r->touch;
}

static int ooo_covers(const struct rcv *r, uint64_t s, uint64_t e)
{
	for (uint32_t k = 0; k < r->n_ooo; k++)
		if (r->ooo[k].s <= s && e <= r->ooo[k].e)
			return 1;
	return 0;
}

static void check_bytes(struct rcv *r, uint64_t off, const uint8_t *p, uint32_t len)
{
	uint32_t at = (uint32_t)(off % r->cfg.period);
	if (memcmp(p, r->cfg.pattern + at, len) == 0)
		return;
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != r->cfg.pattern[at + i]) {
			fail(r, "server: byte %llu is %#x, expected %#x",
			     (unsigned long long)(off + i), p[i], r->cfg.pattern[at + i]);
			return;
		}
}

static void on_data(struct rcv *r, uint32_t seq, uint8_t flags, const uint8_t *p, uint32_t len)
{
	/* the offset of seq in the server's stream, near rcv_nxt */
	int64_t rel = (int32_t)(seq - (r->irs + 1 + (uint32_t)r->rcv_nxt));
	int64_t soff = (int64_t)r->rcv_nxt + rel;
	if (soff < 0) {
		fail(r, "server: segment before the stream start (seq %u)", seq);
		return;
	}
	uint64_t off = (uint64_t)soff, end = off + len;
	if (len > r->eff_mss) {
		fail(r, "server: %u bytes in a segment, MSS %u", len, r->eff_mss);
		return;
	}
	if (end > r->cfg.size) {
		fail(r, "server: bytes %llu..%llu beyond the object's %llu",
		     (unsigned long long)off, (unsigned long long)end,
		     (unsigned long long)r->cfg.size);
		return;
	}
	if (len && end > r->right_edge) {
		fail(r, "server: bytes up to %llu beyond the window edge %llu",
		     (unsigned long long)end, (unsigned long long)r->right_edge);
		return;
	}
	if (flags & F_FIN) {
		if (end != r->cfg.size) {
			fail(r, "server: FIN at %llu, object is %llu bytes",
			     (unsigned long long)end, (unsigned long long)r->cfg.size);
			return;
		}
		r->fin_seen = 1;
	}
	if (len) {
		r->st.data_segs++;
		check_bytes(r, off, p, len);
		if (r->failed)
			return;
	}
	int now_ack = 0;
	if (len && end <= r->rcv_nxt) {
		r->st.dup_segs++;
		r->have_dsack = 1;
		r->ds_s = off;
		r->ds_e = end;
		now_ack = 1;
	} else if (len && off <= r->rcv_nxt) {
		if (!r->t_first)
			r->t_first = r->now;
		r->rcv_nxt = end;
		int filled = 0;
		while (r->n_ooo && r->ooo[0].s <= r->rcv_nxt) {
			if (r->ooo[0].e > r->rcv_nxt)
				r->rcv_nxt = r->ooo[0].e;
			memmove(&r->ooo[0], &r->ooo[1], (r->n_ooo - 1) * sizeof(*r->ooo));
			r->n_ooo--;
			filled = 1;
		}
		if (filled || r->n_ooo)
			now_ack = 1;
		r->pending++;
		if (r->quick_left) {
			r->quick_left--;
			now_ack = 1;
		}
		if (r->pending >= 2)
			now_ack = 1;
		if (r->rcv_nxt == r->cfg.size && !r->t_last)
			r->t_last = r->now;
	} else if (len) {
		r->st.ooo_segs++;
		if (ooo_covers(r, off, end)) {
			r->have_dsack = 1;
			r->ds_s = off;
			r->ds_e = end;
			r->st.dup_segs++;
		}
		ooo_insert(r, off, end);
		now_ack = 1;
	}
	if (r->fin_seen && !r->got_fin && r->rcv_nxt == r->cfg.size) {
		r->got_fin = 1;
		now_ack = 1;
		if (!r->t_last)
			r->t_last = r->now;
		send_ack(r);
		/* the request is long acknowledged (the data proves it);
		 * close our side */
		r->fin_sent = 1;
		r->snd_nxt = r->cfg.isn + 1 + r->cfg.req_len + 1;
		r->state = RCV_FIN_SENT;
		r->rtx_count = 0;
		send_ours(r, 0);
		arm_rtx(r);
		return;
	} else if ((flags & F_FIN) && r->got_fin) {
		now_ack = 1; /* a retransmitted FIN: our ACK was lost */
	}
	if (now_ack)
		send_ack(r);
	else if (len && r->delack_at == UINT64_MAX)
		r->delack_at = r->now + r->cfg.delack_ns;
}

void rcv_input(struct rcv *r, const uint8_t *f, size_t len, uint64_t now_ns)
{
	r->now = now_ns;
	if (r->failed)
		return;
	r->st.frames++;
	if (len < 14) {
		fail(r, "server: runt frame of %zu bytes", len);
		return;
	}
	if (memcmp(f, r->cfg.mac, 6) && memcmp(f, bcast, 6)) {
		fail(r, "server: frame for another MAC");
		return;
	}
	uint16_t type = get16(f + 12);
	if (type == 0x0806) {
		on_arp(r, f + 14, len - 14);
		return;
	}
	if (type != 0x0800 || memcmp(f, r->cfg.mac, 6)) {
		fail(r, "server: ethertype %#x", type);
		return;
	}
	if (r->state == RCV_ARP)
		return; /* a frame that overtook the ARP reply */
	if (memcmp(f + 6, r->srv_mac, 6)) {
		fail(r, "server: IPv4 from a MAC other than its ARP reply's");
		return;
	}
	const uint8_t *ip = f + 14;
	size_t iplen = len - 14;
	if (iplen < 20 || ip[0] != 0x45) {
		fail(r, "server: IPv4 version/IHL byte %#x", iplen ? ip[0] : 0);
		return;
	}
	uint16_t tot = get16(ip + 2);
	if (tot < 40 || tot > iplen || (iplen > 46 && tot != iplen) || tot > r->cfg.mtu) {
		fail(r, "server: IPv4 total length %u in %zu bytes (mtu %u)", tot, iplen,
		     r->cfg.mtu);
		return;
	}
	if (sum_fold(sum_add(0, ip, 20)) != 0xffff) {
		fail(r, "server: IPv4 header checksum");
		return;
	}
	if (ip[9] != 6 || (get16(ip + 6) & 0x3fff) || get32(ip + 12) != r->cfg.srv_ip ||
	    get32(ip + 16) != r->cfg.ip || !ip[8]) {
		fail(r, "server: IPv4 protocol, fragment, addresses or TTL");
		return;
	}
	const uint8_t *th = ip + 20;
	uint32_t tl = tot - 20u;
	if (sum_fold(sum_add(pseudo_sum(r->cfg.srv_ip, r->cfg.ip, (uint16_t)tl), th, tl)) !=
	    0xffff) {
		fail(r, "server: TCP checksum");
		return;
	}
	uint32_t doff = (uint32_t)(th[12] >> 4) * 4u;
	if (doff < 20 || doff > tl) {
		fail(r, "server: TCP data offset %u", doff);
		return;
	}
	if (get16(th) != r->cfg.srv_port || get16(th + 2) != r->cfg.port) {
		fail(r, "server: ports %u -> %u", get16(th), get16(th + 2));
		return;
	}
	uint32_t seq = get32(th + 4), ack = get32(th + 8);
	uint8_t flags = th[13] & 0x3f;
	uint16_t win = get16(th + 14);
	struct opts o;
	if (parse_opts(r, th + 20, doff - 20, &o) < 0)
		return;
	if (flags & F_RST) {
		fail(r, "server: RST (seq %u, state %d)", seq, r->state);
		return;
	}
	if (r->state == RCV_SYN_SENT) {
		on_synack(r, seq, ack, flags, win, &o);
		return;
	}
	if (!(flags & F_ACK)) {
		fail(r, "server: segment without ACK");
		return;
	}
	if (!(flags & F_SYN) && (o.mss >= 0 || o.ws >= 0 || o.sack_ok)) {
		fail(r, "server: SYN options outside a SYN");
		return;
	}
	if (o.nsack) {
		fail(r, "server: SACK blocks from a sender");
		return;
	}
	if (o.ts != r->ts_ok) {
		fail(r, "server: timestamps %s on a segment, negotiated %s", o.ts ? "on" : "off",
		     r->ts_ok ? "on" : "off");
		return;
	}
	if (o.ts && SEQ_LT(ts_now(r), o.tsecr)) {
		fail(r, "server: TSecr %u from the future (now %u)", o.tsecr, ts_now(r));
		return;
	}
	if (SEQ_LT(r->snd_nxt, ack)) {
		fail(r, "server: ACK %u beyond what we sent (%u)", ack, r->snd_nxt);
		return;
	}
	if (flags & F_SYN) {
		/* a duplicate SYN-ACK: say where we are */
		if (seq != r->irs)
			fail(r, "server: a second SYN-ACK with another ISN");
		else
			send_ack(r);
		return;
	}
	uint32_t plen = tl - doff;
	/* RFC 7323 §4.3: remember TSval of a segment covering the ACK point */
	if (o.ts && SEQ_LEQ(seq, r->irs + 1 + (uint32_t)r->last_ack_off + (uint32_t)r->got_fin) &&
	    !SEQ_LT(o.tsval, r->ts_recent))
		r->ts_recent = o.tsval;
	if (SEQ_LT(r->snd_una, ack)) {
		r->snd_una = ack;
		r->rtx_count = 0;
		if (SEQ_LT(r->snd_una, r->snd_nxt))
			arm_rtx(r);
	}
	if (r->state == RCV_FIN_SENT && r->snd_una == r->snd_nxt) {
		r->state = RCV_DONE;
		r->t_done = r->now;
	}
	if (plen || (flags & F_FIN))
		on_data(r, seq, flags, th + doff, plen);
}
