/*
 * log: see log.h for the line format, the levels and the call order.
 *
 * State: the program name, whether stderr is the journal and the module
 * entries are written only by log_init()/log_configure(), before threads
 * start; the default threshold is an atomic so log_set_level() may run at
 * any time. A line is built in a stack buffer and written with one write(2).
 */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_ENTRIES 16
#define NAME_MAX_   64

struct entry {
	char name[NAME_MAX_ + 1];
	size_t len;
	enum log_level level;
};

static const char *g_prog;
static bool g_journal;
static _Atomic int g_level = LOG_LEVEL_INFO;
static struct entry g_ents[MAX_ENTRIES];
static size_t g_n_ents;
static enum log_level g_max_ent; /* the loudest entry, for a quick refusal */

static const char *const level_names[] = { "error", "warn", "info", "debug" };

const char *log_level_name(enum log_level level)
{
	if ((unsigned)level > LOG_LEVEL_DEBUG)
		return "?";
	return level_names[level];
}

int log_level_parse(const char *s, enum log_level *out_level)
{
	for (unsigned i = 0; i <= LOG_LEVEL_DEBUG; i++) {
		if (!strcasecmp(s, level_names[i])) {
			*out_level = (enum log_level)i;
			return 0;
		}
	}
	if (!strcasecmp(s, "warning")) {
		*out_level = LOG_LEVEL_WARN;
		return 0;
	}
	return -EINVAL;
}

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&g_level, (int)level, memory_order_relaxed);
}

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected; it is
 * inherited by children whose stderr may go elsewhere, hence the compare. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int log_init(const char *prog, struct seed_err *err)
{
	g_prog = prog;
	g_journal = stderr_is_journal();
	g_n_ents = 0;
	log_set_level(LOG_LEVEL_INFO);
	const char *env = getenv("SEED_LOG_LEVEL");
	if (!env || !*env)
		return 0;
	int rc = log_configure(env, err);
	if (rc < 0)
		seed_err_prefix(err, "SEED_LOG_LEVEL: ");
	return rc;
}

int log_configure(const char *spec, struct seed_err *err)
{
	struct entry ents[MAX_ENTRIES];
	size_t n = 0;
	enum log_level def = (enum log_level)atomic_load(&g_level);
	bool have_def = false;
	const char *p = spec;

	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char item[NAME_MAX_ + 16];
		if (len == 0 || len >= sizeof(item))
			return seed_err_set(err, -EINVAL,
					    "log level '%s': %s entry at offset %zu (expected "
					    "LEVEL or MODULE=LEVEL, comma-separated)",
					    spec, len ? "an overlong" : "an empty",
					    (size_t)(p - spec));
		memcpy(item, p, len);
		item[len] = '\0';
		char *eq = strchr(item, '=');
		const char *lv = eq ? eq + 1 : item;
		enum log_level level;
		if (log_level_parse(lv, &level) < 0)
			return seed_err_set(err, -EINVAL,
					    "log level '%s': unknown level '%s' (error, warn, "
					    "info or debug)",
					    spec, lv);
		if (!eq) {
			if (have_def)
				return seed_err_set(err, -EINVAL,
						    "log level '%s': two default levels", spec);
			def = level;
			have_def = true;
		} else {
			size_t nl = (size_t)(eq - item);
			if (nl == 0 || nl > NAME_MAX_)
				return seed_err_set(err, -EINVAL,
						    "log level '%s': entry '%s' needs a module "
						    "name of 1 to %d characters",
						    spec, item, NAME_MAX_);
			if (n == MAX_ENTRIES)
				return seed_err_set(err, -EINVAL,
						    "log level '%s': more than %d module entries",
						    spec, MAX_ENTRIES);
			memcpy(ents[n].name, item, nl);
			ents[n].name[nl] = '\0';
			ents[n].len = nl;
			ents[n].level = level;
			n++;
		}
		if (!end)
			break;
		p = end + 1;
	}
	memcpy(g_ents, ents, n * sizeof(ents[0]));
	g_n_ents = n;
	g_max_ent = LOG_LEVEL_ERROR;
	for (size_t i = 0; i < n; i++)
		if (ents[i].level > g_max_ent)
			g_max_ent = ents[i].level;
	log_set_level(def);
	return 0;
}

/* The entry for a module: the longest one naming it or a module above it. */
static const struct entry *find_entry(const char *name)
{
	const struct entry *best = NULL;
	for (size_t i = 0; i < g_n_ents; i++) {
		const struct entry *e = &g_ents[i];
		if (strncmp(name, e->name, e->len) != 0)
			continue;
		if (name[e->len] != '\0' && name[e->len] != '.')
			continue;
		if (!best || e->len > best->len)
			best = e;
	}
	return best;
}

bool log_enabled(const struct log_module *m, enum log_level level)
{
	int def = atomic_load_explicit(&g_level, memory_order_relaxed);
	if (!g_n_ents)
		return (int)level <= def;
	if ((int)level > def && level > g_max_ent)
		return false;
	const struct entry *e = m && m->name ? find_entry(m->name) : NULL;
	return (int)level <= (e ? (int)e->level : def);
}

/* Appends at most what fits, always leaving room for the NUL. */
struct line {
	char *buf;
	size_t len, cap;
	bool full; /* something did not fit */
};

static void put(struct line *l, const char *s, size_t n)
{
	if (n > l->cap - 1 - l->len) {
		n = l->cap - 1 - l->len;
		l->full = true;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = '\0';
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* Copies a message with its control characters escaped. */
static void put_escaped(struct line *l, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[5];
		if (c >= 0x20 && c != 0x7f) {
			put(l, (const char *)&s[i], 1);
			continue;
		}
		if (c == '\n')
			memcpy(esc, "\\n", 3);
		else if (c == '\r')
			memcpy(esc, "\\r", 3);
		else if (c == '\t')
			memcpy(esc, "\\t", 3);
		else
			snprintf(esc, sizeof(esc), "\\x%02x", c);
		puts_(l, esc);
	}
}

static void put_time(struct line *l)
{
	struct timespec ts;
	struct tm tm;
	char t[40];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(t, sizeof(t), " time=%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(t + n, sizeof(t) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	puts_(l, t);
}

static void write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere left to say it */
		p += w;
		n -= (size_t)w;
	}
}

/* The fields after a message take at most this much of a line. */
#define FIELDS_MAX 256

void log_vwrite(const struct log_module *m, enum log_level level, const char *fmt, va_list ap)
{
	if (!log_enabled(m, level))
		return;
	int saved = errno;
	char msg[LOG_MSG_MAX + 1];
	char buf[LOG_LINE_MAX];
	struct line l = { buf, 0, sizeof(buf), false };
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t mlen = n < 0 ? 0 : (size_t)n > LOG_MSG_MAX ? LOG_MSG_MAX : (size_t)n;

	buf[0] = '\0';
	if (g_journal) {
		static const char *const pri[] = { "<3>", "<4>", "<6>", "<7>" };
		puts_(&l, pri[(unsigned)level & 3]);
	}
	puts_(&l, g_prog ? g_prog : program_invocation_short_name);
	puts_(&l, ": ");
	/* escaping may grow the message: keep room for the fields whatever */
	struct line body = { buf, l.len, sizeof(buf) - FIELDS_MAX, false };
	put_escaped(&body, msg, mlen);
	bool cut = n < 0 || (size_t)n > LOG_MSG_MAX || body.full;
	if (cut) {
		/* cut back so the mark fits even when the body filled up */
		if (body.len > body.cap - 1 - 5)
			body.len = body.cap - 1 - 5;
		body.buf[body.len] = '\0';
		puts_(&body, "[...]");
	}
	l.len = body.len;
	char f[FIELDS_MAX];
	snprintf(f, sizeof(f), " level=%s module=%s", log_level_name(level),
		 m && m->name ? m->name : "-");
	puts_(&l, f);
	if (cut) {
		snprintf(f, sizeof(f), " truncated=%d", n < 0 ? -1 : n);
		puts_(&l, f);
	}
	if (!g_journal)
		put_time(&l);
	/* the newline always goes out, over the last byte if the line is full */
	if (l.len == l.cap - 1)
		l.len--;
	buf[l.len++] = '\n';
	write_all(buf, l.len);
	errno = saved;
}

void log_write(const struct log_module *m, enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(m, level, fmt, ap);
	va_end(ap);
}
