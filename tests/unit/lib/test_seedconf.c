/*
 * Unit tests for lib/seedconf.c: valid minimal and full configs, defaults,
 * the shipped appliance/seed.conf, rate and duration units, and every
 * refusal, each checked for the "FILE:LINE: KEY.PATH: " prefix operators
 * rely on. Configs are built from small templates so the line of the
 * faulty setting is known: node_with() puts its argument on line 4,
 * tenant_with() on line 4 inside tenant [0].
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "seedconf.h"

static char text[1 << 16];

/* text = head extra tail: a config with extra on a known line. */
static const char *config_with(const char *head, const char *extra, const char *tail)
{
	int n = snprintf(text, sizeof(text), "%s%s%s", head, extra, tail);
	cr_assert(n > 0 && (size_t)n < sizeof(text));
	return text;
}

static const char *node_with(const char *extra)
{
	return config_with("node = {\n"
			   "  name = \"n1\";\n"
			   "  store = \"/srv/store\";\n"
			   "  ",
			   extra, "\n};\n");
}

static const char *tenant_with(const char *extra)
{
	return config_with("node = { name = \"n1\"; store = \"/s\"; };\n"
			   "tenants = (\n"
			   "  { id = \"acme\";\n"
			   "    ",
			   extra,
			   "\n"
			   "  }\n"
			   ");\n");
}

/* `key = "FXXX...";` with a value of len bytes, F = first and the rest
 * filler ('a' after a '/', else first again); valid until the next call. */
static const char *setting_of_len(const char *key, char first, size_t len)
{
	static char line[5000];
	char fill = first == '/' ? 'a' : first;
	int n = snprintf(line, sizeof(line), "%s = \"%c", key, first);

	cr_assert(n > 0 && (size_t)n + len + 3 < sizeof(line));
	memset(line + n, fill, len - 1);
	memcpy(line + n + len - 1, "\";", 3);
	return line;
}

/* The status listener's address is af's addr:port, of af's length. */
static void expect_status_addr(const struct seedconf *c, int af, const char *addr, uint16_t port)
{
	struct sockaddr_storage want = { .ss_family = (sa_family_t)af };
	struct sockaddr_in *v4 = (struct sockaddr_in *)&want;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&want;
	int ok = af == AF_INET ? inet_pton(af, addr, &v4->sin_addr)
			       : inet_pton(af, addr, &v6->sin6_addr);
	size_t len = af == AF_INET ? sizeof(*v4) : sizeof(*v6);

	cr_assert_eq(ok, 1, "%s", addr);
	if (af == AF_INET)
		v4->sin_port = htons(port);
	else
		v6->sin6_port = htons(port);
	cr_assert_eq(c->node.status_addr_len, len, "%s", addr);
	cr_assert_eq(memcmp(&c->node.status_addr, &want, len), 0, "not %s port %u", addr, port);
}

static struct seedconf *load_ok(const char *t)
{
	struct seedconf *c = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(seedconf_load_string(t, "t.conf", &c, &e), 0, "refused: %s\n---\n%s", e.msg,
		     t);
	cr_assert_not_null(c);
	return c;
}

/* Expects a refusal whose message starts with prefix and contains want. */
static void load_bad(const char *t, const char *prefix, const char *want)
{
	struct seedconf *c = (struct seedconf *)(uintptr_t)1;
	struct seed_err e;
	seed_err_clear(&e);
	int rc = seedconf_load_string(t, "t.conf", &c, &e);
	cr_assert_eq(rc, -EINVAL, "accepted (rc %d):\n%s", rc, t);
	cr_assert_null(c, "*out not NULL after failure");
	cr_assert_eq(e.code, -EINVAL);
	cr_assert_eq(strncmp(e.msg, prefix, strlen(prefix)), 0,
		     "message \"%s\" lacks prefix \"%s\"", e.msg, prefix);
	cr_assert(strstr(e.msg, want), "message \"%s\" lacks \"%s\"", e.msg, want);
	cr_assert_null(strchr(e.msg, '\n'), "message is not one line: %s", e.msg);
}

static void rate_is(const char *s, uint64_t want)
{
	uint64_t r = 12345;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(seedconf_parse_rate(s, &r, &e), 0, "%s: %s", s, e.msg);
	cr_assert_eq(r, want, "%s gave %llu", s, (unsigned long long)r);
}

static void rate_bad(const char *s, const char *want)
{
	uint64_t r = 12345;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(seedconf_parse_rate(s, &r, &e), -EINVAL, "%s accepted", s);
	cr_assert_eq(r, 12345, "out written on failure");
	cr_assert(strstr(e.msg, want), "message \"%s\" lacks \"%s\"", e.msg, want);
}

static void duration_is(const char *s, int64_t want)
{
	int64_t d = -1;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(seedconf_parse_duration(s, &d, &e), 0, "%s: %s", s, e.msg);
	cr_assert_eq(d, want, "%s gave %lld", s, (long long)d);
}

static void duration_bad(const char *s, const char *want)
{
	int64_t d = -1;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(seedconf_parse_duration(s, &d, &e), -EINVAL, "%s accepted", s);
	cr_assert_eq(d, -1, "out written on failure");
	cr_assert(strstr(e.msg, want), "message \"%s\" lacks \"%s\"", e.msg, want);
}

/* ---- valid configs ---- */

Test(seedconf, minimal_config_gets_node_defaults)
{
	struct seedconf *c = load_ok("node = { name = \"seed-01\"; store = \"/var/lib/seed\"; };");
	cr_assert_str_eq(c->source, "t.conf");
	cr_assert_str_eq(c->node.name, "seed-01");
	cr_assert_str_eq(c->node.store, "/var/lib/seed");
	cr_assert_str_eq(c->node.run_dir, "/run/seed");
	cr_assert_str_eq(c->node.api_socket, "/run/seed/control.sock");
	cr_assert_str_eq(c->node.status_listen, "127.0.0.1:9180");
	expect_status_addr(c, AF_INET, "127.0.0.1", 9180);
	cr_assert_eq(c->node.announce_port, 6881);
	cr_assert_str_eq(c->node.announce_ip, "");
	cr_assert_eq(c->node.announce_family, 0);
	cr_assert_eq(c->node.n_status_hosts, 0, "the default list is the listener's to derive");
	cr_assert_eq(c->node.status_max_conns, 256);
	cr_assert_eq(c->node.api_max_conns, 64);
	cr_assert_str_eq(c->node.admin_group, "seed");
	cr_assert_str_eq(c->node.readonly_group, "seed-ro");
	cr_assert_eq(c->node.scrub_interval_s, 7 * 86400);
	cr_assert_eq(c->node.scrub_rate, 8000000);
	cr_assert_eq(c->node.reclaim_retired_s, 7 * 86400);
	cr_assert_eq(c->n_tenants, 0);
	cr_assert_null(c->tenants);
	seedconf_free(c);
}

Test(seedconf, store_keeper_settings)
{
	struct seedconf *c =
		load_ok("node = { name = \"s\"; store = \"/s\"; scrub_interval = "
			"\"0\"; scrub_rate = \"unlimited\"; reclaim_retired = \"1d12h\"; };");
	cr_assert_eq(c->node.scrub_interval_s, 0);
	cr_assert_eq(c->node.scrub_rate, 0);
	cr_assert_eq(c->node.reclaim_retired_s, 36 * 3600);
	seedconf_free(c);
	load_bad("node = { name = \"s\"; store = \"/s\"; scrub_rate = \"8MB\"; };",
		 "t.conf:1: node.scrub_rate: ", "unknown unit");
	load_bad("node = { name = \"s\"; store = \"/s\"; reclaim_retired = \"7 days\"; };",
		 "t.conf:1: node.reclaim_retired: ", "not a duration");
}

Test(seedconf, minimal_tenant_gets_defaults)
{
	struct seedconf *c = load_ok(tenant_with(""));
	cr_assert_eq(c->n_tenants, 1);
	const struct tenant *t = &c->tenants[0];
	cr_assert_str_eq(t->id, "acme");
	cr_assert_str_eq(t->name, "acme", "the display name defaults to the id");
	cr_assert_eq(t->bandwidth, 0);
	cr_assert_eq(t->max_peers, 0);
	cr_assert_eq(t->allow.n, 0);
	cr_assert_eq(t->n_trackers, 0);
	cr_assert_eq(t->embargo_s, 0);
	cr_assert_eq(t->line, 3);
	seedconf_free(c);
}

Test(seedconf, full_config)
{
	const char *t = "# a full config\n"
			"node = {\n"
			"  name = \"seed-01.fra_2\";\n"
			"  store = \"/var/lib/seed/store\";\n"
			"  run_dir = \"/run/seed2\";\n"
			"  api_socket = \"/run/seed2/control.sock\";\n"
			"  status_listen = \"[::1]:9181\";\n"
			"  announce_port = 51413;\n"
			"  announce_ip = \"2001:db8::10\";\n"
			"};\n"
			"tenants = (\n"
			"  { id = \"acme\";\n"
			"    name = \"Acme Games — Jeux\";\n"
			"    bandwidth = \"20MB/s\";\n"
			"    max_peers = 500;\n"
			"    allow = [ \"0.0.0.0/0\", \"::/0\" ];\n"
			"    trackers = [ \"udp://tracker.example:6969/announce\", "
			"\"http://t.example/announce\" ];\n"
			"    embargo = \"48h\";\n"
			"  },\n"
			"  { id = \"b-2\"; bandwidth = 1250000; embargo = 90; allow = ( "
			"\"10.0.0.0/8\" ); }\n"
			");\n";
	struct seedconf *c = load_ok(t);
	cr_assert_str_eq(c->node.name, "seed-01.fra_2");
	cr_assert_str_eq(c->node.run_dir, "/run/seed2");
	cr_assert_str_eq(c->node.api_socket, "/run/seed2/control.sock");
	expect_status_addr(c, AF_INET6, "::1", 9181);
	cr_assert_eq(c->node.announce_port, 51413);
	cr_assert_eq(c->node.announce_family, AF_INET6);
	cr_assert_eq(c->node.announce_addr[0], 0x20);
	cr_assert_eq(c->node.announce_addr[15], 0x10);
	cr_assert_eq(c->n_tenants, 2);
	const struct tenant *a = &c->tenants[0], *b = &c->tenants[1];
	cr_assert_str_eq(a->name, "Acme Games — Jeux");
	cr_assert_eq(a->bandwidth, 20000000);
	cr_assert_eq(a->max_peers, 500);
	cr_assert_eq(a->allow.n, 2);
	cr_assert_eq(a->allow.v[0].family, AF_INET);
	cr_assert_eq(a->allow.v[1].family, AF_INET6);
	cr_assert_eq(a->n_trackers, 2);
	cr_assert_str_eq(a->trackers[0], "udp://tracker.example:6969/announce");
	cr_assert_str_eq(a->trackers[1], "http://t.example/announce");
	cr_assert_eq(a->embargo_s, 48 * 3600);
	cr_assert_eq(a->line, 12);
	cr_assert_str_eq(b->id, "b-2");
	cr_assert_eq(b->bandwidth, 1250000);
	cr_assert_eq(b->embargo_s, 90);
	cr_assert_eq(b->allow.n, 1);
	cr_assert_eq(b->line, 20);
	seedconf_free(c);
}

Test(seedconf, tenant_find)
{
	struct seedconf *c = load_ok("node = { name = \"n\"; store = \"/s\"; };\n"
				     "tenants = ( { id = \"a\"; }, { id = \"b\"; } );\n");
	cr_assert_eq(seedconf_tenant_find(c, "b"), &c->tenants[1]);
	cr_assert_eq(seedconf_tenant_find(c, "a"), &c->tenants[0]);
	cr_assert_null(seedconf_tenant_find(c, "c"));
	cr_assert_null(seedconf_tenant_find(c, ""));
	cr_assert_null(seedconf_tenant_find(c, NULL));
	cr_assert_null(seedconf_tenant_find(NULL, "a"));
	seedconf_free(c);
	seedconf_free(NULL);
}

Test(seedconf, empty_tenant_lists)
{
	struct seedconf *c = load_ok("node = { name = \"n\"; store = \"/s\"; };\ntenants = ();\n");
	cr_assert_eq(c->n_tenants, 0);
	seedconf_free(c);
	c = load_ok("node = { name = \"n\"; store = \"/s\"; };\ntenants = [];\n");
	cr_assert_eq(c->n_tenants, 0);
	seedconf_free(c);
}

Test(seedconf, listen_forms)
{
	struct seedconf *c = load_ok(node_with("status_listen = \"*:9180\";"));
	expect_status_addr(c, AF_INET, "0.0.0.0", 9180);
	seedconf_free(c);
	c = load_ok(node_with("status_listen = \"\";"));
	cr_assert_eq(c->node.status_addr_len, 0, "\"\" disables the status listener");
	seedconf_free(c);
	c = load_ok(node_with("status_listen = \"192.0.2.1:80\";"));
	expect_status_addr(c, AF_INET, "192.0.2.1", 80);
	seedconf_free(c);
}

Test(seedconf, announce_ip_ipv4_and_hex_port)
{
	struct seedconf *c =
		load_ok(node_with("announce_ip = \"192.0.2.9\"; announce_port = 0x1AE1;"));
	cr_assert_eq(c->node.announce_family, AF_INET);
	cr_assert_eq(c->node.announce_addr[0], 192);
	cr_assert_eq(c->node.announce_addr[3], 9);
	cr_assert_eq(c->node.announce_port, 6881);
	seedconf_free(c);
}

Test(seedconf, big_integers_with_L_suffix_are_fine)
{
	struct seedconf *c = load_ok(tenant_with("bandwidth = 5000000000L; embargo = 86400L;"));
	cr_assert_eq(c->tenants[0].bandwidth, 5000000000ull);
	cr_assert_eq(c->tenants[0].embargo_s, 86400);
	seedconf_free(c);
}

Test(seedconf, numbers_in_comments_and_strings_are_not_integers)
{
	struct seedconf *c = load_ok("# bandwidth = 5000000000;\n"
				     "// 99999999999999999999\n"
				     "/* 4294967296\n 5000000000 */\n"
				     "node = { name = \"n\"; store = \"/s/5000000000\"; };\n"
				     "tenants = ( { id = \"a1\"; name = \"v 5000000000 \\\" 7\"; "
				     "bandwidth = \"1.5GB/s\"; } );\n");
	cr_assert_str_eq(c->node.store, "/s/5000000000");
	cr_assert_str_eq(c->tenants[0].name, "v 5000000000 \" 7");
	cr_assert_eq(c->tenants[0].bandwidth, 1500000000ull);
	seedconf_free(c);
}

/*
 * appliance/seed.conf: $SRCDIR/appliance/seed.conf when SRCDIR is set;
 * else relative to __FILE__, which meson gives relative to the build
 * directory: tried from the current directory (meson test runs there) and
 * from the build directory found from this executable (BUILD/tests/test_x).
 */
static void shipped_path(char *buf, size_t cap)
{
	const char *src = getenv("SRCDIR");
	char here[4096], exe[4096];
	int n;
	if (src && *src) {
		n = snprintf(buf, cap, "%s/appliance/seed.conf", src);
		cr_assert(n > 0 && (size_t)n < cap);
		return;
	}
	snprintf(here, sizeof(here), "%s", __FILE__);
	const char *dir = dirname(here);
	n = snprintf(buf, cap, "%s/../../../appliance/seed.conf", dir);
	cr_assert(n > 0 && (size_t)n < cap);
	if (dir[0] == '/' || access(buf, R_OK) == 0)
		return;
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	cr_assert_gt(len, 0);
	exe[len] = 0;
	/* The kernel resolves ".." only through directories: strip the
	 * file and tests/ textually. */
	n = snprintf(buf, cap, "%s/%s/../../../appliance/seed.conf", dirname(dirname(exe)), dir);
	cr_assert(n > 0 && (size_t)n < cap);
}

Test(seedconf, shipped_appliance_config_loads)
{
	char path[4200];
	struct seedconf *c = NULL;
	struct seed_err e;
	shipped_path(path, sizeof(path));
	seed_err_clear(&e);
	cr_assert_eq(seedconf_load_file(path, &c, &e), 0, "%s (set SRCDIR to the source tree)",
		     e.msg);
	cr_assert_str_eq(c->node.store, "/var/lib/seed/store");
	cr_assert_eq(c->n_tenants, 1);
	const struct tenant *t = seedconf_tenant_find(c, "default");
	cr_assert_not_null(t);
	cr_assert_eq(t->bandwidth, 0, "unlimited");
	cr_assert_eq(t->allow.n, 0, "allow all");
	cr_assert_eq(t->n_trackers, 0);
	cr_assert_eq(t->embargo_s, 0);
	cr_assert_eq(t->max_peers, 0);
	seedconf_free(c);
}

Test(seedconf, option_table_describes_every_setting)
{
	size_t n = 0, node = 0, tenants = 0;
	for (const struct seedconf_option *o; (o = seedconf_option_at(n)); n++) {
		cr_assert(o->name && *o->name && o->type && *o->type && o->help && *o->help);
		cr_assert(!strcmp(o->group, "node") || !strcmp(o->group, "tenants"));
		node += !strcmp(o->group, "node");
		tenants += !strcmp(o->group, "tenants");
		/* Every option is known to the parser: setting it to a value of
		 * the wrong type (a group) is a type error, never "unknown". */
		char line[160];
		snprintf(line, sizeof(line), "%s = { };", o->name);
		struct seedconf *c = NULL;
		struct seed_err e;
		seed_err_clear(&e);
		cr_assert_lt(seedconf_load_string(!strcmp(o->group, "node") ? node_with(line)
									    : tenant_with(line),
						  "t.conf", &c, &e),
			     0);
		cr_assert_null(strstr(e.msg, "unknown"), "%s: %s", o->name, e.msg);
	}
	cr_assert_eq(node, 15);
	cr_assert_eq(tenants, 8);
	cr_assert_null(seedconf_option_at(n + 100));
}

/* ---- rates and durations ---- */

Test(seedconf, rate_units)
{
	rate_is("0", 0);
	rate_is("unlimited", 0);
	rate_is("1250000", 1250000);
	rate_is("1B/s", 1);
	rate_is("20kB/s", 20000);
	rate_is("20MB/s", 20000000);
	rate_is("2GB/s", 2000000000);
	rate_is("512KiB/s", 512 * 1024);
	rate_is("3MiB/s", 3 * 1024 * 1024);
	rate_is("2GiB/s", 2ull << 30);
	rate_is("800bit/s", 100);
	rate_is("64kbit/s", 8000);
	rate_is("160Mbit/s", 20000000);
	rate_is("400Gbit/s", 50000000000ull);
	rate_is("1000GB/s", TENANT_RATE_MAX);
}

Test(seedconf, rate_fractions_round_down)
{
	rate_is("1.5GB/s", 1500000000);
	rate_is("0.5MB/s", 500000);
	rate_is("2.5Gbit/s", 312500000);
	rate_is("12.5kbit/s", 1562);
}

Test(seedconf, rate_refusals)
{
	rate_bad("20 MB/s", "\"20 MB/s\" is not a rate (use e.g. 20MB/s, 160Mbit/s or a number "
			    "of bytes per second)");
	rate_bad("", "is not a rate");
	rate_bad(NULL, "is not a rate");
	rate_bad("MB/s", "is not a rate");
	rate_bad("-5MB/s", "is not a rate");
	rate_bad("20.MB/s", "is not a rate");
	rate_bad(".5MB/s", "is not a rate");
	rate_bad("1.5", "is not a rate");
	rate_bad("20MB", "unknown unit \"MB\"");
	rate_bad("20mb/s", "unknown unit \"mb/s\"");
	rate_bad("20Mbps", "unknown unit");
	rate_bad("Unlimited", "is not a rate");
	rate_bad("1bit/s", "less than 1 byte per second");
	rate_bad("0.0000001kB/s", "less than 1 byte per second");
	rate_bad("1.0000000001MB/s", "at most 9 decimal places");
	rate_bad("1001GB/s", "too large");
	rate_bad("99999999999999999999999", "too large");
}

Test(seedconf, durations)
{
	duration_is("0", 0);
	duration_is("0s", 0);
	duration_is("30s", 30);
	duration_is("15m", 900);
	duration_is("48h", 172800);
	duration_is("7d", 604800);
	duration_is("1d12h", 129600);
	duration_is("1h30m15s", 5415);
	duration_is("3650d", SEEDCONF_DURATION_MAX);
}

Test(seedconf, duration_refusals)
{
	duration_bad("48", "\"48\" has no unit");
	duration_bad("", "is not a duration");
	duration_bad(NULL, "is not a duration");
	duration_bad("h", "is not a duration");
	duration_bad("48 h", "is not a duration");
	duration_bad("48H", "is not a duration");
	duration_bad("1w", "is not a duration");
	duration_bad("30m1h", "largest first");
	duration_bad("1h1h", "largest first");
	duration_bad("-1h", "is not a duration");
	duration_bad("3651d", "too long");
	duration_bad("3650d1s", "too long");
	duration_bad("99999999999999999999999s", "too long");
}

/* ---- refusals: the file as a whole ---- */

Test(seedconf, syntax_error_names_line)
{
	load_bad("node = {\n  name = \"n\"\n  store = ;\n};\n", "t.conf:3: ", "syntax error");
}

Test(seedconf, libconfig_duplicate_key_names_line)
{
	load_bad(node_with("name = \"again\";"), "t.conf:4: ", "duplicate setting name");
}

Test(seedconf, unknown_top_level_keys)
{
	load_bad("node = { name = \"n\"; store = \"/s\"; };\ntenant = ();\n",
		 "t.conf:2: tenant: ", "unknown setting; did you mean tenants?");
	load_bad("node = { name = \"n\"; store = \"/s\"; };\n\nlogging = 1;\n",
		 "t.conf:3: logging: ", "unknown setting");
}

Test(seedconf, unknown_node_key_suggests_the_right_one)
{
	load_bad(node_with("annouce_port = 6881;"),
		 "t.conf:4: node.annouce_port: ", "unknown setting; did you mean announce_port?");
	load_bad(node_with("colour = \"blue\";"), "t.conf:4: node.colour: ",
		 "unknown setting (node takes: name, store, run_dir, api_socket, status_listen, "
		 "status_hosts, status_max_conns, api_max_conns, admin_group, readonly_group, "
		 "announce_port, announce_ip, scrub_interval, scrub_rate, reclaim_retired)");
}

Test(seedconf, unknown_tenant_key)
{
	load_bad(tenant_with("bandwith = \"1MB/s\";"),
		 "t.conf:4: tenants.[0].bandwith: ", "did you mean bandwidth?");
}

Test(seedconf, missing_or_malformed_node)
{
	load_bad("tenants = ();\n", "t.conf: node: ", "required group is missing");
	load_bad("", "t.conf: node: ", "required group is missing");
	load_bad("\n\nnode = \"x\";\n", "t.conf:3: node: ", "must be a group");
}

Test(seedconf, missing_required_node_settings_name_the_group_line)
{
	load_bad("\nnode = {\n  store = \"/s\";\n};\n",
		 "t.conf:2: node.name: ", "required setting is missing");
	load_bad("\nnode = {\n  name = \"n\";\n};\n",
		 "t.conf:2: node.store: ", "required setting is missing");
}

Test(seedconf, nul_byte_and_include_are_refused)
{
	load_bad("node = { name = \"n\"; store = \"/s\"; };\n@include \"other.conf\"\n",
		 "t.conf:2: ", "@include is not supported");

	char path[] = "/tmp/test_seedconf.XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	static const char body[] = "node = { name = \"n\";\n store = \"/s\"; };\n# \0 hidden\n";
	cr_assert_eq(write(fd, body, sizeof(body) - 1), (ssize_t)(sizeof(body) - 1));
	close(fd);
	struct seedconf *c = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(seedconf_load_file(path, &c, &e), -EINVAL);
	cr_assert_null(c);
	char want[64];
	snprintf(want, sizeof(want), "%s:3: ", path);
	cr_assert_eq(strncmp(e.msg, want, strlen(want)), 0, "%s", e.msg);
	cr_assert(strstr(e.msg, "NUL byte"), "%s", e.msg);
	unlink(path);
}

Test(seedconf, load_file_errors)
{
	struct seedconf *c = (struct seedconf *)(uintptr_t)1;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(seedconf_load_file("/nonexistent/seed.conf", &c, &e), -ENOENT);
	cr_assert_null(c);
	cr_assert(strstr(e.msg, "/nonexistent/seed.conf"), "%s", e.msg);

	char path[] = "/tmp/test_seedconf.XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)SEEDCONF_FILE_MAX + 1), 0);
	close(fd);
	seed_err_clear(&e);
	cr_assert_eq(seedconf_load_file(path, &c, &e), -EFBIG);
	cr_assert_null(c);

	/* Content errors name the path given. */
	fd = open(path, O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0);
	static const char body[] = "node = {\n  name = \"n\";\n  store = \"relative\";\n};\n";
	cr_assert_eq(write(fd, body, sizeof(body) - 1), (ssize_t)(sizeof(body) - 1));
	close(fd);
	seed_err_clear(&e);
	cr_assert_eq(seedconf_load_file(path, &c, &e), -EINVAL);
	char want[80];
	snprintf(want, sizeof(want), "%s:3: node.store: ", path);
	cr_assert_eq(strncmp(e.msg, want, strlen(want)), 0, "%s", e.msg);
	unlink(path);
}

Test(seedconf, unsuffixed_big_integers_are_refused_not_wrapped)
{
	/* libconfig 1.5 would store 705032704 here. */
	load_bad(tenant_with("bandwidth = 5000000000;"), "t.conf:4: tenants.[0].bandwidth: ",
		 "5000000000 does not fit in a 32-bit integer");
	/* ... and 0 (= unlimited) here. */
	load_bad(tenant_with("max_peers = 4294967296;"), "t.conf:4: tenants.[0].max_peers: ",
		 "4294967296 does not fit in a 32-bit integer and libconfig would silently "
		 "change it; write 4294967296L");
	load_bad(tenant_with("max_peers = 1; embargo = 0x80000000;"),
		 "t.conf:4: tenants.[0].embargo: ", "0x80000000 does not fit");
	load_bad(node_with("announce_port = -2147483649;"),
		 "t.conf:4: node.announce_port: ", "32-bit");
	load_bad(tenant_with("bandwidth = 99999999999999999999L;"),
		 "t.conf:4: tenants.[0].bandwidth: ", "64-bit");
	load_bad(tenant_with("bandwidth = 1234567890123456789012345678901234567890123;"),
		 "t.conf:4: tenants.[0].bandwidth: ", "does not fit");
}

Test(seedconf, refusal_leaves_nothing_behind)
{
	/* A failure in the last tenant, after trackers were copied for the
	 * first ones: *out stays NULL and ASan sees no leak. */
	load_bad("node = { name = \"n\"; store = \"/s\"; };\n"
		 "tenants = (\n"
		 "  { id = \"a\"; trackers = [ \"http://a/announce\", \"udp://b:1/x\" ]; },\n"
		 "  { id = \"b\"; trackers = [ \"http://a/announce\" ]; max_peers = -1; }\n"
		 ");\n",
		 "t.conf:4: tenants.[1].max_peers: ", "-1 is out of range (0 to 1000000)");
}

/* ---- refusals: node settings ---- */

Test(seedconf, node_name_checks)
{
	load_bad("node = {\n name = \"seed 01\"; store = \"/s\"; };",
		 "t.conf:2: node.name: ", "\"seed 01\" is not a node name");
	load_bad("node = {\n name = \"\"; store = \"/s\"; };",
		 "t.conf:2: node.name: ", "is not a node name");
	load_bad("node = {\n name = "
		 "\"a234567890123456789012345678901234567890123456789012345678901234\"; store = "
		 "\"/s\"; };",
		 "t.conf:2: node.name: ", "is not a node name");
	load_bad("node = {\n name = 7; store = \"/s\"; };",
		 "t.conf:2: node.name: ", "must be a string (the node name), not an integer");
}

Test(seedconf, node_name_of_63_is_fine)
{
	struct seedconf *c =
		load_ok("node = { name = "
			"\"a23456789012345678901234567890123456789012345678901234567890123\";"
			" store = \"/s\"; };");
	cr_assert_eq(strlen(c->node.name), 63);
	seedconf_free(c);
}

Test(seedconf, paths_must_be_absolute_and_clean)
{
	load_bad("node = {\n  name = \"n\";\n  store = \"var/lib\";\n};",
		 "t.conf:3: node.store: ", "\"var/lib\" is not an absolute path");
	load_bad(node_with("run_dir = \"\";"), "t.conf:4: node.run_dir: ", "not an absolute path");
	load_bad(node_with("run_dir = \"/run/\\nseed\";"),
		 "t.conf:4: node.run_dir: ", "control characters");
	load_bad(node_with("store = 1;"), "t.conf:4: ", "duplicate setting name");
	load_bad(node_with("run_dir = [ \"/a\" ];"),
		 "t.conf:4: node.run_dir: ", "must be a string (an absolute path), not an array");
}

Test(seedconf, path_length_limits)
{
	load_bad(node_with(setting_of_len("run_dir", '/', 4096)),
		 "t.conf:4: node.run_dir: ", "is longer than 4095 bytes");
	struct seedconf *c = load_ok(node_with(setting_of_len("run_dir", '/', 4095)));
	cr_assert_eq(strlen(c->node.run_dir), 4095);
	seedconf_free(c);

	load_bad(node_with(setting_of_len("api_socket", '/', 108)), "t.conf:4: node.api_socket: ",
		 "longer than 107 bytes (the limit of a Unix socket address)");
}

Test(seedconf, status_listen_refusals)
{
	load_bad(node_with("status_listen = \"127.0.0.1\";"),
		 "t.conf:4: node.status_listen: ", "expected ADDR:PORT");
	load_bad(node_with("status_listen = \"127.0.0.1:0\";"),
		 "t.conf:4: node.status_listen: ", "port must be from 1 to 65535");
	load_bad(node_with("status_listen = \"127.0.0.1:65536\";"),
		 "t.conf:4: node.status_listen: ", "port must be from 1 to 65535");
	load_bad(node_with("status_listen = \"localhost:9180\";"),
		 "t.conf:4: node.status_listen: ", "\"localhost\" is not an IPv4 address");
	load_bad(node_with("status_listen = \"::1:9180\";"),
		 "t.conf:4: node.status_listen: ", "is not an IPv4 address, [IPv6] address or *");
	load_bad(node_with("status_listen = \"[::1]9180\";"),
		 "t.conf:4: node.status_listen: ", "expected [IPv6]:PORT");
	load_bad(node_with("status_listen = 9180;"),
		 "t.conf:4: node.status_listen: ", "must be a string");
}

Test(seedconf, announce_port_refusals)
{
	load_bad(node_with("announce_port = 0;"),
		 "t.conf:4: node.announce_port: ", "0 is out of range (1 to 65535)");
	load_bad(node_with("announce_port = 65536;"),
		 "t.conf:4: node.announce_port: ", "out of range");
	load_bad(node_with("announce_port = \"6881\";"), "t.conf:4: node.announce_port: ",
		 "must be an integer from 1 to 65535, not a string");
	load_bad(node_with("announce_port = 6881.0;"),
		 "t.conf:4: node.announce_port: ", "not a floating-point number");
}

Test(seedconf, announce_ip_refusals)
{
	load_bad(node_with("announce_ip = \"seed.example\";"),
		 "t.conf:4: node.announce_ip: ", "is not an IPv4 or IPv6 address");
	load_bad(node_with("announce_ip = \"0.0.0.0\";"),
		 "t.conf:4: node.announce_ip: ", "not a unicast address");
	load_bad(node_with("announce_ip = \"239.1.1.1\";"),
		 "t.conf:4: node.announce_ip: ", "not a unicast address");
	load_bad(node_with("announce_ip = \"::\";"),
		 "t.conf:4: node.announce_ip: ", "not a unicast address");
	load_bad(node_with("announce_ip = \"ff02::1\";"),
		 "t.conf:4: node.announce_ip: ", "not a unicast address");
	load_bad(node_with("announce_ip = \"::ffff:192.0.2.1\";"),
		 "t.conf:4: node.announce_ip: ", "write it as IPv4");
}

/* ---- refusals: tenants ---- */

Test(seedconf, tenants_must_be_a_list_of_groups)
{
	load_bad("node = { name = \"n\"; store = \"/s\"; };\ntenants = { id = \"a\"; };\n",
		 "t.conf:2: tenants: ", "must be a list of groups");
	load_bad("node = { name = \"n\"; store = \"/s\"; };\ntenants = [ \"a\" ];\n",
		 "t.conf:2: tenants: ", "must be a list of groups");
	load_bad("node = { name = \"n\"; store = \"/s\"; };\ntenants = (\n { id = \"a\"; },\n "
		 "\"b\" );\n",
		 "t.conf:4: tenants.[1]: ", "each tenant must be a group");
	/* libconfig 1.5 numbers a list element by the token after it: one
	 * last on its line is reported a line late (documented in seedconf.h). */
	load_bad("node = { name = \"n\"; store = \"/s\"; };\ntenants = (\n { id = \"a\"; },\n "
		 "\"b\"\n);\n",
		 "t.conf:5: tenants.[1]: ", "each tenant must be a group");
}

Test(seedconf, tenant_id_required_and_checked)
{
	load_bad(
		"node = { name = \"n\"; store = \"/s\"; };\ntenants = (\n  { name = \"X\"; }\n);\n",
		"t.conf:3: tenants.[0].id: ", "required setting is missing");
	const char *bad[] = { "Acme",  "-acme", "ac.me",
			      "ac_me", "",	"a23456789012345678901234567890123" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char t[300];
		snprintf(t, sizeof(t),
			 "node = { name = \"n\"; store = \"/s\"; };\ntenants = ( { id = \"%s\"; } "
			 ");\n",
			 bad[i]);
		load_bad(t, "t.conf:2: tenants.[0].id: ", "is not a tenant id");
	}
	struct seedconf *c =
		load_ok("node = { name = \"n\"; store = \"/s\"; };\ntenants = ( { id = "
			"\"a2345678901234567890123456789012\"; } );\n");
	seedconf_free(c);
}

Test(seedconf, duplicate_tenant_ids_name_both_lines)
{
	load_bad("node = { name = \"n\"; store = \"/s\"; };\n"
		 "tenants = (\n"
		 "  { id = \"acme\"; },\n"
		 "  { id = \"other\"; },\n"
		 "  {\n"
		 "    id = \"acme\";\n"
		 "  }\n"
		 ");\n",
		 "t.conf:6: tenants.[2].id: ",
		 "duplicate tenant id \"acme\" (first defined at line 3)");
}

Test(seedconf, too_many_tenants)
{
	static char big[1 << 16];
	size_t len = (size_t)snprintf(big, sizeof(big),
				      "node = { name = \"n\"; store = \"/s\"; };\ntenants = (\n");
	for (int i = 0; i <= SEEDCONF_MAX_TENANTS; i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len, "{ id = \"t%d\"; }%s\n", i,
					i == SEEDCONF_MAX_TENANTS ? "" : ",");
	snprintf(big + len, sizeof(big) - len, ");\n");
	load_bad(big, "t.conf:2: tenants: ", "1025 tenants, more than the 1024 allowed");
}

Test(seedconf, many_tenants_load)
{
	static char big[1 << 16];
	size_t len = (size_t)snprintf(big, sizeof(big),
				      "node = { name = \"n\"; store = \"/s\"; };\ntenants = (\n");
	for (int i = 0; i < SEEDCONF_MAX_TENANTS; i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len, "{ id = \"t%d\"; }%s\n", i,
					i == SEEDCONF_MAX_TENANTS - 1 ? "" : ",");
	snprintf(big + len, sizeof(big) - len, ");\n");
	struct seedconf *c = load_ok(big);
	cr_assert_eq(c->n_tenants, SEEDCONF_MAX_TENANTS);
	cr_assert_str_eq(seedconf_tenant_find(c, "t1023")->id, "t1023");
	seedconf_free(c);
}

Test(seedconf, display_name_checks)
{
	load_bad(tenant_with("name = \"\";"),
		 "t.conf:4: tenants.[0].name: ", "must be 1 to 128 bytes long");
	load_bad(tenant_with("name = \"tab\\there\";"),
		 "t.conf:4: tenants.[0].name: ", "is not printable UTF-8");
	load_bad(tenant_with("name = \"bad \\xff byte\";"),
		 "t.conf:4: tenants.[0].name: ", "is not printable UTF-8");
	load_bad(tenant_with("name = \"overlong \\xc0\\xaf\";"),
		 "t.conf:4: tenants.[0].name: ", "is not printable UTF-8");
	load_bad(tenant_with("name = \"surrogate \\xed\\xa0\\x80\";"),
		 "t.conf:4: tenants.[0].name: ", "is not printable UTF-8");
	load_bad(tenant_with("name = \"c1 \\xc2\\x85\";"),
		 "t.conf:4: tenants.[0].name: ", "is not printable UTF-8");
	load_bad(tenant_with(setting_of_len("name", 'x', 129)),
		 "t.conf:4: tenants.[0].name: ", "must be 1 to 128 bytes");
	struct seedconf *c = load_ok(tenant_with(setting_of_len("name", 'x', 128)));
	cr_assert_eq(strlen(c->tenants[0].name), 128);
	seedconf_free(c);
}

Test(seedconf, bandwidth_refusals_in_config)
{
	char t[400];
	snprintf(t, sizeof(t),
		 "node = { name = \"n\"; store = \"/s\"; };\n"
		 "tenants = (\n"
		 "  { id = \"a\"; },\n"
		 "  { id = \"b\";\n"
		 "    bandwidth = \"20 MB/s\";\n"
		 "  }\n"
		 ");\n");
	load_bad(t, "t.conf:5: tenants.[1].bandwidth: ",
		 "\"20 MB/s\" is not a rate (use e.g. 20MB/s, 160Mbit/s or a number of bytes per "
		 "second)");
	load_bad(tenant_with("bandwidth = 2.5;"),
		 "t.conf:4: tenants.[0].bandwidth: ", "must be a rate");
	load_bad(tenant_with("bandwidth = -1;"),
		 "t.conf:4: tenants.[0].bandwidth: ", "-1 is out of range");
	load_bad(tenant_with("bandwidth = 2000000000000L;"),
		 "t.conf:4: tenants.[0].bandwidth: ", "out of range");
	load_bad(tenant_with("bandwidth = \"1bit/s\";"),
		 "t.conf:4: tenants.[0].bandwidth: ", "less than 1 byte per second");
}

Test(seedconf, max_peers_refusals)
{
	load_bad(tenant_with("max_peers = 1000001;"),
		 "t.conf:4: tenants.[0].max_peers: ", "1000001 is out of range (0 to 1000000)");
	load_bad(tenant_with("max_peers = \"500\";"),
		 "t.conf:4: tenants.[0].max_peers: ", "must be an integer");
	load_bad(tenant_with("max_peers = true;"),
		 "t.conf:4: tenants.[0].max_peers: ", "not a boolean");
}

Test(seedconf, embargo_refusals)
{
	load_bad(tenant_with("embargo = \"48\";"),
		 "t.conf:4: tenants.[0].embargo: ", "\"48\" has no unit");
	load_bad(tenant_with("embargo = \"2w\";"),
		 "t.conf:4: tenants.[0].embargo: ", "is not a duration");
	load_bad(tenant_with("embargo = -5;"), "t.conf:4: tenants.[0].embargo: ", "out of range");
	load_bad(tenant_with("embargo = 1.5;"),
		 "t.conf:4: tenants.[0].embargo: ", "must be a duration");
}

Test(seedconf, allow_refusals_name_the_element)
{
	load_bad(tenant_with("allow = [ \"10.0.0.0/8\",\n      \"10.0.0.1/8\" ];"),
		 "t.conf:5: tenants.[0].allow.[1]: ",
		 "\"10.0.0.1/8\" has host bits set; did you mean 10.0.0.0/8?");
	load_bad(tenant_with("allow = [ \"everyone\" ];"),
		 "t.conf:4: tenants.[0].allow.[0]: ", "is not an IPv4 or IPv6 address");
	load_bad(tenant_with("allow = \"10.0.0.0/8\";"),
		 "t.conf:4: tenants.[0].allow: ", "must be an array of strings");
	load_bad(tenant_with("allow = ( \"10.0.0.0/8\", 5 );"),
		 "t.conf:4: tenants.[0].allow.[1]: ", "must be a string");
}

Test(seedconf, allow_is_bounded)
{
	static char line[1 << 14];
	size_t len = (size_t)snprintf(line, sizeof(line), "allow = [ ");
	for (int i = 0; i <= CIDR_SET_MAX; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "\"10.0.%d.0/24\"%s", i,
					i == CIDR_SET_MAX ? " ];" : ", ");
	load_bad(tenant_with(line), "t.conf:4: tenants.[0].allow.[256]: ", "more than 256 entries");
}

Test(seedconf, tracker_checks)
{
	struct {
		const char *url, *want;
	} bad[] = {
		{ "https://t.example/announce", "https trackers are not supported" },
		{ "ftp://t.example/", "is not a tracker URL" },
		{ "t.example:6969", "is not a tracker URL" },
		{ "http:///announce", "has no host" },
		{ "http://:80/announce", "has no host" },
		{ "udp://t.example/announce", "needs a port" },
		{ "udp://t.example:0/announce", "port must be from 1 to 65535" },
		{ "http://t.example:99999/", "port must be from 1 to 65535" },
		{ "http://t.example:8x/", "port must be from 1 to 65535" },
		{ "http://t.ex ample/", "must be percent-encoded" },
		{ "http://user:pw@t.example/", "user names in tracker URLs" },
		{ "http://t_example/", "'_' cannot appear in a host name" },
		{ "http://[::1/announce", "unterminated [IPv6] host" },
		{ "http://[zz::1]/announce", "is not an IPv6 address" },
		{ "", "is not a tracker URL" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[300];
		snprintf(line, sizeof(line), "trackers = [ \"%s\" ];", bad[i].url);
		load_bad(tenant_with(line), "t.conf:4: tenants.[0].trackers.[0]: ", bad[i].want);
	}
	struct seedconf *c = load_ok(tenant_with(
		"trackers = [ \"HTTP://T.Example\", \"udp://[2001:db8::1]:6969\", "
		"\"http://192.0.2.1:8080/announce?passkey=x#f\", \"udp://t.example:1\" ];"));
	cr_assert_eq(c->tenants[0].n_trackers, 4);
	seedconf_free(c);
}

Test(seedconf, trackers_duplicates_and_bound)
{
	load_bad(tenant_with("trackers = [ \"http://a/x\", \"http://b/x\", \"http://a/x\" ];"),
		 "t.conf:4: tenants.[0].trackers.[2]: ", "listed twice (also entry [0])");
	static char line[1 << 13];
	size_t len = (size_t)snprintf(line, sizeof(line), "trackers = [ ");
	for (int i = 0; i <= TENANT_MAX_TRACKERS; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "\"http://t%d/a\"%s", i,
					i == TENANT_MAX_TRACKERS ? " ];" : ", ");
	load_bad(tenant_with(line),
		 "t.conf:4: tenants.[0].trackers.[32]: ", "more than 32 entries");
	load_bad(tenant_with("trackers = [ 1 ];"),
		 "t.conf:4: tenants.[0].trackers.[0]: ", "must be a string");
}

Test(seedconf, error_in_second_tenant_names_its_index)
{
	load_bad("node = { name = \"n\"; store = \"/s\"; };\n"
		 "tenants = (\n"
		 "  { id = \"a\"; },\n"
		 "  { id = \"b\"; colour = 1; }\n"
		 ");\n",
		 "t.conf:4: tenants.[1].colour: ", "unknown setting");
}

Test(seedconf, default_name_for_errors)
{
	struct seedconf *c = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(seedconf_load_string("x = 1;", NULL, &c, &e), -EINVAL);
	cr_assert_eq(strncmp(e.msg, "<string>:1: x: ", 15), 0, "%s", e.msg);
	seed_err_clear(&e);
	cr_assert_eq(seedconf_load_string(NULL, "n.conf", &c, &e), -EINVAL);
	cr_assert_null(c);
}

/* ---- exposure: Host names, connection pools, API groups ---- */

Test(seedconf, status_hosts_are_names_or_addresses_with_optional_ports)
{
	struct seedconf *c = load_ok(node_with("status_hosts = [ \"Seed-01.Example.NET\", "
					       "\"10.0.0.5:9180\", \"[2001:db8::1]\", "
					       "\"[::1]:8080\", \"localhost\" ];"));
	cr_assert_eq(c->node.n_status_hosts, 5);
	cr_expect_str_eq(c->node.status_hosts[0], "seed-01.example.net", "lowercased");
	cr_expect_str_eq(c->node.status_hosts[1], "10.0.0.5:9180");
	cr_expect_str_eq(c->node.status_hosts[2], "[2001:db8::1]");
	cr_expect_str_eq(c->node.status_hosts[3], "[::1]:8080");
	cr_expect_str_eq(c->node.status_hosts[4], "localhost");
	seedconf_free(c);
	c = load_ok(node_with("status_hosts = [ ];"));
	cr_expect_eq(c->node.n_status_hosts, 0);
	seedconf_free(c);
}

Test(seedconf, bad_status_hosts)
{
	load_bad(node_with("status_hosts = [ \"a b\" ];"),
		 "t.conf:4: node.status_hosts.[0]: ", "' ' cannot appear in a host name");
	load_bad(node_with("status_hosts = [ \"h:0\" ];"),
		 "t.conf:4: node.status_hosts.[0]: ", "the port must be from 1 to 65535");
	load_bad(node_with("status_hosts = [ \"h:99999\" ];"),
		 "t.conf:4: node.status_hosts.[0]: ", "the port must be from 1 to 65535");
	load_bad(node_with("status_hosts = [ \"[::1\" ];"),
		 "t.conf:4: node.status_hosts.[0]: ", "unterminated [IPv6] address");
	load_bad(node_with("status_hosts = [ \"[nope]\" ];"),
		 "t.conf:4: node.status_hosts.[0]: ", "is not an IPv6 address");
	load_bad(node_with("status_hosts = [ \"::1\" ];"),
		 "t.conf:4: node.status_hosts.[0]: ", "write an IPv6 address in brackets");
	load_bad(node_with("status_hosts = [ \"\" ];"),
		 "t.conf:4: node.status_hosts.[0]: ", "expected a host name or address");
	load_bad(node_with("status_hosts = \"h\";"),
		 "t.conf:4: node.status_hosts: ", "must be an array of strings");
	load_bad(node_with("status_hosts = [ \"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", "
			   "\"h\", \"i\", \"j\", \"k\", \"l\", \"m\", \"n\", \"o\", \"p\", "
			   "\"q\" ];"),
		 "t.conf:4: node.status_hosts.[16]: ", "more than 16 entries");
}

Test(seedconf, connection_pools_and_groups)
{
	struct seedconf *c = load_ok(node_with("status_max_conns = 1; api_max_conns = 4096; "
					       "admin_group = \"ops\"; readonly_group = \"\";"));
	cr_expect_eq(c->node.status_max_conns, 1);
	cr_expect_eq(c->node.api_max_conns, 4096);
	cr_expect_str_eq(c->node.admin_group, "ops");
	cr_expect_str_eq(c->node.readonly_group, "", "\"\": the role has no group");
	seedconf_free(c);
	load_bad(node_with("status_max_conns = 0;"),
		 "t.conf:4: node.status_max_conns: ", "0 is out of range (1 to 4096)");
	load_bad(node_with("api_max_conns = 4097;"),
		 "t.conf:4: node.api_max_conns: ", "4097 is out of range (1 to 4096)");
	load_bad(node_with("admin_group = \"a b\";"),
		 "t.conf:4: node.admin_group: ", "is not a group name");
	load_bad(node_with("readonly_group = \"-x\";"),
		 "t.conf:4: node.readonly_group: ", "is not a group name");
	load_bad(node_with(setting_of_len("admin_group", 'g', 33)),
		 "t.conf:4: node.admin_group: ", "is not a group name");
}

/* A refused tracker URL is quoted in the message, never with its passkey. */
Test(seedconf, error_messages_never_show_a_passkey)
{
	load_bad(tenant_with("trackers = [ \"https://t.example/a?passkey=SECRET1\" ];"),
		 "t.conf:4: tenants.[0].trackers.[0]: ",
		 "\"https://t.example/a?passkey=REDACTED\": https trackers are not supported");
	struct seedconf *c = (struct seedconf *)(uintptr_t)1;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_lt(
		seedconf_load_string(tenant_with("trackers = [ \"http://t.example/a?token=S2\", "
						 "\"http://t.example/a?token=S2\" ];"),
				     "t.conf", &c, &e),
		0);
	cr_expect(strstr(e.msg, "listed twice"), "%s", e.msg);
	cr_expect_null(strstr(e.msg, "S2"), "%s", e.msg);
}

/* A tenant's seeding policy: the names of lib/tenant.h's enum
 * tenant_seeding, "default" (0: seed-dataplane's --seeding) when absent;
 * it goes into the catalog record only when set, and back out the same. */
Test(seedconf, tenant_seeding_policy)
{
	static const char *const names[] = { "default", "plain", "super", "rarest" };
	char extra[64];

	for (unsigned i = 0; i < 4; i++) {
		snprintf(extra, sizeof(extra), "seeding = \"%s\";", names[i]);
		struct seedconf *c = load_ok(tenant_with(extra));
		cr_assert_eq(c->tenants[0].seeding, i, "seeding = %s", names[i]);
		cr_assert_eq(catalog_check_tenant(&c->tenants[0], NULL), 0);
		seedconf_free(c);
	}
	struct seedconf *c = load_ok(tenant_with(""));
	cr_assert_eq(c->tenants[0].seeding, TENANT_SEEDING_DEFAULT);
	seedconf_free(c);
	load_bad(tenant_with("seeding = \"fastest\";"), "t.conf:4: tenants.[0].seeding: ",
		 "must be \"default\", \"plain\", \"super\" or \"rarest\", not \"fastest\"");
	load_bad(tenant_with("seeding = 3;"), "t.conf:4: tenants.[0].seeding: ", "string");
}

/* The catalog carries a tenant's policy: absent when default (records
 * written before it existed read the same), 1-3 otherwise; a present 0 or
 * a value past rarest is refused. */
Test(seedconf, tenant_seeding_in_the_catalog)
{
	struct catalog *cat = NULL, *back = NULL;
	struct tenant t = { .id = "acme", .name = "Acme", .seeding = TENANT_SEEDING_RAREST };
	struct tenant u = { .id = "bolt", .name = "Bolt" };
	uint8_t *buf = NULL;
	size_t len = 0;
	struct seed_err e;

	seed_err_clear(&e);
	cr_assert_eq(catalog_create(1, 0, &cat, &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_add_tenant(cat, &t, NULL, &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_add_tenant(cat, &u, NULL, &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_encode(cat, &buf, &len, &e), 0, "%s", e.msg);
	cr_assert(memmem(buf, len, "7:seedingi3e", 12), "the record names rarest");
	cr_assert_eq(catalog_parse(buf, len, &back, &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_tenant_find(back, "acme")->seeding, TENANT_SEEDING_RAREST);
	cr_assert_eq(catalog_tenant_find(back, "bolt")->seeding, TENANT_SEEDING_DEFAULT);
	catalog_free(back);
	free(buf);
	t.seeding = TENANT_SEEDING_MAX + 1;
	cr_assert_eq(catalog_check_tenant(&t, &e), -ERANGE);
	catalog_free(cat);
}
