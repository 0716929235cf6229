/*
 * Unit tests for lib/seed_err.c: the first error wins, the offset is kept
 * only by seed_err_set_at, prefixes apply only to a set report, NULL is
 * accepted everywhere, and a message cut at SEED_ERR_MSG_MAX ends in "...".
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "seed_err.h"

Test(seed_err, set_returns_the_code_and_first_error_wins)
{
	struct seed_err e;

	seed_err_clear(&e);
	cr_assert_eq(e.code, 0);
	cr_assert_eq(seed_err_set(&e, -EINVAL, "bad %s at %d", "key", 7), -EINVAL);
	cr_assert_eq(e.code, -EINVAL);
	cr_assert_str_eq(e.msg, "bad key at 7");
	cr_assert_eq(e.has_offset, 0);
	/* an outer caller's report does not hide the innermost cause */
	cr_assert_eq(seed_err_set(&e, -ENOENT, "outer"), -ENOENT);
	cr_assert_eq(e.code, -EINVAL);
	cr_assert_str_eq(e.msg, "bad key at 7");
}

Test(seed_err, set_at_keeps_the_offset)
{
	struct seed_err e;

	seed_err_clear(&e);
	cr_assert_eq(seed_err_set_at(&e, -EBADMSG, 123456789012ull, "x"), -EBADMSG);
	cr_assert_eq(e.has_offset, 1);
	cr_assert_eq(e.offset, 123456789012ull);
	seed_err_clear(&e);
	cr_assert_eq(e.has_offset, 0);
	cr_assert_eq(e.offset, 0);
	cr_assert_str_eq(e.msg, "");
}

Test(seed_err, prefix_only_on_a_set_report)
{
	struct seed_err e;

	seed_err_clear(&e);
	seed_err_prefix(&e, "%s: ", "file");
	cr_assert_eq(e.code, 0);
	cr_assert_str_eq(e.msg, "");
	seed_err_set(&e, -EIO, "read failed");
	seed_err_prefix(&e, "%s: ", "seed.conf");
	seed_err_prefix(&e, "reload: ");
	cr_assert_str_eq(e.msg, "reload: seed.conf: read failed");
	cr_assert_eq(e.code, -EIO);
}

Test(seed_err, null_report_is_accepted)
{
	seed_err_clear(NULL);
	cr_assert_eq(seed_err_set(NULL, -ENOMEM, "x"), -ENOMEM);
	cr_assert_eq(seed_err_set_at(NULL, -ERANGE, 1, "x"), -ERANGE);
	seed_err_prefix(NULL, "x");
}

Test(seed_err, a_cut_message_ends_in_dots)
{
	struct seed_err e;
	char long_arg[SEED_ERR_MSG_MAX * 2];

	memset(long_arg, 'a', sizeof(long_arg) - 1);
	long_arg[sizeof(long_arg) - 1] = '\0';
	seed_err_clear(&e);
	seed_err_set(&e, -E2BIG, "%s", long_arg);
	cr_assert_eq(strlen(e.msg), SEED_ERR_MSG_MAX - 1);
	cr_assert_str_eq(e.msg + SEED_ERR_MSG_MAX - 4, "...");
	cr_assert_eq(e.msg[0], 'a');

	/* a prefix that pushes a full message over the limit cuts it too */
	seed_err_clear(&e);
	memset(long_arg, 'b', SEED_ERR_MSG_MAX - 10);
	long_arg[SEED_ERR_MSG_MAX - 10] = '\0';
	seed_err_set(&e, -E2BIG, "%s", long_arg);
	cr_assert_eq(strlen(e.msg), SEED_ERR_MSG_MAX - 10);
	seed_err_prefix(&e, "0123456789012345: ");
	cr_assert_eq(strlen(e.msg), SEED_ERR_MSG_MAX - 1);
	cr_assert(!strncmp(e.msg, "0123456789012345: bbb", 21));
	cr_assert_str_eq(e.msg + SEED_ERR_MSG_MAX - 4, "...");
}
