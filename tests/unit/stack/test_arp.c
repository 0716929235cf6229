/*
 * Unit tests for dataplane/stack/arp.c: a request for us against the reply
 * bytes written out by hand; RFC 826's merge rule (learn from what is for
 * us, update what is known from anything, gratuitous ARP updates only);
 * every field of a request made wrong in turn, and truncation; expiry and
 * the per-address request limit in virtual time; replacement of the least
 * recently used entry when full; static entries. Packets are handed over
 * in heap blocks of exactly their length (a read past one is an
 * AddressSanitizer error), and reply buffers hold canaries that a call
 * that sends nothing must leave alone.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"
#include "exact_copy.h"
#include "arp.h"

#define S	 1000000ull /* microseconds */
#define TTL	 (10 * S)
#define RETRY	 S
#define MY_IP	 0xc0a8010au /* 192.168.1.10 */
#define PEER	 0xc0a80114u /* 192.168.1.20 */
#define OTHER	 0xc0a8011eu /* 192.168.1.30 */
#define OP_REQ	 1
#define OP_REPLY 2

static const uint8_t my_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t peer_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t new_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

/* Who has 192.168.1.10? Tell 192.168.1.20 (52:54:00:12:34:56). */
static const uint8_t req_for_us[ARP_PKT_LEN] = {
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,		    /* ether, ipv4, 6, 4, request */
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc0, 0xa8, 0x01, 0x14, /* sender */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x0a, /* target */
};

/* 192.168.1.10 is at 02:00:00:00:00:01, to 52:54:00:12:34:56. */
static const uint8_t reply_to_peer[ARP_FRAME_LEN] = {
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, /* reply */
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc0, 0xa8, 0x01, 0x0a,	  /* sender: us */
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc0, 0xa8, 0x01, 0x14,	  /* target: the peer */
};

static struct arp *mk(uint32_t entries)
{
	struct arp_config cfg = { .entries = entries, .ttl_us = TTL, .retry_us = RETRY };
	struct arp *a = NULL;

	cr_assert_eq(arp_create(&cfg, &a), 0);
	cr_assert_not_null(a);
	return a;
}

/* arp_input over p[0..len) copied to an exact heap block; reply gets
 * canaries first. */
static int feed(struct arp *a, const uint8_t *p, size_t len, uint64_t now,
		uint8_t reply[ARP_FRAME_LEN])
{
	uint8_t *blk = exact_copy(p, len);
	int rc;

	memset(reply, 0xa5, ARP_FRAME_LEN);
	rc = arp_input(a, blk, len, MY_IP, my_mac, now, reply);
	free(blk);
	return rc;
}

static int untouched(const uint8_t *reply)
{
	for (size_t i = 0; i < ARP_FRAME_LEN; i++)
		if (reply[i] != 0xa5)
			return 0;
	return 1;
}

/* An ARP packet from (sha, spa) to tpa; the target hardware address 0. */
static void pkt(uint8_t p[ARP_PKT_LEN], uint16_t op, const uint8_t *sha, uint32_t spa, uint32_t tpa)
{
	memcpy(p, req_for_us, ARP_PKT_LEN);
	p[7] = (uint8_t)op;
	memcpy(p + 8, sha, 6);
	p[14] = (uint8_t)(spa >> 24);
	p[15] = (uint8_t)(spa >> 16);
	p[16] = (uint8_t)(spa >> 8);
	p[17] = (uint8_t)spa;
	p[24] = (uint8_t)(tpa >> 24);
	p[25] = (uint8_t)(tpa >> 16);
	p[26] = (uint8_t)(tpa >> 8);
	p[27] = (uint8_t)tpa;
}

static int send_pkt(struct arp *a, uint16_t op, const uint8_t *sha, uint32_t spa, uint32_t tpa,
		    uint64_t now)
{
	uint8_t p[ARP_PKT_LEN], reply[ARP_FRAME_LEN];

	pkt(p, op, sha, spa, tpa);
	return feed(a, p, sizeof(p), now, reply);
}

/* A counter of struct arp_stats and the value wanted in it. */
struct stat_want {
	const char *name;
	size_t off;
	uint64_t v;
};

#define STAT(field, val)                                         \
	{                                                        \
#field, offsetof(struct arp_stats, field), (val) \
	}

static void check_stats(const struct arp *a, const struct stat_want *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t got;

		memcpy(&got, (const char *)arp_stats(a) + w[i].off, sizeof(got));
		cr_expect_eq(got, w[i].v, "%s is %lu, want %lu", w[i].name, (unsigned long)got,
			     (unsigned long)w[i].v);
	}
}

/* The counters of a hold the values listed:
 *   EXPECT_STATS(a, STAT(learned, 1), STAT(replies_out, 0)); */
#define EXPECT_STATS(a, ...)                                             \
	do {                                                             \
		static const struct stat_want want_[] = { __VA_ARGS__ }; \
		check_stats((a), want_, TU_N(want_));                    \
	} while (0)

/* A packet the cache must not answer: arp_input returns 0 and leaves the
 * reply buffer alone. */
static void expect_unanswered(struct arp *a, uint16_t op, const uint8_t *sha, uint32_t spa,
			      uint32_t tpa, const char *what)
{
	uint8_t p[ARP_PKT_LEN], reply[ARP_FRAME_LEN];

	pkt(p, op, sha, spa, tpa);
	cr_expect_eq(feed(a, p, sizeof(p), 0, reply), 0, "%s: answered", what);
	cr_expect(untouched(reply), "%s: wrote a reply", what);
}

/* arp_resolve; *out_req says whether a request was written. */
static int lookup(struct arp *a, uint32_t ip, uint64_t now, uint8_t mac[6], int *out_req)
{
	uint8_t req[ARP_FRAME_LEN];
	size_t req_len = 99;
	int rc = arp_resolve(a, ip, MY_IP, my_mac, now, mac, req, &req_len);

	cr_assert(req_len == 0 || req_len == ARP_FRAME_LEN, "req_len %zu", req_len);
	if (out_req)
		*out_req = req_len != 0;
	return rc;
}

/* ip resolves to mac at now (or, mac NULL, does not). */
static void expect_entry(struct arp *a, uint32_t ip, const uint8_t *mac, uint64_t now)
{
	uint8_t got[6];
	int rc = lookup(a, ip, now, got, NULL);

	if (mac) {
		cr_expect_eq(rc, 0, "%08x: rc %d", ip, rc);
		cr_expect_arr_eq(got, mac, 6, "%08x: another address", ip);
	} else {
		cr_expect_eq(rc, -ENOENT, "%08x resolved", ip);
	}
}

Test(arp, request_for_us_gets_the_reply_bytes)
{
	struct arp *a = mk(0);
	uint8_t reply[ARP_FRAME_LEN];

	cr_assert_eq(feed(a, req_for_us, sizeof(req_for_us), 0, reply), ARP_FRAME_LEN);
	cr_expect_arr_eq(reply, reply_to_peer, ARP_FRAME_LEN);
	expect_entry(a, PEER, peer_mac, 1);
	EXPECT_STATS(a, STAT(requests_in, 1), STAT(replies_out, 1), STAT(learned, 1),
		     STAT(not_for_us, 0));
	arp_destroy(a);
}

/* A request for another address is not answered, and its unknown sender
 * is not learned. */
Test(arp, request_for_another_ip_is_ignored)
{
	struct arp *a = mk(0);

	expect_unanswered(a, OP_REQ, peer_mac, PEER, OTHER, "a request for another address");
	expect_entry(a, PEER, NULL, 1);
	EXPECT_STATS(a, STAT(not_for_us, 1), STAT(learned, 0), STAT(replies_out, 0));
	arp_destroy(a);
}

/* RFC 826's merge: a known sender is updated by any valid packet (a
 * request for someone else, a gratuitous ARP); an unknown one only by a
 * packet for us. */
Test(arp, merge_updates_known_senders_only)
{
	struct arp *a = mk(0);

	cr_assert_eq(send_pkt(a, OP_REPLY, peer_mac, PEER, MY_IP, 0), 0);
	expect_entry(a, PEER, peer_mac, 1);
	EXPECT_STATS(a, STAT(replies_in, 1), STAT(replies_out, 0));

	cr_assert_eq(send_pkt(a, OP_REQ, new_mac, PEER, OTHER, 2), 0);
	expect_entry(a, PEER, new_mac, 3);

	/* gratuitous: sender and target the same address */
	cr_assert_eq(send_pkt(a, OP_REQ, peer_mac, PEER, PEER, 4), 0);
	expect_entry(a, PEER, peer_mac, 5);
	cr_assert_eq(send_pkt(a, OP_REPLY, new_mac, OTHER, OTHER, 6), 0);
	expect_entry(a, OTHER, NULL, 7);
	cr_expect_eq(arp_stats(a)->learned, 3);
	arp_destroy(a);
}

/* An RFC 5227 probe for our address (sender 0.0.0.0) is answered to the
 * prober's hardware address, and nothing is learned. */
Test(arp, probe_for_us_is_answered_not_learned)
{
	struct arp *a = mk(0);
	uint8_t p[ARP_PKT_LEN], reply[ARP_FRAME_LEN], want[ARP_FRAME_LEN];

	pkt(p, OP_REQ, peer_mac, 0, MY_IP);
	cr_assert_eq(feed(a, p, sizeof(p), 0, reply), ARP_FRAME_LEN);
	memcpy(want, reply_to_peer, sizeof(want));
	memset(want + 38, 0, 4); /* the target protocol address: 0.0.0.0 */
	cr_expect_arr_eq(reply, want, ARP_FRAME_LEN);
	cr_expect_eq(arp_stats(a)->learned, 0);
	expect_unanswered(a, OP_REQ, peer_mac, 0, OTHER, "a probe for someone else");
	arp_destroy(a);
}

/* Our own frame looped back, and a station claiming our address, are
 * neither answered nor learned. */
Test(arp, own_address_is_never_learned)
{
	struct arp *a = mk(0);

	expect_unanswered(a, OP_REQ, my_mac, PEER, MY_IP, "our own request looped back");
	expect_entry(a, PEER, NULL, 1);
	expect_unanswered(a, OP_REPLY, peer_mac, MY_IP, MY_IP, "a station claiming our address");
	expect_entry(a, MY_IP, NULL, 1);
	cr_expect_eq(arp_stats(a)->learned, 0);
	arp_destroy(a);
}

/* The request for us with bytes v[0..n) written at off, handed over as
 * len bytes (0: the whole packet). */
struct variant {
	const char *what;
	size_t off;
	uint8_t v[12];
	size_t n, len;
	int rc;
};

static void check_variants(const struct variant *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct arp *a = mk(0);
		uint8_t p[64] = { 0 }, reply[ARP_FRAME_LEN];
		size_t len = c[i].len ? c[i].len : ARP_PKT_LEN;
		int rc;

		memcpy(p, req_for_us, ARP_PKT_LEN);
		memcpy(p + c[i].off, c[i].v, c[i].n);
		rc = feed(a, p, len, 0, reply);
		cr_expect_eq(rc, c[i].rc, "%s: rc %d, want %d", c[i].what, rc, c[i].rc);
		if (rc == ARP_FRAME_LEN) {
			cr_expect_arr_eq(reply, reply_to_peer, ARP_FRAME_LEN, "%s", c[i].what);
		} else {
			cr_expect(untouched(reply), "%s: wrote a reply", c[i].what);
			cr_expect_eq(arp_stats(a)->malformed, 1, "%s: not counted", c[i].what);
			cr_expect_eq(arp_stats(a)->learned, 0, "%s: learned", c[i].what);
		}
		arp_destroy(a);
	}
}

Test(arp, malformed_variants)
{
	TU_TABLE(check_variants, struct variant,
		 { "hardware type 6", 0, { 0x00, 0x06 }, 2, 0, -EBADMSG },
		 { "protocol ipv6", 2, { 0x86, 0xdd }, 2, 0, -EBADMSG },
		 { "hardware length 8", 4, { 8 }, 1, 0, -EBADMSG },
		 { "hardware length 0", 4, { 0 }, 1, 0, -EBADMSG },
		 { "protocol length 16", 5, { 16 }, 1, 0, -EBADMSG },
		 { "operation 0", 6, { 0x00, 0x00 }, 2, 0, -EBADMSG },
		 { "operation 3 (RARP)", 6, { 0x00, 0x03 }, 2, 0, -EBADMSG },
		 { "operation 0x0101", 6, { 0x01, 0x01 }, 2, 0, -EBADMSG },
		 { "sender broadcast", 8, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 6, 0, -EBADMSG },
		 { "sender multicast", 8, { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 }, 6, 0, -EBADMSG },
		 { "sender zero", 8, { 0, 0, 0, 0, 0, 0 }, 6, 0, -EBADMSG },
		 { "sender ip multicast", 14, { 224, 0, 0, 1 }, 4, 0, -EBADMSG },
		 { "sender ip broadcast", 14, { 255, 255, 255, 255 }, 4, 0, -EBADMSG },
		 { "sender ip loopback", 14, { 127, 0, 0, 1 }, 4, 0, -EBADMSG },
		 { "sender ip 0/8", 14, { 0, 1, 2, 3 }, 4, 0, -EBADMSG },
		 { "reply from 0.0.0.0",
		   6,
		   { 0x00, 0x02, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0, 0, 0, 0 },
		   12,
		   0,
		   -EBADMSG },
		 { "27 bytes", 0, { 0 }, 0, 27, -EBADMSG },
		 { "20 bytes", 0, { 0 }, 0, 20, -EBADMSG }, { "8 bytes", 0, { 0 }, 0, 8, -EBADMSG },
		 { "1 byte", 0, { 0 }, 0, 1, -EBADMSG },
		 /* what is not checked: padding, the target hardware address */
		 { "padded to 60", 0, { 0 }, 0, 46, ARP_FRAME_LEN },
		 { "target hardware set", 18, { 1, 2, 3, 4, 5, 6 }, 6, 0, ARP_FRAME_LEN });
}

Test(arp, empty_packet_is_malformed)
{
	struct arp *a = mk(0);
	uint8_t reply[ARP_FRAME_LEN];

	cr_expect_eq(feed(a, req_for_us, 0, 0, reply), -EBADMSG);
	cr_expect_eq(arp_stats(a)->malformed, 1);
	arp_destroy(a);
}

/* A learned entry answers until ttl has passed, then misses and asks. */
Test(arp, entries_expire_after_ttl)
{
	static const uint8_t want_req[ARP_FRAME_LEN] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, /* request */
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc0, 0xa8, 0x01, 0x0a,	  /* us */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x14,	  /* who has PEER */
	};
	struct arp *a = mk(0);
	uint8_t mac[6], req[ARP_FRAME_LEN];
	size_t req_len = 0;

	cr_assert_eq(send_pkt(a, OP_REPLY, peer_mac, PEER, MY_IP, 5 * S), 0);
	expect_entry(a, PEER, peer_mac, 5 * S + TTL - 1);
	cr_expect_eq(arp_resolve(a, PEER, MY_IP, my_mac, 5 * S + TTL, mac, req, &req_len), -ENOENT);
	cr_assert_eq(req_len, ARP_FRAME_LEN);
	cr_expect_arr_eq(req, want_req, ARP_FRAME_LEN);
	cr_expect_eq(arp_stats(a)->requests_out, 1);
	/* the answer makes it valid again */
	cr_assert_eq(send_pkt(a, OP_REPLY, new_mac, PEER, MY_IP, 6 * S + TTL), 0);
	expect_entry(a, PEER, new_mac, 6 * S + TTL);
	arp_destroy(a);
}

/* One lookup at time t of ip: a request written or not. */
struct step {
	uint64_t t;
	uint32_t ip;
	int req;
};

static void check_steps(const struct step *c, size_t n)
{
	struct arp *a = mk(0);
	uint64_t sent = 0;
	uint8_t mac[6];

	for (size_t i = 0; i < n; i++) {
		int req = -1;

		cr_expect_eq(lookup(a, c[i].ip, c[i].t, mac, &req), -ENOENT, "step %zu", i);
		cr_expect_eq(req, c[i].req, "step %zu: request %d, want %d", i, req, c[i].req);
		sent += (uint64_t)c[i].req;
	}
	cr_expect_eq(arp_stats(a)->requests_out, sent);
	arp_destroy(a);
}

Test(arp, requests_are_rate_limited_per_address)
{
	TU_TABLE(check_steps, struct step, { 0, PEER, 1 }, { 1, PEER, 0 }, { S / 2, PEER, 0 },
		 { S - 1, PEER, 0 }, { 0, OTHER, 1 }, { S - 1, OTHER, 0 }, { S, PEER, 1 },
		 { S, OTHER, 1 }, { S + S / 2, PEER, 0 }, { 2 * S, PEER, 1 },
		 /* martians are never asked for */
		 { 3 * S, 0, 0 }, { 3 * S, 0xffffffffu, 0 }, { 3 * S, 0xe0000001u, 0 },
		 { 4 * S, 0x7f000001u, 0 });
}

/* A flood of lookups for one unresolved address sends one request per
 * retry interval, and the reply resolves it. */
Test(arp, flood_to_one_address_sends_one_request)
{
	struct arp *a = mk(0);
	uint8_t mac[6];
	int req;

	for (uint64_t t = 0; t < S; t += 1000)
		lookup(a, PEER, t, mac, &req);
	cr_expect_eq(arp_stats(a)->requests_out, 1);
	cr_assert_eq(send_pkt(a, OP_REPLY, peer_mac, PEER, MY_IP, S / 2), 0);
	expect_entry(a, PEER, peer_mac, S / 2 + 1);
	arp_destroy(a);
}

/* Four entries: a fifth replaces the least recently learned or resolved. */
Test(arp, full_cache_replaces_the_oldest)
{
	struct arp *a = mk(4);
	uint8_t mac[6][6];
	int req;

	for (int i = 0; i < 6; i++) {
		memcpy(mac[i], peer_mac, 6);
		mac[i][5] = (uint8_t)i;
	}
	for (uint32_t i = 0; i < 4; i++)
		cr_assert_eq(send_pkt(a, OP_REPLY, mac[i], PEER + i, MY_IP, i * S), 0);
	expect_entry(a, PEER, mac[0], 4 * S); /* entry 0 is now the youngest */
	cr_assert_eq(send_pkt(a, OP_REPLY, mac[4], PEER + 4, MY_IP, 5 * S), 0);
	cr_expect_eq(arp_stats(a)->evicted, 1);
	expect_entry(a, PEER + 1, NULL, 6 * S);
	/* that miss took an entry (pending) in place of entry 2 */
	cr_expect_eq(arp_stats(a)->evicted, 2);
	expect_entry(a, PEER + 2, NULL, 6 * S);
	expect_entry(a, PEER, mac[0], 6 * S);
	expect_entry(a, PEER + 4, mac[4], 6 * S);
	/* entry 3 went for PEER + 2's pending entry */
	expect_entry(a, PEER + 3, NULL, 6 * S);
	cr_expect_eq(lookup(a, PEER + 1, 6 * S, mac[5], &req), -ENOENT);
	arp_destroy(a);
}

/* Static entries never expire, are never changed by a packet nor
 * replaced, and a cache all static refuses another. */
Test(arp, static_entries)
{
	struct arp *a = mk(2);
	uint8_t mac[6];
	int req = -1;

	cr_assert_eq(arp_add_static(a, PEER, peer_mac), 0);
	expect_entry(a, PEER, peer_mac, 1000 * TTL);
	cr_assert_eq(send_pkt(a, OP_REPLY, new_mac, PEER, MY_IP, 0), 0);
	expect_entry(a, PEER, peer_mac, 0);
	/* a dynamic entry becomes static */
	cr_assert_eq(send_pkt(a, OP_REPLY, new_mac, OTHER, MY_IP, 0), 0);
	cr_assert_eq(arp_add_static(a, OTHER, peer_mac), 0);
	expect_entry(a, OTHER, peer_mac, 1000 * TTL);
	cr_expect_eq(arp_add_static(a, OTHER + 1, peer_mac), -ENOSPC);
	/* nowhere to learn, nowhere to remember a request */
	cr_assert_eq(send_pkt(a, OP_REPLY, new_mac, OTHER + 2, MY_IP, 0), 0);
	cr_expect_eq(lookup(a, OTHER + 2, 0, mac, &req), -ENOENT);
	cr_expect_eq(req, 0);
	/* refreshing one changes its address */
	cr_assert_eq(arp_add_static(a, PEER, new_mac), 0);
	expect_entry(a, PEER, new_mac, 0);
	cr_expect_eq(arp_stats(a)->evicted, 0);
	arp_destroy(a);
}

/* A full default-sized cache with every entry resolvable, whatever the
 * hash key, then one more replaces exactly one. */
Test(arp, many_entries_and_defaults)
{
	static const uint64_t keys[] = { 0, 1, 0x9e3779b97f4a7c15ull };
	struct arp *a = NULL;

	cr_expect_eq(arp_create(&(struct arp_config){ .entries = ARP_ENTRIES_MAX + 1 }, &a),
		     -EINVAL);
	cr_expect_null(a);
	for (size_t k = 0; k < TU_N(keys); k++) {
		struct arp_config cfg = { .hash_key = keys[k] };
		uint8_t mac[6] = { 0x52, 0x54, 0 };

		cr_assert_eq(arp_create(k ? &cfg : NULL, &a), 0);
		for (uint32_t i = 0; i < 1024; i++) {
			mac[4] = (uint8_t)(i >> 8);
			mac[5] = (uint8_t)i;
			cr_assert_eq(send_pkt(a, OP_REPLY, mac, 0x0a000000u + i, MY_IP, 0), 0);
		}
		for (uint32_t i = 0; i < 1024; i++) {
			mac[4] = (uint8_t)(i >> 8);
			mac[5] = (uint8_t)i;
			expect_entry(a, 0x0a000000u + i, mac, 299 * S);
		}
		cr_expect_eq(arp_stats(a)->evicted, 0);
		expect_entry(a, 0x0a000000u, NULL, 300 * S); /* default ttl */
		cr_assert_eq(send_pkt(a, OP_REPLY, mac, 0x0b000000u, MY_IP, 0), 0);
		cr_expect_eq(arp_stats(a)->evicted, 1);
		arp_destroy(a);
		a = NULL;
	}
	arp_destroy(NULL);
}
