/*
 * Unit tests for lib/log.c: the line format (message first, then level,
 * module and time fields; the journal's priority prefix and no time), level
 * filtering by default, by SEED_LOG_LEVEL, by module entries and at run
 * time, every refused spec, control characters escaped, long messages cut
 * and marked, errno kept, and whole lines from several threads at once.
 *
 * Each test points stderr at a temporary file, logs, puts stderr back and
 * reads what was written.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static const struct log_module lm = LOG_MODULE("test.mod");
static const struct log_module other = LOG_MODULE("other");

static FILE *cap_file;
static int saved_fd = -1;

/* Starts capturing stderr; journal says whether JOURNAL_STREAM names it. */
static void cap_start(const char *level_env, int journal)
{
	cap_file = tmpfile();
	cr_assert(cap_file);
	fflush(stderr);
	saved_fd = dup(STDERR_FILENO);
	cr_assert(saved_fd >= 0);
	cr_assert(dup2(fileno(cap_file), STDERR_FILENO) >= 0);
	if (level_env)
		setenv("SEED_LOG_LEVEL", level_env, 1);
	else
		unsetenv("SEED_LOG_LEVEL");
	if (journal) {
		struct stat st;
		char js[64];
		cr_assert(fstat(STDERR_FILENO, &st) == 0);
		snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
		setenv("JOURNAL_STREAM", js, 1);
	} else {
		unsetenv("JOURNAL_STREAM");
	}
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(log_init("prog", &e), 0, "%s", e.msg);
}

/* Stops capturing; returns what was written (caller frees). */
static char *cap_end(void)
{
	dup2(saved_fd, STDERR_FILENO);
	close(saved_fd);
	long n = ftell(cap_file);
	cr_assert(n >= 0);
	char *s = malloc((size_t)n + 1);
	cr_assert(s);
	rewind(cap_file);
	cr_assert_eq(fread(s, 1, (size_t)n, cap_file), (size_t)n);
	s[n] = '\0';
	fclose(cap_file);
	return s;
}

static void assert_match(const char *s, const char *re)
{
	regex_t r;
	cr_assert_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0, "bad regex %s", re);
	int rc = regexec(&r, s, 0, NULL, 0);
	regfree(&r);
	cr_assert_eq(rc, 0, "\"%s\" does not match /%s/", s, re);
}

#define TIME_RE "time=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"

Test(log, line_format_outside_the_journal)
{
	cap_start(NULL, 0);
	log_info(&lm, "reloaded generation=%d", 7);
	char *s = cap_end();
	assert_match(s, "^prog: reloaded generation=7 level=info module=test.mod " TIME_RE "\n$");
	free(s);
}

Test(log, journal_gets_priority_prefix_and_no_time)
{
	static const struct {
		enum log_level level;
		const char *want;
	} cases[] = {
		{ LOG_LEVEL_ERROR, "<3>prog: m level=error module=test.mod\n" },
		{ LOG_LEVEL_WARN, "<4>prog: m level=warn module=test.mod\n" },
		{ LOG_LEVEL_INFO, "<6>prog: m level=info module=test.mod\n" },
		{ LOG_LEVEL_DEBUG, "<7>prog: m level=debug module=test.mod\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cap_start("debug", 1);
		log_write(&lm, cases[i].level, "m");
		char *s = cap_end();
		cr_assert_str_eq(s, cases[i].want);
		free(s);
	}
}

Test(log, journal_stream_of_another_file_is_not_the_journal)
{
	setenv("JOURNAL_STREAM", "1:2", 1);
	cap_file = tmpfile();
	saved_fd = dup(STDERR_FILENO);
	dup2(fileno(cap_file), STDERR_FILENO);
	unsetenv("SEED_LOG_LEVEL");
	cr_assert_eq(log_init("prog", NULL), 0);
	log_warn(&lm, "x");
	char *s = cap_end();
	assert_match(s, "^prog: x level=warn module=test.mod " TIME_RE "\n$");
	free(s);
}

/* What each threshold lets through: one letter per level, e, w, i, d. */
Test(log, level_filtering)
{
	static const struct {
		const char *env; /* NULL: the default */
		const char *want_lm, *want_other;
	} cases[] = {
		{ NULL, "ewi", "ewi" },
		{ "error", "e", "e" },
		{ "warn", "ew", "ew" },
		{ "WARNING", "ew", "ew" },
		{ "info", "ewi", "ewi" },
		{ "Debug", "ewid", "ewid" },
		{ "error,test=debug", "ewid", "e" },
		{ "test.mod=warn", "ew", "ewi" },
		{ "debug,test=error,test.mod=info", "ewi", "ewid" },
		{ "info,test.mo=debug", "ewi", "ewi" }, /* a prefix only at a dot */
		{ "info,test.mod.sub=debug", "ewi", "ewi" },
		{ "error,other=debug", "e", "ewid" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct log_module *mods[2] = { &lm, &other };
		const char *wants[2] = { cases[i].want_lm, cases[i].want_other };
		for (int k = 0; k < 2; k++) {
			cap_start(cases[i].env, 1);
			log_error(mods[k], "e");
			log_warn(mods[k], "w");
			log_info(mods[k], "i");
			log_debug(mods[k], "d");
			char *s = cap_end();
			char got[8] = { 0 };
			size_t n = 0;
			for (char *p = s; (p = strstr(p, "prog: ")) && n < 7; p += 6)
				got[n++] = p[6];
			cr_assert_str_eq(got, wants[k], "SEED_LOG_LEVEL=%s module %s: got '%s'",
					 cases[i].env ? cases[i].env : "(unset)", mods[k]->name,
					 got);
			free(s);
		}
	}
}

Test(log, enabled_and_set_level_at_run_time)
{
	cap_start(NULL, 1);
	cr_assert(log_enabled(&lm, LOG_LEVEL_INFO));
	cr_assert_not(log_enabled(&lm, LOG_LEVEL_DEBUG));
	log_set_level(LOG_LEVEL_DEBUG);
	cr_assert(log_enabled(&lm, LOG_LEVEL_DEBUG));
	log_debug(&lm, "now");
	log_set_level(LOG_LEVEL_ERROR);
	log_warn(&lm, "not now");
	char *s = cap_end();
	cr_assert_str_eq(s, "<7>prog: now level=debug module=test.mod\n");
	free(s);
}

Test(log, command_line_spec_replaces_the_environment)
{
	cap_start("error", 1);
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(log_configure("other=debug", &e), 0, "%s", e.msg);
	/* entries only: the default stays what SEED_LOG_LEVEL said */
	cr_assert_not(log_enabled(&lm, LOG_LEVEL_WARN));
	cr_assert(log_enabled(&other, LOG_LEVEL_DEBUG));
	cr_assert_eq(log_configure("info", &e), 0, "%s", e.msg);
	cr_assert(log_enabled(&lm, LOG_LEVEL_INFO));
	cr_assert_not(log_enabled(&other, LOG_LEVEL_DEBUG));
	free(cap_end());
}

Test(log, refused_specs_name_the_fault_and_change_nothing)
{
	static const struct {
		const char *spec, *want;
	} cases[] = {
		{ "", "empty entry" },
		{ "loud", "unknown level 'loud'" },
		{ "info,", "empty entry" },
		{ ",info", "empty entry" },
		{ "info,,warn", "empty entry" },
		{ "info,warn", "two default levels" },
		{ "=debug", "needs a module" },
		{ "x=", "unknown level ''" },
		{ "x=verbose", "unknown level 'verbose'" },
		{ "a=debug,b=debug,c=debug,d=debug,e=debug,f=debug,g=debug,h=debug,i=debug,"
		  "j=debug,k=debug,l=debug,m=debug,n=debug,o=debug,p=debug,q=debug",
		  "more than 16" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=info",
		  "1 to 64 characters" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=info",
		  "overlong entry at offset 0" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cap_start("warn,other=debug", 1);
		struct seed_err e;
		seed_err_clear(&e);
		cr_assert_eq(log_configure(cases[i].spec, &e), -EINVAL, "'%s' accepted",
			     cases[i].spec);
		cr_assert(strstr(e.msg, cases[i].want), "'%s': message \"%s\" lacks \"%s\"",
			  cases[i].spec, e.msg, cases[i].want);
		cr_assert_not(log_enabled(&lm, LOG_LEVEL_INFO), "'%s' changed the default",
			      cases[i].spec);
		cr_assert(log_enabled(&other, LOG_LEVEL_DEBUG), "'%s' dropped an entry",
			  cases[i].spec);
		free(cap_end());
	}
}

Test(log, bad_environment_is_reported_and_leaves_info)
{
	fflush(stderr);
	setenv("SEED_LOG_LEVEL", "chatty", 1);
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(log_init("prog", &e), -EINVAL);
	cr_assert(strstr(e.msg, "SEED_LOG_LEVEL: "), "%s", e.msg);
	cr_assert(strstr(e.msg, "chatty"), "%s", e.msg);
	cr_assert(log_enabled(&lm, LOG_LEVEL_INFO));
	cr_assert_not(log_enabled(&lm, LOG_LEVEL_DEBUG));
	unsetenv("SEED_LOG_LEVEL");
}

Test(log, level_names_round_trip)
{
	for (int i = LOG_LEVEL_ERROR; i <= LOG_LEVEL_DEBUG; i++) {
		enum log_level l;
		cr_assert_eq(log_level_parse(log_level_name((enum log_level)i), &l), 0);
		cr_assert_eq((int)l, i);
	}
	enum log_level l = LOG_LEVEL_INFO;
	cr_assert_eq(log_level_parse("", &l), -EINVAL);
	cr_assert_eq(log_level_parse("errors", &l), -EINVAL);
	cr_assert_eq(l, LOG_LEVEL_INFO);
	cr_assert_str_eq(log_level_name((enum log_level)9), "?");
}

Test(log, control_characters_are_escaped)
{
	cap_start(NULL, 1);
	log_warn(&lm, "tracker said: %s", "bad\nprog: forged\r\tline\x01\x7f end");
	char *s = cap_end();
	cr_assert_str_eq(s, "<4>prog: tracker said: bad\\nprog: forged\\r\\tline\\x01\\x7f end "
			    "level=warn module=test.mod\n");
	free(s);
}

/* One line, at most LOG_LINE_MAX bytes, cut where marked. */
static void assert_cut(const char *s, const char *truncated)
{
	size_t n = strlen(s);
	cr_assert(n <= LOG_LINE_MAX, "line of %zu bytes", n);
	cr_assert_eq(s[n - 1], '\n');
	cr_assert_eq(strchr(s, '\n'), s + n - 1, "more than one line");
	cr_assert(strstr(s, "[...] level=info module=test.mod truncated="), "%s", s + n - 100);
	cr_assert(strstr(s, truncated), "lacks %s", truncated);
	cr_assert_eq(strncmp(s, "prog: xxxx", 10), 0);
	assert_match(s, TIME_RE "\n$");
}

Test(log, long_message_is_cut_and_marked)
{
	char *big = malloc(5001);
	memset(big, 'x', 5000);
	big[5000] = '\0';
	cap_start(NULL, 0);
	log_info(&lm, "%s", big);
	char *s = cap_end();
	assert_cut(s, "truncated=5000 ");
	/* LOG_MSG_MAX of the message is kept */
	cr_assert_eq(strspn(s + 6, "x"), LOG_MSG_MAX);
	free(s);
	free(big);
}

Test(log, escaping_that_outgrows_the_line_is_cut_and_marked)
{
	char big[LOG_MSG_MAX + 1];
	memset(big, 'x', 4);
	memset(big + 4, '\x01', LOG_MSG_MAX - 4);
	big[LOG_MSG_MAX] = '\0';
	cap_start(NULL, 0);
	log_info(&lm, "%s", big);
	char *s = cap_end();
	assert_cut(s, "truncated=2048 ");
	free(s);
}

Test(log, message_exactly_at_the_limit_is_whole)
{
	char *big = malloc(LOG_MSG_MAX + 1);
	memset(big, 'x', LOG_MSG_MAX);
	big[LOG_MSG_MAX] = '\0';
	cap_start(NULL, 1);
	log_info(&lm, "%s", big);
	char *s = cap_end();
	cr_assert_null(strstr(s, "[...]"));
	cr_assert_null(strstr(s, "truncated="));
	cr_assert_eq(strspn(s + 9, "x"), LOG_MSG_MAX);
	free(s);
	free(big);
}

Test(log, errno_is_preserved)
{
	cap_start(NULL, 0);
	errno = EAGAIN;
	log_info(&lm, "x");
	int e1 = errno;
	errno = ENOSPC;
	log_debug(&lm, "filtered");
	int e2 = errno;
	free(cap_end());
	cr_assert_eq(e1, EAGAIN);
	cr_assert_eq(e2, ENOSPC);
}

#define THREADS 4
#define LINES	300

static void *writer(void *arg)
{
	int id = (int)(long)arg;
	char pad[600];
	memset(pad, 'a' + id, sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (int i = 0; i < LINES; i++)
		log_info(&lm, "t=%d i=%d %s", id, i, pad);
	return NULL;
}

Test(log, lines_from_threads_never_interleave)
{
	cap_start(NULL, 1);
	pthread_t t[THREADS];
	for (long i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, writer, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	char *s = cap_end();
	int n = 0;
	for (char *line = s, *nl; (nl = strchr(line, '\n')); line = nl + 1, n++) {
		*nl = '\0';
		int id, i;
		cr_assert_eq(sscanf(line, "<6>prog: t=%d i=%d ", &id, &i), 2, "line %d: %.80s", n,
			     line);
		char want[700];
		memset(want, 'a' + id, 599);
		want[599] = '\0';
		cr_assert(strstr(line, want), "line %d mixed", n);
		cr_assert(strstr(line, " level=info module=test.mod"), "line %d", n);
		cr_assert_eq(strlen(line), strlen("<6>prog: t=0 i= ") +
						   (i > 99  ? 3
						    : i > 9 ? 2
							    : 1) +
						   599 + strlen(" level=info module=test.mod"));
	}
	cr_assert_eq(n, THREADS * LINES);
	free(s);
}
