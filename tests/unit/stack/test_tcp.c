/*
 * Unit tests for dataplane/stack/tcp*.c and stack.c through stack_input()
 * and stack_poll(), with crafted frames (tcp_fixture.h): malformed and
 * truncated TCP headers and bad checksums (dropped, counted, and accepted
 * when the NIC vouches for the checksums); segments for a port with no
 * listener and SYN-ACKs to a listener (RST by RFC 9293 §3.10.7.1's rules);
 * tcp_send()'s caps and the ACKED events (in order, each once); ICMP echo,
 * ARP and frames for another address (the glue). Handshakes, recovery and
 * closing have their own files.
 */
#include "tcp_fixture.h"

TestSuite(tcp, .fini = tf_stop);

/* ---- malformed segments ---- */

struct bad_seg {
	const char *name;
	uint8_t flags;
	int zero_sport, zero_dport;
	int doff;
	size_t trunc;
	uint8_t opts[8];
	size_t olen;
};

/* Each case is a segment that must not be answered, reported, or reach a
 * listener: tcp_stats.malformed counts it. Checksums are correct (a NIC
 * flag vouches for them where a truncated header has no checksum field). */
static void expect_malformed(const struct bad_seg *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct bad_seg *b = &cases[i];
		struct tf_pkt p = tf_pkt_raw(b->zero_sport ? 0 : 40000, 1000, 0, b->flags);
		if (b->zero_dport)
			p.dport = 0;
		p.doff = b->doff;
		p.trunc = b->trunc;
		if (b->olen) {
			p.raw_opts = b->opts;
			p.raw_olen = b->olen;
		}
		p.rx_flags = b->trunc && b->trunc < 18 ? STACK_RX_CSUM_OK : 0;
		uint64_t before = tf_st()->malformed, csum = stack_stats(F.s)->tcp_csum;
		tf_input(&p);
		tf_expect_silence(b->name);
		cr_expect_eq(tf_st()->malformed, before + 1, "%s: malformed %lu -> %lu", b->name,
			     (unsigned long)before, (unsigned long)tf_st()->malformed);
		cr_expect_eq(stack_stats(F.s)->tcp_csum, csum, "%s: checksum failed", b->name);
		cr_expect_eq(tf_st()->synack_out, 0, "%s", b->name);
	}
}

Test(tcp, malformed_headers_are_dropped_and_counted)
{
	tf_start(NULL);
	TU_TABLE(expect_malformed, struct bad_seg,
		 { .name = "no header", .flags = TCP_SYN, .trunc = 1 },
		 { .name = "12 bytes", .flags = TCP_SYN, .trunc = 12 },
		 { .name = "19 bytes", .flags = TCP_SYN, .trunc = 19 },
		 { .name = "data offset 4", .flags = TCP_SYN, .doff = 4 },
		 { .name = "data offset 0", .flags = TCP_ACK, .doff = -1 },
		 { .name = "data offset past the segment", .flags = TCP_SYN, .doff = 6 },
		 { .name = "data offset 15 of 20 bytes", .flags = TCP_SYN, .doff = 15 },
		 { .name = "SYN+FIN", .flags = TCP_SYN | TCP_FIN },
		 { .name = "SYN+RST", .flags = TCP_SYN | TCP_RST },
		 { .name = "SYN+RST+ACK", .flags = TCP_SYN | TCP_RST | TCP_ACK },
		 { .name = "source port 0", .flags = TCP_SYN, .zero_sport = 1 },
		 { .name = "source port 0, ACK", .flags = TCP_ACK, .zero_sport = 1 },
		 { .name = "destination port 0", .flags = TCP_SYN, .zero_dport = 1 },
		 { .name = "destination port 0, ACK", .flags = TCP_ACK, .zero_dport = 1 });
}

struct bad_opts {
	const char *name;
	uint8_t opts[12];
	size_t olen;
	int ws; /* the SYN-ACK's window scale (ours, 0), or -1: the client's was parsed or not */
};

/* A SYN whose option list goes wrong part way: counted as malformed; what
 * was parsed before the fault stands and the SYN is answered (RFC 9293
 * §3.1 lets a receiver ignore a bad option list rather than reset). */
static void expect_bad_options(const struct bad_opts *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct bad_opts *b = &cases[i];
		struct tf_pkt p = tf_pkt_raw((uint16_t)(41000 + i), 5000, 0, TCP_SYN);
		p.raw_opts = b->opts;
		p.raw_olen = b->olen;
		uint64_t before = tf_st()->malformed;
		tf_input(&p);
		cr_expect_eq(tf_st()->malformed, before + 1, "%s", b->name);
		const struct tf_frame *fr = tf_one(b->name);
		cr_expect_eq(fr->flags, TCP_SYN | TCP_ACK, "%s", b->name);
		cr_expect_eq(fr->o.ws, b->ws, "%s: window scale %d", b->name, fr->o.ws);
		cr_expect_eq(fr->o.sackp, 0, "%s: SACK-permitted after the fault", b->name);
	}
}

Test(tcp, bad_option_lengths_are_counted)
{
	tf_start(NULL);
	TU_TABLE(expect_bad_options, struct bad_opts,
		 { "length 0", { 1, 3, 3, 5, 2, 0, 4, 2 }, 8, 0 },
		 { "length 1", { 1, 3, 3, 5, 8, 1, 4, 2 }, 8, 0 },
		 { "length past the header", { 1, 3, 3, 5, 8, 10, 4, 2 }, 8, 0 },
		 { "kind without length", { 1, 3, 3, 5, 1, 1, 1, 8 }, 8, 0 },
		 { "first option bad", { 2, 0, 1, 1, 1, 3, 3, 5 }, 8, -1 });
}

/* tcp_opt_next frames the list the way RFC 9293 §3.1 lays it out: NOPs
 * are passed, EOL ends it, each option is (kind, length, value); nothing
 * here comes from the stack's own writer. */
Test(tcp, options_are_framed_one_by_one)
{
	static const uint8_t list[] =
		"\x01"					   /* NOP */
		"\x02\x04\x05\xb4"			   /* MSS 1460, at 1 */
		"\x01\x01"				   /* NOP NOP */
		"\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x02" /* timestamps, at 7 */
		"\x04\x02"				   /* SACK-permitted, at 17 */
		"\x00"					   /* EOL */
		"\x09\x09";				   /* past EOL: not options */
	struct tcp_opt o;
	size_t at = 0;
	cr_assert_eq(tcp_opt_next(list, sizeof(list) - 1, &at, &o), 1);
	cr_expect(o.kind == 2 && o.len == 4 && o.val == list + 3, "MSS: kind %u len %u", o.kind,
		  o.len);
	cr_assert_eq(tcp_opt_next(list, sizeof(list) - 1, &at, &o), 1);
	cr_expect(o.kind == 8 && o.len == 10 && o.val == list + 9, "TS: kind %u len %u", o.kind,
		  o.len);
	cr_assert_eq(tcp_opt_next(list, sizeof(list) - 1, &at, &o), 1);
	cr_expect(o.kind == 4 && o.len == 2, "SACK-permitted: kind %u len %u", o.kind, o.len);
	cr_expect_eq(tcp_opt_next(list, sizeof(list) - 1, &at, &o), 0, "EOL ends the list");
	cr_expect_eq(tcp_opt_next(list, sizeof(list) - 1, &at, &o), 0, "and keeps it ended");
	at = 0;
	cr_expect_eq(tcp_opt_next((const uint8_t[]){ 1, 1, 1 }, 3, &at, &o), 0, "NOPs alone");

	static const struct {
		const char *name;
		uint8_t p[4];
		size_t n;
	} bad[] = {
		{ "length 0", { 2, 0, 0, 0 }, 4 },
		{ "length 1", { 2, 1, 0, 0 }, 4 },
		{ "length past the list", { 1, 2, 4, 5 }, 4 },
		{ "kind without length", { 1, 1, 1, 8 }, 4 },
	};
	for (size_t i = 0; i < TU_N(bad); i++) {
		at = 0;
		cr_expect_eq(tcp_opt_next(bad[i].p, bad[i].n, &at, &o), -EBADMSG, "%s",
			     bad[i].name);
	}
}

/* ---- checksums ---- */

struct csum_case {
	const char *name;
	int bad_ip, bad_tcp;
	uint32_t rx_flags;
	int answered; /* a SYN-ACK comes back */
};

static void expect_csum(const struct csum_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct csum_case *k = &cases[i];
		struct tf_pkt p = tf_pkt_raw((uint16_t)(42000 + i), 7000, 0, TCP_SYN);
		p.bad_ip_csum = k->bad_ip;
		p.bad_tcp_csum = k->bad_tcp;
		p.rx_flags = k->rx_flags;
		struct stack_stats st = *stack_stats(F.s);
		uint64_t syn_in = tf_st()->syn_in;
		tf_input(&p);
		if (k->answered) {
			const struct tf_frame *fr = tf_one(k->name);
			cr_expect_eq(fr->flags, TCP_SYN | TCP_ACK, "%s", k->name);
			cr_expect_eq(tf_st()->syn_in, syn_in + 1, "%s", k->name);
		} else {
			tf_expect_silence(k->name);
			cr_expect_eq(tf_st()->syn_in, syn_in, "%s: reached TCP", k->name);
		}
		cr_expect_eq(stack_stats(F.s)->ip_csum, st.ip_csum + (k->bad_ip && !k->rx_flags),
			     "%s: ip_csum", k->name);
		cr_expect_eq(stack_stats(F.s)->tcp_csum,
			     st.tcp_csum + (k->bad_tcp && !k->bad_ip && !k->rx_flags),
			     "%s: tcp_csum", k->name);
	}
}

Test(tcp, bad_checksums_are_dropped_unless_the_nic_checked_them)
{
	tf_start(NULL);
	TU_TABLE(expect_csum, struct csum_case, { "good", 0, 0, 0, 1 },
		 { "bad IPv4 checksum", 1, 0, 0, 0 }, { "bad TCP checksum", 0, 1, 0, 0 },
		 { "both bad", 1, 1, 0, 0 },
		 { "bad IPv4, NIC verified", 1, 0, STACK_RX_CSUM_OK, 1 },
		 { "bad TCP, NIC verified", 0, 1, STACK_RX_CSUM_OK, 1 });
}

Test(tcp, checksum_offload_leaves_the_pseudo_header_sum)
{
	TF_START_WITH(tx_csum_offload, 1);
	struct tf_pkt p = tf_pkt_raw(42100, 7000, 0, TCP_SYN);
	size_t len;
	uint8_t *f = tf_build(&p, &len);
	struct stack_out o = tf_out();
	stack_input(F.s, f, len, 0, 1, F.now, &o);
	free(f);
	cr_assert_eq(o.ntx, 1);
	const struct stack_tx *tx = &o.tx[0];
	cr_expect_eq(tx->ol_flags, STACK_TX_OL_IPV4_CSUM | STACK_TX_OL_TCP_CSUM);
	cr_expect_eq(tx->l2_len, 14);
	cr_expect_eq(tx->l3_len, 20);
	const uint8_t *tcp = tx->hdr + 34;
	uint32_t n = tx->l4_len + tx->pay_len;
	uint32_t acc = (TF_SRV_IP >> 16) + (TF_SRV_IP & 0xffff) + (TF_CLI_IP >> 16) +
		       (TF_CLI_IP & 0xffff) + 6 + n;
	cr_expect_eq(tf_be16(tcp + 16), tf_fold(acc), "pseudo-header sum %04x, want %04x",
		     tf_be16(tcp + 16), tf_fold(acc));
}

/* ---- no listener ---- */

struct rst_case {
	const char *name;
	uint16_t dport;
	uint8_t flags;
	uint32_t seq, ack, plen;
	int answered;
	uint32_t want_seq, want_ack;
	uint8_t want_flags;
};

/* RFC 9293 §3.10.7.1: with ACK, <SEQ=SEG.ACK><CTL=RST>; without,
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; a RST is never answered. */
static void expect_rst(const struct rst_case *cases, size_t n)
{
	static const uint8_t pay[100];
	for (size_t i = 0; i < n; i++) {
		const struct rst_case *k = &cases[i];
		struct tf_pkt p = tf_pkt_raw((uint16_t)(43000 + i), k->seq, k->ack, k->flags);
		p.dport = k->dport;
		p.pay = pay;
		p.plen = k->plen;
		uint64_t rst_out = tf_st()->rst_out;
		tf_input(&p);
		if (!k->answered) {
			tf_expect_silence(k->name);
			continue;
		}
		const struct tf_frame *fr = tf_one(k->name);
		cr_expect_eq(fr->flags, k->want_flags, "%s: flags %02x", k->name, fr->flags);
		cr_expect_eq(fr->seq, k->want_seq, "%s: seq %u", k->name, fr->seq);
		if (k->want_flags & TCP_ACK)
			cr_expect_eq(fr->ack, k->want_ack, "%s: ack %u", k->name, fr->ack);
		cr_expect_eq(fr->sport, k->dport, "%s", k->name);
		cr_expect_eq(fr->dport, 43000 + i, "%s", k->name);
		cr_expect_eq(fr->plen, 0, "%s", k->name);
		cr_expect_eq(tf_st()->rst_out, rst_out + 1, "%s", k->name);
	}
}

Test(tcp, segments_to_a_closed_port_get_rfc9293_resets)
{
	tf_start(NULL);
	TU_TABLE(expect_rst, struct rst_case,
		 { "SYN", 81, TCP_SYN, 1000, 0, 0, 1, 0, 1001, TCP_RST | TCP_ACK },
		 { "SYN with data", 81, TCP_SYN, 1000, 0, 10, 1, 0, 1011, TCP_RST | TCP_ACK },
		 { "ACK", 81, TCP_ACK, 1000, 5555, 0, 1, 5555, 0, TCP_RST },
		 { "ACK with data", 81, TCP_ACK | TCP_PSH, 1000, 5555, 50, 1, 5555, 0, TCP_RST },
		 { "data without ACK", 81, TCP_PSH, 1000, 0, 50, 1, 0, 1050, TCP_RST | TCP_ACK },
		 { "FIN without ACK", 81, TCP_FIN, 0xfffffff0u, 0, 20, 1, 0, 0xfffffff0u + 21,
		   TCP_RST | TCP_ACK },
		 { "FIN+ACK", 81, TCP_FIN | TCP_ACK, 1000, 0xffffffffu, 0, 1, 0xffffffffu, 0,
		   TCP_RST },
		 { "RST", 81, TCP_RST, 1000, 0, 0, 0, 0, 0, 0 },
		 { "RST+ACK", 81, TCP_RST | TCP_ACK, 1000, 1, 0, 0, 0, 0, 0 },
		 { "SYN-ACK to a listener", TF_PORT, TCP_SYN | TCP_ACK, 1000, 777, 0, 1, 777, 0,
		   TCP_RST },
		 { "RST to a listener", TF_PORT, TCP_RST, 1000, 0, 0, 0, 0, 0, 0 },
		 { "bare segment to a listener", TF_PORT, 0, 1000, 0, 0, 0, 0, 0, 0 });
}

Test(tcp, a_stopped_listener_resets_syns)
{
	tf_start(NULL);
	stack_stop_listening(F.s);
	struct tf_pkt p = tf_pkt_raw(43500, 1000, 0, TCP_SYN);
	tf_input(&p);
	const struct tf_frame *fr = tf_one("SYN after stop_listening");
	cr_expect_eq(fr->flags, TCP_RST | TCP_ACK);
	cr_expect_eq(fr->ack, 1001);
	cr_expect_eq(tf_st()->synack_out, 0);
}

/* ---- tcp_send and ACKED ---- */

Test(tcp, send_is_refused_at_the_byte_cap)
{
	TF_START_WITH(tcp.conn_sndbuf, 10000);
	struct tf_conn c;
	tf_connect_plain(&c, 44000, 0);
	cr_expect_eq(tf_queue(&c, 6000, 1), 0);
	cr_expect_eq(tf_queue(&c, 4001, 2), -EAGAIN);
	cr_expect_eq(tf_st()->sndbuf_full, 1);
	cr_expect_eq(tf_queue(&c, 4000, 3), 0, "exactly at the cap");
	cr_expect_eq(tf_queue(&c, 1, 4), -EAGAIN);
	cr_expect_eq(tf_queue(&c, 10001, 5), -EAGAIN, "one send over the cap");
	tf_poll();
	cr_expect_eq(tf_data_frames(), 7, "10000 bytes in segments of 1460");
	/* acknowledging the first send frees its 6000 bytes */
	tf_ack(&c, tf_sseq(&c, 6000));
	cr_assert_eq(tf_ev_count(STACK_EV_ACKED), 1);
	cr_expect_eq(tf_ev_find(STACK_EV_ACKED)->cookie, 1);
	cr_expect_eq(tf_queue(&c, 6000, 6), 0);
	cr_expect_eq(tf_queue(&c, 1, 7), -EAGAIN);
	cr_expect_eq(tf_info(&c).queued_bytes, 10000);
}

Test(tcp, send_is_refused_at_the_chunk_cap)
{
	TF_START_WITH(tcp.conn_chunks, 4);
	struct tf_conn c;
	tf_connect_plain(&c, 44100, 0);
	struct iovec iov[5];
	for (int i = 0; i < 5; i++) {
		iov[i].iov_base = tf_pattern + 100 * i;
		iov[i].iov_len = 100;
	}
	cr_expect_eq(stack_send(F.s, c.id, iov, 5, 1), -EAGAIN, "5 slices, cap 4");
	cr_expect_eq(stack_send(F.s, c.id, iov, 3, 1), 0);
	c.queued = 300;
	cr_expect_eq(stack_send(F.s, c.id, iov + 3, 2, 2), -EAGAIN);
	/* an empty slice takes no chunk of its own */
	struct iovec two[2] = { iov[3], { .iov_base = NULL, .iov_len = 0 } };
	cr_expect_eq(stack_send(F.s, c.id, two, 2, 3), 0);
	c.queued = 400;
	cr_expect_eq(tf_queue(&c, 1, 4), -EAGAIN);
	cr_expect_eq(stack_send(F.s, c.id, iov, 0, 5), -EINVAL);
	tf_poll();
	cr_assert_eq(tf_data_frames(), 1);
	cr_expect_eq(F.fr[0].plen, 400);
	tf_ack(&c, tf_sseq(&c, 400));
	cr_assert_eq(F.nev, 2);
	cr_expect_eq(F.ev[0].cookie, 1);
	cr_expect_eq(F.ev[1].cookie, 3);
	cr_expect_eq(tf_queue(&c, 100, 6), 0, "room again");
}

Test(tcp, send_is_refused_when_the_shared_pool_is_empty)
{
	TF_START_WITH(tcp.chunk_pool, 3);
	struct tf_conn a, b;
	tf_connect_plain(&a, 44200, 0);
	tf_connect_plain(&b, 44201, 0);
	cr_expect_eq(tf_queue(&a, 10, 1), 0);
	cr_expect_eq(tf_queue(&a, 10, 2), 0);
	cr_expect_eq(tf_queue(&b, 10, 3), 0);
	cr_expect_eq(tf_queue(&b, 10, 4), -EAGAIN);
	cr_expect_eq(tf_queue(&a, 10, 5), -EAGAIN);
}

/* Sends of these sizes, then ACKs at these stream offsets: each ACK must
 * report exactly the sends it completed, in order. */
Test(tcp, acked_events_come_in_order_and_once)
{
	struct tf_conn c;
	tf_start_plain(&c, 44300);
	static const uint32_t sizes[] = { 100, 2000, 1, 3000, 0, 500, 1460 };
	uint32_t ends[TU_N(sizes)], off = 0;
	for (size_t i = 0; i < TU_N(sizes); i++) {
		cr_assert_eq(tf_queue(&c, sizes[i], 100 + i), 0);
		off += sizes[i];
		ends[i] = off;
	}
	tf_poll();
	cr_expect_eq(tf_data_frames(), (off + 1459) / 1460);
	cr_expect_eq(tf_ev_count(STACK_EV_ACKED), 0, "ACKED before any ACK");
	static const uint32_t acks[] = { 50,   100,  101,  2100, 2101, 2101,
					 4000, 5101, 5101, 5600, 7061 };
	size_t next = 0;
	for (size_t a = 0; a < TU_N(acks); a++) {
		tf_ack(&c, tf_sseq(&c, acks[a]));
		for (uint32_t e = 0; e < F.nev; e++) {
			cr_assert_eq(F.ev[e].kind, STACK_EV_ACKED, "ack %u: event %d", acks[a],
				     (int)F.ev[e].kind);
			cr_assert(next < TU_N(sizes), "ack %u: an ACKED too many", acks[a]);
			cr_expect_eq(F.ev[e].cookie, 100 + next, "ack %u: cookie %lu, want %zu",
				     acks[a], (unsigned long)F.ev[e].cookie, 100 + next);
			cr_expect(ends[next] <= acks[a], "ack %u reported send %zu ending at %u",
				  acks[a], next, ends[next]);
			cr_expect_eq(F.ev[e].conn, c.id);
			next++;
		}
		cr_expect(next == TU_N(sizes) || ends[next] > acks[a],
			  "ack %u: send %zu (ends %u) not reported", acks[a], next, ends[next]);
	}
	cr_expect_eq(next, TU_N(sizes));
	cr_expect_eq(tf_info(&c).queued_bytes, 0);
}

Test(tcp, send_after_close_is_refused)
{
	tf_start(NULL);
	struct tf_conn c, d;
	tf_connect_plain(&c, 44400, 0);
	tf_connect_plain(&d, 44401, 0);
	cr_expect_eq(stack_send(F.s, 9999, NULL, 0, 0), -ENOTCONN, "no such connection");
	cr_expect_eq(tf_queue(&(struct tf_conn){ .id = 5 }, 10, 3), -ENOTCONN, "a free slot");
	/* d is reset; once CLOSED, its id takes no more sends */
	tf_send(&d, TCP_RST, NULL, 0);
	cr_assert_eq(tf_ev_count(STACK_EV_CLOSED), 1);
	cr_expect_eq(tf_queue(&d, 10, 4), -ENOTCONN, "after CLOSED");
	/* c is closed by us: no more sends from the call on */
	cr_expect_eq(tf_queue(&c, 10, 1), 0);
	stack_close(F.s, c.id);
	cr_expect_eq(tf_queue(&c, 10, 2), -ENOTCONN, "after stack_close");
	stack_close(F.s, c.id);
	cr_expect_eq(tf_queue(&c, 10, 2), -ENOTCONN, "after a second stack_close");
}

Test(tcp, abort_sends_rst_reports_every_send_then_closed)
{
	struct tf_conn c;
	tf_start_plain(&c, 44500);
	cr_assert_eq(tf_queue(&c, 3000, 1), 0);
	tf_queue_poll(&c, 10, 2);
	cr_assert_eq(tf_data_frames(), 3);
	stack_abort(F.s, c.id);
	tf_poll();
	const struct tf_frame *fr = tf_one("abort");
	cr_expect_eq(fr->flags & TCP_RST, TCP_RST);
	cr_expect_eq(fr->seq, tf_sseq(&c, 3010));
	cr_assert_eq(F.nev, 3);
	cr_expect_eq(F.ev[0].kind, STACK_EV_ACKED);
	cr_expect_eq(F.ev[0].cookie, 1);
	cr_expect_eq(F.ev[1].kind, STACK_EV_ACKED);
	cr_expect_eq(F.ev[1].cookie, 2);
	cr_expect_eq(F.ev[2].kind, STACK_EV_CLOSED);
	cr_expect_eq(F.ev[2].res, -ECONNABORTED);
	struct tcp_conn_info info;
	cr_expect_eq(tcp_conn_info(stack_tcp(F.s), c.id, &info), -ENOENT);
}

/* ---- the glue: ICMP, ARP, other addresses ---- */

/* An ICMP echo request from the client with payload pay[0..n). */
static uint8_t *echo_request(const uint8_t *pay, size_t n, size_t *out_len)
{
	size_t len = 14 + 20 + 8 + n;
	uint8_t *f = calloc(1, len);
	cr_assert_not_null(f);
	const struct cf_ipv4 h = {
		.dst_mac = tf_srv_mac,
		.src_mac = tf_cli_mac,
		.src = TF_CLI_IP,
		.dst = TF_SRV_IP,
		.proto = 1,
	};
	uint8_t *ic = cf_ipv4(f, &h, 8 + n);
	ic[0] = 8;
	cf_put16(ic + 4, 0xbeef);
	cf_put16(ic + 6, 42);
	memcpy(ic + 8, pay, n);
	cf_put16(ic + 2, (uint16_t)~tf_fold(tf_sum(0, ic, 8 + n)));
	*out_len = len;
	return f;
}

Test(tcp, icmp_echo_is_answered_with_the_same_payload)
{
	tf_start(NULL);
	static const size_t lens[] = { 0, 1, 7, 56, 1472 };
	for (size_t i = 0; i < TU_N(lens); i++) {
		size_t len;
		uint8_t *f = echo_request(tf_pattern + 3, lens[i], &len);
		tf_input_frame(f, len, 0);
		cr_assert_eq(F.nfr, 1, "echo of %zu bytes: %u frames", lens[i], F.nfr);
		const struct tf_frame *fr = &F.fr[0];
		cr_expect_eq(fr->ip_proto, 1);
		cr_expect_eq(fr->ip_dst, TF_CLI_IP);
		cr_assert_eq(fr->l4_len, 8 + lens[i]);
		cr_expect_eq(fr->l4[0], 0, "type %u", fr->l4[0]);
		cr_expect_eq(fr->l4[1], 0);
		cr_expect_eq(tf_be16(fr->l4 + 4), 0xbeef);
		cr_expect_eq(tf_be16(fr->l4 + 6), 42);
		cr_expect_eq(tf_fold(tf_sum(0, fr->l4, fr->l4_len)), 0xffff, "ICMP checksum");
		cr_expect_arr_eq(fr->l4 + 8, tf_pattern + 3, lens[i]);
		cr_expect_eq(fr->hold_rx, lens[i] ? F.rx_handle : 0, "hold_rx of %zu bytes",
			     lens[i]);
		cr_expect_eq(stack_stats(F.s)->icmp_echo, i + 1);
	}
}

Test(tcp, arp_request_is_answered)
{
	tf_start(NULL);
	size_t len;
	uint8_t *f = tf_arp_request(0x0a000009u, &len);
	tf_input_frame(f, len, 0);
	cr_assert_eq(F.nfr, 1);
	const struct tf_frame *fr = &F.fr[0];
	cr_expect_eq(fr->ethertype, 0x0806);
	cr_assert_geq(fr->len, 42);
	cr_expect_arr_eq(fr->raw, tf_cli_mac, 6, "to the asker");
	const uint8_t *a = fr->raw + 14;
	cr_expect_eq(tf_be16(a + 6), 2, "a reply");
	cr_expect_arr_eq(a + 8, tf_srv_mac, 6);
	cr_expect_eq(tf_be32(a + 14), TF_SRV_IP);
	cr_expect_arr_eq(a + 18, tf_cli_mac, 6);
	cr_expect_eq(tf_be32(a + 24), 0x0a000009u);
}

Test(tcp, frames_for_another_address_are_dropped_and_counted)
{
	tf_start(NULL);
	static const uint8_t other_mac[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	struct tf_pkt p = tf_pkt_raw(45000, 1, 0, TCP_SYN);
	p.dst_mac = other_mac;
	tf_input(&p);
	tf_expect_silence("another MAC");
	cr_expect_eq(stack_stats(F.s)->eth_not_for_us, 1);
	p = tf_pkt_raw(45001, 1, 0, TCP_SYN);
	p.dst_ip = 0x0a000063u;
	tf_input(&p);
	tf_expect_silence("another IP");
	cr_expect_eq(stack_stats(F.s)->ip_not_for_us, 1);
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	p = tf_pkt_raw(45002, 1, 0, TCP_SYN);
	p.dst_mac = bcast;
	p.dst_ip = 0x0a0000ffu;
	tf_input(&p);
	tf_expect_silence("broadcast IP");
	cr_expect_eq(tf_st()->syn_in, 0);
	cr_expect_eq(tf_st()->segs_in, 0);
}

/* A SYN from a client whose MAC we have not learned: the SYN-ACK waits for
 * the ARP reply instead of being dropped (which cost the client a second
 * before its SYN went again), and goes out as soon as the reply comes;
 * unanswered, it is dropped after a second. */
Test(tcp, a_syn_ack_waits_for_arp)
{
	tf_start(NULL);
	const uint32_t ip = 0x0a000077u;
	for (int answered = 1; answered >= 0; answered--) {
		struct tf_pkt p = tf_pkt_raw((uint16_t)(45100 + answered), 1000, 0, TCP_SYN);
		p.src_ip = answered ? ip : ip + 1;
		tf_input(&p);
		cr_assert_eq(F.nfr, 1, "only an ARP request goes out");
		cr_expect_eq(F.fr[0].ethertype, 0x0806);
		cr_expect_eq(tf_be16(F.fr[0].raw + 14 + 6), 1, "a request");
		cr_expect_eq(tf_be32(F.fr[0].raw + 14 + 24), p.src_ip, "for the client");
		cr_expect_eq(stack_stats(F.s)->tx_held, (uint64_t)(2 - answered));
		if (!answered) {
			/* a second passes without an answer; other ARP traffic
			 * then finds the frame stale and drops it */
			F.now += 1100000;
			size_t len;
			uint8_t *f = tf_arp_request(0x0a000099u, &len);
			tf_input_frame(f, len, 0);
			for (uint32_t k = 0; k < F.nfr; k++)
				cr_expect(!F.fr[k].is_tcp, "a stale SYN-ACK went out");
			cr_expect_eq(stack_stats(F.s)->tx_no_route, 1);
			continue;
		}
		size_t len;
		uint8_t *f = tf_arp_request(ip, &len);
		tf_input_frame(f, len, 0);
		uint32_t synacks = 0;
		for (uint32_t k = 0; k < F.nfr; k++)
			if (F.fr[k].is_tcp && F.fr[k].flags == (TCP_SYN | TCP_ACK) &&
			    F.fr[k].ip_dst == ip && F.fr[k].ack == 1001)
				synacks++;
		cr_expect_eq(synacks, 1, "the held SYN-ACK went out with the ARP reply");
		cr_expect_arr_eq(F.fr[F.nfr - 1].raw, tf_cli_mac, 6, "to the learned MAC");
	}
}
