/*
 * fuzz_stack: libFuzzer target for the userspace TCP/IP stack
 * (dataplane/stack/): Ethernet, ARP, IPv4, ICMP and TCP input, with the
 * connection in whatever state the input drives it to.
 *
 * A blind fuzzer cannot guess a SYN cookie, so the harness first opens a
 * connection the way a client would (ARP request, SYN with the options
 * byte 0 picks, the final ACK for the cookie it got back), then reads
 * records: op (1 byte), length (2 bytes, little-endian), body.
 *   op % 6 == 0  a raw frame, as is;
 *   op % 6 == 1  a TCP segment from the client: the body is the TCP header
 *                and payload; ports are set to the connection's, the
 *                sequence and acknowledgment numbers read as offsets from
 *                where the client is (its next sequence number, the
 *                highest byte the server has sent), and the headers and
 *                checksums are made valid, so the fuzzer reaches TCP;
 *   op % 6 == 2  time passes: body[0..2) milliseconds, times 1 or 1000;
 *   op % 6 == 3  the application sends body[0..2) * 16 bytes;
 *   op % 6 == 4  the application closes (odd first byte: aborts);
 *   op % 6 == 5  a frame to the server's address with the body as the
 *                IPv4 payload and a valid IPv4 header (protocol body[0]).
 * stack_poll() runs after every record.
 *
 * Properties checked on everything the stack emits (a violation aborts):
 *  - every frame: header within STACK_HDR_MAX, slices within
 *    STACK_TX_SLICES and pointing into the application's buffer or the
 *    frame named by hold_rx; IPv4 and TCP checksums valid (no offload);
 *    IPv4 total length matching the frame; from our MAC and address;
 *  - events: DATA points into the frame being processed; ACKED cookies
 *    come back in the order they were sent, each once, never after the
 *    connection's CLOSED; the connection id of every event is one ACCEPT
 *    gave.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sim/client_frames.h"
#include "byteio.h"
#include "csum.h"
#include "stack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SRV_IP	 0x0a000001u
#define CLI_IP	 0x0a000002u
#define SRV_PORT 8080
#define CLI_PORT 40000
#define APPBUF	 (1u << 20)

static const uint8_t srv_mac[6] = { 0x02, 0, 0, 0, 0, 1 };
static const uint8_t cli_mac[6] = { 0x02, 0, 0, 0, 0, 2 };
static uint8_t *appbuf;

struct fz {
	struct stack *s;
	struct stack_tx tx[64];
	struct stack_ev ev[64];
	uint64_t now;
	const uint8_t *frame; /* the input being processed */
	size_t frame_len;
	uint64_t frame_handle;
	int conn; /* -1: none */
	int closed;
	uint64_t next_cookie, next_acked;
	uint32_t cli_nxt;  /* the client's next sequence number */
	uint32_t srv_high; /* highest sequence number + 1 the server sent */
	int srv_high_set;
	uint32_t app_off;
};

#define CHECK(c)                                                                            \
	do {                                                                                \
		if (!(c)) {                                                                 \
			fprintf(stderr, "fuzz_stack: %s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                            \
		}                                                                           \
	} while (0)

static int in_range(const uint8_t *p, uint32_t len, const uint8_t *base, size_t blen)
{
	return p >= base && p + len <= base + blen;
}

static void check_frame(struct fz *z, const struct stack_tx *t)
{
	CHECK(t->hdr_len >= 14 && t->hdr_len <= STACK_HDR_MAX);
	CHECK(t->n_pay <= STACK_TX_SLICES);
	CHECK(!memcmp(t->hdr + 6, srv_mac, 6));
	uint32_t sum = 0;
	for (uint32_t i = 0; i < t->n_pay; i++) {
		const struct stack_slice *sl = &t->pay[i];
		int app = in_range(sl->p, sl->len, appbuf, APPBUF);
		int rx = t->hold_rx && t->hold_rx == z->frame_handle &&
			 in_range(sl->p, sl->len, z->frame, z->frame_len);
		CHECK(app || rx);
		sum += sl->len;
	}
	CHECK(sum == t->pay_len);
	uint16_t type = byteio_be16(t->hdr + 12);
	if (type == 0x0806) {
		CHECK(t->hdr_len == 42 && !t->n_pay);
		return;
	}
	CHECK(type == 0x0800);
	const uint8_t *ip = t->hdr + 14;
	CHECK(t->hdr_len >= 34);
	struct csum c;
	csum_init(&c);
	csum_feed(&c, ip, 20);
	CHECK(csum_final(&c) == 0);
	CHECK(byteio_be16(ip + 2) == t->hdr_len - 14 + t->pay_len);
	CHECK(byteio_be32(ip + 12) == SRV_IP);
	if (ip[9] != 6)
		return;
	/* the TCP checksum over pseudo-header, header and slices */
	csum_init(&c);
	csum_feed(&c, ip + 12, 8);
	csum_add16(&c, 6);
	csum_add16(&c, (uint16_t)(t->hdr_len - 34 + t->pay_len));
	csum_feed(&c, t->hdr + 34, t->hdr_len - 34u);
	for (uint32_t i = 0; i < t->n_pay; i++)
		csum_feed(&c, t->pay[i].p, t->pay[i].len);
	CHECK(csum_final(&c) == 0);
	const uint8_t *th = t->hdr + 34;
	uint32_t seq = byteio_be32(th + 4);
	uint32_t end = seq + t->pay_len + !!(th[13] & 0x03);
	if (!z->srv_high_set || (int32_t)(end - z->srv_high) > 0) {
		z->srv_high = end;
		z->srv_high_set = 1;
	}
}

static void check_out(struct fz *z, struct stack_out *o)
{
	for (uint32_t i = 0; i < o->ntx; i++)
		check_frame(z, &o->tx[i]);
	for (uint32_t i = 0; i < o->nev; i++) {
		const struct stack_ev *e = &o->ev[i];
		switch (e->kind) {
		case STACK_EV_ACCEPT:
			CHECK(z->conn < 0 || z->closed);
			z->conn = (int)e->conn;
			z->closed = 0;
			z->next_cookie = z->next_acked = 0;
			break;
		case STACK_EV_DATA:
			CHECK(z->conn == (int)e->conn && !z->closed);
			CHECK(e->rx_handle == z->frame_handle);
			CHECK(e->len > 0 && in_range(e->data, e->len, z->frame, z->frame_len));
			break;
		case STACK_EV_PEER_FIN: CHECK(z->conn == (int)e->conn && !z->closed); break;
		case STACK_EV_ACKED:
			CHECK(z->conn == (int)e->conn && !z->closed);
			CHECK(e->cookie == z->next_acked);
			z->next_acked++;
			CHECK(z->next_acked <= z->next_cookie);
			break;
		case STACK_EV_CLOSED:
			CHECK(z->conn == (int)e->conn && !z->closed);
			CHECK(z->next_acked == z->next_cookie);
			z->closed = 1;
			break;
		default: CHECK(0);
		}
	}
	o->ntx = o->nev = 0;
}

static struct stack_out out_of(struct fz *z)
{
	return (struct stack_out){ .tx = z->tx, .txcap = 64, .ev = z->ev, .evcap = 64 };
}

static void feed(struct fz *z, const uint8_t *f, size_t len)
{
	static uint64_t handle = 1;
	struct stack_out o = out_of(z);
	/* a heap copy of exactly len bytes: a read past it is an ASan error */
	uint8_t *copy = malloc(len ? len : 1);
	CHECK(copy);
	memcpy(copy, f, len);
	z->frame = copy;
	z->frame_len = len;
	z->frame_handle = ++handle;
	stack_input(z->s, copy, len, 0, z->frame_handle, z->now, &o);
	check_out(z, &o);
	free(copy);
	z->frame = NULL;
	z->frame_len = 0;
	z->frame_handle = 0;
}

static void poll_once(struct fz *z)
{
	struct stack_out o = out_of(z);
	stack_poll(z->s, z->now, &o);
	check_out(z, &o);
}

/* An IPv4 frame from the client around payload p[0..len). */
static size_t ip_frame(uint8_t *f, uint8_t proto, const uint8_t *p, size_t len)
{
	const struct cf_ipv4 h = {
		.dst_mac = srv_mac,
		.src_mac = cli_mac,
		.src = CLI_IP,
		.dst = SRV_IP,
		.frag = 0x4000, /* DF */
		.proto = proto,
	};
	memcpy(cf_ipv4(f, &h, len), p, len);
	return CF_ETH_LEN + CF_IPV4_LEN + len;
}

/* A TCP segment from the client: hdr (>= 20 bytes, its data offset
 * trusted within len) with ports, seq, ack and checksum set. */
static void send_tcp(struct fz *z, uint8_t *seg, size_t len, uint32_t seq, uint32_t ack)
{
	byteio_put_be16(seg, CLI_PORT);
	byteio_put_be16(seg + 2, SRV_PORT);
	byteio_put_be32(seg + 4, seq);
	byteio_put_be32(seg + 8, ack);
	byteio_put_be16(seg + 16, 0);
	struct csum c;
	csum_init(&c);
	csum_add16(&c, CLI_IP >> 16);
	csum_add16(&c, CLI_IP & 0xffff);
	csum_add16(&c, SRV_IP >> 16);
	csum_add16(&c, SRV_IP & 0xffff);
	csum_add16(&c, 6);
	csum_add16(&c, (uint16_t)len);
	csum_feed(&c, seg, len);
	byteio_put_be16(seg + 16, csum_final(&c));
	static uint8_t f[14 + 20 + 65536];
	size_t n = ip_frame(f, 6, seg, len);
	feed(z, f, n);
}

static void handshake(struct fz *z, uint8_t opts)
{
	/* ARP: the client asks for the server, so the server learns it */
	uint8_t arp[CF_ARP_LEN];
	cf_arp(arp, 1, cli_mac, CLI_IP, NULL, SRV_IP);
	feed(z, arp, sizeof(arp));
	uint8_t syn[64] = { 0 };
	size_t ol = 0;
	uint8_t *o = syn + 20;
	if (opts & 1) { /* MSS */
		o[ol++] = 2;
		o[ol++] = 4;
		byteio_put_be16(o + ol, (uint16_t)(536 + (opts >> 4) * 100));
		ol += 2;
	}
	if (opts & 2) { /* SACK permitted */
		o[ol++] = 1;
		o[ol++] = 1;
		o[ol++] = 4;
		o[ol++] = 2;
	}
	if (opts & 4) { /* timestamps */
		o[ol++] = 1;
		o[ol++] = 1;
		o[ol++] = 8;
		o[ol++] = 10;
		byteio_put_be32(o + ol, 1000);
		byteio_put_be32(o + ol + 4, 0);
		ol += 8;
	}
	if (opts & 8) { /* window scale 7 */
		o[ol++] = 1;
		o[ol++] = 3;
		o[ol++] = 3;
		o[ol++] = 7;
	}
	syn[12] = (uint8_t)(((20 + ol) / 4) << 4);
	syn[13] = 0x02;
	byteio_put_be16(syn + 14, 65535);
	uint32_t isn = 0x12345678;
	z->srv_high_set = 0;
	send_tcp(z, syn, 20 + ol, isn, 0);
	if (!z->srv_high_set)
		return;
	/* the SYN-ACK's seq + 1 is what the final ACK acknowledges */
	uint8_t ack[32] = { 0 };
	size_t al = 20;
	if (opts & 4) {
		ack[20] = 1;
		ack[21] = 1;
		ack[22] = 8;
		ack[23] = 10;
		byteio_put_be32(ack + 24, 1001);
		al = 32;
	}
	ack[12] = (uint8_t)((al / 4) << 4);
	ack[13] = 0x10;
	byteio_put_be16(ack + 14, 65535);
	z->cli_nxt = isn + 1;
	send_tcp(z, ack, al, z->cli_nxt, z->srv_high);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!appbuf) {
		appbuf = malloc(APPBUF);
		CHECK(appbuf);
		for (uint32_t i = 0; i < APPBUF; i++)
			appbuf[i] = (uint8_t)(i * 131 + 7);
	}
	if (size < 1)
		return 0;
	struct stack_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.mac, srv_mac, 6);
	cfg.ip = SRV_IP;
	cfg.prefix = 24;
	cfg.tcp.max_conns = 4;
	cfg.tcp.max_timewait = 4;
	cfg.tcp.conn_sndbuf = 256 * 1024;
	memset(cfg.tcp.secret, 0x5a, sizeof(cfg.tcp.secret));
	struct fz z;
	memset(&z, 0, sizeof(z));
	z.conn = -1;
	z.now = 1000000;
	CHECK(stack_create(&cfg, &z.s, NULL) == 0);
	CHECK(stack_listen(z.s, SRV_PORT, 7) == 0);
	handshake(&z, data[0]);
	poll_once(&z);
	size_t i = 1;
	static uint8_t body[65536 + 64];
	while (i + 3 <= size) {
		uint8_t op = data[i];
		size_t len = byteio_le16(data + i + 1);
		i += 3;
		if (len > size - i)
			len = size - i;
		memcpy(body, data + i, len);
		i += len;
		switch (op % 6) {
		case 0: feed(&z, body, len); break;
		case 1: {
			if (len < 20)
				break;
			size_t doff = (size_t)(body[12] >> 4) * 4;
			if (doff < 20 || doff > len)
				body[12] = 0x50;
			uint32_t seq = z.cli_nxt + byteio_be32(body + 4);
			uint32_t ack = z.srv_high + byteio_be32(body + 8);
			send_tcp(&z, body, len, seq, ack);
			/* what the client sent in order moves it on */
			size_t pl = len - (size_t)(body[12] >> 4) * 4;
			if (byteio_be32(body + 4) == 0 && (body[13] & 0x04) == 0)
				z.cli_nxt += (uint32_t)pl + !!(body[13] & 0x01);
			break;
		}
		case 2: {
			uint32_t ms = len >= 2 ? byteio_le16(body) : 1;
			z.now += (uint64_t)ms * ((op & 0x80) ? 1000000u : 1000u);
			break;
		}
		case 3: {
			if (z.conn < 0 || z.closed)
				break;
			uint32_t n = (len >= 2 ? byteio_le16(body) : 100) * 16u;
			if (n > APPBUF / 2)
				n = APPBUF / 2;
			if (z.app_off + n > APPBUF)
				z.app_off = 0;
			struct iovec iov = { appbuf + z.app_off, n };
			if (stack_send(z.s, (uint32_t)z.conn, &iov, 1, z.next_cookie) == 0) {
				z.next_cookie++;
				z.app_off += n;
			}
			break;
		}
		case 4:
			if (z.conn < 0 || z.closed)
				break;
			if (len && (body[0] & 1))
				stack_abort(z.s, (uint32_t)z.conn);
			else
				stack_close(z.s, (uint32_t)z.conn);
			break;
		case 5: {
			static uint8_t f[14 + 20 + 65536];
			size_t n = ip_frame(f, len ? body[0] : 6, body, len);
			feed(&z, f, n);
			break;
		}
		}
		poll_once(&z);
	}
	/* let every timer run out: retransmissions, TIME-WAIT, give-ups */
	for (int k = 0; k < 40; k++) {
		z.now += 30000000;
		poll_once(&z);
	}
	stack_destroy(z.s);
	return 0;
}
