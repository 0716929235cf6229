/*
 * cmdopt: what every seedctl command shares on its command line.
 *
 *  - EXIT_USAGE, the exit code of a usage error (0 success, 1 failure);
 *  - an option table, one struct cmdopt per option, from which both
 *    getopt_long's table and the options part of --help come (CONVENTIONS
 *    rule 8);
 *  - the shape of every error line: "seedctl: COMMAND: WHAT", one line on
 *    stderr (docs/seedctl.md), a usage error also saying where help is.
 *
 * seedctl's messages are a CLI's answers to the user who just typed the
 * command, not log lines: they go to stderr as plain text, without the
 * level, module and time fields of lib/log.h (see there).
 */
#ifndef SEED_CMDOPT_H
#define SEED_CMDOPT_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#include "seed_err.h"

#define EXIT_USAGE 2

struct cmdopt {
	const char *name; /* without the leading "--" */
	int has_arg;	  /* 1: takes a value, shown as `arg` in --help */
	int id;		  /* what getopt_long returns: non-zero, not '?' or ':' */
	const char *arg;
	const char *help;
};

#define CMDOPT(name, has_arg, id, arg, help)           \
	{                                              \
		(name), (has_arg), (id), (arg), (help) \
	}
#define CMDOPT_END CMDOPT(NULL, 0, 0, NULL, NULL)

/* The most rows a table may have, CMDOPT_END included. */
#define CMDOPT_MAX 32

/* Fills lo (CMDOPT_MAX entries) with getopt_long's table for opts. */
void cmdopt_longopts(const struct cmdopt *opts, struct option *lo);

/* The "options:" lines of --help, one per row: "  --name ARG   help". */
void cmdopt_help(const struct cmdopt *opts, FILE *f);

/*
 * A command's --help: "usage: seedctl CMD SYNOPSIS", "SUMMARY.", NOTES (a
 * paragraph, or NULL) and the options of the table.
 */
void cmdopt_usage(FILE *f, const char *cmd, const char *synopsis, const char *summary,
		  const char *notes, const struct cmdopt *opts);

/* Non-zero for the words that ask for help: --help, -h, help. */
int cmdopt_is_help(const char *arg);

/*
 * "seedctl: CMD: WHAT (see 'seedctl CMD --help')" on stderr; returns
 * EXIT_USAGE so callers can `return cmdopt_usage_err(...)`.
 */
int cmdopt_usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * "seedctl: GROUP: unknown subcommand 'WORD' (try 'seedctl GROUP --help')",
 * or for a NULL group "seedctl: unknown command 'WORD' (try 'seedctl
 * --help')"; returns EXIT_USAGE.
 */
int cmdopt_unknown(const char *group, const char *word);

/*
 * "seedctl: CMD: MESSAGE" (or "seedctl: MESSAGE" for a NULL cmd, when the
 * message names its subject itself) with the report's message, or the
 * strerror of its code when it has none; returns 1.
 */
int cmdopt_fail(const char *cmd, const struct seed_err *e);

/*
 * The usage of a command with subcommands: "usage: seedctl GROUP SUBCOMMAND
 * [OPTIONS]", "subcommands:", what list() prints (one "  %-8s %s" line
 * each), and where each one's help is.
 */
void cmdopt_group_usage(FILE *f, const char *group, void (*list)(FILE *f));

/*
 * One subcommand, a row of its command file's table (CONVENTIONS rule 8):
 * its --help and the checks of its positional arguments come from the row.
 *
 * struct cmdopt_args is what a command file's parser fills for its run
 * functions; each command file completes the type for itself. A row is
 * only ever run by the file whose table holds it, so the two completions
 * never meet, and cmdopt.c, which never runs one, leaves it incomplete.
 */
struct cmdopt_args;

/* A subcommand's body; a command file declares its own with
 * `static cmdopt_run_fn run_a, run_b;` before its table. */
typedef int cmdopt_run_fn(struct cmdopt_args *a);

struct cmdopt_sub {
	const char *name; /* as typed after "seedctl ": "status", "release create" */
	const char *synopsis;
	const char *summary;
	const char *notes; /* extra paragraph for --help, or NULL */
	const struct cmdopt *opts;
	int min_pos, max_pos; /* how many positional arguments it takes */
	const char *pos_what; /* what a missing one is called ("release ID"), or NULL */
	cmdopt_run_fn *run;
};

/* The row of subs[0..n) named "GROUP WORD", or "WORD" for a NULL group;
 * NULL when there is none. */
const struct cmdopt_sub *cmdopt_sub_find(const struct cmdopt_sub *subs, size_t n, const char *group,
					 const char *word);

/* The row's --help (cmdopt_usage). */
void cmdopt_sub_usage(const struct cmdopt_sub *s, FILE *f);

/* One "  %-8s %s" line (word, summary) for each row of group in subs[0..n). */
void cmdopt_sub_list(const struct cmdopt_sub *subs, size_t n, const char *group, FILE *f);

/*
 * What getopt_long returned as c for an option it did not take: ':' (a
 * value is missing) or anything else (unknown); arg is the word it read.
 * Prints the usage error and returns EXIT_USAGE.
 */
int cmdopt_sub_bad_option(const struct cmdopt_sub *s, int c, const char *arg);

/*
 * Checks the n positional arguments pos[0..n) against the row's counts:
 * returns -1 when they fit, or prints "missing POS_WHAT" / "unexpected
 * argument" and returns EXIT_USAGE.
 */
int cmdopt_sub_check_pos(const struct cmdopt_sub *s, int n, char **pos);

/*
 * Appends s (borrowed from argv) to a list that grows with realloc, at most
 * CMDOPT_LIST_MAX entries; the caller frees *v. Returns 0, or -1 when full
 * or out of memory.
 */
#define CMDOPT_LIST_MAX 1024
int cmdopt_push(const char ***v, size_t *n, const char *s);

#endif
