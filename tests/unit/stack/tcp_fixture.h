/*
 * The fixture of the TCP layer's unit tests (test_tcp.c, test_tcp_handshake.c,
 * test_tcp_recovery.c, test_tcp_close.c): each includes this file first, so
 * each test program gets its own copy. Not a test program itself.
 *
 * One stack (10.0.0.1/24, port 80 listening) and a client at 10.0.0.2 that
 * exists only as the bytes the tests write: every segment is a whole
 * Ethernet/IPv4/TCP frame built here (the Ethernet, IPv4 and ARP headers by
 * tests/sim/client_frames.h, which the simulator's client and the fuzz
 * harness share), in a heap block of exactly its length
 * (a read past it is an AddressSanitizer error), fed through stack_input()
 * and followed by stack_poll() in virtual time, as the worker loop does.
 * Every frame that comes out is flattened (header and payload slices) and
 * parsed here, apart from the stack's own code: Ethernet addresses, the
 * IPv4 header and its checksum, the TCP checksum over the pseudo-header,
 * the options (framed by the stack's tcp_opt_next, which test_tcp.c checks
 * against hand-written lists; what each option may be is checked here, and
 * a malformed list is a test failure), and the payload
 * against the bytes the test handed to stack_send(). Invariants every TCP
 * frame must keep are checked on the way (MSS, window scale and
 * SACK-permitted only on a SYN; timestamps on every non-RST segment of a
 * connection that negotiated them and on no other).
 *
 * The output of the last step (one input, one poll, or one timer step) is
 * in F.fr[0..F.nfr) and F.ev[0..F.nev); a step clears what the previous
 * one left. Event data points into the last input frame, which stays
 * alive until the next input.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "../../sim/client_frames.h"
#include "../testutil.h"
#include "stack.h"
#include "tcp_int.h"

#define MAYBE_UNUSED __attribute__((unused))

#define S_US  1000000ull
#define MS_US 1000ull

#define TF_SRV_IP   0x0a000001u /* 10.0.0.1 */
#define TF_CLI_IP   0x0a000002u /* 10.0.0.2 */
#define TF_CLI2_IP  0x0a000003u /* 10.0.0.3 */
#define TF_PORT	    80
#define TF_TAG	    7
#define TF_T0	    (1000 * S_US) /* virtual time starts here, not at 0 */
#define TF_MAXFR    256
#define TF_MAXEV    256
#define TF_FRAME    1600
#define TF_PAT	    (1u << 20)
#define TF_CONNS    8
#define TF_MSS_SRV  1460 /* ours: the MTU (1500) less 40 */
#define TF_WND	    65535
#define TF_TS_START 0x10000000u

static const uint8_t tf_srv_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t tf_cli_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* TCP options: what a test writes into a segment, or what a parsed one
 * held. mss and ws are -1 when absent. */
struct tf_opts {
	int mss, ws;
	int sackp, ts;
	uint32_t tsval, tsecr;
	int nsack;
	uint32_t sack[4][2];
};

#define TF_NO_OPTS ((struct tf_opts){ .mss = -1, .ws = -1 })

/* One frame the stack sent, flattened and parsed. */
struct tf_frame {
	uint64_t at;
	uint8_t raw[TF_FRAME];
	size_t len;
	uint64_t hold_rx;
	uint16_t ethertype;
	uint32_t ip_src, ip_dst;
	uint8_t ip_proto;
	const uint8_t *l4; /* into raw */
	size_t l4_len;
	/* TCP only */
	int is_tcp;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	struct tf_opts o;
	const uint8_t *pay;
	uint32_t plen;
};

/* The client's side of one connection. */
struct tf_conn {
	uint32_t ip;
	uint16_t port;
	uint32_t id; /* the server's connection id */
	uint32_t isn, srv_iss;
	uint32_t snd_nxt; /* the client's next sequence number */
	uint32_t rcv_nxt; /* what it acknowledges */
	uint16_t win;
	int ts, sack, ws;
	uint32_t tsval, ts_recent;
	uint32_t queued; /* bytes handed to stack_send(), from the pattern */
};

/* A segment to build. Zero fields take the defaults of tf_pkt_for() or
 * tf_pkt_raw(). */
struct tf_pkt {
	uint32_t src_ip, dst_ip;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	struct tf_opts o;
	const uint8_t *raw_opts; /* written instead of o when set */
	size_t raw_olen;
	int doff; /* data offset in words; 0: from the options; -1: 0 */
	const uint8_t *pay;
	size_t plen;
	size_t trunc; /* keep only this many TCP bytes (0: all) */
	int bad_ip_csum, bad_tcp_csum;
	uint32_t rx_flags;
	const uint8_t *dst_mac;
};

struct tf {
	struct stack *s;
	struct stack_config cfg;
	uint64_t now;
	uint64_t rx_handle;
	uint8_t *held; /* the last input frame */
	struct stack_tx tx[TF_MAXFR];
	struct stack_ev evb[TF_MAXEV];
	struct tf_frame fr[TF_MAXFR];
	uint32_t nfr;
	struct stack_ev ev[TF_MAXEV];
	uint32_t nev;
	struct tf_conn *conns[TF_CONNS];
	uint32_t nconns;
};

static struct tf F;
static uint8_t tf_pattern[TF_PAT];

/* ---- bytes ---- */

static MAYBE_UNUSED uint16_t tf_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static MAYBE_UNUSED uint32_t tf_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RFC 1071, written here rather than taken from csum.c. */
static MAYBE_UNUSED uint32_t tf_sum(uint32_t acc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	return acc;
}

static MAYBE_UNUSED uint16_t tf_fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* The ones' complement sum of the IPv4 pseudo-header and l4[0..n). */
static MAYBE_UNUSED uint16_t tf_l4_sum(uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4,
				       size_t n)
{
	uint32_t acc =
		(src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + (uint32_t)n;
	return tf_fold(tf_sum(acc, l4, n));
}

/* ---- building frames ---- */

/* Writes o as TCP options (each aligned with NOPs, the end padded with EOL
 * to a multiple of 4); returns the length. */
static MAYBE_UNUSED size_t tf_write_opts(uint8_t *b, const struct tf_opts *o)
{
	size_t n = 0;
	if (o->mss >= 0) {
		b[n++] = 2;
		b[n++] = 4;
		cf_put16(b + n, (uint16_t)o->mss);
		n += 2;
	}
	if (o->ws >= 0) {
		b[n++] = 1;
		b[n++] = 3;
		b[n++] = 3;
		b[n++] = (uint8_t)o->ws;
	}
	if (o->sackp) {
		b[n++] = 1;
		b[n++] = 1;
		b[n++] = 4;
		b[n++] = 2;
	}
	if (o->ts) {
		b[n++] = 1;
		b[n++] = 1;
		b[n++] = 8;
		b[n++] = 10;
		cf_put32(b + n, o->tsval);
		cf_put32(b + n + 4, o->tsecr);
		n += 8;
	}
	if (o->nsack) {
		b[n++] = 1;
		b[n++] = 1;
		b[n++] = 5;
		b[n++] = (uint8_t)(2 + 8 * o->nsack);
		for (int k = 0; k < o->nsack; k++) {
			cf_put32(b + n, o->sack[k][0]);
			cf_put32(b + n + 4, o->sack[k][1]);
			n += 8;
		}
	}
	while (n % 4)
		b[n++] = 0;
	return n;
}

/* Builds p as a frame in a heap block of exactly its length. */
static MAYBE_UNUSED uint8_t *tf_build(const struct tf_pkt *p, size_t *out_len)
{
	uint8_t opts[60];
	size_t olen = p->raw_opts ? p->raw_olen : tf_write_opts(opts, &p->o);
	if (p->raw_opts)
		memcpy(opts, p->raw_opts, olen);
	cr_assert(olen <= 40, "options of %zu bytes", olen);
	size_t tl = 20 + olen + p->plen;
	if (p->trunc)
		tl = p->trunc;
	uint8_t *tcp = calloc(1, 20 + olen + p->plen + 1);
	cr_assert_not_null(tcp);
	cf_put16(tcp, p->sport);
	cf_put16(tcp + 2, p->dport);
	cf_put32(tcp + 4, p->seq);
	cf_put32(tcp + 8, p->ack);
	tcp[12] = (uint8_t)((p->doff < 0 ? 0 : p->doff ? p->doff : (int)(20 + olen) / 4) << 4);
	tcp[13] = p->flags;
	cf_put16(tcp + 14, p->win);
	memcpy(tcp + 20, opts, olen);
	if (p->plen)
		memcpy(tcp + 20 + olen, p->pay, p->plen);
	if (tl >= 18) {
		uint16_t ck = (uint16_t)~tf_l4_sum(p->src_ip, p->dst_ip, 6, tcp, tl);
		if (p->bad_tcp_csum)
			ck ^= 0x0101;
		cf_put16(tcp + 16, ck);
	}
	size_t len = 14 + 20 + tl;
	uint8_t *f = malloc(len);
	cr_assert_not_null(f);
	const struct cf_ipv4 h = {
		.dst_mac = p->dst_mac ? p->dst_mac : tf_srv_mac,
		.src_mac = tf_cli_mac,
		.src = p->src_ip,
		.dst = p->dst_ip,
		.id = 0x1234,
		.frag = 0x4000, /* DF */
		.proto = 6,
	};
	memcpy(cf_ipv4(f, &h, tl), tcp, tl);
	free(tcp);
	if (p->bad_ip_csum) {
		f[14 + 10] ^= 0x01;
		f[14 + 11] ^= 0x01;
	}
	*out_len = len;
	return f;
}

/* ---- running the stack ---- */

static MAYBE_UNUSED struct tf_conn *tf_conn_of(uint32_t ip, uint16_t port)
{
	for (uint32_t i = 0; i < F.nconns; i++)
		if (F.conns[i]->ip == ip && F.conns[i]->port == port)
			return F.conns[i];
	return NULL;
}

/* Reads the options of a frame the stack sent, strictly: the framing is
 * the stack's own (tcp_opt_next), each kind's meaning is checked here. */
static void tf_parse_opts(const uint8_t *p, size_t n, int syn, struct tf_opts *o)
{
	*o = TF_NO_OPTS;
	struct tcp_opt opt;
	size_t at = 0;
	int rc;
	while ((rc = tcp_opt_next(p, n, &at, &opt)) > 0) {
		uint8_t len = opt.len;
		const uint8_t *v = opt.val;
		switch (opt.kind) {
		case 2:
			cr_assert(syn && len == 4, "MSS option (len %u) on a segment without SYN",
				  len);
			o->mss = tf_be16(v);
			break;
		case 3:
			cr_assert(syn && len == 3, "window scale option (len %u) without SYN", len);
			o->ws = v[0];
			break;
		case 4:
			cr_assert(syn && len == 2, "SACK-permitted option (len %u) without SYN",
				  len);
			o->sackp = 1;
			break;
		case 5:
			cr_assert(!syn && len >= 10 && (len - 2) % 8 == 0, "SACK option, len %u",
				  len);
			o->nsack = (len - 2) / 8;
			break;
		case 8:
			cr_assert_eq(len, 10, "timestamp option of length %u", len);
			o->ts = 1;
			o->tsval = tf_be32(v);
			o->tsecr = tf_be32(v + 4);
			break;
		default: cr_assert_fail("unexpected option kind %u", opt.kind);
		}
	}
	cr_assert_eq(rc, 0, "malformed options at byte %zu of %zu", at, n);
}

/* Flattens and checks one frame the stack appended. */
static void tf_take(const struct stack_tx *tx, struct tf_frame *fr)
{
	memset(fr, 0, sizeof(*fr));
	fr->at = F.now;
	fr->hold_rx = tx->hold_rx;
	size_t len = tx->hdr_len;
	cr_assert(len <= STACK_HDR_MAX && len >= 14, "header of %zu bytes", len);
	memcpy(fr->raw, tx->hdr, len);
	uint32_t pay = 0;
	for (uint32_t i = 0; i < tx->n_pay; i++) {
		cr_assert(len + tx->pay[i].len <= TF_FRAME, "frame over %d bytes", TF_FRAME);
		memcpy(fr->raw + len, tx->pay[i].p, tx->pay[i].len);
		len += tx->pay[i].len;
		pay += tx->pay[i].len;
	}
	cr_assert_eq(pay, tx->pay_len, "pay_len %u, slices %u", tx->pay_len, pay);
	fr->len = len;
	cr_assert_arr_eq(fr->raw + 6, tf_srv_mac, 6, "source MAC");
	fr->ethertype = tf_be16(fr->raw + 12);
	if (fr->ethertype != 0x0800)
		return;
	cr_assert_arr_eq(fr->raw, tf_cli_mac, 6, "destination MAC");
	const uint8_t *ip = fr->raw + 14;
	cr_assert_eq(ip[0], 0x45, "IPv4 version/IHL %02x", ip[0]);
	cr_assert_eq(tf_be16(ip + 2), len - 14, "IPv4 total length");
	cr_assert_eq(tf_fold(tf_sum(0, ip, 20)), 0xffff, "IPv4 header checksum");
	cr_assert(ip[8] > 0, "TTL 0");
	fr->ip_proto = ip[9];
	fr->ip_src = tf_be32(ip + 12);
	fr->ip_dst = tf_be32(ip + 16);
	cr_assert_eq(fr->ip_src, TF_SRV_IP, "IPv4 source %08x", fr->ip_src);
	fr->l4 = ip + 20;
	fr->l4_len = len - 34;
	if (fr->ip_proto != 6)
		return;
	const uint8_t *t = fr->l4;
	cr_assert(fr->l4_len >= 20, "TCP segment of %zu bytes", fr->l4_len);
	cr_assert_eq(tf_l4_sum(fr->ip_src, fr->ip_dst, 6, t, fr->l4_len), 0xffff, "TCP checksum");
	size_t doff = (size_t)(t[12] >> 4) * 4;
	cr_assert(doff >= 20 && doff <= fr->l4_len, "data offset %zu", doff);
	cr_assert_eq(t[12] & 0x0f, 0, "reserved bits");
	fr->is_tcp = 1;
	fr->sport = tf_be16(t);
	fr->dport = tf_be16(t + 2);
	fr->seq = tf_be32(t + 4);
	fr->ack = tf_be32(t + 8);
	fr->flags = t[13];
	fr->win = tf_be16(t + 14);
	cr_assert_eq(tf_be16(t + 18), 0, "urgent pointer");
	tf_parse_opts(t + 20, doff - 20, !!(fr->flags & TCP_SYN), &fr->o);
	fr->pay = t + doff;
	fr->plen = (uint32_t)(fr->l4_len - doff);
	struct tf_conn *c = tf_conn_of(fr->ip_dst, fr->dport);
	if (!c || (fr->flags & (TCP_SYN | TCP_RST)))
		return;
	/* a segment of an established connection */
	cr_assert_eq(fr->o.ts, c->ts, "timestamps on a connection with ts=%d", c->ts);
	if (c->ts)
		c->ts_recent = fr->o.tsval;
	if (fr->plen) {
		uint32_t off = fr->seq - c->srv_iss - 1;
		cr_assert(off + fr->plen <= c->queued, "bytes %u..%u were never queued", off,
			  off + fr->plen);
		cr_assert_arr_eq(fr->pay, tf_pattern + off, fr->plen, "payload at %u", off);
	}
}

static void tf_collect(struct stack_out *o)
{
	for (uint32_t i = 0; i < o->ntx; i++) {
		cr_assert(F.nfr < TF_MAXFR, "too many frames");
		tf_take(&o->tx[i], &F.fr[F.nfr++]);
	}
	for (uint32_t i = 0; i < o->nev; i++) {
		cr_assert(F.nev < TF_MAXEV, "too many events");
		F.ev[F.nev++] = o->ev[i];
	}
}

static MAYBE_UNUSED void tf_clear(void)
{
	F.nfr = F.nev = 0;
}

static struct stack_out tf_out(void)
{
	return (struct stack_out){ .tx = F.tx, .txcap = TF_MAXFR, .ev = F.evb, .evcap = TF_MAXEV };
}

/* One loop pass with no input: stack_poll() at F.now. */
static MAYBE_UNUSED void tf_poll(void)
{
	struct stack_out o = tf_out();
	tf_clear();
	stack_poll(F.s, F.now, &o);
	tf_collect(&o);
}

/* One received frame f[0..len) (taken: freed at the next input), then a
 * poll, at F.now. */
static MAYBE_UNUSED void tf_input_frame(uint8_t *f, size_t len, uint32_t rx_flags)
{
	free(F.held);
	F.held = f;
	struct stack_out o = tf_out();
	tf_clear();
	stack_input(F.s, f, len, rx_flags, ++F.rx_handle, F.now, &o);
	stack_poll(F.s, F.now, &o);
	tf_collect(&o);
}

static MAYBE_UNUSED void tf_input(const struct tf_pkt *p)
{
	size_t len;
	uint8_t *f = tf_build(p, &len);
	tf_input_frame(f, len, p->rx_flags);
}

/*
 * Polls at every deadline the stack reports, up to until, and returns 1 at
 * the first poll that produced frames or events (F.now is then that
 * time), or 0 with F.now = until. A deadline the wheel defers to its next
 * tick is polled again one tick later.
 */
static MAYBE_UNUSED int tf_step(uint64_t until)
{
	for (int guard = 0; guard < 1000000; guard++) {
		uint64_t d = stack_next_deadline(F.s);
		if (d > until)
			break;
		if (d > F.now)
			F.now = d;
		uint64_t before = F.now;
		tf_poll();
		if (F.nfr || F.nev)
			return 1;
		if (stack_next_deadline(F.s) <= before)
			F.now = before + TCP_WHEEL_TICK_US < until ? before + TCP_WHEEL_TICK_US
								   : until;
	}
	F.now = until;
	tf_poll();
	return F.nfr || F.nev;
}

/* ---- set-up ---- */

static MAYBE_UNUSED void tf_default_cfg(struct stack_config *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->mac, tf_srv_mac, 6);
	c->ip = TF_SRV_IP;
	c->prefix = 24;
	c->tcp.max_conns = 16;
	/* the client's address stays known however far a test moves the
	 * clock (ARP's own expiry is test_arp's business) */
	c->arp.ttl_us = 1000000 * S_US;
	for (int i = 0; i < 16; i++)
		c->tcp.secret[i] = (uint8_t)(0x5a + 3 * i);
}

/* An ARP request from ip (with the client's MAC) for our address. */
static MAYBE_UNUSED uint8_t *tf_arp_request(uint32_t ip, size_t *out_len)
{
	uint8_t *f = malloc(CF_ARP_LEN);
	cr_assert_not_null(f);
	cf_arp(f, 1, tf_cli_mac, ip, NULL, TF_SRV_IP);
	*out_len = CF_ARP_LEN;
	return f;
}

/* A stack made from cfg (NULL: the defaults), listening on TF_PORT, that
 * knows both client addresses (from their ARP requests). */
static MAYBE_UNUSED void tf_start(const struct stack_config *cfg)
{
	memset(&F, 0, sizeof(F));
	for (uint32_t i = 0; i < TF_PAT; i++)
		tf_pattern[i] = (uint8_t)(i * 131 + (i >> 9) + 17);
	if (cfg)
		F.cfg = *cfg;
	else
		tf_default_cfg(&F.cfg);
	struct seed_err err;
	seed_err_clear(&err);
	int rc = stack_create(&F.cfg, &F.s, &err);
	cr_assert_eq(rc, 0, "stack_create: %d %s", rc, err.msg);
	cr_assert_eq(stack_listen(F.s, TF_PORT, TF_TAG), 0);
	F.now = TF_T0;
	uint32_t ips[] = { TF_CLI_IP, TF_CLI2_IP };
	for (size_t i = 0; i < 2; i++) {
		size_t len;
		uint8_t *f = tf_arp_request(ips[i], &len);
		tf_input_frame(f, len, 0);
		cr_assert_eq(F.nfr, 1, "ARP reply");
	}
	tf_clear();
}

/* tf_start() with the defaults but field (of struct stack_config) set to
 * v: TF_START_WITH(tcp.conn_sndbuf, 10000). */
#define TF_START_WITH(field, v)              \
	do {                                 \
		struct stack_config tf_cfg_; \
		tf_default_cfg(&tf_cfg_);    \
		tf_cfg_.field = (v);         \
		tf_start(&tf_cfg_);          \
	} while (0)

static MAYBE_UNUSED void tf_stop(void)
{
	stack_destroy(F.s);
	F.s = NULL;
	free(F.held);
	F.held = NULL;
}

static MAYBE_UNUSED const struct tcp_stats *tf_st(void)
{
	return tcp_stats(stack_tcp(F.s));
}

static MAYBE_UNUSED struct tcp_conn_info tf_info(const struct tf_conn *c)
{
	struct tcp_conn_info i;
	int rc = tcp_conn_info(stack_tcp(F.s), c->id, &i);
	cr_assert_eq(rc, 0, "tcp_conn_info(%u): %d", c->id, rc);
	return i;
}

/* How many connection ids are in use. */
static MAYBE_UNUSED uint32_t tf_live_conns(void)
{
	struct tcp_conn_info i;
	uint32_t n = 0;
	for (uint32_t id = 0; id < F.cfg.tcp.max_conns; id++)
		n += tcp_conn_info(stack_tcp(F.s), id, &i) == 0;
	return n;
}

/* ---- what came out ---- */

static MAYBE_UNUSED uint32_t tf_ev_count(enum stack_ev_kind kind)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < F.nev; i++)
		n += F.ev[i].kind == kind;
	return n;
}

static MAYBE_UNUSED const struct stack_ev *tf_ev_find(enum stack_ev_kind kind)
{
	for (uint32_t i = 0; i < F.nev; i++)
		if (F.ev[i].kind == kind)
			return &F.ev[i];
	return NULL;
}

/* Nothing came out of the last step. */
static MAYBE_UNUSED void tf_expect_silence(const char *what)
{
	cr_expect_eq(F.nfr, 0, "%s: %u frames (first flags %02x seq %u)", what, F.nfr,
		     F.nfr ? F.fr[0].flags : 0, F.nfr ? F.fr[0].seq : 0);
	cr_expect_eq(F.nev, 0, "%s: %u events (first kind %d)", what, F.nev,
		     F.nev ? (int)F.ev[0].kind : 0);
}

/* The one frame of the last step, a TCP segment. */
static MAYBE_UNUSED const struct tf_frame *tf_one(const char *what)
{
	cr_assert_eq(F.nfr, 1, "%s: %u frames, want 1", what, F.nfr);
	cr_assert(F.fr[0].is_tcp, "%s: not TCP", what);
	return &F.fr[0];
}

/* A bare ACK from c's server end: seq snd_max, ack = c's snd_nxt. */
static MAYBE_UNUSED void tf_expect_ack(const struct tf_frame *fr, const struct tf_conn *c,
				       uint32_t seq, const char *what)
{
	cr_expect_eq(fr->flags, TCP_ACK, "%s: flags %02x", what, fr->flags);
	cr_expect_eq(fr->seq, seq, "%s: seq %u, want %u", what, fr->seq, seq);
	cr_expect_eq(fr->ack, c->snd_nxt, "%s: ack %u, want %u", what, fr->ack, c->snd_nxt);
	cr_expect_eq(fr->plen, 0, "%s: %u bytes of payload", what, fr->plen);
}

/* ---- the client ---- */

/* A segment from c with its defaults: next sequence number, ACK of what
 * it has, its window, its timestamp. */
static MAYBE_UNUSED struct tf_pkt tf_pkt_for(struct tf_conn *c)
{
	struct tf_pkt p = {
		.src_ip = c->ip,
		.dst_ip = TF_SRV_IP,
		.sport = c->port,
		.dport = TF_PORT,
		.seq = c->snd_nxt,
		.ack = c->rcv_nxt,
		.flags = TCP_ACK,
		.win = c->win,
		.o = TF_NO_OPTS,
	};
	if (c->ts) {
		p.o.ts = 1;
		p.o.tsval = ++c->tsval;
		p.o.tsecr = c->ts_recent;
	}
	return p;
}

/* A segment from the default client address to port 80 (no connection). */
static MAYBE_UNUSED struct tf_pkt tf_pkt_raw(uint16_t sport, uint32_t seq, uint32_t ack,
					     uint8_t flags)
{
	return (struct tf_pkt){
		.src_ip = TF_CLI_IP,
		.dst_ip = TF_SRV_IP,
		.sport = sport,
		.dport = TF_PORT,
		.seq = seq,
		.ack = ack,
		.flags = flags,
		.win = TF_WND,
		.o = TF_NO_OPTS,
	};
}

static MAYBE_UNUSED void tf_conn_init(struct tf_conn *c, uint32_t ip, uint16_t port, uint32_t isn)
{
	memset(c, 0, sizeof(*c));
	c->ip = ip;
	c->port = port;
	c->isn = isn;
	c->win = TF_WND;
	c->tsval = TF_TS_START;
	c->ws = -1;
	cr_assert(F.nconns < TF_CONNS);
	F.conns[F.nconns++] = c;
}

/* Sends c's SYN with options o; returns the one SYN-ACK. */
static MAYBE_UNUSED const struct tf_frame *tf_syn(struct tf_conn *c, const struct tf_opts *o)
{
	struct tf_pkt p = tf_pkt_raw(c->port, c->isn, 0, TCP_SYN);
	p.src_ip = c->ip;
	p.o = *o;
	if (o->ts)
		p.o.tsval = c->tsval;
	tf_input(&p);
	const struct tf_frame *fr = tf_one("SYN");
	cr_assert_eq(fr->flags, TCP_SYN | TCP_ACK, "SYN answered with flags %02x", fr->flags);
	cr_assert_eq(fr->ack, c->isn + 1, "SYN-ACK acks %u, want %u", fr->ack, c->isn + 1);
	c->srv_iss = fr->seq;
	c->ts = o->ts && fr->o.ts;
	c->sack = o->sackp && fr->o.sackp;
	c->ws = o->ws >= 0 && fr->o.ws >= 0 ? o->ws : -1;
	c->ts_recent = fr->o.tsval;
	return fr;
}

/* c's final ACK (with payload pay[0..plen)); expects ACCEPT. */
static MAYBE_UNUSED void tf_final_ack(struct tf_conn *c, const uint8_t *pay, size_t plen)
{
	c->snd_nxt = c->isn + 1;
	c->rcv_nxt = c->srv_iss + 1;
	struct tf_pkt p = tf_pkt_for(c);
	p.pay = pay;
	p.plen = plen;
	tf_input(&p);
	const struct stack_ev *ev = tf_ev_find(STACK_EV_ACCEPT);
	cr_assert_not_null(ev, "no ACCEPT for the final ACK (%u events, %u frames)", F.nev, F.nfr);
	cr_assert_eq(F.ev[0].kind, STACK_EV_ACCEPT, "ACCEPT is not the first event");
	cr_assert_eq(ev->tag, TF_TAG);
	cr_assert_eq(ev->peer.af, STACK_AF_INET);
	cr_assert_eq(ev->peer.port, c->port);
	cr_assert_eq(tf_be32(ev->peer.ip), c->ip);
	c->id = ev->conn;
	c->snd_nxt += (uint32_t)plen;
}

/* A connection from (ip, port) with the client's SYN options o. */
static MAYBE_UNUSED void tf_connect(struct tf_conn *c, uint32_t ip, uint16_t port,
				    const struct tf_opts *o)
{
	tf_conn_init(c, ip, port, 0x1000000u * port + 12345u);
	tf_syn(c, o);
	tf_final_ack(c, NULL, 0);
	cr_assert_eq(F.nfr, 0, "the final ACK was answered");
}

/* A plain connection: MSS 1460, no window scale, SACK or not, no
 * timestamps (smss 1460, so segment arithmetic stays simple). */
static MAYBE_UNUSED void tf_connect_plain(struct tf_conn *c, uint16_t port, int sack)
{
	struct tf_opts o = TF_NO_OPTS;
	o.mss = 1460;
	o.sackp = sack;
	tf_connect(c, TF_CLI_IP, port, &o);
}

/* Queues len more bytes of the pattern on c with cookie; returns
 * stack_send()'s result. */
static MAYBE_UNUSED int tf_queue(struct tf_conn *c, uint32_t len, uint64_t cookie)
{
	cr_assert(c->queued + len <= TF_PAT);
	struct iovec iov = { .iov_base = tf_pattern + c->queued, .iov_len = len };
	int rc = stack_send(F.s, c->id, &iov, 1, cookie);
	if (rc == 0)
		c->queued += len;
	return rc;
}

/* Queues len more bytes of the pattern on c, which must take them, and
 * polls: the segments they make are the step's output. */
static MAYBE_UNUSED void tf_queue_poll(struct tf_conn *c, uint32_t len, uint64_t cookie)
{
	int rc = tf_queue(c, len, cookie);
	cr_assert_eq(rc, 0, "stack_send of %u bytes (cookie %lu): %d", len, (unsigned long)cookie,
		     rc);
	tf_poll();
}

/* A stack with the defaults (tf_start(NULL)) and a plain connection on it
 * from (TF_CLI_IP, port). */
static MAYBE_UNUSED void tf_start_plain(struct tf_conn *c, uint16_t port)
{
	tf_start(NULL);
	tf_connect_plain(c, port, 0);
}

/* c sends flags and payload in sequence (and advances). */
static MAYBE_UNUSED void tf_send(struct tf_conn *c, uint8_t flags, const uint8_t *pay, size_t plen)
{
	struct tf_pkt p = tf_pkt_for(c);
	p.flags = flags;
	p.pay = pay;
	p.plen = plen;
	c->snd_nxt += (uint32_t)plen + !!(flags & TCP_FIN) + !!(flags & TCP_SYN);
	tf_input(&p);
}

/* c acknowledges server sequence number ack (window c->win). */
static MAYBE_UNUSED void tf_ack(struct tf_conn *c, uint32_t ack)
{
	c->rcv_nxt = ack;
	struct tf_pkt p = tf_pkt_for(c);
	tf_input(&p);
}

/* The server sequence number of stream offset off on c. */
static MAYBE_UNUSED uint32_t tf_sseq(const struct tf_conn *c, uint32_t off)
{
	return c->srv_iss + 1 + off;
}

/* The data segments of the last step, counted. */
static MAYBE_UNUSED uint32_t tf_data_frames(void)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < F.nfr; i++)
		n += F.fr[i].is_tcp && F.fr[i].plen > 0;
	return n;
}
