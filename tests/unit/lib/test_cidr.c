/*
 * Unit tests for lib/cidr.c: parsing (forms, edge prefixes, every refusal
 * with its message), matching IPv4, IPv6 and IPv4-mapped peers, raw
 * matching, formatting round trips, and cidr_set (empty = everyone, bound).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "../testutil.h"
#include "cidr.h"

static struct cidr parse_ok(const char *s)
{
	struct cidr c;
	struct seed_err e;
	seed_err_clear(&e);
	memset(&c, 0xaa, sizeof(c));
	cr_assert_eq(cidr_parse(s, &c, &e), 0, "%s: %s", s, e.msg);
	cr_assert_eq(e.code, 0);
	return c;
}

/* Expects a refusal whose message contains want. */
static void parse_bad(const char *s, const char *want)
{
	struct cidr c, before;
	struct seed_err e;
	seed_err_clear(&e);
	memset(&c, 0x5a, sizeof(c));
	before = c;
	cr_assert_eq(cidr_parse(s, &c, &e), -EINVAL, "%s was accepted", s ? s : "(null)");
	cr_assert_eq(e.code, -EINVAL);
	cr_assert(strstr(e.msg, want), "message \"%s\" lacks \"%s\"", e.msg, want);
	cr_assert_eq(memcmp(&c, &before, sizeof(c)), 0, "out written on failure");
}

/* A peer's socket address, port 6881: IPv6 when a holds a ':', else IPv4. */
static struct sockaddr_storage peer(const char *a)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(a, ':')) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(6881);
		cr_assert_eq(inet_pton(AF_INET6, a, &s6->sin6_addr), 1, "%s", a);
	} else {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(6881);
		cr_assert_eq(inet_pton(AF_INET, a, &s4->sin_addr), 1, "%s", a);
	}
	return ss;
}

/* Does cidr match a peer at addr? */
static int matches(const char *cidr, const char *addr)
{
	struct cidr c = parse_ok(cidr);
	struct sockaddr_storage sa = peer(addr);

	return cidr_match(&c, (struct sockaddr *)&sa);
}

static void format_is(const char *in, const char *want)
{
	struct cidr c = parse_ok(in);
	char buf[CIDR_STR_MAX];
	cr_assert_eq(cidr_format(&c, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, want);
}

/* A peer at addr matches cidr (want 1), or not (0). */
struct match {
	const char *cidr, *addr;
	int want;
};

static void expect_matches(const struct match *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int got = matches(m[i].cidr, m[i].addr);

		cr_assert_eq(got != 0, m[i].want, "%s %s %s", m[i].addr,
			     m[i].want ? "must match" : "must not match", m[i].cidr);
	}
}

/* Text, and what it must give: the message of its refusal (a part of
 * it), or how it formats. */
struct pair {
	const char *text, *want;
};

static void expect_refusals(const struct pair *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		parse_bad(r[i].text, r[i].want);
}

/* Text that formats back as want. */
static void expect_formats(const struct pair *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		format_is(f[i].text, f[i].want);
}

Test(cidr, parses_ipv4_prefix)
{
	struct cidr c = parse_ok("10.0.0.0/8");
	cr_assert_eq(c.family, AF_INET);
	cr_assert_eq(c.prefix, 8);
	cr_assert_eq(c.addr[0], 10);
	for (int i = 1; i < 16; i++)
		cr_assert_eq(c.addr[i], 0, "byte %d not zeroed", i);
}

Test(cidr, bare_ipv4_is_slash_32)
{
	struct cidr c = parse_ok("192.0.2.7");
	cr_assert_eq(c.family, AF_INET);
	cr_assert_eq(c.prefix, 32);
	uint8_t want[4] = { 192, 0, 2, 7 };
	cr_assert_eq(memcmp(c.addr, want, 4), 0);
}

Test(cidr, parses_ipv6_prefix)
{
	struct cidr c = parse_ok("2001:db8::/32");
	cr_assert_eq(c.family, AF_INET6);
	cr_assert_eq(c.prefix, 32);
	cr_assert_eq(c.addr[0], 0x20);
	cr_assert_eq(c.addr[1], 0x01);
	cr_assert_eq(c.addr[2], 0x0d);
	cr_assert_eq(c.addr[3], 0xb8);
}

Test(cidr, bare_ipv6_is_slash_128)
{
	struct cidr c = parse_ok("::1");
	cr_assert_eq(c.family, AF_INET6);
	cr_assert_eq(c.prefix, 128);
	cr_assert_eq(c.addr[15], 1);
}

Test(cidr, slash_zero_matches_every_address_of_its_family)
{
	TU_TABLE(expect_matches, struct match, { "0.0.0.0/0", "1.2.3.4", 1 },
		 { "0.0.0.0/0", "255.255.255.255", 1 }, { "::/0", "2001:db8::1", 1 },
		 { "::/0", "::", 1 });
}

Test(cidr, slash_zero_with_host_bits_is_refused)
{
	TU_TABLE(expect_refusals, struct pair, { "1.0.0.0/0", "did you mean 0.0.0.0/0?" },
		 { "8000::/0", "did you mean ::/0?" });
}

Test(cidr, slash_32_matches_only_its_address)
{
	TU_TABLE(expect_matches, struct match, { "192.0.2.7/32", "192.0.2.7", 1 },
		 { "192.0.2.7/32", "192.0.2.6", 0 }, { "192.0.2.7/32", "192.0.2.8", 0 });
}

Test(cidr, slash_128_matches_only_its_address)
{
	TU_TABLE(expect_matches, struct match, { "2001:db8::7/128", "2001:db8::7", 1 },
		 { "2001:db8::7/128", "2001:db8::6", 0 },
		 { "2001:db8::7/128", "2001:db8::7:0", 0 });
}

Test(cidr, odd_prefix_checks_partial_byte)
{
	TU_TABLE(expect_matches, struct match,
		 /* /20: the third byte's top four bits count. */
		 { "172.16.0.0/12", "172.31.255.255", 1 }, { "172.16.0.0/12", "172.32.0.0", 0 },
		 { "10.1.16.0/20", "10.1.31.1", 1 }, { "10.1.16.0/20", "10.1.32.1", 0 },
		 { "10.1.16.0/20", "10.1.15.255", 0 },
		 { "2001:db8:8000::/33", "2001:db8:ffff::1", 1 },
		 { "2001:db8:8000::/33", "2001:db8:7fff::1", 0 });
}

Test(cidr, ipv4_boundaries)
{
	TU_TABLE(expect_matches, struct match, { "10.0.0.0/8", "10.0.0.0", 1 },
		 { "10.0.0.0/8", "10.255.255.255", 1 }, { "10.0.0.0/8", "11.0.0.0", 0 },
		 { "10.0.0.0/8", "9.255.255.255", 0 });
}

Test(cidr, mapped_ipv6_peer_matches_ipv4_cidr)
{
	TU_TABLE(expect_matches, struct match, { "10.0.0.0/8", "::ffff:10.1.2.3", 1 },
		 { "10.0.0.0/8", "::ffff:11.1.2.3", 0 }, { "192.0.2.7", "::ffff:192.0.2.7", 1 },
		 { "0.0.0.0/0", "::ffff:1.2.3.4", 1 });
}

Test(cidr, mapped_ipv6_peer_does_not_match_ipv6_cidrs)
{
	TU_TABLE(expect_matches, struct match,
		 /* An IPv4 client on a dual-stack socket is an IPv4 peer. */
		 { "::/0", "::ffff:10.1.2.3", 0 }, { "::/8", "::ffff:10.1.2.3", 0 });
}

Test(cidr, ipv4_compatible_and_nat64_are_plain_ipv6)
{
	TU_TABLE(expect_matches, struct match,
		 /* Only ::ffff:0:0/96 is treated as IPv4. */
		 { "10.0.0.0/8", "::10.1.2.3", 0 }, { "10.0.0.0/8", "64:ff9b::10.1.2.3", 0 },
		 { "64:ff9b::/96", "64:ff9b::10.1.2.3", 1 });
}

Test(cidr, mismatching_families_never_match)
{
	TU_TABLE(expect_matches, struct match, { "::/0", "1.2.3.4", 0 },
		 { "0.0.0.0/0", "2001:db8::1", 0 }, { "0.0.0.0/0", "::", 0 });
}

Test(cidr, other_address_families_and_null_never_match)
{
	struct cidr c = parse_ok("0.0.0.0/0");
	struct sockaddr_un un;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	cr_assert_not(cidr_match(&c, (struct sockaddr *)&un));
	cr_assert_not(cidr_match(&c, NULL));
}

Test(cidr, raw_matching)
{
	struct cidr c = parse_ok("198.51.100.0/24");
	uint8_t a4[4] = { 198, 51, 100, 9 }, b4[4] = { 198, 51, 101, 9 };
	uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 1 };
	cr_assert(cidr_match_raw(&c, AF_INET, a4));
	cr_assert_not(cidr_match_raw(&c, AF_INET, b4));
	cr_assert(cidr_match_raw(&c, AF_INET6, mapped));
	cr_assert_not(cidr_match_raw(&c, AF_UNIX, a4));
	cr_assert_not(cidr_match_raw(&c, AF_INET, NULL));
}

Test(cidr, refuses_host_bits_with_hint)
{
	TU_TABLE(expect_refusals, struct pair,
		 { "10.0.0.1/8", "\"10.0.0.1/8\" has host bits set; did you mean 10.0.0.0/8?" },
		 { "192.168.1.1/24", "did you mean 192.168.1.0/24?" },
		 { "2001:db8::1/32", "did you mean 2001:db8::/32?" },
		 { "10.1.17.0/20", "did you mean 10.1.16.0/20?" });
}

Test(cidr, refuses_prefix_out_of_range)
{
	TU_TABLE(expect_refusals, struct pair,
		 { "10.0.0.0/33", "prefix /33 is out of range for IPv4 (0 to 32)" },
		 { "::/129", "prefix /129 is out of range for IPv6 (0 to 128)" },
		 { "::/999", "out of range" });
}

Test(cidr, refuses_malformed_prefix)
{
	TU_TABLE(expect_refusals, struct pair, { "10.0.0.0/", "prefix length after '/'" },
		 { "10.0.0.0/-1", "prefix length after '/'" },
		 { "10.0.0.0/+8", "prefix length after '/'" },
		 { "10.0.0.0/8/8", "prefix length after '/'" },
		 { "10.0.0.0/0008", "prefix length after '/'" },
		 { "10.0.0.0/ 8", "prefix length after '/'" },
		 { "10.0.0.0/8x", "prefix length after '/'" });
}

Test(cidr, refuses_garbage_addresses)
{
	TU_TABLE(expect_refusals, struct pair,
		 { "garbage", "\"garbage\" is not an IPv4 or IPv6 address" },
		 { "10.0.0", "is not an IPv4 or IPv6 address" },
		 { "256.0.0.0/8", "is not an IPv4 or IPv6 address" },
		 { "010.0.0.0/8", "is not an IPv4 or IPv6 address" },
		 { "2001:db8:::/32", "is not an IPv4 or IPv6 address" },
		 { "fe80::1%eth0", "is not an IPv4 or IPv6 address" },
		 { "/8", "is not an IPv4 or IPv6 address" });
}

Test(cidr, refuses_trailing_and_leading_characters)
{
	TU_TABLE(expect_refusals, struct pair, { "10.0.0.0/8 ", "prefix length after '/'" },
		 { " 10.0.0.0/8", "is not an IPv4 or IPv6 address" },
		 { "10.0.0.0 /8", "is not an IPv4 or IPv6 address" },
		 { "10.0.0.0x", "is not an IPv4 or IPv6 address" });
}

Test(cidr, refuses_empty_and_null)
{
	TU_TABLE(expect_refusals, struct pair, { "", "empty address" }, { NULL, "empty address" });
}

Test(cidr, refuses_overlong_input_and_shows_it_safely)
{
	char s[200];
	memset(s, '1', sizeof(s) - 1);
	s[sizeof(s) - 1] = 0;
	parse_bad(s, "is too long for an address");
	parse_bad("10.0.0.\x01/8", "\"10.0.0.?/8\"");
}

Test(cidr, refuses_mapped_ipv6_ranges_with_hint)
{
	parse_bad("::ffff:10.0.0.0/104", "write it as IPv4 (10.0.0.0/8)");
	parse_bad("::ffff:192.0.2.7", "write it as IPv4 (192.0.2.7/32)");
	parse_bad("::ffff:0:0/96", "write it as IPv4 (0.0.0.0/0)");
	/* A wider range only contains the mapped space; it is accepted. */
	parse_ok("::/80");
}

Test(cidr, format_round_trips)
{
	TU_TABLE(expect_formats, struct pair, { "10.0.0.0/8", "10.0.0.0/8" },
		 { "192.0.2.7", "192.0.2.7/32" }, { "0.0.0.0/0", "0.0.0.0/0" },
		 { "2001:0db8:0000::/32", "2001:db8::/32" }, { "::1", "::1/128" },
		 { "::/0", "::/0" });
	const char *longest = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128";
	cr_assert_lt(strlen(longest), CIDR_STR_MAX);
	format_is(longest, longest);
}

Test(cidr, format_reports_small_buffer_and_bad_struct)
{
	struct cidr c = parse_ok("10.0.0.0/8");
	char buf[6];
	cr_assert_eq(cidr_format(&c, buf, sizeof(buf)), -ENOSPC);
	cr_assert_eq(buf[sizeof(buf) - 1], 0);
	cr_assert_eq(strlen(buf), sizeof(buf) - 1);
	c.prefix = 33;
	cr_assert_eq(cidr_format(&c, buf, sizeof(buf)), -EINVAL);
	c.family = AF_UNIX;
	c.prefix = 8;
	cr_assert_eq(cidr_format(&c, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(cidr_format(&c, buf, 0), -EINVAL);
}

Test(cidr, error_report_is_not_overwritten)
{
	struct cidr c;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_lt(cidr_parse("x", &c, &e), 0);
	cr_assert_lt(cidr_parse("10.0.0.0/99", &c, &e), 0);
	cr_assert(strstr(e.msg, "\"x\""), "%s", e.msg);
	cr_assert_lt(cidr_parse("x", &c, NULL), 0, "NULL err must be fine");
}

Test(cidr_set, empty_set_allows_everyone)
{
	struct cidr_set s;
	struct sockaddr_storage a = peer("203.0.113.5");
	struct sockaddr_storage b = peer("2001:db8::5");
	uint8_t raw[4] = { 1, 2, 3, 4 };
	cidr_set_init(&s);
	cr_assert(cidr_set_match(&s, (struct sockaddr *)&a));
	cr_assert(cidr_set_match(&s, (struct sockaddr *)&b));
	cr_assert(cidr_set_match_raw(&s, AF_INET, raw));
}

Test(cidr_set, matches_any_entry_and_nothing_else)
{
	struct cidr_set s;
	struct seed_err e;
	seed_err_clear(&e);
	cidr_set_init(&s);
	cr_assert_eq(cidr_set_add_str(&s, "10.0.0.0/8", &e), 0);
	cr_assert_eq(cidr_set_add_str(&s, "2001:db8::/32", &e), 0);
	struct sockaddr_storage in1 = peer("10.9.9.9"), out1 = peer("192.0.2.1");
	struct sockaddr_storage in2 = peer("2001:db8:1::1"), in3 = peer("::ffff:10.0.0.1"),
				out2 = peer("2001:db9::1"), out3 = peer("::ffff:192.0.2.1");
	cr_assert(cidr_set_match(&s, (struct sockaddr *)&in1));
	cr_assert(cidr_set_match(&s, (struct sockaddr *)&in2));
	cr_assert(cidr_set_match(&s, (struct sockaddr *)&in3));
	cr_assert_not(cidr_set_match(&s, (struct sockaddr *)&out1));
	cr_assert_not(cidr_set_match(&s, (struct sockaddr *)&out2));
	cr_assert_not(cidr_set_match(&s, (struct sockaddr *)&out3));
	cr_assert_not(cidr_set_match(&s, NULL));
	uint8_t raw_in[4] = { 10, 0, 0, 1 }, raw_out[4] = { 11, 0, 0, 1 };
	cr_assert(cidr_set_match_raw(&s, AF_INET, raw_in));
	cr_assert_not(cidr_set_match_raw(&s, AF_INET, raw_out));
}

Test(cidr_set, bad_entry_leaves_set_unchanged)
{
	struct cidr_set s;
	struct seed_err e;
	seed_err_clear(&e);
	cidr_set_init(&s);
	cr_assert_eq(cidr_set_add_str(&s, "10.0.0.1/8", &e), -EINVAL);
	cr_assert_eq(s.n, 0);
	cr_assert(strstr(e.msg, "host bits"), "%s", e.msg);
}

Test(cidr_set, is_bounded)
{
	struct cidr_set s;
	struct seed_err e;
	char buf[32];
	cidr_set_init(&s);
	for (int i = 0; i < CIDR_SET_MAX; i++) {
		seed_err_clear(&e);
		snprintf(buf, sizeof(buf), "10.%d.%d.0/24", i / 256, i % 256);
		cr_assert_eq(cidr_set_add_str(&s, buf, &e), 0, "%s", e.msg);
	}
	seed_err_clear(&e);
	cr_assert_eq(cidr_set_add_str(&s, "192.0.2.0/24", &e), -ENOSPC);
	cr_assert(strstr(e.msg, "more than 256"), "%s", e.msg);
	cr_assert_eq(s.n, CIDR_SET_MAX);
	struct sockaddr_storage last = peer("10.0.255.9");
	cr_assert(cidr_set_match(&s, (struct sockaddr *)&last));
}

/* cidr_check takes what cidr_parse gives and refuses what it could not. */
Test(cidr, check_accepts_only_what_parse_could_produce)
{
	static const char *good[] = { "0.0.0.0/0", "10.0.0.0/8",    "192.0.2.7",
				      "::/0",	   "2001:db8::/32", "2001:db8::1" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct cidr c;
		cr_assert_eq(cidr_parse(good[i], &c, NULL), 0, "%s", good[i]);
		cr_expect_eq(cidr_check(&c, NULL), 0, "%s", good[i]);
	}
	struct {
		struct cidr c;
		const char *what;
	} bad[] = {
		{ { .family = 99 }, "neither AF_INET nor AF_INET6" },
		{ { .family = AF_INET, .prefix = 33 }, "prefix /33 is longer than 32 bits" },
		{ { .family = AF_INET6, .prefix = 129 }, "prefix /129 is longer than 128 bits" },
		{ { .family = AF_INET, .prefix = 8, .addr = { 10, 0, 0, 1 } }, "bits set past /8" },
		{ { .family = AF_INET, .prefix = 32, .addr = { 10, 0, 0, 1, 9 } },
		  "bits set past /32" },
		{ { .family = AF_INET6,
		    .prefix = 104,
		    .addr = { [10] = 0xff, [11] = 0xff, [12] = 10 } },
		  "IPv4-mapped" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct seed_err e;
		seed_err_clear(&e);
		cr_expect_eq(cidr_check(&bad[i].c, &e), -EINVAL, "case %zu", i);
		cr_expect_not_null(strstr(e.msg, bad[i].what), "case %zu: %s", i, e.msg);
	}
}
