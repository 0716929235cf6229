/*
 * Unit tests for control/guard.c: the status listener's Host names (the
 * defaults for each kind of listen address, a configured list, ports,
 * case, hostile shapes), API socket roles from credentials, the caller's
 * credentials over a real socketpair, the 403 messages, and the socket
 * file's ACL as the kernel stores it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../testutil.h"
#include "guard.h"

static struct seedconf *load(const char *node_extra)
{
	char text[2048];
	struct seedconf *c = NULL;
	struct seed_err e;

	snprintf(text, sizeof(text), "node = { name = \"n\"; store = \"/s\"; %s };", node_extra);
	seed_err_clear(&e);
	cr_assert_eq(seedconf_load_string(text, "t.conf", &c, &e), 0, "%s", e.msg);
	return c;
}

static bool ok(const struct guard_hosts *h, const char *host)
{
	return guard_host_ok(h, host, strlen(host));
}

/* A Host field value, whether it is taken, and why (may be NULL). */
struct host_case {
	const char *host;
	bool ok;
	const char *why;
};

/* The hosts of the listener that node_extra configures take or refuse
 * each Host of c as it says. */
static void expect_hosts(const char *node_extra, const struct host_case *c, size_t n)
{
	struct seedconf *conf = load(node_extra);
	struct guard_hosts h;

	guard_hosts_init(&h, &conf->node);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(ok(&h, c[i].host), c[i].ok, "%s: Host \"%s\" %s%s%s", node_extra,
			     c[i].host, c[i].ok ? "refused" : "taken", c[i].why ? ": " : "",
			     c[i].why ? c[i].why : "");
	seedconf_free(conf);
}

#define V4_LISTEN "status_listen = \"127.0.0.1:9180\";"

Test(guard, default_hosts_of_an_ipv4_listener)
{
	static const struct host_case cases[] = {
		{ "127.0.0.1:9180", true },
		{ "127.0.0.1", true },
		{ "localhost", true },
		{ "LocalHost:9180", true, "host names compare in any case" },
		{ "attacker.example", false },
		{ "attacker.example:9180", false },
		{ "localhost:9181", false, "another port is another origin" },
		{ "127.0.0.2:9180", false },
		{ "localhost.", false, "the trailing-dot name is another name" },
		{ "localhost:", false },
		{ "localhost:09180x", false },
		{ "localhost:99999", false },
		{ "", false },
	};
	expect_hosts(V4_LISTEN, cases, TU_N(cases));

	struct seedconf *c = load(V4_LISTEN);
	struct guard_hosts h;

	guard_hosts_init(&h, &c->node);
	cr_expect(!guard_host_ok(&h, NULL, 0), "no Host at all");
	/* the length given, not the NUL, ends the value */
	cr_expect(guard_host_ok(&h, "localhostXYZ", 9));
	seedconf_free(c);
}

Test(guard, default_hosts_of_ipv6_and_wildcard_listeners)
{
	static const struct host_case v6[] = {
		{ "[::1]:9181", true },	 { "[::1]", true }, { "localhost:9181", true },
		{ "[::2]:9181", false }, { "[::1", false }, { "[::1]x", false },
	};
	/* a wildcard listener has no one address: any IP-address Host (no
	 * DNS rebinding without a name) and localhost */
	static const struct host_case wildcard[] = {
		{ "10.1.2.3:9180", true },
		{ "192.0.2.7", true },
		{ "[2001:db8::5]:9180", true },
		{ "localhost", true },
		{ "10.1.2.3:9181", false },
		{ "seed.example:9180", false },
		{ "1.2.3", false, "not an address" },
	};
	expect_hosts("status_listen = \"[::1]:9181\";", v6, TU_N(v6));
	expect_hosts("status_listen = \"*:9180\";", wildcard, TU_N(wildcard));
}

Test(guard, configured_hosts_replace_the_defaults)
{
	static const struct host_case cases[] = {
		{ "seed-01.example.net", true },
		{ "SEED-01.example.NET:9180", true },
		{ "seed-01.example.net:8443", false, "no port given: the listener's only" },
		{ "proxy.example:8443", true },
		{ "proxy.example", false, "a port given: that one only" },
		{ "localhost", false, "the defaults are replaced" },
		{ "127.0.0.1:9180", false },
	};
	expect_hosts("status_listen = \"127.0.0.1:9180\"; status_hosts = [ "
		     "\"seed-01.example.net\", \"proxy.example:8443\" ];",
		     cases, TU_N(cases));
}

static struct guard_ids ids(bool admin, bool ro)
{
	struct guard_ids g;

	memset(&g, 0, sizeof(g));
	g.self = 4242;
	g.admin = 100;
	g.ro = 200;
	g.has_admin = admin;
	g.has_ro = ro;
	snprintf(g.admin_name, sizeof(g.admin_name), "seed");
	snprintf(g.ro_name, sizeof(g.ro_name), "seed-ro");
	return g;
}

Test(guard, roles_from_credentials)
{
	struct guard_ids g = ids(true, true);
	gid_t both[] = { 7, 200, 100 }, ro[] = { 7, 200 }, none[] = { 7, 8 };

	cr_expect_eq(guard_role(&g, 0, 0, NULL, 0), GUARD_ADMIN, "root");
	cr_expect_eq(guard_role(&g, 4242, 9, NULL, 0), GUARD_ADMIN, "seed-control's own uid");
	cr_expect_eq(guard_role(&g, 1000, 100, NULL, 0), GUARD_ADMIN, "primary group admin");
	cr_expect_eq(guard_role(&g, 1000, 1000, both, 3), GUARD_ADMIN, "admin wins over ro");
	cr_expect_eq(guard_role(&g, 1000, 1000, ro, 2), GUARD_READ);
	cr_expect_eq(guard_role(&g, 1000, 200, NULL, 0), GUARD_READ, "primary group ro");
	cr_expect_eq(guard_role(&g, 1000, 1000, none, 2), GUARD_NONE);
	/* a group that does not exist has no members, whatever its gid field */
	g = ids(false, false);
	cr_expect_eq(guard_role(&g, 1000, 100, both, 3), GUARD_NONE);
	cr_expect_eq(guard_role(&g, 0, 0, NULL, 0), GUARD_ADMIN);
}

Test(guard, refusals_name_the_group_needed)
{
	struct guard_ids g = ids(true, true);
	struct guard_peer p = { .uid = 1001, .role = GUARD_READ };
	char m[256];

	guard_refusal(&g, &p, m, sizeof(m));
	cr_expect(strstr(m, "uid 1001") && strstr(m, "group seed-ro") &&
			  strstr(m, "membership of group seed"),
		  "%s", m);
	p.role = GUARD_NONE;
	guard_refusal(&g, &p, m, sizeof(m));
	cr_expect(strstr(m, "neither group seed (admin) nor seed-ro (read-only)"), "%s", m);
}

Test(guard, missing_groups_are_a_warning_not_an_error)
{
	struct seedconf *c = load("admin_group = \"hc-no-such-group-a\"; "
				  "readonly_group = \"hc-no-such-group-b\";");
	struct guard_ids g;
	struct seed_err w;

	seed_err_clear(&w);
	cr_expect_eq(guard_ids_init(&g, &c->node, &w), 2);
	cr_expect(!g.has_admin && !g.has_ro);
	cr_expect(strstr(w.msg, "node.admin_group, node.readonly_group: no groups"), "%s", w.msg);
	seedconf_free(c);
	/* "" is no group, on purpose: nothing to warn about */
	c = load("admin_group = \"\"; readonly_group = \"\";");
	seed_err_clear(&w);
	cr_expect_eq(guard_ids_init(&g, &c->node, &w), 0, "%s", w.msg);
	seedconf_free(c);
	/* a group every system has */
	struct group *gr = getgrgid(0);
	cr_assert_not_null(gr);
	char extra[200];
	snprintf(extra, sizeof(extra), "admin_group = \"%s\"; readonly_group = \"\";", gr->gr_name);
	c = load(extra);
	seed_err_clear(&w);
	cr_expect_eq(guard_ids_init(&g, &c->node, &w), 0, "%s", w.msg);
	cr_expect(g.has_admin && g.admin == 0);
	cr_expect_eq(g.self, geteuid());
	seedconf_free(c);
}

/* The kernel's view of the caller: this process, on both ends. */
Test(guard, peer_credentials_over_a_socketpair)
{
	int sv[2];
	struct guard_ids g = ids(false, false);
	struct guard_peer p;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	g.self = geteuid();
	cr_assert_eq(guard_peer(sv[0], &g, &p), 0);
	cr_expect_eq(p.uid, geteuid());
	cr_expect_eq(p.gid, getegid());
	cr_expect_eq(p.pid, getpid());
	cr_expect_eq(p.role, GUARD_ADMIN, "its own uid");
	cr_expect_eq(guard_peer(-1, &g, &p), -EBADF);
	close(sv[0]);
	close(sv[1]);
}

/* A caller with another uid: its supplementary and primary groups decide.
 * Changing credentials needs root, as this suite runs in CI. */
Test(guard, groups_of_a_stranger_decide_its_role)
{
	cr_assert_eq(geteuid(), 0, "this test changes credentials: run it as root");
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		gid_t sup[] = { 4711 };
		struct guard_ids g = ids(false, true);
		struct guard_peer p;
		int sv[2];

		g.ro = 4711;
		g.admin = 4712;
		if (setgroups(1, sup) || setgid(4713) || setuid(4714) ||
		    socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || guard_peer(sv[0], &g, &p))
			_exit(10);
		if (p.uid != 4714 || p.gid != 4713 || p.role != GUARD_READ)
			_exit(11);
		g.has_admin = true;
		g.admin = 4711; /* the same supplementary group, now the admin one */
		if (guard_peer(sv[0], &g, &p) || p.role != GUARD_ADMIN)
			_exit(12);
		g.admin = g.ro = 4713; /* the primary group counts too */
		if (guard_peer(sv[0], &g, &p) || p.role != GUARD_ADMIN)
			_exit(13);
		g.admin = g.ro = 99; /* neither */
		if (guard_peer(sv[0], &g, &p) || p.role != GUARD_NONE)
			_exit(14);
		_exit(0);
	}
	int st = 0;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "child step %d failed (10 set-up, 11 reader, 12 admin by group, 13 by "
		  "primary group, 14 neither)",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The ACL as the kernel reads it back: sorted entries, both groups rw,
 * the file's own group and others nothing. */
Test(guard, socket_acl_grants_both_groups_and_nobody_else)
{
	char dir[] = "/tmp/test_guard.XXXXXX", path[64];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct guard_ids g = ids(true, true);
	struct seed_err e;
	uint8_t buf[256];

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	g.admin = 300;
	g.ro = 200; /* out of order: the writer sorts */
	seed_err_clear(&e);
	cr_assert_eq(guard_socket_acl(path, &g, &e), 0, "%s", e.msg);
	ssize_t n = getxattr(path, "system.posix_acl_access", buf, sizeof(buf));
	cr_assert_eq(n, 4 + 6 * 8, "%zd bytes", n);
	cr_expect_eq(le32(buf), 2, "version");
	static const struct {
		uint16_t tag, perm;
		uint32_t id;
	} want[] = { { 0x01, 6, UINT32_MAX }, { 0x04, 0, UINT32_MAX }, { 0x08, 6, 200 },
		     { 0x08, 6, 300 },	      { 0x10, 6, UINT32_MAX }, { 0x20, 0, UINT32_MAX } };
	for (size_t i = 0; i < 6; i++) {
		const uint8_t *p = buf + 4 + 8 * i;
		cr_expect_eq(p[0] | p[1] << 8, want[i].tag, "entry %zu tag", i);
		cr_expect_eq(p[2] | p[3] << 8, want[i].perm, "entry %zu perm", i);
		/* the kernel reports ACL_UNDEFINED_ID for the unnamed ones */
		cr_expect_eq(le32(p + 4), want[i].id, "entry %zu id", i);
	}
	/* one group serving both roles is one entry */
	g.ro = g.admin;
	cr_assert_eq(guard_socket_acl(path, &g, &e), 0, "%s", e.msg);
	cr_expect_eq(getxattr(path, "system.posix_acl_access", buf, sizeof(buf)), 4 + 5 * 8);
	seed_err_clear(&e);
	cr_expect_eq(guard_socket_acl("/nonexistent/hc.sock", &g, &e), -ENOENT);
	cr_expect(strstr(e.msg, "/nonexistent/hc.sock"), "%s", e.msg);
	close(fd);
	unlink(path);
	rmdir(dir);
}
