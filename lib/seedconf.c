/*
 * seedconf: see seedconf.h.
 *
 * Loading is four steps, each able to refuse the whole file:
 *   1. our own pass over the raw text for what libconfig 1.5 gets wrong
 *      silently (NUL bytes, integer literals it would wrap) or what we do
 *      not allow (@include);
 *   2. config_read_string(): syntax, with libconfig's line number;
 *   3. the wrapped-integer report, now that the setting's key path is known;
 *   4. the schema walk: every key checked against the options table, every
 *      value parsed into a calloc'd struct seedconf that is handed out only
 *      when the walk reached the end.
 */
#include "seedconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fsutil.h"
#include "redact.h"
#include "utf8.h"

/* ---- the options table ---- */

enum kind {
	K_NODE_NAME,
	K_ABS_PATH,
	K_SOCKET_PATH,
	K_LISTEN,
	K_PORT,
	K_IP,
	K_TENANT_ID,
	K_DISPLAY_NAME,
	K_RATE,
	K_MAX_PEERS,
	K_CIDRS,
	K_TRACKERS,
	K_DURATION,
	K_HOSTS,
	K_GROUP,
	K_CONNS,
	K_SEEDING,
};

#define F_REQUIRED 1 /* no default: absent is an error */

struct opt {
	struct seedconf_option pub;
	enum kind kind;
	int flags;
	size_t off; /* into struct seedconf_node or struct tenant */
	/* The default as a value (integers in decimal), beside pub.def, its
	 * spelling for operators, so the two are written together. NULL when
	 * required, or when apply() derives it (name = id, lists empty). */
	const char *val;
};

#define NODE(f)	  offsetof(struct seedconf_node, f)
#define TENANT(f) offsetof(struct tenant, f)
#define OPT(group, name, type, kind, flags, off, def, val, reloadable, help)        \
	{                                                                           \
		{ group, name, type, def, reloadable, help }, kind, flags, off, val \
	}

static const struct opt table[] = {
	OPT("node", "name", "string", K_NODE_NAME, F_REQUIRED, NODE(name), NULL, NULL, 0,
	    "this appliance's name in status, metrics and logs: 1 to 63 of A-Z a-z 0-9 . _ -"),
	OPT("node", "store", "string", K_ABS_PATH, F_REQUIRED, NODE(store), NULL, NULL, 0,
	    "the release store directory (absolute path)"),
	OPT("node", "run_dir", "string", K_ABS_PATH, 0, NODE(run_dir), "\"/run/seed\"", "/run/seed",
	    0, "runtime directory: catalog generations and counters live here (absolute path)"),
	OPT("node", "api_socket", "string", K_SOCKET_PATH, 0, NODE(api_socket),
	    "\"/run/seed/control.sock\"", "/run/seed/control.sock", 0,
	    "Unix socket seedctl talks to (absolute path, at most 107 bytes)"),
	OPT("node", "status_listen", "string", K_LISTEN, 0, 0, "\"127.0.0.1:9180\"",
	    "127.0.0.1:9180", 0,
	    "HTTP listener for /metrics, JSON status and the status page: ADDR:PORT, [V6]:PORT, "
	    "*:PORT, or \"\" to disable"),
	OPT("node", "status_hosts", "array of strings", K_HOSTS, 0, 0,
	    "the listen address with and without its port, and localhost", NULL, 0,
	    "Host: names the status listener answers (others get 421): NAME, IPv4, [IPv6], each "
	    "optionally :PORT; a name without a port also matches it with the listener's port; "
	    "at most 16"),
	OPT("node", "status_max_conns", "integer", K_CONNS, 0, NODE(status_max_conns), "256", "256",
	    0,
	    "connections the status listener holds at once (1 to 4096); when full, the one idle "
	    "longest is closed for a newcomer"),
	OPT("node", "api_max_conns", "integer", K_CONNS, 0, NODE(api_max_conns), "64", "64", 0,
	    "connections the API socket holds at once (1 to 4096), apart from the status "
	    "listener's"),
	OPT("node", "admin_group", "string", K_GROUP, 0, NODE(admin_group), "\"seed\"", "seed", 0,
	    "group whose members may change things over the API socket (uid 0 and seed-control's "
	    "own uid always may); \"\" = nobody else"),
	OPT("node", "readonly_group", "string", K_GROUP, 0, NODE(readonly_group), "\"seed-ro\"",
	    "seed-ro", 0,
	    "group whose members may read (GET) over the API socket; \"\" = nobody else"),
	OPT("node", "announce_port", "integer", K_PORT, 0, NODE(announce_port), "6881", "6881", 1,
	    "the BitTorrent port announced to trackers (1 to 65535)"),
	OPT("node", "announce_ip", "string", K_IP, 0, 0, "\"\"", "", 1,
	    "address announced to trackers (IPv4 or IPv6); \"\" lets trackers use the source "
	    "address"),
	OPT("node", "scrub_interval", "duration", K_DURATION, 0, NODE(scrub_interval_s), "\"7d\"",
	    "7d", 1,
	    "how often seed-control starts a background scrub of the whole store (each pass "
	    "starts this long after the last one started, at once when that one took longer); "
	    "\"0\" for none"),
	OPT("node", "scrub_rate", "rate", K_RATE, 0, NODE(scrub_rate), "\"8MB/s\"", "8MB/s", 1,
	    "how fast the background scrub reads the store: a rate as for a tenant's bandwidth; "
	    "0 or \"unlimited\" as fast as the disk goes"),
	OPT("node", "reclaim_retired", "duration", K_DURATION, 0, NODE(reclaim_retired_s), "\"7d\"",
	    "7d", 1,
	    "how long a retired release stays in the store; then it is removed, and with it "
	    "every file no other release holds; \"0\" keeps retired releases"),
	OPT("tenants", "id", "string", K_TENANT_ID, F_REQUIRED, TENANT(id), NULL, NULL, 1,
	    "1 to 32 of a-z 0-9 -, unique; releases <id>.<name>.<version> belong to the tenant"),
	OPT("tenants", "name", "string", K_DISPLAY_NAME, 0, TENANT(name), "the id", NULL, 1,
	    "display name: 1 to 128 bytes of printable UTF-8"),
	OPT("tenants", "bandwidth", "rate", K_RATE, 0, TENANT(bandwidth), "\"unlimited\"",
	    "unlimited", 1,
	    "upload cap: 0, \"unlimited\", bytes per second, or a number with a unit: B/s kB/s "
	    "MB/s GB/s KiB/s MiB/s GiB/s bit/s kbit/s Mbit/s Gbit/s"),
	OPT("tenants", "max_peers", "integer", K_MAX_PEERS, 0, TENANT(max_peers), "0", "0", 1,
	    "most peers served at once; 0 = unlimited, at most 1000000"),
	OPT("tenants", "allow", "array of strings", K_CIDRS, 0, TENANT(allow), "[]", NULL, 1,
	    "peer address ranges allowed (\"10.0.0.0/8\", \"2001:db8::/32\"); empty = every "
	    "peer; at most 256"),
	OPT("tenants", "trackers", "array of strings", K_TRACKERS, 0, 0, "[]", NULL, 1,
	    "tracker announce URLs, http:// or udp://, at most 32"),
	OPT("tenants", "embargo", "duration", K_DURATION, 0, TENANT(embargo_s), "\"0\"", "0", 1,
	    "default embargo of newly published releases: \"0\" (none) or e.g. \"48h\", "
	    "\"1d12h\", \"90m\" (units d h m s)"),
	OPT("tenants", "seeding", "string", K_SEEDING, 0, TENANT(seeding), "\"default\"", "default",
	    1,
	    "how the data plane seeds the tenant's releases: \"plain\" (serve what is asked), "
	    "\"super\" (BEP 16), \"rarest\" (the pieces the swarm lacks, each once before any "
	    "twice; docs/swarm.md) or \"default\" (seed-dataplane's --seeding)"),
};
#define N_TABLE (sizeof(table) / sizeof(table[0]))

const struct seedconf_option *seedconf_option_at(size_t i)
{
	return i < N_TABLE ? &table[i].pub : NULL;
}

/* ---- small helpers ---- */

/* Untrusted text for a message: at most 64 characters, unprintable ASCII
 * shown as '?', a cut marked with "...". UTF-8 passes through. */
static const char *show(const char *s, char *buf, size_t cap)
{
	size_t i = 0, j = 0;
	for (; s[i] && i < 64 && j + 4 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		buf[j++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	if (s[i] && j + 4 <= cap) {
		memcpy(buf + j, "...", 3);
		j += 3;
	}
	buf[j] = 0;
	return buf;
}

/* Copies s into dst (cap bytes); -ENAMETOOLONG when it does not fit. */
static int copy_str(char *dst, size_t cap, const char *s)
{
	size_t n = strnlen(s, cap);
	if (n >= cap)
		return -ENAMETOOLONG;
	memcpy(dst, s, n + 1);
	return 0;
}

static int has_control_char(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* Edit distance of two short names, for "did you mean"; 99 when either
 * is too long to bother. */
static unsigned edit_distance(const char *a, const char *b)
{
	unsigned row[33], prev[33];
	size_t la = strlen(a), lb = strlen(b);
	if (la > 32 || lb > 32)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			unsigned del = prev[j] + 1, ins = row[j - 1] + 1;
			row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, row, sizeof(unsigned) * (lb + 1));
	}
	return prev[lb];
}

/* ---- rates and durations ---- */

__extension__ typedef unsigned __int128 u128;

struct unit {
	const char *name;
	uint64_t mul, div; /* bytes = number * mul / div */
};

static const struct unit rate_units[] = {
	{ "B/s", 1, 1 },
	{ "kB/s", 1000, 1 },
	{ "MB/s", 1000000, 1 },
	{ "GB/s", 1000000000, 1 },
	{ "KiB/s", 1024, 1 },
	{ "MiB/s", 1024 * 1024, 1 },
	{ "GiB/s", 1024 * 1024 * 1024, 1 },
	{ "bit/s", 1, 8 },
	{ "kbit/s", 1000, 8 },
	{ "Mbit/s", 1000000, 8 },
	{ "Gbit/s", 1000000000, 8 },
};

#define RATE_HINT "use e.g. 20MB/s, 160Mbit/s or a number of bytes per second"

int seedconf_parse_rate(const char *s, uint64_t *out_bytes_per_s, struct seed_err *err)
{
	char shown[80];
	const char *p = s;
	uint64_t ip = 0, fp = 0, scale = 1;
	unsigned idigits = 0, fdigits = 0;

	if (!s || !*s)
		return seed_err_set(err, -EINVAL, "\"\" is not a rate (" RATE_HINT ")");
	if (!strcmp(s, "unlimited")) {
		*out_bytes_per_s = 0;
		return 0;
	}
	for (; *p >= '0' && *p <= '9'; p++, idigits++) {
		uint64_t d = (uint64_t)(*p - '0');
		if (ip > (UINT64_MAX - d) / 10)
			return seed_err_set(err, -EINVAL,
					    "\"%s\" is too large (at most 1TB/s; use \"unlimited\" "
					    "for no cap)",
					    show(s, shown, sizeof(shown)));
		ip = ip * 10 + d;
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, fdigits++) {
			if (fdigits == 9)
				return seed_err_set(err, -EINVAL,
						    "\"%s\": at most 9 decimal places in a rate",
						    show(s, shown, sizeof(shown)));
			fp = fp * 10 + (uint64_t)(*p - '0');
			scale *= 10;
		}
		if (fdigits == 0)
			idigits = 0; /* "20." is malformed */
	}
	if (idigits == 0)
		return seed_err_set(err, -EINVAL, "\"%s\" is not a rate (" RATE_HINT ")",
				    show(s, shown, sizeof(shown)));
	const struct unit *u = NULL;
	static const struct unit bytes = { "", 1, 1 };
	if (*p == 0 && fdigits == 0) {
		u = &bytes;
	} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
		for (size_t i = 0; i < sizeof(rate_units) / sizeof(rate_units[0]); i++)
			if (!strcmp(p, rate_units[i].name))
				u = &rate_units[i];
		if (!u)
			return seed_err_set(err, -EINVAL,
					    "\"%s\": unknown unit \"%s\" (units: B/s kB/s MB/s "
					    "GB/s KiB/s MiB/s GiB/s bit/s kbit/s Mbit/s Gbit/s)",
					    show(s, shown, sizeof(shown)), p);
	} else {
		return seed_err_set(err, -EINVAL, "\"%s\" is not a rate (" RATE_HINT ")",
				    show(s, shown, sizeof(shown)));
	}
	/* ip < 2^64, scale <= 1e9, mul < 2^31: the product stays under 2^125. */
	u128 v = ((u128)ip * scale + fp) * u->mul / ((u128)u->div * scale);
	if (v == 0 && (ip != 0 || fp != 0))
		return seed_err_set(err, -EINVAL,
				    "\"%s\" is less than 1 byte per second (use 0 or \"unlimited\" "
				    "for no cap)",
				    show(s, shown, sizeof(shown)));
	if (v > TENANT_RATE_MAX)
		return seed_err_set(err, -EINVAL,
				    "\"%s\" is too large (at most 1TB/s; use \"unlimited\" for no "
				    "cap)",
				    show(s, shown, sizeof(shown)));
	*out_bytes_per_s = (uint64_t)v;
	return 0;
}

#define DURATION_HINT "use e.g. 30s, 15m, 48h, 7d or 1d12h; \"0\" for none"

int seedconf_parse_duration(const char *s, int64_t *out_seconds, struct seed_err *err)
{
	static const struct {
		char c;
		int64_t secs;
	} units[] = { { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };
	char shown[80];
	const char *p = s;
	int64_t total = 0;
	size_t next_unit = 0; /* units must come largest first, each once */

	if (!s || !*s)
		return seed_err_set(err, -EINVAL, "\"\" is not a duration (" DURATION_HINT ")");
	if (!strcmp(s, "0")) {
		*out_seconds = 0;
		return 0;
	}
	while (*p) {
		int64_t n = 0;
		unsigned digits = 0;
		for (; *p >= '0' && *p <= '9'; p++, digits++) {
			/* Anything past the cap is refused below; stop growing
			 * early so n cannot overflow. */
			if (n <= SEEDCONF_DURATION_MAX)
				n = n * 10 + (*p - '0');
		}
		if (digits == 0)
			return seed_err_set(err, -EINVAL,
					    "\"%s\" is not a duration (" DURATION_HINT ")",
					    show(s, shown, sizeof(shown)));
		if (*p == 0)
			return seed_err_set(err, -EINVAL, "\"%s\" has no unit (" DURATION_HINT ")",
					    show(s, shown, sizeof(shown)));
		size_t u = next_unit;
		while (u < sizeof(units) / sizeof(units[0]) && units[u].c != *p)
			u++;
		if (u == sizeof(units) / sizeof(units[0]))
			return seed_err_set(err, -EINVAL,
					    "\"%s\" is not a duration (units d, h, m, s, largest "
					    "first, each once; " DURATION_HINT ")",
					    show(s, shown, sizeof(shown)));
		p++;
		next_unit = u + 1;
		if (n > SEEDCONF_DURATION_MAX / units[u].secs ||
		    total + n * units[u].secs > SEEDCONF_DURATION_MAX)
			return seed_err_set(err, -EINVAL, "\"%s\" is too long (at most 3650d)",
					    show(s, shown, sizeof(shown)));
		total += n * units[u].secs;
	}
	*out_seconds = total;
	return 0;
}

/* ---- error reports ---- */

struct ctx {
	const char *name; /* file name for messages */
	struct seed_err *err;
	const config_setting_t *group; /* where a missing key would be */
};

/* "tenants.[1].allow.[0]": libconfig's own path syntax. */
static void key_path(const config_setting_t *s, const char *extra, char *buf, size_t cap)
{
	const config_setting_t *chain[16];
	size_t n = 0, len = 0;
	int w = 0;

	buf[0] = 0;
	for (; s && !config_setting_is_root(s) && n < 16; s = config_setting_parent(s))
		chain[n++] = s;
	while (n > 0) {
		const config_setting_t *e = chain[--n];
		const char *name = config_setting_name(e);
		if (name)
			w = snprintf(buf + len, cap - len, "%s%s", len ? "." : "", name);
		else
			w = snprintf(buf + len, cap - len, "%s[%d]", len ? "." : "",
				     config_setting_index(e));
		if (w < 0 || (size_t)w >= cap - len)
			goto cut;
		len += (size_t)w;
	}
	if (extra) {
		w = snprintf(buf + len, cap - len, "%s%s", len ? "." : "", extra);
		if (w < 0 || (size_t)w >= cap - len)
			goto cut;
	}
	return;
cut:
	if (cap >= 4)
		memcpy(buf + cap - 4, "...", 4);
}

/*
 * Reports "NAME:LINE: PATH: message" for setting s, or, when s is NULL,
 * for the key `missing` of the group being read (at the group's line).
 */
static int fail(struct ctx *cx, const config_setting_t *s, const char *missing, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

static int fail(struct ctx *cx, const config_setting_t *s, const char *missing, const char *fmt,
		...)
{
	char path[256], raw[SEED_ERR_MSG_MAX], msg[SEED_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* messages quote values, tracker URLs among them: never a passkey */
	redact_text(raw, strlen(raw), msg, sizeof(msg));
	if (!s)
		s = cx->group;
	else
		missing = NULL;
	key_path(s, missing, path, sizeof(path));
	unsigned line = s ? config_setting_source_line(s) : 0;
	if (line)
		return seed_err_set(cx->err, -EINVAL, "%s:%u: %s: %s", cx->name, line, path, msg);
	return seed_err_set(cx->err, -EINVAL, "%s: %s: %s", cx->name, path, msg);
}

static const char *type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a floating-point number";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	default: return "of no known type";
	}
}

static int is_int(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_INT ||
	       config_setting_type(s) == CONFIG_TYPE_INT64;
}

/* ---- pass 1: what libconfig would let through ---- */

struct scan {
	unsigned include_line; /* first @include, 0 = none */
	unsigned wrap_line;    /* first integer libconfig would wrap, 0 = none */
	long long wrapped;     /* the value libconfig will store instead */
	int wrap_bits;	       /* 32 or 64 */
	char wrap_tok[40];
};

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '*';
}

/*
 * Classifies one number token the way libconfig 1.5's scanner does and
 * records it when the stored value would differ from the written one:
 * unsuffixed decimals and hex go through a 32-bit int (wrapping), "L"
 * ones through strtoll/strtoull (saturating or wrapping at 64 bits).
 */
static void check_number(struct scan *sc, const char *tok, size_t len, unsigned line)
{
	char t[40];
	size_t orig = len;
	if (sc->wrap_line)
		return; /* the first one is reported */
	if (len >= sizeof(t)) {
		/* 40 digits fit no integer type: report them, line only. */
		size_t q = 0;
		while (q < len &&
		       ((tok[q] >= '0' && tok[q] <= '9') || tok[q] == '-' || tok[q] == '+'))
			q++;
		while (q < len && tok[q] == 'L')
			q++;
		if (q == len) {
			sc->wrap_line = line;
			sc->wrap_bits = 64;
			sc->wrapped = LLONG_MIN; /* unknown: find_wrapped() goes by line */
			memcpy(sc->wrap_tok, tok, 30);
			memcpy(sc->wrap_tok + 30, "...", 4);
		}
		return;
	}
	memcpy(t, tok, len);
	t[len] = 0;
	int l64 = 0;
	if (len > 0 && t[len - 1] == 'L') {
		l64 = 1;
		t[--len] = 0;
		if (len > 0 && t[len - 1] == 'L')
			t[--len] = 0;
	}
	const char *d = t;
	int hex = 0;
	if (d[0] == '0' && (d[1] == 'x' || d[1] == 'X')) {
		hex = 1;
		d += 2;
		if (!*d)
			return;
		for (const char *q = d; *q; q++)
			if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
			      (*q >= 'A' && *q <= 'F')))
				return;
	} else {
		const char *q = d;
		if (*q == '-' || *q == '+')
			q++;
		if (!*q)
			return;
		for (; *q; q++)
			if (*q < '0' || *q > '9')
				return; /* a float or junk: libconfig judges it */
	}
	errno = 0;
	if (hex) {
		unsigned long long v = strtoull(t, NULL, 16);
		int range = errno == ERANGE;
		if (!(l64 ? (range || v > (unsigned long long)LLONG_MAX) : (range || v > INT_MAX)))
			return;
		sc->wrapped = l64 ? (long long)v : (long long)(int)(unsigned)v;
	} else {
		long long v = strtoll(t, NULL, 10);
		int range = errno == ERANGE;
		if (!(l64 ? range : (range || v > INT_MAX || v < INT_MIN)))
			return;
		sc->wrapped = l64 ? v : (long long)(int)(unsigned long long)v;
	}
	sc->wrap_bits = l64 ? 64 : 32;
	sc->wrap_line = line;
	memcpy(sc->wrap_tok, tok, orig); /* orig < sizeof(t) == sizeof(wrap_tok) */
	sc->wrap_tok[orig] = 0;
}

/*
 * A tokenizer just good enough to find number literals and @include
 * outside strings and comments (#, //, C comments), with line numbers.
 */
static void scan_text(const char *text, size_t len, struct scan *sc)
{
	unsigned line = 1;
	size_t i = 0;

	memset(sc, 0, sizeof(*sc));
	while (i < len) {
		char c = text[i];
		if (c == '\n') {
			line++;
			i++;
		} else if (c == '#' || (c == '/' && i + 1 < len && text[i + 1] == '/')) {
			while (i < len && text[i] != '\n')
				i++;
		} else if (c == '/' && i + 1 < len && text[i + 1] == '*') {
			for (i += 2;
			     i < len && !(text[i] == '*' && i + 1 < len && text[i + 1] == '/'); i++)
				if (text[i] == '\n')
					line++;
			i += 2;
		} else if (c == '"') {
			for (i++; i < len && text[i] != '"'; i++) {
				if (text[i] == '\\' && i + 1 < len)
					i++;
				if (text[i] == '\n')
					line++;
			}
			i++;
		} else if (c == '@') {
			if (!sc->include_line && len - i >= 8 && !memcmp(text + i, "@include", 8))
				sc->include_line = line;
			i++;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*') {
			while (i < len && is_name_char(text[i]))
				i++;
		} else if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.') {
			size_t start = i;
			while (i < len &&
			       (is_name_char(text[i]) || text[i] == '.' || text[i] == '+'))
				i++;
			check_number(sc, text + start, i - start, line);
		} else {
			i++;
		}
	}
}

/* The integer setting libconfig stored the wrapped literal in. */
static const config_setting_t *find_wrapped(const config_setting_t *s, const struct scan *sc,
					    int exact)
{
	if (is_int(s) && config_setting_source_line(s) == sc->wrap_line &&
	    (!exact || config_setting_get_int64(s) == sc->wrapped))
		return s;
	if (config_setting_is_aggregate(s)) {
		int n = config_setting_length(s);
		for (int i = 0; i < n; i++) {
			const config_setting_t *f =
				find_wrapped(config_setting_get_elem(s, (unsigned)i), sc, exact);
			if (f)
				return f;
		}
	}
	return NULL;
}

/* ---- pass 4: the schema ---- */

static const struct opt *find_opt(const char *group, const char *name)
{
	for (size_t i = 0; i < N_TABLE; i++)
		if (!strcmp(table[i].pub.group, group) && !strcmp(table[i].pub.name, name))
			return &table[i];
	return NULL;
}

/* Refuses any member of grp that the table does not define for group. */
static int check_unknown(struct ctx *cx, const config_setting_t *grp, const char *group)
{
	int n = config_setting_length(grp);
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(m);
		if (find_opt(group, name))
			continue;
		const char *best = NULL;
		unsigned best_d = 3;
		for (size_t k = 0; k < N_TABLE; k++) {
			if (strcmp(table[k].pub.group, group))
				continue;
			unsigned d = edit_distance(name, table[k].pub.name);
			if (d < best_d) {
				best_d = d;
				best = table[k].pub.name;
			}
		}
		if (best)
			return fail(cx, m, NULL, "unknown setting; did you mean %s?", best);
		char known[256];
		size_t len = 0;
		known[0] = 0;
		for (size_t k = 0; k < N_TABLE; k++) {
			if (strcmp(table[k].pub.group, group))
				continue;
			int w = snprintf(known + len, sizeof(known) - len, "%s%s", len ? ", " : "",
					 table[k].pub.name);
			if (w < 0 || (size_t)w >= sizeof(known) - len)
				break; /* the table fits; a cut list would still help */
			len += (size_t)w;
		}
		return fail(cx, m, NULL, "unknown setting (%s takes: %s)", group, known);
	}
	return 0;
}

/*
 * The string value of option o: from s, which must be a string, or from
 * the table's default when s is NULL (absent from the file).
 */
static int get_string(struct ctx *cx, const struct opt *o, const config_setting_t *s,
		      const char *what, const char **out)
{
	if (!s) {
		*out = o->val;
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(cx, s, NULL, "must be a string (%s), not %s", what, type_name(s));
	*out = config_setting_get_string(s);
	return 0;
}

/* As get_string() for an integer in min..max (the default too, so a bad
 * table entry shows up as an error rather than a silent value). */
static int get_int(struct ctx *cx, const struct opt *o, const config_setting_t *s, long long min,
		   long long max, long long *out)
{
	long long v;
	if (!s) {
		v = strtoll(o->val, NULL, 10);
	} else if (!is_int(s)) {
		return fail(cx, s, NULL, "must be an integer from %lld to %lld, not %s", min, max,
			    type_name(s));
	} else {
		v = config_setting_get_int64(s);
	}
	if (v < min || v > max)
		return fail(cx, s, o->pub.name, "%lld is out of range (%lld to %lld)", v, min, max);
	*out = v;
	return 0;
}

static int parse_listen(struct ctx *cx, const config_setting_t *s, const char *v,
			struct seedconf_node *node)
{
	char shown[80], host[SEEDCONF_LISTEN_MAX + 1];
	const char *colon;
	node->status_addr_len = 0;
	if (copy_str(node->status_listen, sizeof(node->status_listen), v) < 0)
		return fail(cx, s, "status_listen", "\"%s\" is too long for an address",
			    show(v, shown, sizeof(shown)));
	if (!*v)
		return 0; /* disabled */
	if (v[0] == '[') {
		const char *close = strchr(v, ']');
		if (!close || close[1] != ':')
			return fail(cx, s, "status_listen", "\"%s\": expected [IPv6]:PORT",
				    show(v, shown, sizeof(shown)));
		memcpy(host, v + 1, (size_t)(close - v - 1));
		host[close - v - 1] = 0;
		colon = close + 1;
	} else {
		colon = strrchr(v, ':');
		if (!colon)
			return fail(cx, s, "status_listen",
				    "\"%s\": expected ADDR:PORT, [IPv6]:PORT or *:PORT",
				    show(v, shown, sizeof(shown)));
		memcpy(host, v, (size_t)(colon - v));
		host[colon - v] = 0;
	}
	unsigned long port = 0;
	const char *p = colon + 1;
	size_t digits = 0;
	for (; *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
		port = port * 10 + (unsigned long)(*p - '0');
	if (digits == 0 || *p || port == 0 || port > 65535)
		return fail(cx, s, "status_listen", "\"%s\": the port must be from 1 to 65535",
			    show(v, shown, sizeof(shown)));
	struct sockaddr_in *v4 = (struct sockaddr_in *)&node->status_addr;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&node->status_addr;
	memset(&node->status_addr, 0, sizeof(node->status_addr));
	if (!strcmp(host, "*")) {
		v4->sin_family = AF_INET;
		v4->sin_addr.s_addr = htonl(INADDR_ANY);
		v4->sin_port = htons((uint16_t)port);
		node->status_addr_len = sizeof(*v4);
	} else if (v[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		node->status_addr_len = sizeof(*v4);
	} else if (v[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		node->status_addr_len = sizeof(*v6);
	} else {
		return fail(cx, s, "status_listen",
			    "\"%s\": \"%s\" is not an IPv4 address, [IPv6] address or *",
			    show(v, shown, sizeof(shown)), host);
	}
	return 0;
}

static int parse_ip(struct ctx *cx, const config_setting_t *s, const char *v,
		    struct seedconf_node *node)
{
	char shown[80];
	uint8_t a[16];
	node->announce_family = 0;
	memset(node->announce_addr, 0, sizeof(node->announce_addr));
	if (copy_str(node->announce_ip, sizeof(node->announce_ip), v) < 0)
		return fail(cx, s, "announce_ip", "\"%s\" is not an IPv4 or IPv6 address",
			    show(v, shown, sizeof(shown)));
	if (!*v)
		return 0;
	if (inet_pton(AF_INET, v, a) == 1) {
		if (a[0] == 0 || a[0] >= 224)
			return fail(cx, s, "announce_ip",
				    "\"%s\" is not a unicast address peers could reach", v);
		node->announce_family = AF_INET;
		memcpy(node->announce_addr, a, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, v, a) == 1) {
		static const uint8_t zero[16], mapped[12] = { [10] = 0xff, [11] = 0xff };
		if (!memcmp(a, zero, 16) || a[0] == 0xff)
			return fail(cx, s, "announce_ip",
				    "\"%s\" is not a unicast address peers could reach", v);
		if (!memcmp(a, mapped, 12))
			return fail(cx, s, "announce_ip",
				    "\"%s\" is an IPv4-mapped address; write it as IPv4", v);
		node->announce_family = AF_INET6;
		memcpy(node->announce_addr, a, 16);
		return 0;
	}
	return fail(cx, s, "announce_ip", "\"%s\" is not an IPv4 or IPv6 address",
		    show(v, shown, sizeof(shown)));
}

static int check_tenant_id(struct ctx *cx, const config_setting_t *s, const char *v)
{
	char shown[80];
	if (!tenant_id_valid(v))
		return fail(cx, s, "id",
			    "\"%s\" is not a tenant id (1 to 32 of a-z, 0-9 and '-', not starting "
			    "with '-')",
			    show(v, shown, sizeof(shown)));
	return 0;
}

/*
 * Checks a tracker announce URL: http:// or udp://, a host (name, IPv4 or
 * [IPv6]), an optional port (required for udp), printable ASCII only.
 */
static int check_tracker(struct ctx *cx, const config_setting_t *s, const char *v)
{
	char shown[80], host[256];
	size_t len = strnlen(v, TENANT_URL_MAX + 1), skip;
	int udp;

	if (len > TENANT_URL_MAX)
		return fail(cx, s, NULL, "\"%s\" is longer than %d bytes",
			    show(v, shown, sizeof(shown)), TENANT_URL_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
			return fail(cx, s, NULL,
				    "\"%s\": spaces, control characters and non-ASCII must be "
				    "percent-encoded in a URL",
				    show(v, shown, sizeof(shown)));
	if (!strncasecmp(v, "http://", 7)) {
		udp = 0;
		skip = 7;
	} else if (!strncasecmp(v, "udp://", 6)) {
		udp = 1;
		skip = 6;
	} else if (!strncasecmp(v, "https://", 8)) {
		return fail(cx, s, NULL,
			    "\"%s\": https trackers are not supported (the announce client speaks "
			    "http:// and udp://)",
			    show(v, shown, sizeof(shown)));
	} else {
		return fail(cx, s, NULL, "\"%s\" is not a tracker URL (http://... or udp://...)",
			    show(v, shown, sizeof(shown)));
	}
	const char *a = v + skip, *end = a + strcspn(a, "/?#");
	if (memchr(a, '@', (size_t)(end - a)))
		return fail(cx, s, NULL, "\"%s\": user names in tracker URLs are not supported",
			    show(v, shown, sizeof(shown)));
	const char *hend, *port = NULL;
	if (*a == '[') {
		const char *close = memchr(a, ']', (size_t)(end - a));
		if (!close || (size_t)(close - a - 1) >= sizeof(host))
			return fail(cx, s, NULL, "\"%s\": unterminated [IPv6] host",
				    show(v, shown, sizeof(shown)));
		uint8_t tmp[16];
		memcpy(host, a + 1, (size_t)(close - a - 1));
		host[close - a - 1] = 0;
		if (inet_pton(AF_INET6, host, tmp) != 1)
			return fail(cx, s, NULL, "\"%s\": \"%s\" is not an IPv6 address",
				    show(v, shown, sizeof(shown)), host);
		hend = close + 1;
		if (hend < end && *hend != ':')
			return fail(cx, s, NULL, "\"%s\": expected ':' or '/' after ']'",
				    show(v, shown, sizeof(shown)));
	} else {
		hend = memchr(a, ':', (size_t)(end - a));
		if (!hend)
			hend = end;
		if (hend == a)
			return fail(cx, s, NULL, "\"%s\" has no host",
				    show(v, shown, sizeof(shown)));
		if (hend - a > 253)
			return fail(cx, s, NULL, "\"%s\": the host name is too long",
				    show(v, shown, sizeof(shown)));
		for (const char *h = a; h < hend; h++)
			if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') ||
			      (*h >= '0' && *h <= '9') || *h == '.' || *h == '-'))
				return fail(cx, s, NULL,
					    "\"%s\": '%c' cannot appear in a host name",
					    show(v, shown, sizeof(shown)), *h);
	}
	if (hend < end && *hend == ':') {
		unsigned long p = 0;
		size_t digits = 0;
		for (port = hend + 1; port + digits < end && digits < 6; digits++) {
			char ch = port[digits];
			if (ch < '0' || ch > '9')
				break;
			p = p * 10 + (unsigned long)(ch - '0');
		}
		if (digits == 0 || port + digits != end || p == 0 || p > 65535)
			return fail(cx, s, NULL, "\"%s\": the port must be from 1 to 65535",
				    show(v, shown, sizeof(shown)));
	}
	if (udp && !port)
		return fail(cx, s, NULL,
			    "\"%s\": a udp:// tracker needs a port (udp://host:6969/announce)",
			    show(v, shown, sizeof(shown)));
	return 0;
}

/* Takes one element (el, its string v) of a list setting into arg. */
typedef int (*take_fn)(struct ctx *cx, const config_setting_t *el, const char *v, void *arg);

/*
 * An array or list setting s (NULL: absent, nothing to do) of at most max
 * strings, each handed to take in order; the first refusal stops it.
 */
static int each_string(struct ctx *cx, const config_setting_t *s, int max, const char *example,
		       take_fn take, void *arg)
{
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST)
		return fail(cx, s, NULL, "must be an array of strings, e.g. [ %s ], not %s",
			    example, type_name(s));
	int n = config_setting_length(s);
	if (n > max)
		return fail(cx, config_setting_get_elem(s, (unsigned)max), NULL,
			    "more than %d entries", max);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return fail(cx, e, NULL, "must be a string, e.g. %s, not %s", example,
				    type_name(e));
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int rc = take(cx, e, config_setting_get_string(e), arg);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * A status_hosts entry: NAME, IPv4 or [IPv6], optionally :PORT, as a Host:
 * header would carry it; stored lowercased (host names compare that way).
 */
static int check_host_entry(struct ctx *cx, const config_setting_t *s, const char *v, char *out)
{
	char shown[80], a6[64];
	size_t len = strnlen(v, SEEDCONF_HOST_MAX + 1), hl;
	const char *port;
	uint8_t tmp[16];

	if (!len || len > SEEDCONF_HOST_MAX)
		return fail(cx, s, NULL, "\"%s\": expected a host name or address of 1 to %d bytes",
			    show(v, shown, sizeof(shown)), SEEDCONF_HOST_MAX);
	if (v[0] == '[') {
		const char *close = strchr(v, ']');
		if (!close || (size_t)(close - v - 1) >= sizeof(a6))
			return fail(cx, s, NULL, "\"%s\": unterminated [IPv6] address",
				    show(v, shown, sizeof(shown)));
		memcpy(a6, v + 1, (size_t)(close - v - 1));
		a6[close - v - 1] = 0;
		if (inet_pton(AF_INET6, a6, tmp) != 1)
			return fail(cx, s, NULL, "\"%s\": \"%s\" is not an IPv6 address",
				    show(v, shown, sizeof(shown)), a6);
		port = close[1] == ':' ? close + 2 : NULL;
		if (!port && close[1])
			return fail(cx, s, NULL, "\"%s\": expected :PORT or nothing after ']'",
				    show(v, shown, sizeof(shown)));
	} else {
		port = strchr(v, ':');
		if (port && strchr(port + 1, ':'))
			return fail(cx, s, NULL,
				    "\"%s\": write an IPv6 address in brackets ([::1])",
				    show(v, shown, sizeof(shown)));
		hl = port ? (size_t)(port - v) : len;
		if (port)
			port++;
		if (!hl || hl > 253)
			return fail(cx, s, NULL, "\"%s\": expected a host name of 1 to 253 bytes",
				    show(v, shown, sizeof(shown)));
		for (size_t k = 0; k < hl; k++)
			if (!((v[k] >= 'a' && v[k] <= 'z') || (v[k] >= 'A' && v[k] <= 'Z') ||
			      (v[k] >= '0' && v[k] <= '9') || v[k] == '.' || v[k] == '-'))
				return fail(cx, s, NULL,
					    "\"%s\": '%c' cannot appear in a host name (IPv6: "
					    "[ADDR])",
					    show(v, shown, sizeof(shown)), v[k]);
	}
	if (port) {
		unsigned long p = 0;
		size_t digits = 0;
		for (; port[digits] >= '0' && port[digits] <= '9' && digits < 6; digits++)
			p = p * 10 + (unsigned long)(port[digits] - '0');
		if (!digits || port[digits] || !p || p > 65535)
			return fail(cx, s, NULL, "\"%s\": the port must be from 1 to 65535",
				    show(v, shown, sizeof(shown)));
	}
	for (size_t k = 0; k <= len; k++)
		out[k] = (char)(v[k] >= 'A' && v[k] <= 'Z' ? v[k] + 32 : v[k]);
	return 0;
}

static int take_host(struct ctx *cx, const config_setting_t *el, const char *v, void *arg)
{
	struct seedconf_node *node = arg;
	int rc = check_host_entry(cx, el, v, node->status_hosts[node->n_status_hosts]);

	if (rc == 0)
		node->n_status_hosts++;
	return rc;
}

static int read_hosts(struct ctx *cx, const config_setting_t *s, struct seedconf_node *node)
{
	node->n_status_hosts = 0;
	return each_string(cx, s, SEEDCONF_MAX_HOSTS, "\"seed-01.example.net\"", take_host, node);
}

/* A group name as groupadd takes it, or "" (the role has no group). */
static int check_group(struct ctx *cx, const config_setting_t *s, const char *v)
{
	char shown[80];
	size_t n = strnlen(v, SEEDCONF_GROUP_MAX + 1);
	int ok = n <= SEEDCONF_GROUP_MAX && v[0] != '-';
	for (size_t k = 0; ok && k < n; k++)
		ok = (v[k] >= 'a' && v[k] <= 'z') || (v[k] >= 'A' && v[k] <= 'Z') ||
		     (v[k] >= '0' && v[k] <= '9') || v[k] == '.' || v[k] == '_' || v[k] == '-';
	if (!ok)
		return fail(cx, s, NULL,
			    "\"%s\" is not a group name (at most %d of A-Z a-z 0-9 . _ -, not "
			    "starting with '-')",
			    show(v, shown, sizeof(shown)), SEEDCONF_GROUP_MAX);
	return 0;
}

/* The node name: [A-Za-z0-9._-]{1,63}, used in metrics labels and paths. */
static int check_node_name(struct ctx *cx, const config_setting_t *s, const char *v)
{
	char shown[80];
	size_t n = strnlen(v, SEEDCONF_NODE_NAME_MAX + 1);
	int ok = n >= 1 && n <= SEEDCONF_NODE_NAME_MAX;
	for (size_t k = 0; ok && k < n; k++)
		ok = (v[k] >= 'a' && v[k] <= 'z') || (v[k] >= 'A' && v[k] <= 'Z') ||
		     (v[k] >= '0' && v[k] <= '9') || v[k] == '.' || v[k] == '_' || v[k] == '-';
	if (!ok)
		return fail(cx, s, "name",
			    "\"%s\" is not a node name (1 to 63 of A-Z, a-z, 0-9, '.', '_', '-')",
			    show(v, shown, sizeof(shown)));
	return 0;
}

static int check_path(struct ctx *cx, const struct opt *o, const config_setting_t *s, const char *v,
		      size_t cap)
{
	char shown[80];
	if (v[0] != '/')
		return fail(cx, s, o->pub.name, "\"%s\" is not an absolute path",
			    show(v, shown, sizeof(shown)));
	if (strnlen(v, cap + 1) > cap)
		return fail(cx, s, o->pub.name, "\"%s\" is longer than %zu bytes%s",
			    show(v, shown, sizeof(shown)), cap,
			    o->kind == K_SOCKET_PATH ? " (the limit of a Unix socket address)"
						     : "");
	if (has_control_char(v))
		return fail(cx, s, o->pub.name, "\"%s\" contains control characters",
			    show(v, shown, sizeof(shown)));
	return 0;
}

static int check_display_name(struct ctx *cx, const config_setting_t *s, const char *v)
{
	char shown[80];
	if (!*v || strnlen(v, TENANT_NAME_MAX + 1) > TENANT_NAME_MAX)
		return fail(cx, s, "name", "must be 1 to %d bytes long", TENANT_NAME_MAX);
	if (!utf8_printable(v))
		return fail(cx, s, "name",
			    "\"%s\" is not printable UTF-8 (control characters or invalid bytes)",
			    show(v, shown, sizeof(shown)));
	return 0;
}

static int take_cidr(struct ctx *cx, const config_setting_t *el, const char *v, void *arg)
{
	struct seed_err e;

	seed_err_clear(&e);
	if (cidr_set_add_str(arg, v, &e) < 0)
		return fail(cx, el, NULL, "%s", e.msg);
	return 0;
}

static int read_cidrs(struct ctx *cx, const config_setting_t *s, struct cidr_set *set)
{
	cidr_set_init(set);
	return each_string(cx, s, CIDR_SET_MAX, "\"10.0.0.0/8\"", take_cidr, set);
}

static int take_tracker(struct ctx *cx, const config_setting_t *el, const char *url, void *arg)
{
	struct tenant *t = arg;
	char shown[80];
	int rc = check_tracker(cx, el, url);

	if (rc < 0)
		return rc;
	for (unsigned j = 0; j < t->n_trackers; j++)
		if (!strcmp(t->trackers[j], url))
			return fail(cx, el, NULL, "\"%s\" is listed twice (also entry [%u])",
				    show(url, shown, sizeof(shown)), j);
	t->trackers[t->n_trackers] = strdup(url);
	if (!t->trackers[t->n_trackers])
		return seed_err_set(cx->err, -ENOMEM, "out of memory");
	t->n_trackers++;
	return 0;
}

static int read_trackers(struct ctx *cx, const config_setting_t *s, struct tenant *t)
{
	return each_string(cx, s, TENANT_MAX_TRACKERS, "\"udp://tracker.example:6969/announce\"",
			   take_tracker, t);
}

/*
 * Applies one option to base (a struct seedconf_node or tenant)
 * from s, or from the table's default when s is NULL. Error reports name
 * s, or the option inside the current group when s is NULL.
 */
/* A string setting (what: as get_string) that check accepts, copied into
 * field (max bytes and a NUL). */
static int get_checked(struct ctx *cx, const struct opt *o, const config_setting_t *s,
		       const char *what,
		       int (*check)(struct ctx *cx, const config_setting_t *s, const char *v),
		       size_t max, char *field)
{
	const char *str = NULL; /* gcc -O3 cannot see that fail() is negative */
	int rc;

	if ((rc = get_string(cx, o, s, what, &str)) < 0 || (rc = check(cx, s, str)) < 0)
		return rc;
	return copy_str(field, max + 1, str);
}

static int apply(struct ctx *cx, const struct opt *o, const config_setting_t *s, void *base)
{
	void *field = (char *)base + o->off;
	const char *str = NULL;
	long long i = 0;
	struct seed_err e;
	int rc;

	seed_err_clear(&e);
	switch (o->kind) {
	case K_NODE_NAME:
		return get_checked(cx, o, s, "the node name", check_node_name,
				   SEEDCONF_NODE_NAME_MAX, field);
	case K_ABS_PATH:
		if ((rc = get_string(cx, o, s, "an absolute path", &str)) < 0 ||
		    (rc = check_path(cx, o, s, str, SEEDCONF_PATH_MAX)) < 0)
			return rc;
		return copy_str(field, SEEDCONF_PATH_MAX + 1, str);
	case K_SOCKET_PATH:
		if ((rc = get_string(cx, o, s, "an absolute path", &str)) < 0 ||
		    (rc = check_path(cx, o, s, str, SEEDCONF_SOCKET_PATH_MAX)) < 0)
			return rc;
		return copy_str(field, SEEDCONF_SOCKET_PATH_MAX + 1, str);
	case K_LISTEN:
		if ((rc = get_string(cx, o, s, "ADDR:PORT", &str)) < 0)
			return rc;
		return parse_listen(cx, s, str, base);
	case K_PORT:
		if ((rc = get_int(cx, o, s, 1, 65535, &i)) < 0)
			return rc;
		*(uint16_t *)field = (uint16_t)i;
		return 0;
	case K_IP:
		if ((rc = get_string(cx, o, s, "an IPv4 or IPv6 address", &str)) < 0)
			return rc;
		return parse_ip(cx, s, str, base);
	case K_TENANT_ID:
		return get_checked(cx, o, s, "the tenant id", check_tenant_id, TENANT_ID_MAX,
				   field);
	case K_DISPLAY_NAME:
		/* Defaults to the id, read before it (table order). */
		if (!s)
			str = ((struct tenant *)base)->id;
		else if ((rc = get_string(cx, o, s, "the display name", &str)) < 0 ||
			 (rc = check_display_name(cx, s, str)) < 0)
			return rc;
		return copy_str(field, TENANT_NAME_MAX + 1, str);
	case K_RATE: {
		uint64_t r = 0;
		if (s && is_int(s)) {
			if ((rc = get_int(cx, o, s, 0, (long long)TENANT_RATE_MAX, &i)) < 0)
				return rc;
			r = (uint64_t)i;
		} else if (s && config_setting_type(s) != CONFIG_TYPE_STRING) {
			return fail(cx, s, NULL,
				    "must be a rate: 0, \"unlimited\", bytes per second or a "
				    "string such as \"20MB/s\", not %s",
				    type_name(s));
		} else if (seedconf_parse_rate(s ? config_setting_get_string(s) : o->val, &r, &e) <
			   0) {
			return fail(cx, s, o->pub.name, "%s", e.msg);
		}
		*(uint64_t *)field = r;
		return 0;
	}
	case K_MAX_PEERS:
		if ((rc = get_int(cx, o, s, 0, TENANT_MAX_PEERS, &i)) < 0)
			return rc;
		*(uint32_t *)field = (uint32_t)i;
		return 0;
	case K_DURATION: {
		int64_t d = 0;
		if (s && is_int(s)) {
			if ((rc = get_int(cx, o, s, 0, SEEDCONF_DURATION_MAX, &i)) < 0)
				return rc;
			d = i;
		} else if (s && config_setting_type(s) != CONFIG_TYPE_STRING) {
			return fail(cx, s, NULL,
				    "must be a duration such as \"48h\" or \"0\", not %s",
				    type_name(s));
		} else if (seedconf_parse_duration(s ? config_setting_get_string(s) : o->val, &d,
						   &e) < 0) {
			return fail(cx, s, o->pub.name, "%s", e.msg);
		}
		*(int64_t *)field = d;
		return 0;
	}
	case K_HOSTS: return read_hosts(cx, s, base);
	case K_GROUP:
		return get_checked(cx, o, s, "a group name", check_group, SEEDCONF_GROUP_MAX,
				   field);
	case K_CONNS:
		if ((rc = get_int(cx, o, s, 1, SEEDCONF_MAX_CONNS, &i)) < 0)
			return rc;
		*(uint32_t *)field = (uint32_t)i;
		return 0;
	case K_SEEDING: {
		char shown[80];
		if ((rc = get_string(cx, o, s, "a seeding policy", &str)) < 0)
			return rc;
		if (tenant_seeding_parse(str, strlen(str), (uint8_t *)field) < 0)
			return fail(cx, s, NULL,
				    "must be \"default\", \"plain\", \"super\" or \"rarest\", "
				    "not \"%s\"",
				    show(str, shown, sizeof(shown)));
		return 0;
	}
	case K_CIDRS: return read_cidrs(cx, s, field);
	case K_TRACKERS: return read_trackers(cx, s, base);
	}
	return seed_err_set(cx->err, -EINVAL, "internal: option %s.%s has no handler", o->pub.group,
			    o->pub.name);
}

/*
 * Reads group grp (a node or a tenant) into base: unknown keys first (a
 * typo is the likeliest error), then each option of the table in order.
 */
static int read_group(struct ctx *cx, const config_setting_t *grp, const char *group, void *base)
{
	int rc = check_unknown(cx, grp, group);
	if (rc < 0)
		return rc;
	cx->group = grp;
	for (size_t k = 0; k < N_TABLE; k++) {
		const struct opt *o = &table[k];
		if (strcmp(o->pub.group, group))
			continue;
		const config_setting_t *s = config_setting_get_member(grp, o->pub.name);
		if (!s && (o->flags & F_REQUIRED))
			return fail(cx, NULL, o->pub.name, "required setting is missing (%s)",
				    o->pub.help);
		if ((rc = apply(cx, o, s, base)) < 0)
			return rc == -ENAMETOOLONG ? fail(cx, s, o->pub.name, "value too long")
						   : rc;
	}
	return 0;
}

void seedconf_free(struct seedconf *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->tenants && i < c->n_tenants; i++)
		tenant_clear(&c->tenants[i]);
	free(c->tenants);
	free(c);
}

static int read_tenants(struct ctx *cx, const config_setting_t *list, struct seedconf *c)
{
	if (config_setting_type(list) != CONFIG_TYPE_LIST &&
	    !(config_setting_type(list) == CONFIG_TYPE_ARRAY && config_setting_length(list) == 0))
		return fail(cx, list, NULL,
			    "must be a list of groups: tenants = ( { id = \"...\"; ... } ); not %s",
			    type_name(list));
	int n = config_setting_length(list);
	if (n > SEEDCONF_MAX_TENANTS)
		return fail(cx, list, NULL, "%d tenants, more than the %d allowed", n,
			    SEEDCONF_MAX_TENANTS);
	if (n == 0)
		return 0;
	c->tenants = calloc((size_t)n, sizeof(*c->tenants));
	if (!c->tenants)
		return seed_err_set(cx->err, -ENOMEM, "out of memory for %d tenants", n);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct tenant *t = &c->tenants[i];
		if (!config_setting_is_group(g))
			return fail(cx, g, NULL,
				    "each tenant must be a group { id = \"...\"; }, not %s",
				    type_name(g));
		/* Counted before reading so seedconf_free() sees the trackers
		 * of a tenant that failed half way. */
		c->n_tenants = (size_t)i + 1;
		t->line = config_setting_source_line(g);
		int rc = read_group(cx, g, "tenants", t);
		if (rc < 0)
			return rc;
		for (int j = 0; j < i; j++) {
			if (strcmp(c->tenants[j].id, t->id))
				continue;
			const config_setting_t *first = config_setting_get_member(
				config_setting_get_elem(list, (unsigned)j), "id");
			return fail(cx, config_setting_get_member(g, "id"), NULL,
				    "duplicate tenant id \"%s\" (first defined at line %u)", t->id,
				    config_setting_source_line(first));
		}
	}
	return 0;
}

static int load_text(const char *text, size_t len, const char *name, struct seedconf **out,
		     struct seed_err *err)
{
	struct ctx cx = { .name = name, .err = err, .group = NULL };
	struct scan sc;
	config_t cfg;
	struct seedconf *c = NULL;
	int rc;

	*out = NULL;
	/* libconfig would stop reading at a NUL: refuse what it would not see. */
	const char *nul = memchr(text, 0, len);
	if (nul) {
		unsigned line = 1;
		for (const char *q = text; q < nul; q++)
			line += *q == '\n';
		return seed_err_set(err, -EINVAL, "%s:%u: the file contains a NUL byte", name,
				    line);
	}
	scan_text(text, len, &sc);
	if (sc.include_line)
		return seed_err_set(err, -EINVAL,
				    "%s:%u: @include is not supported: keep the node and tenants "
				    "in one file",
				    name, sc.include_line);
	config_init(&cfg);
	/* On some syntax errors libconfig 1.5's scanner leaks a few bytes
	 * (seen under ASan, inside libconfig): a refused reload costs that. */
	if (!config_read_string(&cfg, text)) {
		const char *why = config_error_text(&cfg);
		rc = seed_err_set(err, -EINVAL, "%s:%d: %s", name, config_error_line(&cfg),
				  why ? why : "syntax error");
		goto out;
	}
	const config_setting_t *root = config_root_setting(&cfg);
	if (sc.wrap_line) {
		const config_setting_t *s = find_wrapped(root, &sc, 1);
		if (!s)
			s = find_wrapped(root, &sc, 0);
		char fix[64] = "";
		if (sc.wrap_bits == 32)
			snprintf(fix, sizeof(fix), "; write %sL", sc.wrap_tok);
		if (s)
			rc = fail(
				&cx, s, NULL,
				"%s does not fit in a %d-bit integer and libconfig would silently "
				"change it%s",
				sc.wrap_tok, sc.wrap_bits, fix);
		else
			rc = seed_err_set(
				err, -EINVAL,
				"%s:%u: %s does not fit in a %d-bit integer and libconfig "
				"would silently change it%s",
				name, sc.wrap_line, sc.wrap_tok, sc.wrap_bits, fix);
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* Kept for later messages only: a cut name is still a useful one. */
	if (copy_str(c->source, sizeof(c->source), name) < 0)
		snprintf(c->source, sizeof(c->source), "%.*s...", SEEDCONF_PATH_MAX - 3, name);

	int n = config_setting_length(root);
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(root, (unsigned)i);
		const char *mn = config_setting_name(m);
		if (strcmp(mn, "node") && strcmp(mn, "tenants")) {
			unsigned dn = edit_distance(mn, "node"), dt = edit_distance(mn, "tenants");
			if (dn <= 2 || dt <= 2)
				rc = fail(&cx, m, NULL, "unknown setting; did you mean %s?",
					  dn <= dt ? "node" : "tenants");
			else
				rc = fail(&cx, m, NULL,
					  "unknown setting (the file holds node = { ... }; and "
					  "tenants = ( ... );)");
			goto out;
		}
	}
	const config_setting_t *node = config_setting_get_member(root, "node");
	cx.group = root;
	if (!node) {
		rc = fail(&cx, NULL, "node",
			  "required group is missing (node = { name = ...; "
			  "store = ...; };)");
		goto out;
	}
	if (!config_setting_is_group(node)) {
		rc = fail(&cx, node, NULL, "must be a group { name = ...; store = ...; }, not %s",
			  type_name(node));
		goto out;
	}
	if ((rc = read_group(&cx, node, "node", &c->node)) < 0)
		goto out;
	const config_setting_t *tenants = config_setting_get_member(root, "tenants");
	if (tenants && (rc = read_tenants(&cx, tenants, c)) < 0)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	seedconf_free(c);
	config_destroy(&cfg);
	return rc;
}

int seedconf_load_string(const char *text, const char *name_for_errors, struct seedconf **out,
			 struct seed_err *err)
{
	if (!name_for_errors)
		name_for_errors = "<string>";
	if (!text) {
		*out = NULL;
		return seed_err_set(err, -EINVAL, "%s: no text", name_for_errors);
	}
	return load_text(text, strlen(text), name_for_errors, out, err);
}

int seedconf_load_file(const char *path, struct seedconf **out, struct seed_err *err)
{
	uint8_t *buf;
	size_t len;
	*out = NULL;
	int rc = fsu_read_file(path, SEEDCONF_FILE_MAX, &buf, &len, err);
	if (rc < 0)
		return rc;
	rc = load_text((const char *)buf, len, path, out, err);
	free(buf);
	return rc;
}

const struct tenant *seedconf_tenant_find(const struct seedconf *c, const char *id)
{
	if (!c || !id)
		return NULL;
	for (size_t i = 0; i < c->n_tenants; i++)
		if (!strcmp(c->tenants[i].id, id))
			return &c->tenants[i];
	return NULL;
}
