/*
 * log: one line per message on stderr, for the programs (seed-dataplane,
 * seed-control, seedctl's diagnostics). lib/ and proto/ never call it: they
 * fill a struct seed_err and the program logs that (CONVENTIONS rule 3).
 *
 * A line reads
 *
 *	seed-control: reload refused: seed.conf:12: ... level=error module=control.main
 *
 * that is "PROGRAM: MESSAGE" and then key=value fields: level, module, and,
 * unless stderr is the journal, time (UTC, milliseconds). The message comes
 * first and the fields last so a line still starts the way the programs'
 * lines always did ("seed-dataplane: stopped ..." is what scripts and the
 * integration tests anchor on) and so callers may end their own message in
 * key=value fields (CONVENTIONS rule 10) that read on into ours.
 *
 * When stderr is the journal (JOURNAL_STREAM names stderr's device and inode,
 * as systemd sets it for StandardError=journal), the line begins with the
 * sd-daemon priority prefix ("<3>" error ... "<7>" debug) so journald records
 * each line's priority, and carries no time= field: journald stamps every line
 * itself, and a second clock in the text only disagrees with it. Anywhere else
 * (a terminal, a file under nohup, the tests' captured stderr) nothing else
 * would say when a line was written, so time= is there.
 *
 * Control characters in a message (a tracker's failure reason, a file name)
 * are written escaped (\n, \t, \xNN): one message is always one line, and a
 * peer cannot forge a line. A message longer than LOG_MSG_MAX is cut, marked
 * "[...]" and the line gains truncated=N with the full length: never silent.
 *
 * Thread-safe: each line is formatted on the caller's stack and goes out in
 * one write(2) of at most LOG_LINE_MAX (<= PIPE_BUF) bytes, so lines from
 * several threads never interleave. errno is preserved across every call.
 *
 * Levels: error (a request, a reload or the program failed), warn (degraded
 * but serving: a retry, a fallback), info (what an operator wants in the
 * journal: started, reloaded, stopped, a tracker's state changing), debug
 * (per-event detail, off by default). The threshold is info unless set:
 *
 *	SEED_LOG_LEVEL=debug                          every module
 *	SEED_LOG_LEVEL=warn,control.tracker=debug     one subtree louder
 *	seed-control --log-level info,dataplane=warn  the same, on the command line
 *
 * log_init() reads SEED_LOG_LEVEL; a program's --log-level, given to
 * log_configure() after it, wins. A "name=level" entry applies to the module
 * of that path and every module below it (dataplane= covers
 * dataplane.worker); the longest matching entry wins.
 *
 * What is not a log line: a CLI's answer to its user. seedctl's usage and
 * command errors stay plain "seedctl: ..." text on stderr (no level, module
 * or time: the user just typed the command, and scripts and tests expect
 * exactly one such line); so do a daemon's command-line usage errors before
 * it starts, and --help/--check-config output. Logging is what a running
 * program says about itself over time.
 *
 * Call order: log_init() once at the start of main(), then optionally
 * log_configure(), both before any thread starts; then log_*() from any
 * thread. log_set_level() may be called at any time (e.g. on reload).
 *
 * Each file that logs names its module once:
 *
 *	static const struct log_module lm = LOG_MODULE("control.tracker");
 *	...
 *	log_warn(&lm, "tracker %s: %s (retry in %llds)", url, msg, secs);
 */
#ifndef SEED_LOG_H
#define SEED_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "seed_err.h"

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* The longest message kept whole, and the longest line written. */
#define LOG_MSG_MAX  2048
#define LOG_LINE_MAX 4096

/* A module's log identity: its path in the tree, dot-separated. */
struct log_module {
	const char *name;
};

#define LOG_MODULE(path)       \
	{                      \
		.name = (path) \
	}

/*
 * Sets the program name that starts every line (borrowed: a string literal
 * or argv[0] that outlives the program; before log_init() lines start with
 * the executable's name, as in a unit test of a program's module), detects whether stderr is the
 * journal, and reads SEED_LOG_LEVEL. Returns 0, or -EINVAL with err filled
 * when SEED_LOG_LEVEL is malformed (the threshold then stays info and the
 * program should say so and go on or refuse, its choice). Calling it again
 * starts over (tests do).
 */
int log_init(const char *prog, struct seed_err *err);

/*
 * Applies a threshold spec: "LEVEL", "LEVEL,module=LEVEL,...", or only
 * "module=LEVEL" entries. Replaces what log_init() read. Returns 0, or
 * -EINVAL with err naming the bad entry (nothing is changed then).
 */
int log_configure(const char *spec, struct seed_err *err);

/* Sets the threshold of every module without an entry of its own. */
void log_set_level(enum log_level level);

/*
 * Parses "error", "warn" (or "warning"), "info", "debug", any case.
 * Returns 0 or -EINVAL.
 */
int log_level_parse(const char *s, enum log_level *out_level);

/* "error", "warn", "info" or "debug". */
const char *log_level_name(enum log_level level);

/*
 * Whether a message of this level from this module would be written: for
 * callers that would spend work building one (a loop over connections).
 */
bool log_enabled(const struct log_module *m, enum log_level level);

/* Writes one line when log_enabled(m, level). */
void log_write(const struct log_module *m, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vwrite(const struct log_module *m, enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#define log_error(m, ...) log_write((m), LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(m, ...)  log_write((m), LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(m, ...)  log_write((m), LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(m, ...) log_write((m), LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
