/*
 * cmd_api: see cmd_api.h. Each command is a row of `subs` with its option
 * table; getopt_long's table and --help both come from it. A command parses
 * its arguments, makes one API call (top: one a refresh) through apiclient,
 * and prints the answer: --json as the API sent it, otherwise text.
 *
 * Everything printed as text that came from the server goes through tx()
 * or a table cell, which replace control bytes: a tenant name set through
 * the API must not be able to drive the operator's terminal.
 */
#include "cmd_api.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "apiclient.h"
#include "cmdopt.h"

enum {
	O_SOCKET = 1,
	O_TIMEOUT,
	O_JSON,
	O_HELP,
	O_ID,
	O_NAME, /* O_NAME to O_CLEAR_TRACKERS: the tenant fields, in one run */
	O_BANDWIDTH,
	O_MAX_PEERS,
	O_ALLOW,
	O_TRACKER,
	O_EMBARGO,
	O_CLEAR_ALLOW,
	O_CLEAR_TRACKERS,
	O_NOW,
	O_UNTIL,
	O_INTERVAL,
	O_COUNT,
};

#define OPT_SOCKET                                         \
	CMDOPT("socket", 1, O_SOCKET, "PATH",              \
	       "API socket (default: $SEED_API_SOCKET or " \
	       "/run/seed/control.sock)")
#define OPT_TIMEOUT CMDOPT("timeout", 1, O_TIMEOUT, "SEC", "give up after SEC seconds (default 10)")
#define OPT_JSON    CMDOPT("json", 0, O_JSON, NULL, "print the API's JSON answer")
#define OPT_HELP    CMDOPT("help", 0, O_HELP, NULL, "show this help")
#define OPT_BANDWIDTH                               \
	CMDOPT("bandwidth", 1, O_BANDWIDTH, "RATE", \
	       "bandwidth cap: 20MB/s, 160Mbit/s or bytes/s; 0 = unlimited")
#define OPT_MAX_PEERS CMDOPT("max-peers", 1, O_MAX_PEERS, "N", "peer limit; 0 = unlimited")
#define OPT_ALLOW                           \
	CMDOPT("allow", 1, O_ALLOW, "CIDR", \
	       "serve only this network; repeat for more (replaces the list)")
#define OPT_TRACKER                            \
	CMDOPT("tracker", 1, O_TRACKER, "URL", \
	       "announce to this tracker; repeat for more (replaces the list)")
#define OPT_EMBARGO                                 \
	CMDOPT("embargo", 1, O_EMBARGO, "DURATION", \
	       "default embargo on publish, like 48h; 0 = none")

/* the tenant fields add and set both take */
#define OPTS_TENANT OPT_BANDWIDTH, OPT_MAX_PEERS, OPT_ALLOW, OPT_TRACKER, OPT_EMBARGO
/* what every command that prints an answer ends with */
#define OPTS_TAIL OPT_SOCKET, OPT_TIMEOUT, OPT_JSON, OPT_HELP, CMDOPT_END

static const struct cmdopt plain_opts[] = { OPTS_TAIL };
static const struct cmdopt tenant_add_opts[] = {
	{ "id", 1, O_ID, "ID", "tenant id (required; a-z 0-9 -, at most 32)" },
	{ "name", 1, O_NAME, "NAME", "display name (required)" },
	OPTS_TENANT,
	OPTS_TAIL,
};
static const struct cmdopt tenant_set_opts[] = {
	{ "name", 1, O_NAME, "NAME", "display name" },
	OPTS_TENANT,
	{ "clear-allow", 0, O_CLEAR_ALLOW, NULL, "serve every network again" },
	{ "clear-trackers", 0, O_CLEAR_TRACKERS, NULL, "announce to no tracker" },
	OPTS_TAIL,
};
static const struct cmdopt publish_opts[] = {
	{ "now", 0, O_NOW, NULL, "live now, skipping the tenant's default embargo" },
	OPTS_TAIL,
};
static const struct cmdopt embargo_opts[] = {
	{ "until", 1, O_UNTIL, "TIME",
	  "servable from TIME: 2026-12-01T18:00:00Z or +DURATION (+2h, +30m) (required)" },
	OPTS_TAIL,
};
static const struct cmdopt top_opts[] = {
	{ "interval", 1, O_INTERVAL, "SEC", "seconds between refreshes (default 1; 0.1 to 3600)" },
	{ "count", 1, O_COUNT, "N", "stop after N refreshes (default: until q or Ctrl-C)" },
	OPT_SOCKET,
	OPT_TIMEOUT,
	OPT_HELP,
	CMDOPT_END,
};

struct cmdopt_args {
	const char *socket;
	int timeout_ms, json;
	const char *id, *name, *bandwidth, *max_peers, *embargo, *until;
	const char **allow, **trackers;
	size_t n_allow, n_trackers;
	int clear_allow, clear_trackers, now, set_fields;
	double interval;
	long count;
	char **pos;
	int n_pos;
	const struct cmdopt_sub *sub;
};

static cmdopt_run_fn run_status, run_tenant_ls, run_tenant_put, run_release, run_peers, run_top,
	run_post;

static const struct cmdopt_sub subs[] = {
	{ "status", "[--json]", "the node at a glance: data plane, totals, tenants and releases",
	  NULL, plain_opts, 0, 0, NULL, run_status },
	{ "tenant ls", "[--json]", "list the tenants", NULL, plain_opts, 0, 0, NULL,
	  run_tenant_ls },
	{ "tenant add", "--id ID --name NAME [OPTIONS]", "add a tenant",
	  "Tenants added through the API are kept across restarts and config reloads.",
	  tenant_add_opts, 0, 0, NULL, run_tenant_put },
	{ "tenant set", "ID [OPTIONS]", "change a tenant; only the options given change",
	  "Changes take effect in the next catalog generation (within a second).", tenant_set_opts,
	  1, 1, "tenant ID", run_tenant_put },
	{ "release publish", "ID [--now]",
	  "make a release live (or embargoed until the tenant's default embargo)", NULL,
	  publish_opts, 1, 1, "release ID", run_release },
	{ "release pause", "ID", "stop serving a release; publish makes it live again", NULL,
	  plain_opts, 1, 1, "release ID", run_release },
	{ "release retire", "ID", "stop serving a release for good (final)", NULL, plain_opts, 1, 1,
	  "release ID", run_release },
	{ "release embargo", "ID --until TIME", "hold a release back until TIME",
	  "TIME is RFC 3339 (2026-12-01T18:00:00Z; an offset like +01:00 is converted to UTC)\n"
	  "or +DURATION from now (+2h, +30m, +45s, +1d12h).",
	  embargo_opts, 1, 1, "release ID", run_release },
	{ "peers", "[--json]", "connected peers by protocol", NULL, plain_opts, 0, 0, NULL,
	  run_peers },
	{ "top", "[--interval SEC] [--count N]",
	  "a live view of rates, peers, cache and the busiest releases; q or Ctrl-C quits", NULL,
	  top_opts, 0, 0, NULL, run_top },
	{ "drain", "[--json]",
	  "stop accepting peers, let in-flight blocks go out, announce every release stopped", NULL,
	  plain_opts, 0, 0, NULL, run_post },
	{ "reload", "[--json]", "re-read the config file; the running config stays on error", NULL,
	  plain_opts, 0, 0, NULL, run_post },
};
#define N_SUBS (sizeof(subs) / sizeof(subs[0]))

static const struct cmdopt_sub *find_sub(const char *group, const char *name)
{
	return cmdopt_sub_find(subs, N_SUBS, group, name);
}

/* Decimal digits only, at most 18 of them. */
static int all_digits(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 18)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int parse_seconds(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Parses argv for s; returns -1 to continue, else an exit code. */
static int parse(const struct cmdopt_sub *s, int argc, char **argv, struct cmdopt_args *a)
{
	struct option lo[CMDOPT_MAX];
	cmdopt_longopts(s->opts, lo);

	a->sub = s;
	a->interval = 1.0;
	opterr = 0;
	optind = 0; /* full re-initialisation (GNU): options may follow the ID */
	for (;;) {
		int c = getopt_long(argc, argv, ":h", lo, NULL);
		if (c == -1)
			break;
		double d;
		/* every option from --name to --clear-trackers changes a tenant field */
		if (c >= O_NAME && c <= O_CLEAR_TRACKERS)
			a->set_fields++;
		switch (c) {
		case 'h':
		case O_HELP: cmdopt_sub_usage(s, stdout); return 0;
		case O_SOCKET:
			if (!*optarg)
				return cmdopt_usage_err(s->name, "%s", "--socket needs a path");
			a->socket = optarg;
			break;
		case O_TIMEOUT:
			if (parse_seconds(optarg, 0.001, 3600, &d) < 0)
				return cmdopt_usage_err(
					s->name, "--timeout \"%s\": expected 0.001 to 3600 seconds",
					optarg);
			a->timeout_ms = (int)(d * 1000 + 0.999);
			break;
		case O_JSON: a->json = 1; break;
		case O_ID: a->id = optarg; break;
		case O_NAME: a->name = optarg; break;
		case O_BANDWIDTH: a->bandwidth = optarg; break;
		case O_MAX_PEERS:
			if (!all_digits(optarg))
				return cmdopt_usage_err(
					s->name, "--max-peers \"%s\" is not a number", optarg);
			a->max_peers = optarg;
			break;
		case O_EMBARGO: a->embargo = optarg; break;
		case O_ALLOW:
		case O_TRACKER:
			if (c == O_ALLOW ? cmdopt_push(&a->allow, &a->n_allow, optarg)
					 : cmdopt_push(&a->trackers, &a->n_trackers, optarg)) {
				fprintf(stderr, "seedctl: %s: too many --%s options\n", s->name,
					c == O_ALLOW ? "allow" : "tracker");
				return 1;
			}
			break;
		case O_CLEAR_ALLOW: a->clear_allow = 1; break;
		case O_CLEAR_TRACKERS: a->clear_trackers = 1; break;
		case O_NOW: a->now = 1; break;
		case O_UNTIL: a->until = optarg; break;
		case O_INTERVAL:
			if (parse_seconds(optarg, 0.1, 3600, &a->interval) < 0)
				return cmdopt_usage_err(
					s->name, "--interval \"%s\": expected 0.1 to 3600 seconds",
					optarg);
			break;
		case O_COUNT: {
			char *end;
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || v > 100000000)
				return cmdopt_usage_err(
					s->name, "--count \"%s\": expected a number >= 1", optarg);
			a->count = v;
			break;
		}
		default: return cmdopt_sub_bad_option(s, c, argv[optind - 1]);
		}
	}
	a->pos = argv + optind;
	a->n_pos = argc - optind;
	return cmdopt_sub_check_pos(s, a->n_pos, a->pos);
}

static int run_sub(const struct cmdopt_sub *s, int argc, char **argv)
{
	struct cmdopt_args a;
	memset(&a, 0, sizeof(a));
	int rc = parse(s, argc, argv, &a);
	if (rc < 0)
		rc = s->run(&a);
	free(a.allow);
	free(a.trackers);
	return rc;
}

static void list_tenant_verbs(FILE *f)
{
	cmdopt_sub_list(subs, N_SUBS, "tenant", f);
}

/* `seedctl tenant ...`: the group's verbs are listed by list_tenant_verbs */
static int run_group(const char *group, int argc, char **argv)
{
	if (argc < 2 || cmdopt_is_help(argv[1])) {
		cmdopt_group_usage(argc < 2 ? stderr : stdout, group, list_tenant_verbs);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	const struct cmdopt_sub *s = find_sub(group, argv[1]);
	if (!s)
		return cmdopt_unknown(group, argv[1]);
	return run_sub(s, argc - 1, argv + 1);
}

int cmd_api_status(int argc, char **argv)
{
	return run_sub(find_sub(NULL, "status"), argc, argv);
}
int cmd_api_tenant(int argc, char **argv)
{
	return run_group("tenant", argc, argv);
}
int cmd_api_peers(int argc, char **argv)
{
	return run_sub(find_sub(NULL, "peers"), argc, argv);
}
int cmd_api_top(int argc, char **argv)
{
	return run_sub(find_sub(NULL, "top"), argc, argv);
}
int cmd_api_drain(int argc, char **argv)
{
	return run_sub(find_sub(NULL, "drain"), argc, argv);
}
int cmd_api_reload(int argc, char **argv)
{
	return run_sub(find_sub(NULL, "reload"), argc, argv);
}

int cmd_api_is_release_verb(const char *verb)
{
	return verb && strlen(verb) < 32 && find_sub("release", verb) != NULL;
}

int cmd_api_release(int argc, char **argv)
{
	const struct cmdopt_sub *s = argc > 0 ? find_sub("release", argv[0]) : NULL;
	if (!s)
		return cmdopt_unknown("release", argc > 0 ? argv[0] : "");
	return run_sub(s, argc, argv);
}

void cmd_api_release_verbs_help(FILE *f)
{
	cmdopt_sub_list(subs, N_SUBS, "release", f);
}

/* ---- calling ---- */

/* One call; on failure prints the error and returns 1, else 0 with *out. */
static int call(struct cmdopt_args *a, const char *method, const char *path, const json_t *body,
		json_t **out)
{
	struct apic_opts o = { .socket_path = apic_socket_path(a->socket),
			       .timeout_ms = a->timeout_ms };
	struct seed_err err;
	seed_err_clear(&err);
	if (apic_call(&o, method, path, body, out, NULL, &err) < 0)
		return cmdopt_fail(a->sub->name, &err);
	return 0;
}

static void print_json(const json_t *j)
{
	if (j)
		json_dumpf(j, stdout, JSON_INDENT(2));
	else
		fputs("{}", stdout);
	fputc('\n', stdout);
}

/* ---- reading answers: missing or mistyped fields read as absent ---- */

/* j[k1][k2]...: the keys end with NULL. */
static json_t *jat(json_t *j, ...)
{
	va_list ap;
	va_start(ap, j);
	for (const char *k; j && (k = va_arg(ap, const char *));)
		j = json_object_get(j, k);
	va_end(ap);
	return j;
}

/* A non-negative number, else 0. */
static uint64_t ju(const json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
	if (json_is_real(v)) {
		double d = json_real_value(v);
		return d > 0 && d < 1.8e19 ? (uint64_t)d : 0;
	}
	return 0;
}

/* {"bt": N, "http": M} summed, or a plain number. */
static uint64_t jsum(const json_t *v)
{
	if (!json_is_object(v))
		return ju(v);
	return ju(json_object_get(v, "bt")) + ju(json_object_get(v, "http"));
}

/* Text from the server, safe to print: control bytes become '?', at most
 * 255 bytes (cut at a UTF-8 boundary); NULL -> "-". Eight calls may be
 * live at once (rotating buffers). */
static const char *tx(const char *s)
{
	static char bufs[8][256];
	static unsigned next;
	if (!s)
		return "-";
	char *b = bufs[next++ % 8];
	size_t j = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && j < sizeof(bufs[0]) - 1; p++)
		b[j++] = *p < 0x20 || *p == 0x7f ? '?' : (char)*p;
	if (s[j]) /* cut: do not leave half a UTF-8 sequence */
		while (j && ((unsigned char)s[j] & 0xc0) == 0x80)
			j--;
	b[j] = '\0';
	return b;
}

static const char *jtx(const json_t *v)
{
	return tx(json_string_value(v));
}

/* ---- human units ---- */

static const char *fmt_scaled(double v, const char *const *units, char *buf, size_t n)
{
	int u = 0;
	while (v >= 1000 && units[u + 1]) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%.0f %s", v, units[0]);
	else
		snprintf(buf, n, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

static const char *fmt_rate(uint64_t bps, char *buf, size_t n)
{
	static const char *const u[] = { "B/s", "kB/s", "MB/s", "GB/s", "TB/s", NULL };
	return fmt_scaled((double)bps, u, buf, n);
}

static const char *fmt_size(uint64_t b, char *buf, size_t n)
{
	static const char *const u[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB", NULL };
	return fmt_scaled((double)b, u, buf, n);
}

/* The two largest units: "2d", "1h 5m", "45s". */
static const char *fmt_count(uint64_t v, char *buf, size_t n)
{
	snprintf(buf, n, "%" PRIu64, v);
	return buf;
}

/*
 * "LABEL TOTAL  (bt A, http B)" for a {"bt": A, "http": B} pair, each figure
 * written by fmt; no newline, so a caller may go on with the line.
 */
static void print_bh(FILE *f, const char *label, const json_t *pair,
		     const char *(*fmt)(uint64_t v, char *buf, size_t n))
{
	char a[32], b[32], c[32];
	uint64_t bt = ju(json_object_get(pair, "bt")), http = ju(json_object_get(pair, "http"));
	fprintf(f, "%s%s  (bt %s, http %s)", label, fmt(bt + http, a, sizeof(a)),
		fmt(bt, b, sizeof(b)), fmt(http, c, sizeof(c)));
}

static const char *fmt_dur(uint64_t s, char *buf, size_t n)
{
	static const struct {
		uint64_t sec;
		char u;
	} units[] = { { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' } };
	for (int i = 0; i < 4; i++) {
		if (s < units[i].sec && i < 3)
			continue;
		uint64_t a = s / units[i].sec, rest = s % units[i].sec;
		if (i < 3 && rest / units[i + 1].sec)
			snprintf(buf, n, "%" PRIu64 "%c %" PRIu64 "%c", a, units[i].u,
				 rest / units[i + 1].sec, units[i + 1].u);
		else
			snprintf(buf, n, "%" PRIu64 "%c", a, units[i].u);
		return buf;
	}
	return buf;
}

static const char *fmt_cap(uint64_t bps, char *buf, size_t n)
{
	if (!bps) {
		snprintf(buf, n, "unlimited");
		return buf;
	}
	return fmt_rate(bps, buf, n);
}

static double hit_ratio(json_t *cache)
{
	json_t *r = json_object_get(cache, "hit_ratio");
	double v = json_is_number(r) ? json_number_value(r) : 0;
	return isfinite(v) && v >= 0 && v <= 1 ? v : 0;
}

/* ---- tables ---- */

#define TBL_MAXCOL  8
#define TBL_CELLMAX 48 /* display columns; longer cells end in "..." */

struct table {
	int ncol;
	const char *hdr[TBL_MAXCOL];
	unsigned right; /* bit i: column i right-aligned */
	char **cells;	/* nrows * ncol, each owned */
	size_t nrows, cap;
};

static void tbl_init(struct table *t, unsigned right, const char *const *hdr)
{
	memset(t, 0, sizeof(*t));
	t->right = right;
	while (hdr[t->ncol] && t->ncol < TBL_MAXCOL) {
		t->hdr[t->ncol] = hdr[t->ncol];
		t->ncol++;
	}
}

/* Display width of UTF-8 text (one column per code point). */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* A cleaned, width-bounded copy of s (NULL -> "-"). */
static char *cell(const char *s)
{
	const char *c = tx(s);
	if (width(c) <= TBL_CELLMAX)
		return strdup(c);
	char *o = malloc(strlen(c) + 4);
	if (!o)
		return NULL;
	size_t j = 0, w = 0;
	for (const char *p = c; *p; p++) {
		int lead = ((unsigned char)*p & 0xc0) != 0x80;
		if (lead && ++w > TBL_CELLMAX - 3)
			break;
		o[j++] = *p;
	}
	memcpy(o + j, "...", 4);
	return o;
}

/* Adds one row of ncol strings (borrowed; copied). */
static void tbl_row(struct table *t, ...)
{
	if (t->nrows == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 16;
		char **c = realloc(t->cells, nc * (size_t)t->ncol * sizeof(*c));
		if (!c)
			return; /* the row is dropped; the table stays consistent */
		t->cells = c;
		t->cap = nc;
	}
	va_list ap;
	va_start(ap, t);
	for (int i = 0; i < t->ncol; i++)
		t->cells[t->nrows * (size_t)t->ncol + (size_t)i] = cell(va_arg(ap, const char *));
	va_end(ap);
	t->nrows++;
}

static void put_cell(FILE *f, const char *s, size_t w, int right, int last)
{
	size_t sw = width(s), pad = w > sw ? w - sw : 0;
	if (right)
		fprintf(f, "%*s", (int)pad, "");
	fputs(s, f);
	if (!right && !last)
		fprintf(f, "%*s", (int)pad, "");
	if (!last)
		fputs("  ", f);
}

/* Prints the header and at most max_rows rows. */
static void tbl_print(const struct table *t, FILE *f, size_t max_rows)
{
	size_t w[TBL_MAXCOL];
	size_t rows = t->nrows < max_rows ? t->nrows : max_rows;
	for (int i = 0; i < t->ncol; i++) {
		w[i] = width(t->hdr[i]);
		for (size_t r = 0; r < rows; r++) {
			const char *c = t->cells[r * (size_t)t->ncol + (size_t)i];
			size_t cw = c ? width(c) : 1;
			if (cw > w[i])
				w[i] = cw;
		}
	}
	for (int i = 0; i < t->ncol; i++)
		put_cell(f, t->hdr[i], w[i], (t->right >> i) & 1, i == t->ncol - 1);
	fputc('\n', f);
	for (size_t r = 0; r < rows; r++) {
		for (int i = 0; i < t->ncol; i++) {
			const char *c = t->cells[r * (size_t)t->ncol + (size_t)i];
			put_cell(f, c ? c : "?", w[i], (t->right >> i) & 1, i == t->ncol - 1);
		}
		fputc('\n', f);
	}
	if (rows < t->nrows)
		fprintf(f, "(%zu more)\n", t->nrows - rows);
}

static void tbl_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncol; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* ---- status ---- */

static void print_totals(FILE *f, json_t *st)
{
	json_t *tot = json_object_get(st, "totals");
	json_t *cache = json_object_get(tot, "cache");

	print_bh(f, "rate        ", json_object_get(tot, "rate_bps"), fmt_rate);
	print_bh(f, "\nserved      ", json_object_get(tot, "bytes"), fmt_size);
	print_bh(f, "\npeers       ", json_object_get(tot, "peers"), fmt_count);
	fputc('\n', f);
	fprintf(f,
		"cache       %.1f%% hit ratio  (%" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64
		" evictions)\n",
		hit_ratio(cache) * 100, ju(json_object_get(cache, "hits")),
		ju(json_object_get(cache, "misses")), ju(json_object_get(cache, "evictions")));
}

/* "LABEL TOTAL  (cause N, ...)" for the totals' object KEY of counts by
 * cause: the lookups refused (refusals) and the connections refused at
 * accept by the per-source limits (admit_refusals). */
static void print_refusals(FILE *f, json_t *st, const char *key, const char *label)
{
	json_t *ref = jat(st, "totals", key, NULL);
	const char *k;
	json_t *v;
	uint64_t total = 0;
	json_object_foreach(ref, k, v)
	{
		total += ju(v);
	}
	fprintf(f, "%s%" PRIu64, label, total);
	if (total) {
		const char *sep = "  (";
		json_object_foreach(ref, k, v)
		{
			if (ju(v)) {
				fprintf(f, "%s%s %" PRIu64, sep, tx(k), ju(v));
				sep = ", ";
			}
		}
		fputc(')', f);
	}
	fputc('\n', f);
}

static void tenant_rows(FILE *f, json_t *st, int with_bytes)
{
	json_t *ten = json_object_get(st, "tenants"), *t;
	size_t i;
	int has_peers = 0;
	json_array_foreach(ten, i, t)
	{
		has_peers |= json_object_get(t, "peers") != NULL;
	}
	static const char *const h5[] = { "TENANT", "RATE", "BYTES", "PEERS", "CAP", NULL };
	static const char *const h4[] = { "TENANT", "RATE", "BYTES", "CAP", NULL };
	struct table tb;
	tbl_init(&tb, has_peers ? 0x1e : 0xe, has_peers ? h5 : h4);
	json_array_foreach(ten, i, t)
	{
		char r[32], b[32], p[24], c[32];
		fmt_rate(ju(json_object_get(t, "rate_bps")), r, sizeof(r));
		if (with_bytes)
			fmt_size(ju(json_object_get(t, "bytes")), b, sizeof(b));
		else
			snprintf(b, sizeof(b), "-");
		fmt_cap(ju(json_object_get(t, "bandwidth_bps")), c, sizeof(c));
		snprintf(p, sizeof(p), "%" PRIu64, jsum(json_object_get(t, "peers")));
		const char *id = json_string_value(json_object_get(t, "id"));
		if (has_peers)
			tbl_row(&tb, id, r, b, p, c);
		else
			tbl_row(&tb, id, r, b, c);
	}
	if (tb.nrows)
		tbl_print(&tb, f, SIZE_MAX);
	else
		fprintf(f, "no tenants\n");
	tbl_free(&tb);
}

static int by_rate_desc(const void *x, const void *y)
{
	uint64_t a = ju(json_object_get(*(json_t *const *)x, "rate_bps"));
	uint64_t b = ju(json_object_get(*(json_t *const *)y, "rate_bps"));
	return a < b ? 1 : a > b ? -1 : 0;
}

/* The release table; sorted by rate (busiest first) when `sorted`. */
static void release_rows(FILE *f, json_t *st, int sorted, size_t max_rows)
{
	json_t *rel = json_object_get(st, "releases");
	size_t n = json_array_size(rel);
	json_t **v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(rel, i);
	if (sorted)
		qsort(v, n, sizeof(*v), by_rate_desc);
	static const char *const hdr[] = { "RELEASE", "TENANT", "STATE", "EMBARGO",
					   "BYTES",   "RATE",	NULL };
	struct table tb;
	tbl_init(&tb, 0x30, hdr);
	for (size_t i = 0; i < n; i++) {
		char b[32], r[32];
		fmt_size(jsum(json_object_get(v[i], "bytes")), b, sizeof(b));
		fmt_rate(ju(json_object_get(v[i], "rate_bps")), r, sizeof(r));
		tbl_row(&tb, json_string_value(json_object_get(v[i], "id")),
			json_string_value(json_object_get(v[i], "tenant")),
			json_string_value(json_object_get(v[i], "state")),
			json_string_value(json_object_get(v[i], "embargo_until")), b, r);
	}
	if (tb.nrows)
		tbl_print(&tb, f, max_rows);
	else
		fprintf(f, "no releases\n");
	tbl_free(&tb);
	free(v);
}

static void print_status(FILE *f, json_t *st)
{
	char a[32];
	json_t *dp = json_object_get(st, "dataplane");
	fprintf(f, "node        %s\n", jtx(json_object_get(st, "node")));
	fprintf(f, "version     %s (seed-control pid %" PRIu64 ")\n",
		jtx(json_object_get(st, "version")), ju(json_object_get(st, "pid")));
	fprintf(f, "uptime      %s\n", fmt_dur(ju(json_object_get(st, "uptime_s")), a, sizeof(a)));
	if (json_is_true(json_object_get(dp, "running"))) {
		fprintf(f, "data plane  running, pid %" PRIu64 ", %" PRIu64 " workers, since %s\n",
			ju(json_object_get(dp, "pid")), ju(json_object_get(dp, "workers")),
			jtx(json_object_get(dp, "started")));
		uint64_t bad = ju(json_object_get(dp, "releases_unloadable"));
		if (bad)
			fprintf(f,
				"            %" PRIu64
				" release%s in the store could not be loaded "
				"and %s not served (the data plane's log names %s)\n",
				bad, bad == 1 ? "" : "s", bad == 1 ? "is" : "are",
				bad == 1 ? "it" : "them");
	} else
		fprintf(f, "data plane  not running\n");
	fprintf(f, "catalog     generation %" PRIu64 "%s\n",
		ju(json_object_get(st, "catalog_generation")),
		json_is_true(json_object_get(st, "draining")) ? " (draining)" : "");
	print_totals(f, st);
	fprintf(f, "integrity   %" PRIu64 " verify failures, %" PRIu64 " storage errors\n",
		ju(jat(st, "totals", "verify_failures", NULL)),
		ju(jat(st, "totals", "storage_errors", NULL)));
	print_refusals(f, st, "refusals", "refusals    ");
	print_refusals(f, st, "admit_refusals", "at accept   ");
	json_t *tr = json_object_get(st, "trackers"), *t;
	size_t i, bad = 0;
	json_array_foreach(tr, i, t)
	{
		const char *r = json_string_value(json_object_get(t, "last_result"));
		bad += r && (!strcmp(r, "failure") || !strcmp(r, "error"));
	}
	if (json_array_size(tr))
		fprintf(f, "trackers    %zu announces, %zu failing\n", json_array_size(tr), bad);
	fputc('\n', f);
	tenant_rows(f, st, 1);
	fputc('\n', f);
	release_rows(f, st, 0, SIZE_MAX);
}

/* GET path and print the answer: --json as the API sent it, else text(). */
static int show(struct cmdopt_args *a, const char *path, void (*text)(FILE *f, json_t *j))
{
	json_t *j;
	if (call(a, "GET", path, NULL, &j))
		return 1;
	if (a->json)
		print_json(j);
	else
		text(stdout, j);
	json_decref(j);
	return 0;
}

static int run_status(struct cmdopt_args *a)
{
	return show(a, "/api/v1/status", print_status);
}

/* ---- tenants ---- */

static void join_strings(json_t *arr, char *buf, size_t n, const char *none)
{
	size_t i, used = 0;
	json_t *v;
	buf[0] = '\0';
	json_array_foreach(arr, i, v)
	{
		int w = snprintf(buf + used, n - used, "%s%s", i ? "," : "", jtx(v));
		if (w < 0 || (size_t)w >= n - used)
			break;
		used += (size_t)w;
	}
	if (!buf[0])
		snprintf(buf, n, "%s", none);
}

static void print_tenants(FILE *f, json_t *j)
{
	static const char *const hdr[] = { "TENANT",	"NAME",	   "BANDWIDTH",
					   "MAX-PEERS", "EMBARGO", "ALLOW",
					   "TRACKERS",	"SOURCE",  NULL };
	struct table tb;
	tbl_init(&tb, 0x4c, hdr);
	json_t *t;
	size_t i;
	json_array_foreach(json_object_get(j, "tenants"), i, t)
	{
		char bw[32], mp[24], em[32], al[256], trk[16];
		uint64_t peers = ju(json_object_get(t, "max_peers")),
			 emb = ju(json_object_get(t, "embargo_s"));
		fmt_cap(ju(json_object_get(t, "bandwidth_bps")), bw, sizeof(bw));
		if (peers)
			snprintf(mp, sizeof(mp), "%" PRIu64, peers);
		else
			snprintf(mp, sizeof(mp), "unlimited");
		if (emb)
			fmt_dur(emb, em, sizeof(em));
		else
			snprintf(em, sizeof(em), "none");
		join_strings(json_object_get(t, "allow"), al, sizeof(al), "any");
		snprintf(trk, sizeof(trk), "%zu", json_array_size(json_object_get(t, "trackers")));
		tbl_row(&tb, json_string_value(json_object_get(t, "id")),
			json_string_value(json_object_get(t, "name")), bw, mp, em, al, trk,
			json_string_value(json_object_get(t, "source")));
	}
	if (tb.nrows)
		tbl_print(&tb, f, SIZE_MAX);
	else
		fprintf(f, "no tenants\n");
	tbl_free(&tb);
}

static int run_tenant_ls(struct cmdopt_args *a)
{
	return show(a, "/api/v1/tenants", print_tenants);
}

static void print_tenant(json_t *t)
{
	char b[32];
	uint64_t mp = ju(json_object_get(t, "max_peers")), em = ju(json_object_get(t, "embargo_s"));
	json_t *v;
	size_t i;
	printf("tenant      %s\n", jtx(json_object_get(t, "id")));
	printf("name        %s\n", jtx(json_object_get(t, "name")));
	printf("bandwidth   %s\n", fmt_cap(ju(json_object_get(t, "bandwidth_bps")), b, sizeof(b)));
	if (mp)
		printf("max peers   %" PRIu64 "\n", mp);
	else
		printf("max peers   unlimited\n");
	printf("embargo     %s\n", em ? fmt_dur(em, b, sizeof(b)) : "none");
	if (!json_array_size(json_object_get(t, "allow")))
		printf("allow       any\n");
	json_array_foreach(json_object_get(t, "allow"), i, v)
	{
		printf("allow       %s\n", jtx(v));
	}
	if (!json_array_size(json_object_get(t, "trackers")))
		printf("tracker     none\n");
	json_array_foreach(json_object_get(t, "trackers"), i, v)
	{
		printf("tracker     %s\n", jtx(v));
	}
	printf("source      %s\n", jtx(json_object_get(t, "source")));
}

/* A string field, refusing text that JSON cannot carry (not UTF-8). */
static int set_str(json_t *o, const char *k, const char *opt, const char *v,
		   const struct cmdopt_sub *s)
{
	json_t *x = json_string(v);
	if (!x)
		return cmdopt_usage_err(s->name, "--%s \"%s\" is not valid UTF-8", opt, tx(v));
	json_object_set_new(o, k, x);
	return 0;
}

/* A rate or duration: digits go as an integer, anything else as the string
 * for the server to parse (it names the field when it is wrong). */
static int set_num_or_str(json_t *o, const char *k, const char *opt, const char *v,
			  const struct cmdopt_sub *s)
{
	if (all_digits(v)) {
		json_object_set_new(o, k, json_integer((json_int_t)strtoll(v, NULL, 10)));
		return 0;
	}
	return set_str(o, k, opt, v, s);
}

static int set_list(json_t *o, const char *k, const char *opt, const char **v, size_t n,
		    const struct cmdopt_sub *s)
{
	json_t *arr = json_array();
	json_object_set_new(o, k, arr);
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_string(v[i]);
		if (!x)
			return cmdopt_usage_err(s->name, "--%s \"%s\" is not valid UTF-8", opt,
						tx(v[i]));
		json_array_append_new(arr, x);
	}
	return 0;
}

static int run_tenant_put(struct cmdopt_args *a)
{
	const struct cmdopt_sub *s = a->sub;
	int create = !strcmp(s->name, "tenant add");
	char path[320], seg[256];
	int rc = 0;

	if (create && !a->id)
		return cmdopt_usage_err(s->name, "%s", "--id ID is required");
	if (create && !a->name)
		return cmdopt_usage_err(s->name, "%s", "--name NAME is required");
	if (!create && !a->set_fields)
		return cmdopt_usage_err(s->name, "%s",
					"nothing to change: give at least one option");
	if (a->clear_allow && a->n_allow)
		return cmdopt_usage_err(s->name, "%s",
					"--allow and --clear-allow exclude each other");
	if (a->clear_trackers && a->n_trackers)
		return cmdopt_usage_err(s->name, "%s",
					"--tracker and --clear-trackers exclude each other");
	if (create) {
		snprintf(path, sizeof(path), "/api/v1/tenants");
	} else {
		if (apic_path_escape(a->pos[0], seg, sizeof(seg)) < 0)
			return cmdopt_usage_err(s->name, "invalid tenant ID \"%s\"", tx(a->pos[0]));
		snprintf(path, sizeof(path), "/api/v1/tenants/%s", seg);
	}

	json_t *body = json_object(), *j = NULL;
	if (!body)
		return 1;
	if ((create && set_str(body, "id", "id", a->id, s)) ||
	    (a->name && set_str(body, "name", "name", a->name, s)) ||
	    (a->bandwidth && set_num_or_str(body, "bandwidth_bps", "bandwidth", a->bandwidth, s)) ||
	    (a->max_peers && set_num_or_str(body, "max_peers", "max-peers", a->max_peers, s)) ||
	    (a->embargo && set_num_or_str(body, "embargo_s", "embargo", a->embargo, s)) ||
	    ((a->n_allow || a->clear_allow) &&
	     set_list(body, "allow", "allow", a->allow, a->n_allow, s)) ||
	    ((a->n_trackers || a->clear_trackers) &&
	     set_list(body, "trackers", "tracker", a->trackers, a->n_trackers, s))) {
		json_decref(body);
		return EXIT_USAGE;
	}
	if (call(a, create ? "POST" : "PATCH", path, body, &j)) {
		rc = 1;
	} else if (a->json) {
		print_json(j);
	} else {
		printf("%s tenant %s%s\n", create ? "added" : "updated",
		       jtx(json_object_get(j, "id")),
		       create ? "" : " (takes effect in the next catalog generation)");
		print_tenant(j);
	}
	json_decref(body);
	json_decref(j);
	return rc;
}

/* ---- releases ---- */

static int run_release(struct cmdopt_args *a)
{
	const struct cmdopt_sub *s = a->sub;
	const char *verb = s->name + strlen("release ");
	char path[400], seg[320], when[32];
	json_t *body = NULL, *j = NULL;
	int rc = 0;

	if (apic_path_escape(a->pos[0], seg, sizeof(seg)) < 0)
		return cmdopt_usage_err(s->name, "invalid release ID \"%s\"", tx(a->pos[0]));
	snprintf(path, sizeof(path), "/api/v1/releases/%s/%s", seg, verb);
	if (!strcmp(verb, "embargo")) {
		struct seed_err err;
		seed_err_clear(&err);
		if (!a->until)
			return cmdopt_usage_err(s->name, "%s", "--until TIME is required");
		if (apic_time_arg(a->until, (int64_t)time(NULL), when, sizeof(when), &err) < 0)
			return cmdopt_usage_err(s->name, "%s", err.msg);
		body = json_pack("{s:s}", "until", when);
	} else if (a->now) {
		body = json_pack("{s:b}", "now", 1);
	}
	if (call(a, "POST", path, body, &j)) {
		rc = 1;
	} else if (a->json) {
		print_json(j);
	} else {
		const char *state = json_string_value(json_object_get(j, "state"));
		const char *until = json_string_value(json_object_get(j, "embargo_until"));
		printf("release %s: %s", jtx(json_object_get(j, "id")), tx(state));
		if (state && !strcmp(state, "embargoed") && until)
			printf(" until %s", tx(until));
		putchar('\n');
	}
	json_decref(body);
	json_decref(j);
	return rc;
}

/* ---- peers, drain, reload ---- */

static void print_peers(FILE *f, json_t *j)
{
	print_bh(f, "peers     ", json_object_get(j, "total"), fmt_count);
	fputc('\n', f);
	if (json_is_object(json_object_get(j, "accepted")))
		fprintf(f,
			"accepted  bt %" PRIu64 ", http %" PRIu64 " since the data plane started\n",
			ju(jat(j, "accepted", "bt", NULL)), ju(jat(j, "accepted", "http", NULL)));
	json_t *ten = json_object_get(j, "tenants"), *t;
	if (json_array_size(ten)) {
		static const char *const hdr[] = { "TENANT", "BT", "HTTP", "TOTAL", NULL };
		struct table tb;
		size_t i;
		tbl_init(&tb, 0xe, hdr);
		json_array_foreach(ten, i, t)
		{
			char b[24], h[24], s[24];
			uint64_t tb_ = ju(jat(t, "peers", "bt", NULL)),
				 th = ju(jat(t, "peers", "http", NULL));
			snprintf(b, sizeof(b), "%" PRIu64, tb_);
			snprintf(h, sizeof(h), "%" PRIu64, th);
			snprintf(s, sizeof(s), "%" PRIu64, tb_ + th);
			tbl_row(&tb, json_string_value(json_object_get(t, "id")), b, h, s);
		}
		fputc('\n', f);
		tbl_print(&tb, f, SIZE_MAX);
		tbl_free(&tb);
	}
}

static int run_peers(struct cmdopt_args *a)
{
	return show(a, "/api/v1/peers", print_peers);
}

static int run_post(struct cmdopt_args *a)
{
	int reload = !strcmp(a->sub->name, "reload");
	json_t *j;
	if (call(a, "POST", reload ? "/api/v1/reload" : "/api/v1/drain", NULL, &j))
		return 1;
	if (a->json)
		print_json(j);
	else if (reload)
		printf("reloaded: catalog generation %" PRIu64 "\n",
		       ju(json_object_get(j, "generation")));
	else
		printf("draining: no new peers; in-flight blocks go out; every release is "
		       "announced stopped\n");
	json_decref(j);
	return 0;
}

/* ---- top ---- */

static _Atomic int top_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	atomic_store(&top_stop, 1);
}

static void top_frame(FILE *f, json_t *st, const char *error, double interval, int rows)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(f, "seedctl top - %s - %s - every %gs (q or Ctrl-C quits)\n",
		st ? jtx(json_object_get(st, "node")) : "?", ts, interval);
	if (error)
		fprintf(f, "error: %s (retrying)\n", tx(error));
	if (!st)
		return;
	json_t *tot = json_object_get(st, "totals");
	json_t *dp = json_object_get(st, "dataplane");
	print_bh(f, "rate   ", json_object_get(tot, "rate_bps"), fmt_rate);
	print_bh(f, "\npeers  ", json_object_get(tot, "peers"), fmt_count);
	fprintf(f, "   cache %.1f%% hit\n", hit_ratio(json_object_get(tot, "cache")) * 100);
	fprintf(f,
		"node   data plane %s, catalog generation %" PRIu64 "%s, verify failures %" PRIu64
		"\n",
		json_is_true(json_object_get(dp, "running")) ? "running" : "NOT RUNNING",
		ju(json_object_get(st, "catalog_generation")),
		json_is_true(json_object_get(st, "draining")) ? ", DRAINING" : "",
		ju(json_object_get(tot, "verify_failures")));
	print_refusals(f, st, "admit_refusals", "limits refused at accept ");
	fputc('\n', f);
	tenant_rows(f, st, 1);
	fputc('\n', f);
	/* What is left of the screen goes to the busiest releases: title,
	 * error, four summary lines, two blank lines, two table headers,
	 * the tenants and a "(N more)" line are already taken. */
	size_t used = 10 + (error ? 1 : 0) + json_array_size(json_object_get(st, "tenants"));
	size_t max = rows <= 0 ? 10 : (size_t)rows > used + 3 ? (size_t)rows - used : 3;
	release_rows(f, st, 1, max);
}

static int run_top(struct cmdopt_args *a)
{
	int out_tty = isatty(STDOUT_FILENO), in_tty = isatty(STDIN_FILENO);
	struct termios saved;
	int restore = 0, rc = 0;
	struct sigaction sa, old_int, old_term, old_hup;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal; /* no SA_RESTART: waits end with EINTR */
	sigemptyset(&sa.sa_mask);
	atomic_store(&top_stop, 0);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	/* Keys without Enter: only canonical mode and echo are turned off;
	 * ISIG stays, so Ctrl-C is still a signal. Restored below. */
	if (in_tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
		struct termios raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		restore = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}

	struct apic_opts o = { .socket_path = apic_socket_path(a->socket),
			       .timeout_ms = a->timeout_ms,
			       .cancel = &top_stop };
	long frames = 0;
	int64_t interval_ms = (int64_t)(a->interval * 1000);
	for (;;) {
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		json_t *st = NULL;
		struct seed_err err;
		seed_err_clear(&err);
		int r = apic_call(&o, "GET", "/api/v1/status", NULL, &st, NULL, &err);
		if (atomic_load(&top_stop)) {
			json_decref(st);
			break;
		}
		if (r < 0 && frames == 0) {
			rc = cmdopt_fail(a->sub->name, &err);
			break;
		}
		rc = r < 0;
		int rows = 0;
		struct winsize ws;
		if (out_tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
			rows = ws.ws_row;
		/* Built in memory, written at once: no half-drawn frames. */
		char *frame = NULL;
		size_t flen = 0;
		FILE *mf = open_memstream(&frame, &flen);
		if (mf) {
			if (out_tty)
				fputs("\033[H\033[2J", mf);
			else if (frames)
				fputc('\n', mf);
			top_frame(mf, st, r < 0 ? err.msg : NULL, a->interval, rows);
			fclose(mf);
			fwrite(frame, 1, flen, stdout);
			fflush(stdout);
			free(frame);
		}
		json_decref(st);
		frames++;
		if (a->count && frames >= a->count)
			break;

		/* Wait out the interval, watching for q. */
		int64_t deadline = (int64_t)t0.tv_sec * 1000 + t0.tv_nsec / 1000000 + interval_ms;
		int quit = 0;
		while (!quit && !atomic_load(&top_stop)) {
			struct timespec tn;
			clock_gettime(CLOCK_MONOTONIC, &tn);
			int64_t left =
				deadline - ((int64_t)tn.tv_sec * 1000 + tn.tv_nsec / 1000000);
			if (left <= 0)
				break;
			struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
			int n = poll(&p, in_tty ? 1 : 0, (int)left);
			if (n > 0) {
				char k[16];
				ssize_t got = read(STDIN_FILENO, k, sizeof(k));
				for (ssize_t i = 0; i < got; i++)
					quit |= k[i] == 'q' || k[i] == 'Q';
				if (got == 0)
					in_tty = 0; /* EOF: stop watching */
			}
		}
		if (quit || atomic_load(&top_stop))
			break;
	}
	if (restore)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	return rc;
}
