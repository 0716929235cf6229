/* Tests for dataplane/dpconf.c: flags, config files, every error path. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../testutil.h"
#include "dpconf.h"

static int parse(struct dpconf *c, struct seed_err *e, const char *const *args, int n)
{
	char *argv[32];
	argv[0] = "seed-dataplane";
	for (int i = 0; i < n; i++)
		argv[i + 1] = (char *)args[i];
	dpconf_defaults(c);
	seed_err_clear(e);
	FILE *devnull = fopen("/dev/null", "w");
	int rc = dpconf_parse_args(c, n + 1, argv, devnull, e);
	fclose(devnull);
	return rc;
}

#define PARSE(c, e, ...)                                  \
	parse(c, e, (const char *const[]){ __VA_ARGS__ }, \
	      (int)(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *)))

Test(dpconf, flags_and_defaults)
{
	struct dpconf c;
	struct seed_err e;
	cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--bt-listen", "127.0.0.1:6881", "--bt-listen",
			   "[::1]:6881", "--http-listen=*:8080", "--workers", "3", "--cache-size",
			   "64M", "--zerocopy", "no"),
		     0, "%s", e.msg);
	cr_assert_str_eq(c.store, "/s");
	cr_assert_eq(c.n_bt, 2);
	cr_assert_eq(c.bt[0].ss.ss_family, AF_INET);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&c.bt[0].ss)->sin_port), 6881);
	cr_assert_eq(c.bt[1].ss.ss_family, AF_INET6);
	cr_assert_eq(c.n_http, 1);
	cr_assert_eq(((struct sockaddr_in *)&c.http[0].ss)->sin_addr.s_addr, htonl(INADDR_ANY));
	cr_assert_eq(c.workers, 3);
	cr_assert_eq(c.cache_size, 64ull << 20);
	cr_assert_eq(c.zerocopy, 0);
	cr_assert_eq(c.upload_slots, 64, "default kept");
	cr_assert_eq(dpconf_check(&c, &e), 0);
}

/* A number field of struct dpconf and the value it must hold. */
#define DP_FIELD(f, v) TU_U32_FIELD(struct dpconf, f, v)

/* The defaults come from the settings table (what --help shows): these are
 * the documented values (docs/dataplane.md), written out independently. */
Test(dpconf, defaults_are_the_documented_ones)
{
	static const struct tu_u32_field numbers[] = {
		DP_FIELD(workers, 0),	 /* one per CPU */
		DP_FIELD(object_fds, 0), /* auto: main sizes it from the limit */
		DP_FIELD(upload_slots, 64),
		DP_FIELD(max_conns, 4096),
		DP_FIELD(max_requests, 1000),
		DP_FIELD(handshake_timeout_ms, 10000),
		DP_FIELD(idle_timeout_ms, 120000),
		DP_FIELD(quarantine_ms, 60000),
		DP_FIELD(hugepages, 1),
		DP_FIELD(zerocopy, 1),
		DP_FIELD(mse, 2),
		DP_FIELD(seeding, 1), /* plain */
		DP_FIELD(swarm_window_kib, 1024),
		DP_FIELD(swarm_small, 2),
		DP_FIELD(swarm_starve_ms, 2000),
		DP_FIELD(swarm_boot_pct, 15),
		DP_FIELD(swarm_floor_kib, 8192),
		DP_FIELD(allow_root, 0),
		DP_FIELD(dpdk_port, 0),
		DP_FIELD(mtu, 1500),
		DP_FIELD(dpdk_idle_sleep_us, 0),
		DP_FIELD(n_bt, 0),
		DP_FIELD(n_http, 0),
	};
	struct dpconf c;
	dpconf_defaults(&c);
	cr_expect_eq(c.cache_size, 256ull << 20);
	cr_expect_eq(c.readahead, 16ull << 20);
	cr_expect_eq(c.storage_poll, DPCONF_AUTO);
	cr_expect_str_eq(c.user, "seed-dp");
	cr_expect_str_eq(c.backend, "uring");
	cr_expect_str_eq(c.store, "");
	cr_expect_str_eq(c.catalog, "", "none");
	cr_expect_str_eq(c.log_level, "", "unset: SEED_LOG_LEVEL applies");
	cr_expect_eq(c.deny.n, 0);
	cr_expect_eq(c.limit_exempt.n, 2, "127.0.0.0/8 and ::1");
	tu_check_u32(&c, numbers, TU_N(numbers));
}

static void bad(const char *flag, const char *val, const char *needle)
{
	struct dpconf c;
	struct seed_err e;
	cr_assert_eq(PARSE(&c, &e, "--store", "/s", flag, val), -EINVAL, "%s %s accepted", flag,
		     val);
	cr_assert_not_null(strstr(e.msg, needle), "\"%s\" lacks \"%s\"", e.msg, needle);
}

/* bytesize's grammar: K, M, G, T in either case; the bounds are the table's. */
Test(dpconf, cache_size_suffixes)
{
	static const struct {
		const char *v;
		uint64_t want;
	} cases[] = {
		{ "4M", 4ull << 20 },	 { "64m", 64ull << 20 },    { "8G", 8ull << 30 },
		{ "8g", 8ull << 30 },	 { "4T", 4ull << 40 },	    { "4t", 4ull << 40 },
		{ "4096K", 4ull << 20 }, { "4194304", 4ull << 20 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dpconf c;
		struct seed_err e;
		cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--cache-size", cases[i].v), 0,
			     "%s: %s", cases[i].v, e.msg);
		cr_assert_eq(c.cache_size, cases[i].want, "%s", cases[i].v);
	}
}

Test(dpconf, errors_name_the_flag_and_value)
{
	bad("--workers", "-1", "--workers");
	bad("--workers", "99999", "99999");
	bad("--cache-size", "1K", "--cache-size");
	bad("--cache-size", "12X", "12X");
	bad("--cache-size", "1K", "from 4M to 4T");
	bad("--cache-size", "5T", "--cache-size: \"5T\" is not a size from 4M to 4T");
	bad("--cache-size", "-1", "--cache-size");
	bad("--cache-size", " 64M", "--cache-size");
	bad("--cache-size", "16777216T", "16777216T");
	bad("--bt-listen", "127.0.0.1", "expected ADDR:PORT");
	bad("--bt-listen", "127.0.0.1:70000", "port");
	bad("--bt-listen", "example.com:80", "not an IPv4 or IPv6");
	bad("--http-listen", "[::1:80", "[IPv6]:PORT");
	bad("--hugepages", "maybe", "yes or no");
	bad("--storage-poll", "maybe", "--storage-poll: \"maybe\" is not yes, no or auto");
	bad("--readahead", "5G", "--readahead: \"5G\" is not a size from 0 to 4G");
	bad("--object-fds", "lots", "--object-fds: \"lots\" is not a number from 0 to 268435456");
	bad("--object-fds", "268435457", "268435457");
	bad("--workers", "auto", "--workers: \"auto\"");
	bad("--nope", "1", "unknown option \"--nope\"");
	struct dpconf c;
	struct seed_err e;
	cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--object-fds", "128"), 0, "%s", e.msg);
	cr_expect_eq(c.object_fds, 128);
	cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--object-fds", "128", "--object-fds", "auto"),
		     0, "%s", e.msg);
	cr_expect_eq(c.object_fds, 0, "auto is the documented default");
	cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--storage-poll", "no", "--readahead", "0"), 0,
		     "%s", e.msg);
	cr_expect_eq(c.storage_poll, 0);
	cr_expect_eq(c.readahead, 0, "0: one block per miss");
	cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--storage-poll", "yes"), 0, "%s", e.msg);
	cr_expect_eq(c.storage_poll, 1);
	cr_assert_eq(PARSE(&c, &e, "--workers"), -EINVAL);
	cr_assert_not_null(strstr(e.msg, "needs a value"));
	cr_assert_eq(PARSE(&c, &e, "stray"), -EINVAL);
	cr_assert_eq(PARSE(&c, &e, "--help"), 1);
	cr_assert_eq(PARSE(&c, &e, "--bt-listen", "127.0.0.1:1"), 0);
	cr_assert_eq(dpconf_check(&c, &e), -EINVAL);
	cr_assert_not_null(strstr(e.msg, "--store"));
}

Test(dpconf, config_file_with_line_numbers)
{
	char path[] = "/tmp/dpconf.XXXXXX";
	int fd = mkstemp(path);
	const char *text = "# a comment\n\nstore = /data/store\nworkers = 2   # trailing\n"
			   "bt-listen = 0.0.0.0:6881\n\ncache-size = lots\n";
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct dpconf c;
	struct seed_err e;
	cr_assert_eq(PARSE(&c, &e, "--config", path), -EINVAL);
	char want[64];
	snprintf(want, sizeof(want), "%s:7", path);
	cr_assert_not_null(strstr(e.msg, want), "%s lacks %s", e.msg, want);
	cr_assert_str_eq(c.store, "/data/store");
	cr_assert_eq(c.workers, 2);

	fd = open(path, O_WRONLY | O_TRUNC);
	const char *t2 = "store = /a\nworkers = 2\nfrobnicate = 1\n";
	cr_assert_eq(write(fd, t2, strlen(t2)), (ssize_t)strlen(t2));
	close(fd);
	cr_assert_eq(PARSE(&c, &e, "--config", path), -EINVAL);
	cr_assert_not_null(strstr(e.msg, ":3: unknown setting \"frobnicate\""), "%s", e.msg);

	fd = open(path, O_WRONLY | O_TRUNC);
	const char *t3 = "store = /a\nworkers = 2\n";
	cr_assert_eq(write(fd, t3, strlen(t3)), (ssize_t)strlen(t3));
	close(fd);
	cr_assert_eq(PARSE(&c, &e, "--config", path, "--workers", "5"), 0, "%s", e.msg);
	cr_assert_eq(c.workers, 5, "flags after --config override the file");
	unlink(path);
	cr_assert_eq(PARSE(&c, &e, "--config", path), -ENOENT);
}

/* --log-level keeps its spec for main to apply (log_configure checks it
 * whole there); empty or overlong values are refused here. */
Test(dpconf, log_level_is_kept_for_main)
{
	struct dpconf c;
	struct seed_err e;
	char big[400];

	cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--bt-listen", "127.0.0.1:1"), 0, "%s", e.msg);
	cr_assert_str_eq(c.log_level, "", "no --log-level: SEED_LOG_LEVEL or info applies");
	cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--bt-listen", "127.0.0.1:1", "--log-level",
			   "warn,dataplane.worker=debug"),
		     0, "%s", e.msg);
	cr_assert_str_eq(c.log_level, "warn,dataplane.worker=debug");
	cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--log-level", ""), -EINVAL);
	cr_assert(strstr(e.msg, "--log-level"), "%s", e.msg);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--log-level", big), -EINVAL);
	cr_assert(strstr(e.msg, "bad log level"), "%s", e.msg);
}

/* The dpdk backend's settings: parsed into host-order addresses, checked
 * together (an address is required, the gateway on its subnet), and
 * refused on the uring backend where they would silently do nothing. */
Test(dpconf, dpdk_settings)
{
	struct dpconf c;
	struct seed_err e;
	cr_assert_str_eq((dpconf_defaults(&c), c.backend), "uring");
	cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--http-listen", "*:80", "--backend", "dpdk",
			   "--ip", "192.0.2.10/24", "--gateway", "192.0.2.1", "--mtu", "9000",
			   "--dpdk-port", "1", "--dpdk-args", "--no-huge -m 512",
			   "--dpdk-idle-sleep", "50"),
		     0, "%s", e.msg);
	cr_assert_str_eq(c.backend, "dpdk");
	cr_assert_eq(c.ip, 0xc000020au);
	cr_assert_eq(c.prefix, 24u);
	cr_assert_eq(c.gateway, 0xc0000201u);
	cr_assert_eq(c.mtu, 9000u);
	cr_assert_eq(c.dpdk_port, 1u);
	cr_assert_str_eq(c.dpdk_args, "--no-huge -m 512");
	cr_assert_eq(c.dpdk_idle_sleep_us, 50u);
	cr_assert_eq(dpconf_check(&c, &e), 0, "%s", e.msg);

	static const struct {
		const char *const args[4];
		const char *needle; /* in the error of the parse or, if it parses, the check */
	} cases[] = {
		{ { "--backend", "xdp" }, "--backend: \"xdp\" is not uring or dpdk" },
		{ { "--backend", "dpdk" }, "--backend dpdk needs --ip ADDR/PREFIX" },
		{ { "--ip", "192.0.2.10" }, "needs a prefix length /1 to /32" },
		{ { "--ip", "192.0.2.10/33" }, "needs a prefix length" },
		{ { "--ip", "192.0.2.10/" }, "needs a prefix length" },
		{ { "--ip", "2001:db8::1/64" }, "not an IPv4 address" },
		{ { "--ip", "0.0.0.0/8" }, "not an IPv4 address" },
		{ { "--gateway", "gw" }, "--gateway: \"gw\" is not an IPv4 address" },
		{ { "--mtu", "100" }, "--mtu" },
		{ { "--ip", "192.0.2.10/24" }, "apply to --backend dpdk only" },
		{ { "--dpdk-args", "-l 0" }, "apply to --backend dpdk only" },
		{ { "--backend", "dpdk", "--ip", "192.0.2.10/24" }, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const *a = cases[i].args;
		int n = a[2] ? 4 : 2;
		int rc = n == 4 ? PARSE(&c, &e, "--store", "/s", "--http-listen", "*:80", a[0],
					a[1], a[2], a[3])
				: PARSE(&c, &e, "--store", "/s", "--http-listen", "*:80", a[0],
					a[1]);
		if (rc == 0)
			rc = dpconf_check(&c, &e);
		if (!cases[i].needle) {
			cr_assert_eq(rc, 0, "%s %s: %s", a[0], a[1], e.msg);
			continue;
		}
		cr_assert_eq(rc, -EINVAL, "%s %s accepted", a[0], a[1]);
		cr_assert_not_null(strstr(e.msg, cases[i].needle), "%s %s: \"%s\" lacks \"%s\"",
				   a[0], a[1], e.msg, cases[i].needle);
	}
	/* a gateway off the subnet */
	cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--http-listen", "*:80", "--backend", "dpdk",
			   "--ip", "192.0.2.10/24", "--gateway", "198.51.100.1"),
		     0);
	cr_assert_eq(dpconf_check(&c, &e), -EINVAL);
	cr_assert_not_null(strstr(e.msg, "--gateway is not on the subnet of --ip"), "%s", e.msg);
}

/* Two listeners that could not both bind are refused at start, naming
 * both; port 0 (any) never collides, nor do other families or ports. */
Test(dpconf, listeners_on_one_port_are_refused)
{
	static const struct {
		const char *bt, *http;
		int clash;
	} cases[] = {
		{ "*:6881", "*:6881", 1 },
		{ "*:6881", "127.0.0.1:6881", 1 },
		{ "127.0.0.1:6881", "*:6881", 1 },
		{ "127.0.0.1:6881", "127.0.0.1:6881", 1 },
		{ "[::]:6881", "[::1]:6881", 1 },
		{ "127.0.0.1:6881", "127.0.0.2:6881", 0 },
		{ "*:6881", "*:6882", 0 },
		{ "*:0", "*:0", 0 },
		{ "[::1]:6881", "127.0.0.1:6881", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dpconf c;
		struct seed_err e;
		cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--bt-listen", cases[i].bt,
				   "--http-listen", cases[i].http),
			     0, "%s", e.msg);
		int rc = dpconf_check(&c, &e);
		if (!cases[i].clash) {
			cr_expect_eq(rc, 0, "%s and %s: %s", cases[i].bt, cases[i].http, e.msg);
			continue;
		}
		cr_expect_eq(rc, -EADDRINUSE, "%s and %s accepted", cases[i].bt, cases[i].http);
		cr_expect_not_null(strstr(e.msg, "--http-listen"), "%s", e.msg);
		cr_expect_not_null(strstr(e.msg, "in use by --bt-listen"), "%s", e.msg);
	}
}

/* The per-source limits (admit.h): defaults that one downloader never meets,
 * loopback exempt; a CIDR list replaces the one before it (the command line
 * wins over the file), "none" empties it, and a bad entry names itself. */
Test(dpconf, per_source_limits)
{
	struct dpconf c;
	struct seed_err e;
	struct sockaddr_in a = { .sin_family = AF_INET };
	static const struct tu_u32_field limits[] = {
		DP_FIELD(addr_conns, 128), DP_FIELD(prefix_conns, 512), DP_FIELD(addr_rate, 32),
		DP_FIELD(addr_burst, 128), DP_FIELD(mse_rate, 8),	DP_FIELD(mse_burst, 32),
	};
	cr_assert_eq(PARSE(&c, &e, "--store", "/s"), 0, "%s", e.msg);
	tu_check_u32(&c, limits, TU_N(limits));
	cr_assert_eq(c.deny.n, 0, "nobody denied by default");
	cr_assert_eq(c.limit_exempt.n, 2);
	a.sin_addr.s_addr = htonl(0x7f000005);
	cr_assert(cidr_set_match(&c.limit_exempt, (struct sockaddr *)&a), "127.0.0.5 exempt");
	a.sin_addr.s_addr = htonl(0x0a000001);
	cr_assert(!cidr_set_match(&c.limit_exempt, (struct sockaddr *)&a), "10.0.0.1 not exempt");

	cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--deny", "10.0.0.0/8, 2001:db8::/32,192.0.2.1",
			   "--limit-exempt", "none", "--addr-conns", "0", "--addr-conn-rate", "0",
			   "--addr-mse-burst", "5"),
		     0, "%s", e.msg);
	cr_assert_eq(c.deny.n, 3);
	cr_assert(cidr_set_match(&c.deny, (struct sockaddr *)&a), "10.0.0.1 denied");
	cr_assert_eq(c.limit_exempt.n, 0, "none empties the list");
	cr_assert_eq(c.addr_conns, 0, "0 turns a limit off");
	cr_assert_eq(c.addr_rate, 0);
	cr_assert_eq(c.mse_burst, 5);
	cr_assert_eq(
		PARSE(&c, &e, "--store", "/s", "--deny", "10.0.0.0/8", "--deny", "192.0.2.0/24"), 0,
		"%s", e.msg);
	cr_assert_eq(c.deny.n, 1, "a later list replaces an earlier one");
	cr_assert(!cidr_set_match(&c.deny, (struct sockaddr *)&a));

	bad("--deny", "10.0.0.1/8", "--deny");
	bad("--deny", "10.0.0.1/8", "10.0.0.1/8");
	bad("--deny", "nonsense", "nonsense");
	bad("--deny", ",", "empty list");
	bad("--deny", "", "empty list");
	bad("--limit-exempt", "::ffff:10.0.0.0/104", "--limit-exempt");
	bad("--addr-conn-burst", "0", "--addr-conn-burst");
	bad("--addr-mse-rate", "100001", "100001");
	char longest[200];
	memset(longest, '1', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = 0;
	bad("--deny", longest, "not a CIDR prefix");
}

/* --seeding names a policy (enum swarm_policy's values); "default" is a
 * tenant's word for "the data plane's", not a policy of the data plane. */
Test(dpconf, seeding_policies)
{
	struct dpconf c;
	struct seed_err e;
	static const char *const names[] = { "plain", "super", "rarest" };

	for (unsigned i = 0; i < 3; i++) {
		cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--seeding", names[i]), 0, "%s", e.msg);
		cr_assert_eq(c.seeding, i + 1, "--seeding %s", names[i]);
	}
	cr_assert_eq(PARSE(&c, &e, "--store", "/s", "--swarm-window", "64", "--swarm-small", "0",
			   "--swarm-starve", "500", "--swarm-floor", "0"),
		     0, "%s", e.msg);
	cr_assert(c.swarm_window_kib == 64 && c.swarm_small == 0 && c.swarm_starve_ms == 500 &&
		  c.swarm_floor_kib == 0);
	bad("--seeding", "default", "not plain, super or rarest");
	bad("--seeding", "Rarest", "--seeding");
	bad("--seeding", "", "not plain");
	bad("--swarm-window", "8", "--swarm-window");
	bad("--swarm-starve", "99", "--swarm-starve");
	bad("--swarm-boot", "101", "--swarm-boot");
	bad("--swarm-floor", "16777217", "--swarm-floor");
}
