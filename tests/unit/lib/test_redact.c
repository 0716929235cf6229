/*
 * Unit tests for lib/redact.c: tracker URLs and free text against
 * hand-written expectations, what must stay (host, port, plain path,
 * parameter names), idempotence, the snprintf-like size contract and that
 * a cut output never holds a byte of the secret.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

static const struct {
	const char *in, *want;
} cases[] = {
	/* nothing secret: unchanged */
	{ "", "" },
	{ "http://t.example/announce", "http://t.example/announce" },
	{ "udp://127.0.0.1:6969/announce", "udp://127.0.0.1:6969/announce" },
	{ "http://[::1]:8080/a/b", "http://[::1]:8080/a/b" },
	{ "connecting to 10.0.0.1:6969: timed out", "connecting to 10.0.0.1:6969: timed out" },
	/* query values, names kept */
	{ "http://t.example/announce?passkey=SECRET",
	  "http://t.example/announce?passkey=REDACTED" },
	{ "http://t.example/a?token=abc&uid=42;x=y#frag",
	  "http://t.example/a?token=REDACTED&uid=REDACTED;x=REDACTED#REDACTED" },
	{ "http://t.example/a?bare&k=", "http://t.example/a?REDACTED&k=" },
	{ "http://t.example/a?", "http://t.example/a?" },
	/* user info */
	{ "udp://me:pw@t.example:6969/x", "udp://REDACTED@t.example:6969/x" },
	/* a passkey as a path segment */
	{ "http://t.example/0a1b2c3d4e5f6a7b8c9d/announce", "http://t.example/REDACTED/announce" },
	{ "http://t.example/announcementsonly/x", "http://t.example/announcementsonly/x" },
	/* URLs inside text, ended by a space or a quote */
	{ "tracker http://t.example/a?passkey=S1 release r: ok",
	  "tracker http://t.example/a?passkey=REDACTED release r: ok" },
	{ "\"http://t.example/a?k=v\"", "\"http://t.example/a?k=REDACTED\"" },
	/* secret-named values in text, any case, = or : */
	{ "bad PassKey=abc123, try again", "bad PassKey=REDACTED, try again" },
	{ "auth_token: xyz; next", "auth_token: REDACTED; next" },
	{ "password='hunter2'", "password='REDACTED'" },
	{ "secret=", "secret=" },
	{ "interval=1800 peers=3", "interval=1800 peers=3" },
};

Test(redact, each_case_as_written)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[256];
		size_t n = redact_text(cases[i].in, strlen(cases[i].in), out, sizeof(out));

		cr_expect_str_eq(out, cases[i].want, "case %zu: %s", i, cases[i].in);
		cr_expect_eq(n, strlen(cases[i].want), "case %zu", i);
	}
}

Test(redact, twice_is_once)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *once = redact_dup(cases[i].in);
		cr_assert_not_null(once);
		char *twice = redact_dup(once);
		cr_assert_not_null(twice);
		cr_expect_str_eq(twice, once, "case %zu", i);
		free(once);
		free(twice);
	}
}

Test(redact, needed_says_whether_it_changes)
{
	cr_expect_eq(redact_needed("http://t.example/announce"), 0);
	cr_expect_eq(redact_needed("http://t.example/announce?passkey=S"), 1);
	cr_expect_eq(redact_needed("token=1"), 1);
}

/* The size contract: the return is the full length; a cut output is a
 * NUL-terminated prefix of the redacted text and never holds the secret. */
Test(redact, a_cut_output_is_a_prefix_without_the_secret)
{
	const char *in = "http://t.example/announce?passkey=SECRETSECRET";
	const char *want = "http://t.example/announce?passkey=REDACTED";
	size_t full = strlen(want);

	cr_expect_eq(redact_text(in, strlen(in), NULL, 0), full);
	for (size_t cap = 1; cap <= full + 1; cap++) {
		char out[64];

		memset(out, 'Z', sizeof(out));
		cr_expect_eq(redact_text(in, strlen(in), out, cap), full);
		cr_expect_eq(strlen(out), cap - 1, "cap %zu", cap);
		cr_expect_eq(memcmp(out, want, cap - 1), 0, "cap %zu", cap);
		cr_expect_null(strstr(out, "SECRET"), "cap %zu", cap);
		cr_expect_eq(out[cap], 'Z', "cap %zu: wrote past cap", cap);
	}
}

/* Hostile bytes: control characters, high bytes and a NUL are copied, the
 * scan never reads past len. */
Test(redact, any_bytes_within_len)
{
	const char in[] = "a\x01\xff\0key=v http://h/?x=1";
	char out[64];
	size_t n = redact_text(in, sizeof(in) - 1, out, sizeof(out));
	const char want[] = "a\x01\xff\0key=REDACTED http://h/?x=REDACTED";

	cr_expect_eq(n, sizeof(want) - 1);
	cr_expect_eq(memcmp(out, want, sizeof(want)), 0);
	/* a text that stops inside "http:/" is not a URL */
	n = redact_text("see http:/", 10, out, sizeof(out));
	cr_expect_str_eq(out, "see http:/");
}
