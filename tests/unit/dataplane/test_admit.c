/*
 * Unit tests for dataplane/admit.c, the per-source limits at accept: the
 * concurrent limit per address and per /24 (/56) stops a flood and lets it
 * in again as connections close; the rate bucket refuses past its burst
 * and refills with time; MSE handshakes have their own bucket; the deny
 * list refuses, the exempt list skips the limits but not the deny list;
 * a limit of 0 is off; every slot held by addresses at their limit plus
 * 100,000 addresses coming and going leave room for newcomers (the table
 * never fills); two threads share one limit.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "admit.h"

#define T0 5000000 /* ms: any monotonic origin */

static struct admit *a;

static void make(unsigned conns, unsigned prefix, unsigned rate, unsigned burst, unsigned mrate,
		 unsigned mburst)
{
	struct admit_config cf = { .addr_conns = conns,
				   .prefix_conns = prefix,
				   .addr_rate = rate,
				   .addr_burst = burst,
				   .mse_rate = mrate,
				   .mse_burst = mburst };
	cidr_set_init(&cf.deny);
	cidr_set_init(&cf.exempt);
	cr_assert_eq(cidr_set_add_str(&cf.deny, "192.0.2.0/24", NULL), 0);
	cr_assert_eq(cidr_set_add_str(&cf.exempt, "127.0.0.0/8", NULL), 0);
	cr_assert_eq(cidr_set_add_str(&cf.exempt, "2001:db8:ffff::/48", NULL), 0);
	struct seed_err err = { 0 };
	cr_assert_eq(admit_create(&cf, &a, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
	admit_free(a);
	a = NULL;
}

static void v4(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	cr_assert_eq(inet_pton(AF_INET, s, out), 1, "%s", s);
}

static void v6(const char *s, uint8_t out[16])
{
	cr_assert_eq(inet_pton(AF_INET6, s, out), 1, "%s", s);
}

/* admit_conn from s at now; returns 0 or the refusal's cause + 1 */
static int try4(const char *s, uint64_t now, struct admit_ticket *t)
{
	uint8_t ad[16];
	enum dpstats_admit why = DPSTATS_NADMIT;
	v4(s, ad);
	int rc = admit_conn(a, AF_INET, ad, now, t, &why);
	if (rc == 0)
		return 0;
	cr_assert_eq(rc, -EACCES);
	cr_assert_lt(why, DPSTATS_NADMIT);
	cr_assert_eq(t->held, 0, "a refused connection holds nothing");
	return (int)why + 1;
}

Test(admit, address_limit_stops_a_flood_and_reopens_as_it_leaves, .fini = teardown)
{
	make(8, 0, 0, 1, 0, 1);
	struct admit_ticket t[8], x;
	for (int i = 0; i < 8; i++)
		cr_assert_eq(try4("198.51.100.7", T0, &t[i]), 0, "connection %d", i);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(try4("198.51.100.7", T0, &x), DPSTATS_ADMIT_ADDR_CONNS + 1);
	/* a neighbour in the same /24 is another address */
	cr_assert_eq(try4("198.51.100.8", T0, &x), 0);
	admit_release(a, &x);
	admit_release(a, &t[3]);
	admit_release(a, &t[3]); /* twice: ignored */
	cr_assert_eq(try4("198.51.100.7", T0, &t[3]), 0, "a freed place is taken again");
	cr_assert_eq(try4("198.51.100.7", T0, &x), DPSTATS_ADMIT_ADDR_CONNS + 1, "only one");
	for (int i = 0; i < 8; i++)
		admit_release(a, &t[i]);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(try4("198.51.100.7", T0, &t[i]), 0, "all back after closes");
}

Test(admit, prefix_limit_counts_a_whole_slash24, .fini = teardown)
{
	make(0, 5, 0, 1, 0, 1);
	struct admit_ticket t[5], x;
	char ip[32];
	for (int i = 0; i < 5; i++) {
		snprintf(ip, sizeof(ip), "203.0.113.%d", 10 + i);
		cr_assert_eq(try4(ip, T0, &t[i]), 0, "%s", ip);
	}
	cr_assert_eq(try4("203.0.113.200", T0, &x), DPSTATS_ADMIT_PREFIX_CONNS + 1);
	cr_assert_eq(try4("203.0.114.1", T0, &x), 0, "the next /24 is another prefix");
	admit_release(a, &t[0]);
	cr_assert_eq(try4("203.0.113.200", T0, &t[0]), 0);
}

Test(admit, ipv6_prefix_is_slash56, .fini = teardown)
{
	make(0, 2, 0, 1, 0, 1);
	uint8_t x1[16], x2[16], x3[16], y[16];
	v6("2001:db8:1:100::1", x1);
	v6("2001:db8:1:1ff::2", x2); /* same /56 (2001:db8:1:100::/56) */
	v6("2001:db8:1:1aa::3", x3);
	v6("2001:db8:1:200::1", y); /* the next /56 */
	struct admit_ticket t1, t2, t3, ty;
	enum dpstats_admit why;
	cr_assert_eq(admit_conn(a, AF_INET6, x1, T0, &t1, &why), 0);
	cr_assert_eq(admit_conn(a, AF_INET6, x2, T0, &t2, &why), 0);
	cr_assert_eq(admit_conn(a, AF_INET6, x3, T0, &t3, &why), -EACCES);
	cr_assert_eq(why, DPSTATS_ADMIT_PREFIX_CONNS);
	cr_assert_eq(admit_conn(a, AF_INET6, y, T0, &ty, &why), 0);
}

Test(admit, rate_bucket_refuses_past_its_burst_and_refills, .fini = teardown)
{
	make(0, 0, 10, 20, 0, 1); /* 10/s, burst 20 */
	struct admit_ticket x;
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(try4("198.51.100.9", T0, &x), 0, "burst %d", i);
		admit_release(a, &x);
	}
	cr_assert_eq(try4("198.51.100.9", T0, &x), DPSTATS_ADMIT_ADDR_RATE + 1);
	cr_assert_eq(try4("198.51.100.9", T0 + 50, &x), DPSTATS_ADMIT_ADDR_RATE + 1,
		     "half a token after 50 ms");
	cr_assert_eq(try4("198.51.100.9", T0 + 100, &x), 0, "one token after 100 ms");
	admit_release(a, &x);
	cr_assert_eq(try4("198.51.100.9", T0 + 100, &x), DPSTATS_ADMIT_ADDR_RATE + 1);
	/* a long pause refills to the burst, not beyond */
	int ok = 0;
	for (int i = 0; i < 40; i++)
		if (try4("198.51.100.9", T0 + 3600000, &x) == 0) {
			ok++;
			admit_release(a, &x);
		}
	cr_assert_eq(ok, 20);
	/* another worker's clock a few ms behind the last writer's sees no
	 * time pass: it must not find the bucket refilled */
	for (int i = 0; i < 20; i++)
		cr_assert_eq(try4("198.51.100.11", T0 + 7200000, &x), 0);
	cr_assert_eq(try4("198.51.100.11", T0 + 7200000 - 3, &x), DPSTATS_ADMIT_ADDR_RATE + 1);
	cr_assert_eq(try4("198.51.100.11", T0 + 7200000 - 1000, &x), DPSTATS_ADMIT_ADDR_RATE + 1);
	/* another address has its own bucket */
	cr_assert_eq(try4("198.51.100.10", T0 + 100, &x), 0);
}

Test(admit, mse_bucket_is_separate, .fini = teardown)
{
	make(0, 0, 0, 1, 2, 3); /* 2/s, burst 3 */
	uint8_t ad[16], other[16];
	v4("198.51.100.20", ad);
	v4("198.51.100.21", other);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(admit_mse(a, AF_INET, ad, T0), 1, "burst %d", i);
	cr_assert_eq(admit_mse(a, AF_INET, ad, T0), 0);
	cr_assert_eq(admit_mse(a, AF_INET, other, T0), 1);
	cr_assert_eq(admit_mse(a, AF_INET, ad, T0 + 500), 1, "one token per 500 ms");
	cr_assert_eq(admit_mse(a, AF_INET, ad, T0 + 500), 0);
	struct admit_ticket x;
	cr_assert_eq(try4("198.51.100.20", T0, &x), 0, "connections are not MSE handshakes");
}

Test(admit, deny_refuses_and_exempt_skips_limits, .fini = teardown)
{
	make(1, 1, 1, 1, 1, 1);
	struct admit_ticket x;
	cr_assert_eq(try4("192.0.2.77", T0, &x), DPSTATS_ADMIT_DENIED + 1);
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(try4("127.0.0.1", T0, &x), 0, "loopback %d", i);
		cr_assert_eq(x.held, 0, "an exempt connection holds nothing");
	}
	uint8_t ad[16];
	v4("127.0.0.1", ad);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(admit_mse(a, AF_INET, ad, T0), 1);
	v6("2001:db8:ffff:1::5", ad);
	enum dpstats_admit why;
	for (int i = 0; i < 10; i++)
		cr_assert_eq(admit_conn(a, AF_INET6, ad, T0, &x, &why), 0);
	/* an address family we do not know is refused, not counted */
	cr_assert_eq(admit_conn(a, AF_UNIX, ad, T0, &x, &why), -EACCES);
	cr_assert_eq(why, DPSTATS_ADMIT_DENIED);
}

Test(admit, zero_limits_are_off, .fini = teardown)
{
	make(0, 0, 0, 1, 0, 1);
	struct admit_ticket x;
	for (int i = 0; i < 5000; i++)
		cr_assert_eq(try4("198.51.100.30", T0, &x), 0);
	uint8_t ad[16];
	v4("198.51.100.30", ad);
	for (int i = 0; i < 5000; i++)
		cr_assert_eq(admit_mse(a, AF_INET, ad, T0), 1);
}

/* The worst a full data plane can do to the table: every slot of 2
 * workers (8,192) held by addresses at their limit (512 addresses of 16),
 * while 100,000 other addresses come and go. The counts are cells, not
 * entries: nothing fills up, and a newcomer is refused only when both of
 * its cells are among the 512 saturated ones of their rows, about
 * (512 / 16,384)^2 = 0.1 % of newcomers. */
Test(admit, a_full_data_plane_never_locks_out_newcomers, .fini = teardown)
{
	make(16, 0, 1000, 1000, 0, 1);
	enum { HEAVY = 512, PER = 16 };
	static struct admit_ticket held[HEAVY * PER];
	uint8_t ad[16] = { 0 };
	enum dpstats_admit why;
	unsigned n = 0;
	for (uint32_t h = 0; h < HEAVY; h++) {
		uint32_t ip = htonl(0x0a000000u + h * 977u);
		memcpy(ad, &ip, 4);
		for (int k = 0; k < PER; k++)
			if (admit_conn(a, AF_INET, ad, T0, &held[n], &why) == 0)
				n++;
		struct admit_ticket x;
		cr_assert_eq(admit_conn(a, AF_INET, ad, T0, &x, &why), -EACCES, "heavy %u", h);
	}
	cr_assert_geq(n, HEAVY * PER - 64, "heavy addresses reached their limit: %u held", n);
	unsigned churn_refused = 0;
	for (uint32_t i = 0; i < 100000; i++) {
		uint32_t ip = htonl(0x14000000u + i * 2654435761u % 0x00ffffffu); /* 20/8 */
		memcpy(ad, &ip, 4);
		struct admit_ticket t;
		if (admit_conn(a, AF_INET, ad, T0 + i, &t, &why) < 0)
			churn_refused++;
		else
			admit_release(a, &t);
	}
	cr_assert_lt(churn_refused, 1000, "strangers refused: %u of 100000", churn_refused);
	int newcomers = 0;
	for (int i = 0; i < 1000; i++) {
		struct admit_ticket t;
		uint32_t ip = htonl(0xc6336400u + (uint32_t)i); /* 198.51.100.0/22 */
		memcpy(ad, &ip, 4);
		if (admit_conn(a, AF_INET, ad, T0 + 200000, &t, &why) == 0) {
			newcomers++;
			admit_release(a, &t);
		}
	}
	cr_assert_geq(newcomers, 990, "newcomers admitted: %d of 1000", newcomers);
	for (unsigned i = 0; i < n; i++)
		admit_release(a, &held[i]);
	/* all given back: the heavy addresses start from zero again */
	uint32_t ip = htonl(0x0a000000u);
	memcpy(ad, &ip, 4);
	for (int k = 0; k < PER; k++) {
		struct admit_ticket t;
		cr_assert_eq(admit_conn(a, AF_INET, ad, T0 + 300000, &t, &why), 0,
			     "after release %d", k);
	}
}

/* Two threads on one address: the overshoot is at most one per thread,
 * and every release balances (the counts return to zero). */
struct racer {
	int admitted;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	uint8_t ad[16];
	v4("198.51.100.40", ad);
	struct admit_ticket t[64];
	enum dpstats_admit why;
	for (int round = 0; round < 200; round++) {
		int n = 0;
		for (int i = 0; i < 64; i++)
			if (admit_conn(a, AF_INET, ad, T0, &t[n], &why) == 0)
				n++;
		if (n > r->admitted)
			r->admitted = n;
		for (int i = 0; i < n; i++)
			admit_release(a, &t[i]);
	}
	return NULL;
}

Test(admit, two_threads_share_one_limit, .fini = teardown)
{
	make(32, 0, 0, 1, 0, 1);
	pthread_t th[2];
	struct racer r[2] = { { 0 }, { 0 } };
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	cr_assert_leq(r[0].admitted, 32 + 1);
	cr_assert_leq(r[1].admitted, 32 + 1);
	struct admit_ticket t[32], x;
	for (int i = 0; i < 32; i++)
		cr_assert_eq(try4("198.51.100.40", T0, &t[i]), 0, "count back to zero: %d", i);
	cr_assert_eq(try4("198.51.100.40", T0, &x), DPSTATS_ADMIT_ADDR_CONNS + 1);
}
