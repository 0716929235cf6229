/*
 * Tests for dataplane/privs.c: user names, what privs_plan decides for each
 * start (root or not, allow-root), the lookup's errors, and the settings in
 * dpconf's table. Switching user needs root and users of its own: that is
 * tests/integration/test_privs.sh.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpconf.h"
#include "privs.h"

Test(privs, names)
{
	struct seed_err e;
	const char *good[] = { "seed-dp", "a", "_svc", "Seed.DP_2",
			       "abcdefghijabcdefghijabcdefghij12" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		seed_err_clear(&e);
		cr_assert_eq(privs_check_name(good[i], &e), 0, "%s refused: %s", good[i], e.msg);
	}
	struct {
		const char *name, *needle;
	} bad[] = {
		{ "", "1 to 32" },	     { "abcdefghijabcdefghijabcdefghij123", "1 to 32" },
		{ "-dp", "start with -" },   { "seed dp", "only A-Z" },
		{ "seed/dp", "only A-Z" },   { "seed:dp", "only A-Z" },
		{ "s\xc3\xa9", "only A-Z" }, { "seed\n", "only A-Z" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		seed_err_clear(&e);
		cr_assert_eq(privs_check_name(bad[i].name, &e), -EINVAL, "\"%s\" accepted",
			     bad[i].name);
		cr_assert_not_null(strstr(e.msg, bad[i].needle), "\"%s\" lacks \"%s\"", e.msg,
				   bad[i].needle);
	}
}

/* privs_plan with err cleared first: its return value. */
static int plan(const char *user, int allow_root, uid_t euid, struct privs *p, struct seed_err *e)
{
	seed_err_clear(e);
	return privs_plan(user, allow_root, euid, p, e);
}

/* A start that needs no lookup at all: a user that cannot exist is not an
 * error, and the plan is mode; what names the case. */
static void expect_no_lookup(int allow_root, uid_t euid, enum privs_mode mode, const char *what)
{
	struct privs p;
	struct seed_err e;

	cr_assert_eq(plan("no-such-user-hp", allow_root, euid, &p, &e), 0, "%s: %s", what, e.msg);
	cr_assert_eq(p.mode, mode, "%s", what);
}

Test(privs, not_root_keeps_its_user)
{
	expect_no_lookup(0, 1000, PRIVS_KEEP, "not root");
	expect_no_lookup(1, 1000, PRIVS_KEEP,
			 "allow-root means nothing to a process that is not root");
}

Test(privs, root_with_allow_root_stays_root)
{
	expect_no_lookup(1, 0, PRIVS_ROOT, "root with allow-root");
}

/* Started as root without allow-root, a user it cannot become is one line
 * naming --user and the way out. */
Test(privs, root_with_an_unusable_user_is_an_error)
{
	static const struct {
		const char *user;
		int rc;
		const char *says;
	} cases[] = {
		{ "no-such-user-hp", -ENOENT, "--user no-such-user-hp: no such user" },
		{ "../etc", -EINVAL, "--user: user name \"../etc\"" },
		{ "root", -EPERM, "--user root: has uid or gid 0" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct privs p;
		struct seed_err e;
		cr_assert_eq(plan(cases[i].user, 0, 0, &p, &e), cases[i].rc, "%s", cases[i].user);
		cr_assert_not_null(strstr(e.msg, cases[i].says), "%s", e.msg);
		cr_assert_null(strchr(e.msg, '\n'), "one line: %s", e.msg);
	}
	struct privs p;
	struct seed_err e;
	plan("no-such-user-hp", 0, 0, &p, &e);
	cr_assert_not_null(strstr(e.msg, "--allow-root yes"), "says the way out: %s", e.msg);
}

/* nobody exists on every Debian system (base-passwd) */
Test(privs, root_finds_the_user_and_its_groups)
{
	struct passwd *pw = getpwnam("nobody");
	cr_assert_not_null(pw, "no user nobody on this system");
	struct privs p;
	struct seed_err e;
	cr_assert_eq(plan("nobody", 0, 0, &p, &e), 0, "%s", e.msg);
	cr_assert_eq(p.mode, PRIVS_SWITCH);
	cr_assert_eq(p.uid, pw->pw_uid);
	cr_assert_eq(p.gid, pw->pw_gid);
	cr_assert_str_eq(p.user, "nobody");
	cr_assert(p.n_groups >= 1 && p.n_groups <= PRIVS_MAX_GROUPS);
	int has_own = 0;
	for (int i = 0; i < p.n_groups; i++) {
		cr_assert_neq(p.groups[i], 0, "group root in the list");
		has_own |= p.groups[i] == pw->pw_gid;
	}
	cr_assert(has_own, "the user's own group is in the list");
}

/* PRIVS_ROOT changes nothing: neither call may touch the test process */
Test(privs, allow_root_restrict_and_drop_do_nothing)
{
	struct privs p;
	struct seed_err e;
	cr_assert_eq(plan("x", 1, 0, &p, &e), 0);
	uid_t before = geteuid();
	cr_assert_eq(privs_restrict(&p, &e), 0, "%s", e.msg);
	cr_assert_eq(privs_drop(&p, &e), 0, "%s", e.msg);
	cr_assert_eq(geteuid(), before);
}

static int parse(struct dpconf *c, struct seed_err *e, int n, char **args)
{
	dpconf_defaults(c);
	seed_err_clear(e);
	FILE *devnull = fopen("/dev/null", "w");
	int rc = dpconf_parse_args(c, n, args, devnull, e);
	fclose(devnull);
	return rc;
}

Test(privs, settings)
{
	struct dpconf c;
	struct seed_err e;
	dpconf_defaults(&c);
	cr_assert_str_eq(c.user, "seed-dp");
	cr_assert_str_eq(c.drain_file, "", "no drain file unless asked");
	cr_assert_eq(c.allow_root, 0, "started as root, it drops to --user unless told otherwise");
	char *a1[] = { "seed-dataplane", "--user", "svc-1", "--allow-root", "no" };
	cr_assert_eq(parse(&c, &e, 5, a1), 0, "%s", e.msg);
	cr_assert_str_eq(c.user, "svc-1");
	cr_assert_eq(c.allow_root, 0);
	char *a2[] = { "seed-dataplane", "--allow-root=yes" };
	cr_assert_eq(parse(&c, &e, 2, a2), 0, "%s", e.msg);
	cr_assert_eq(c.allow_root, 1);
	char *a6[] = { "seed-dataplane", "--drain-file", "/run/seed/drain" };
	cr_assert_eq(parse(&c, &e, 3, a6), 0, "%s", e.msg);
	cr_assert_str_eq(c.drain_file, "/run/seed/drain");
	static const struct {
		const char *flag, *val, *says;
	} refused[] = {
		{ "--user", "seed dp", "--user: user name \"seed dp\"" },
		{ "--user", "abcdefghijabcdefghijabcdefghij123", "1 to 32" },
		{ "--drain-file", "", "--drain-file: bad path" },
		{ "--allow-root", "maybe", "--allow-root: \"maybe\" is not yes or no" },
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char *a[] = { "seed-dataplane", (char *)refused[i].flag, (char *)refused[i].val };
		cr_assert_eq(parse(&c, &e, 3, a), -EINVAL, "%s \"%s\" accepted", a[1], a[2]);
		cr_assert_not_null(strstr(e.msg, refused[i].says), "%s \"%s\": %s", a[1], a[2],
				   e.msg);
	}
}

Test(privs, settings_from_a_file)
{
	char path[] = "/tmp/test_privs_XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fputs("user = seed-dp2\nallow-root = no\nuser = -x\n", f);
	fclose(f);
	struct dpconf c;
	struct seed_err e;
	dpconf_defaults(&c);
	seed_err_clear(&e);
	int rc = dpconf_load_file(&c, path, &e);
	unlink(path);
	cr_assert_eq(rc, -EINVAL);
	char want[64];
	snprintf(want, sizeof(want), "%s:3: user name \"-x\"", path);
	cr_assert_not_null(strstr(e.msg, want), "%s", e.msg);
	cr_assert_str_eq(c.user, "seed-dp2", "line 1 applied before line 3 failed");
	cr_assert_eq(c.allow_root, 0);
}
