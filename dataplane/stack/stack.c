/*
 * stack: the layers tied together (see stack.h). Input walks down the
 * headers and hands each protocol its part; output is finished here in one
 * place: whatever TCP or ICMP appended gets its IPv4 and Ethernet headers
 * and checksums in finish_tx(), so the routing, ARP and checksum rules
 * exist once.
 */
#include "stack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "byteio.h"
#include "csum.h"
#include "eth.h"
#include "icmp.h"
#include "ipv4.h"
#include "siphash.h"

/* Frames without payload (a SYN-ACK, an ACK, a RST) whose next hop is not
 * resolved yet wait here for the ARP reply, briefly: else the first
 * SYN-ACK to a client we have not heard ARP from is lost and the client
 * waits a second to send its SYN again. Frames with payload are not held:
 * TCP sends them again, and they point into memory the application may
 * get back (ACKED) before the reply comes. */
#define STACK_HOLD    8
#define STACK_HOLD_US 1000000

struct held {
	struct stack_tx tx;
	uint32_t hop;
	uint64_t until;
};

struct stack {
	struct held held[STACK_HOLD];
	uint32_t n_held;
	struct stack_config cfg;
	struct stack_stats st;
	struct tcp *tcp;
	struct arp *arp;
	uint16_t ip_id;
	uint64_t now;
};

int stack_create(const struct stack_config *cfg, struct stack **out, struct seed_err *err)
{
	if (!cfg->ip || ipv4_is_martian(cfg->ip))
		return seed_err_set(err, -EINVAL,
				    "stack: the port's address is not a unicast address");
	if (cfg->prefix < 1 || cfg->prefix > 32)
		return seed_err_set(err, -EINVAL, "stack: prefix /%u is outside 1..32",
				    cfg->prefix);
	if (cfg->gateway && !ipv4_same_subnet(cfg->ip, cfg->gateway, cfg->prefix))
		return seed_err_set(err, -EINVAL, "stack: the gateway is not on the port's subnet");
	if (eth_is_broadcast(cfg->mac) || (cfg->mac[0] & 1))
		return seed_err_set(err, -EINVAL, "stack: the port's MAC address is multicast");
	struct stack *s = calloc(1, sizeof(*s));
	if (!s)
		return seed_err_set(err, -ENOMEM, "stack: out of memory");
	s->cfg = *cfg;
	if (!s->cfg.mtu)
		s->cfg.mtu = 1500;
	s->cfg.tcp.mtu = s->cfg.mtu;
	s->cfg.tcp.hdr_off = ETH_HDR_LEN + IPV4_HDR_LEN;
	if (!s->cfg.arp.hash_key)
		s->cfg.arp.hash_key = siphash24(s->cfg.tcp.secret, "arp", 3);
	int rc = tcp_create(&s->cfg.tcp, &s->tcp, err);
	if (rc < 0) {
		free(s);
		return rc;
	}
	rc = arp_create(&s->cfg.arp, &s->arp);
	if (rc < 0) {
		tcp_destroy(s->tcp);
		free(s);
		return seed_err_set(err, rc, "stack: out of memory for the ARP cache");
	}
	*out = s;
	return 0;
}

void stack_destroy(struct stack *s)
{
	if (!s)
		return;
	tcp_destroy(s->tcp);
	arp_destroy(s->arp);
	free(s);
}

int stack_listen(struct stack *s, uint16_t port, uint32_t tag)
{
	return tcp_listen(s->tcp, port, tag);
}

void stack_stop_listening(struct stack *s)
{
	tcp_stop_listening(s->tcp);
}

int stack_send(struct stack *s, uint32_t conn, const struct iovec *iov, int n, uint64_t cookie)
{
	return tcp_send(s->tcp, conn, iov, n, cookie);
}

void stack_close(struct stack *s, uint32_t conn)
{
	tcp_close(s->tcp, conn);
}

void stack_abort(struct stack *s, uint32_t conn)
{
	tcp_abort(s->tcp, conn);
}

uint64_t stack_next_deadline(const struct stack *s)
{
	return tcp_next_deadline(s->tcp);
}

const struct stack_stats *stack_stats(const struct stack *s)
{
	return &s->st;
}

struct tcp *stack_tcp(struct stack *s)
{
	return s->tcp;
}

const struct arp *stack_arp(const struct stack *s)
{
	return s->arp;
}

static uint32_t v4(const struct stack_addr *a)
{
	return byteio_be32(a->ip);
}

static void set_v4(struct stack_addr *a, uint32_t ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->af = STACK_AF_INET;
	a->port = port;
	byteio_put_be32(a->ip, ip);
}

/* ---- output ---- */

/* Appends a whole Ethernet frame f[0..n) (ARP). */
static void append_l2(struct stack *s, struct stack_out *out, const uint8_t *f, size_t n)
{
	struct stack_tx *tx = stack_out_tx(out);
	if (!tx) {
		s->st.tx_full++;
		return;
	}
	memset(tx, 0, offsetof(struct stack_tx, pay));
	memcpy(tx->hdr, f, n);
	tx->hdr_len = (uint16_t)n;
	tx->l2_len = ETH_HDR_LEN;
	out->ntx++;
	s->st.tx_frames++;
}

static void hold(struct stack *s, const struct stack_tx *tx, uint32_t hop)
{
	if (s->n_held == STACK_HOLD) {
		/* full: the oldest goes */
		memmove(&s->held[0], &s->held[1], (STACK_HOLD - 1) * sizeof(s->held[0]));
		s->n_held--;
		s->st.tx_no_route++;
	}
	uint32_t k = s->n_held++;
	s->held[k].tx = *tx;
	s->held[k].hop = hop;
	s->held[k].until = s->now + STACK_HOLD_US;
	s->st.tx_held++;
}

static void tx_checksums(const struct stack *s, struct stack_tx *tx)
{
	uint8_t *ip = tx->hdr + ETH_HDR_LEN;
	uint8_t *l4 = ip + IPV4_HDR_LEN;
	uint32_t l4_total = tx->l4_len + tx->pay_len;
	struct csum c;
	csum_init(&c);
	ipv4_pseudo_sum(&c, v4(&tx->src), v4(&tx->dst), tx->l4_proto, (uint16_t)l4_total);
	if (s->cfg.tx_csum_offload) {
		byteio_put_be16(l4 + 16, csum_sum(&c));
		tx->ol_flags = STACK_TX_OL_IPV4_CSUM | STACK_TX_OL_TCP_CSUM;
		return;
	}
	csum_feed(&c, l4, tx->l4_len);
	for (uint32_t i = 0; i < tx->n_pay; i++)
		csum_feed(&c, tx->pay[i].p, tx->pay[i].len);
	byteio_put_be16(l4 + 16, csum_final(&c));
}

/*
 * Frames [from, out->ntx) were made by TCP or ICMP with their L4 header at
 * hdr + 34: route each, write IPv4 and Ethernet, checksum. Those whose
 * next hop is unresolved are dropped (and a request goes out instead).
 */
static void finish_tx(struct stack *s, struct stack_out *out, uint32_t from)
{
	uint32_t keep = from, n = out->ntx;
	uint8_t reqs[4][ARP_FRAME_LEN], spare[ARP_FRAME_LEN];
	uint32_t n_req = 0;
	for (uint32_t i = from; i < n; i++) {
		struct stack_tx *tx = &out->tx[i];
		uint32_t dst = v4(&tx->dst);
		uint32_t hop = ipv4_same_subnet(dst, s->cfg.ip, s->cfg.prefix) || !s->cfg.gateway
				       ? dst
				       : s->cfg.gateway;
		uint8_t mac[ETH_ADDR_LEN];
		size_t reqn = 0;
		if (arp_resolve(s->arp, hop, s->cfg.ip, s->cfg.mac, s->now, mac,
				n_req < 4 ? reqs[n_req] : spare, &reqn) < 0) {
			if (!tx->n_pay)
				hold(s, tx, hop);
			else
				s->st.tx_no_route++;
			if (reqn && n_req < 4)
				n_req++;
			continue;
		}
		uint32_t total = IPV4_HDR_LEN + tx->l4_len + tx->pay_len;
		eth_build(tx->hdr, mac, s->cfg.mac, ETH_TYPE_IPV4);
		ipv4_build(tx->hdr + ETH_HDR_LEN, v4(&tx->src), dst, tx->l4_proto, (uint16_t)total,
			   s->ip_id++, !s->cfg.tx_csum_offload);
		tx->l2_len = ETH_HDR_LEN;
		tx->l3_len = IPV4_HDR_LEN;
		if (tx->l4_proto == IPV4_PROTO_TCP)
			tx_checksums(s, tx);
		s->st.tx_frames++;
		s->st.tx_bytes += tx->hdr_len + tx->pay_len;
		if (keep != i)
			out->tx[keep] = *tx;
		keep++;
	}
	out->ntx = keep;
	/* the requests take the place of what they dropped, so room exists */
	for (uint32_t k = 0; k < n_req; k++)
		append_l2(s, out, reqs[k], ARP_FRAME_LEN);
}

/* After ARP input: held frames whose next hop is known now go out;
 * expired ones are dropped. */
static void release_held(struct stack *s, struct stack_out *out)
{
	uint32_t from = out->ntx, kept = 0, n_req = 0;
	uint8_t reqs[STACK_HOLD][ARP_FRAME_LEN];
	for (uint32_t k = 0; k < s->n_held; k++) {
		struct held *h = &s->held[k];
		uint8_t mac[ETH_ADDR_LEN];
		size_t reqn = 0;
		if (s->now >= h->until) {
			s->st.tx_no_route++;
			continue;
		}
		if (arp_resolve(s->arp, h->hop, s->cfg.ip, s->cfg.mac, s->now, mac, reqs[n_req],
				&reqn) == 0 &&
		    out->ntx < out->txcap) {
			out->tx[out->ntx++] = h->tx;
			continue;
		}
		n_req += reqn != 0;
		s->held[kept++] = *h;
	}
	s->n_held = kept;
	/* the moved frames resolve now; requests go after them */
	finish_tx(s, out, from);
	for (uint32_t k = 0; k < n_req; k++)
		append_l2(s, out, reqs[k], ARP_FRAME_LEN);
}

/* ---- input ---- */

static void on_arp(struct stack *s, const struct eth_view *e, struct stack_out *out)
{
	uint8_t reply[ARP_FRAME_LEN];
	int n = arp_input(s->arp, e->payload, e->len, s->cfg.ip, s->cfg.mac, s->now, reply);
	if (n < 0) {
		s->st.arp_bad++;
		return;
	}
	if (n) {
		append_l2(s, out, reply, (size_t)n);
		s->st.arp_replies++;
	}
	if (s->n_held)
		release_held(s, out);
}

static void on_icmp(struct stack *s, const struct ipv4_view *ip, int verify, uint64_t rx_handle,
		    struct stack_out *out)
{
	struct icmp_view v;
	if (icmp_parse(ip->payload, ip->len, verify, &v) < 0) {
		s->st.icmp_bad++;
		return;
	}
	if (v.type == ICMP_DEST_UNREACH && v.code == ICMP_FRAG_NEEDED) {
		s->st.icmp_frag_needed++;
		/* the quoted header is one we sent: IPv4 (us -> them), then
		 * our port, theirs and the sequence number */
		const uint8_t *q = v.quoted;
		size_t qhl = q ? (size_t)(q[0] & 0x0f) * 4 : 0;
		if (!q || (q[0] >> 4) != 4 || qhl < IPV4_HDR_LEN || qhl + 8 > v.quoted_len ||
		    q[9] != IPV4_PROTO_TCP || byteio_be32(q + 12) != s->cfg.ip)
			return;
		const uint8_t *th = q + qhl;
		struct stack_addr l, r;
		set_v4(&l, byteio_be32(q + 12), byteio_be16(th));
		set_v4(&r, byteio_be32(q + 16), byteio_be16(th + 2));
		tcp_icmp_mtu(s->tcp, &l, &r, byteio_be32(th + 4), v.next_mtu);
		return;
	}
	if (v.type != ICMP_ECHO_REQUEST || v.code != 0) {
		s->st.icmp_other++;
		return;
	}
	struct stack_tx *tx = stack_out_tx(out);
	if (!tx) {
		s->st.tx_full++;
		return;
	}
	memset(tx, 0, offsetof(struct stack_tx, pay));
	uint32_t from = out->ntx;
	size_t hl = icmp_echo_reply_hdr(tx->hdr + ETH_HDR_LEN + IPV4_HDR_LEN, ip->payload, ip->len);
	tx->l4_len = (uint8_t)hl;
	tx->hdr_len = (uint16_t)(ETH_HDR_LEN + IPV4_HDR_LEN + hl);
	if (ip->len > ICMP_HDR_LEN) {
		tx->pay[0].p = ip->payload + ICMP_HDR_LEN;
		tx->pay[0].len = (uint32_t)(ip->len - ICMP_HDR_LEN);
		tx->n_pay = 1;
		tx->pay_len = tx->pay[0].len;
		tx->hold_rx = rx_handle;
	}
	set_v4(&tx->src, s->cfg.ip, 0);
	set_v4(&tx->dst, ip->src, 0);
	tx->l4_proto = IPV4_PROTO_ICMP;
	out->ntx++;
	s->st.icmp_echo++;
	finish_tx(s, out, from);
}

static void on_tcp(struct stack *s, const struct ipv4_view *ip, int verify, uint64_t rx_handle,
		   struct stack_out *out)
{
	if (verify) {
		struct csum c;
		csum_init(&c);
		ipv4_pseudo_sum(&c, ip->src, ip->dst, IPV4_PROTO_TCP, (uint16_t)ip->len);
		csum_feed(&c, ip->payload, ip->len);
		if (csum_final(&c) != 0) {
			s->st.tcp_csum++;
			return;
		}
	}
	struct tcp_seg_in in = { .p = ip->payload, .len = ip->len, .rx_handle = rx_handle };
	set_v4(&in.src, ip->src, 0);
	set_v4(&in.dst, ip->dst, 0);
	uint32_t from = out->ntx;
	tcp_input(s->tcp, &in, s->now, out);
	finish_tx(s, out, from);
}

void stack_input(struct stack *s, const uint8_t *f, size_t len, uint32_t rx_flags,
		 uint64_t rx_handle, uint64_t now_us, struct stack_out *out)
{
	s->now = now_us;
	s->st.rx_frames++;
	s->st.rx_bytes += len;
	struct eth_view e;
	int rc = eth_parse(f, len, &e);
	if (rc < 0) {
		if (rc == -EPROTONOSUPPORT)
			s->st.eth_vlan++;
		else
			s->st.eth_bad++;
		return;
	}
	if (!eth_is_for(e.dst, s->cfg.mac)) {
		s->st.eth_not_for_us++;
		return;
	}
	if (e.type == ETH_TYPE_ARP) {
		on_arp(s, &e, out);
		return;
	}
	if (e.type != ETH_TYPE_IPV4) {
		s->st.eth_other_type++;
		return;
	}
	int verify = !(rx_flags & STACK_RX_CSUM_OK);
	struct ipv4_view ip;
	rc = ipv4_parse(e.payload, e.len, verify, &ip);
	if (rc < 0) {
		if (rc == -EILSEQ)
			s->st.ip_csum++;
		else if (rc == -EMSGSIZE)
			s->st.ip_frag++;
		else
			s->st.ip_bad++;
		return;
	}
	if (ip.dst != s->cfg.ip) {
		s->st.ip_not_for_us++;
		return;
	}
	if (ipv4_is_martian(ip.src) || ip.src == s->cfg.ip) {
		s->st.ip_martian++;
		return;
	}
	switch (ip.proto) {
	case IPV4_PROTO_TCP: on_tcp(s, &ip, verify, rx_handle, out); break;
	case IPV4_PROTO_ICMP: on_icmp(s, &ip, verify, rx_handle, out); break;
	case IPV4_PROTO_UDP: s->st.udp++; break;
	default: s->st.ip_other_proto++; break;
	}
}

void stack_poll(struct stack *s, uint64_t now_us, struct stack_out *out)
{
	s->now = now_us;
	uint32_t from = out->ntx;
	tcp_poll(s->tcp, now_us, out);
	finish_tx(s, out, from);
}
