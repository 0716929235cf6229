/*
 * dpconf: see dpconf.h. The table below is the single description of every
 * setting.
 */
#include "dpconf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bytesize.h"
#include "fsutil.h"
#include "privs.h"
#include "tenant.h"

enum kind {
	K_USER,
	K_PATH,
	K_ADDR_BT,
	K_ADDR_HTTP,
	K_UINT,
	K_SIZE,
	K_BOOL,
	K_AUTO, /* yes, no or auto: 1, 0, DPCONF_AUTO */
	K_CONFIG,
	K_LOG,
	K_BACKEND,
	K_TEXT,
	K_SEEDING,
	K_IPNET,
	K_IPV4,
	K_CIDRS,
};

struct setting {
	const char *name;
	enum kind kind;
	size_t off;
	uint64_t min, max;
	const char *def; /* shown in --help */
	const char *help;
};

#define OFF(f) offsetof(struct dpconf, f)

static const struct setting table[] = {
	{ "store", K_PATH, OFF(store), 0, 0, NULL, "the release store to serve (required)" },
	{ "bt-listen", K_ADDR_BT, 0, 0, 0, NULL,
	  "peer-wire listener ADDR:PORT, [V6]:PORT or *:PORT (repeatable)" },
	{ "http-listen", K_ADDR_HTTP, 0, 0, 0, NULL, "HTTP listener, same forms (repeatable)" },
	{ "workers", K_UINT, OFF(workers), 0, 1024, "one per CPU",
	  "worker threads, each with its own rings (the block cache is shared)" },
	{ "cache-size", K_SIZE, OFF(cache_size), 4u << 20, 1ull << 42, "256M",
	  "block cache, all workers together (K, M, G suffixes)" },
	{ "readahead", K_SIZE, OFF(readahead), 0, 1ull << 32, "16M",
	  "per worker: bytes read ahead of what peers asked for, in flight at once; a miss "
	  "reads the rest of its piece (BitTorrent) or range (HTTP) in one read of up to 1 MiB "
	  "(0: one 16 KiB read per miss; docs/dataplane.md)" },
	{ "info-cache", K_SIZE, OFF(info_cache), 1u << 20, 1ull << 40, "64M",
	  "info dicts kept in memory for magnet-link peers (BEP 9), read from the store when "
	  "asked for, least recently asked for dropped first (K, M, G suffixes)" },
	{ "object-fds", K_UINT, OFF(object_fds), 0, 1u << 28, "auto",
	  "object files open at once, all workers together; a read of a file not open opens "
	  "it, closing the least recently used (0 or auto: a quarter of the descriptors the "
	  "process may still open at start, at most 262144)" },
	{ "upload-slots", K_UINT, OFF(upload_slots), 1, 100000, "64",
	  "peers unchoked at once, per worker" },
	{ "max-conns", K_UINT, OFF(max_conns), 16, 1000000, "4096", "connections per worker" },
	{ "utp-conns", K_UINT, OFF(utp_conns), 0, 65536, "512",
	  "of those, uTP (BEP 29) connections, on UDP at the peer-wire port (at most half; 0: "
	  "no uTP; the dpdk backend has none yet)" },
	{ "max-requests", K_UINT, OFF(max_requests), 1, 4096, "1000",
	  "outstanding block requests per peer" },
	{ "handshake-timeout", K_UINT, OFF(handshake_timeout_ms), 100, 600000, "10000",
	  "ms to complete a handshake" },
	{ "idle-timeout", K_UINT, OFF(idle_timeout_ms), 1000, 3600000, "120000",
	  "ms of silence before a peer is dropped" },
	{ "quarantine-time", K_UINT, OFF(quarantine_ms), 100, 86400000, "60000",
	  "ms a block found bad and beyond its parity is refused without a read; then it is "
	  "read again, so what a scrub repaired is served without a restart" },
	{ "hugepages", K_BOOL, OFF(hugepages), 0, 1, "yes",
	  "back the cache with 2 MiB hugepages when available" },
	{ "storage-poll", K_AUTO, OFF(storage_poll), 0, 0, "auto",
	  "find completed store reads by polling the device (IORING_SETUP_IOPOLL, no interrupt "
	  "per read): auto uses it when the store's device has poll queues (an NVMe drive given "
	  "poll_queues; docs/dataplane.md)" },
	{ "zerocopy", K_BOOL, OFF(zerocopy), 0, 1, "yes", "send block payloads with SEND_ZC" },
	{ "mse", K_UINT, OFF(mse), 0, 2, "2",
	  "MSE/PE encrypted handshakes: 0 refuse, 1 plaintext only, 2 RC4 too for peers that "
	  "insist on it (it costs a copy)" },
	{ "seeding", K_SEEDING, OFF(seeding), 0, 0, "plain",
	  "how releases are seeded, for tenants whose config names no policy: plain (serve "
	  "what is asked), super (BEP 16 super-seeding) or rarest (advertise to each peer the "
	  "pieces the swarm lacks, each once before any twice; docs/swarm.md)" },
	{ "swarm-window", K_UINT, OFF(swarm_window_kib), 16, 1u << 20, "1024",
	  "rarest: KiB of pieces advertised ahead of each peer (more for peers that pass "
	  "pieces on or download fast)" },
	{ "swarm-small", K_UINT, OFF(swarm_small), 0, 65535, "2",
	  "rarest: with fewer peers than this connected to a release, any piece goes (a lone "
	  "peer is seeded plain)" },
	{ "swarm-boot", K_UINT, OFF(swarm_boot_pct), 0, 100, "15",
	  "rarest: % of what it lacks that a peer arriving after every piece went out once "
	  "adds to the pool of second copies for slow peers (docs/swarm.md)" },
	{ "swarm-starve", K_UINT, OFF(swarm_starve_ms), 100, 600000, "2000",
	  "rarest, super: ms without a new piece after which a peer gets one anyway" },
	{ "swarm-floor", K_UINT, OFF(swarm_floor_kib), 0, 1u << 24, "8192",
	  "rarest: KiB/s; a peer taking less from everyone is slow and may draw second copies "
	  "from the pool (0: nobody is slow; docs/swarm.md)" },
	{ "catalog", K_PATH, OFF(catalog), 0, 0, "none",
	  "serve only what this catalog file (written by seed-control) allows" },
	{ "stats-file", K_PATH, OFF(stats_file), 0, 0, "none",
	  "shared-memory counters file for seed-control and `seedctl stats`" },
	{ "user", K_USER, OFF(user), 0, 0, "seed-dp",
	  "started as root without allow-root: the user to become once the listeners are "
	  "bound (looked up at start; missing: exit 2)" },
	{ "allow-root", K_BOOL, OFF(allow_root), 0, 1, "no",
	  "started as root: stay root instead of becoming --user, and say so on stderr" },
	{ "drain-file", K_PATH, OFF(drain_file), 0, 0, "none",
	  "drain as on SIGTERM when this file appears (newer than the start): how "
	  "seed-control, another user, asks" },
	{ "log-level", K_LOG, OFF(log_level), 0, 0, "info",
	  "what to log on stderr: error, warn, info or debug, then module=LEVEL entries "
	  "(dataplane.worker=debug); overrides SEED_LOG_LEVEL" },
	{ "backend", K_BACKEND, OFF(backend), 0, 0, "uring",
	  "network backend: uring (kernel sockets) or dpdk (the NIC's queues and our own "
	  "TCP/IP stack; docs/dpdk.md)" },
	{ "dpdk-args", K_TEXT, OFF(dpdk_args), 0, 0, "none",
	  "dpdk: EAL arguments, separated by spaces (e.g. \"-a 0000:01:00.0\" or \"--vdev "
	  "net_af_xdp0,iface=eth1 --no-pci\")" },
	{ "dpdk-port", K_UINT, OFF(dpdk_port), 0, 1023, "0", "dpdk: the port to serve on" },
	{ "ip", K_IPNET, 0, 0, 0, NULL, "dpdk: the port's address ADDR/PREFIX (required)" },
	{ "gateway", K_IPV4, OFF(gateway), 0, 0, "none",
	  "dpdk: the router for peers off the port's subnet" },
	{ "mtu", K_UINT, OFF(mtu), 576, 9000, "1500", "dpdk: the port's IP MTU" },
	{ "dpdk-idle-sleep", K_UINT, OFF(dpdk_idle_sleep_us), 0, 100000, "0",
	  "dpdk: microseconds a worker sleeps after a pass with nothing to do (0: poll "
	  "without pause, a core per worker; set it where cores are shared)" },
	{ "addr-conns", K_UINT, OFF(addr_conns), 0, 1000000, "128",
	  "connections open at once from one address, all workers (0: no limit)" },
	{ "prefix-conns", K_UINT, OFF(prefix_conns), 0, 1000000, "512",
	  "connections open at once from one /24 (IPv4) or /56 (IPv6) (0: no limit)" },
	{ "addr-conn-rate", K_UINT, OFF(addr_rate), 0, 100000, "32",
	  "new connections per second from one address, sustained (0: no limit)" },
	{ "addr-conn-burst", K_UINT, OFF(addr_burst), 1, 100000, "128",
	  "new connections from one address at once, above the rate" },
	{ "addr-mse-rate", K_UINT, OFF(mse_rate), 0, 100000, "8",
	  "MSE handshakes (a key exchange each) per second from one address (0: no limit)" },
	{ "addr-mse-burst", K_UINT, OFF(mse_burst), 1, 100000, "32",
	  "MSE handshakes from one address at once, above the rate" },
	{ "deny", K_CIDRS, OFF(deny), 0, 0, "none",
	  "addresses refused at accept: CIDR prefixes separated by commas, or none" },
	{ "limit-exempt", K_CIDRS, OFF(limit_exempt), 0, 0, "127.0.0.0/8,::1",
	  "addresses the per-source limits do not apply to (the deny list does), or none" },
	{ "config", K_CONFIG, 0, 0, 0, NULL, "read settings from FILE (name = value lines)" },
};
#define N_TABLE (sizeof(table) / sizeof(table[0]))

/* A row whose shown default is a value (not "none", "one per CPU", or the
 * log level, which must leave SEED_LOG_LEVEL in force when unset). */
static int default_is_value(const struct setting *s)
{
	return s->def && strcmp(s->def, "none") && s->kind != K_LOG &&
	       (s->kind != K_UINT || isdigit((unsigned char)s->def[0]));
}

static int apply(struct dpconf *c, const struct setting *s, const char *v, const char *where,
		 int depth, struct seed_err *err);

/* The defaults are the table's: each row's shown default goes through the
 * parser a setting takes, so --help and the values cannot disagree; the
 * others start zero or empty. test_dpconf checks the results. */
void dpconf_defaults(struct dpconf *c)
{
	memset(c, 0, sizeof(*c));
	cidr_set_init(&c->deny);
	cidr_set_init(&c->limit_exempt);
	for (size_t i = 0; i < N_TABLE; i++) {
		struct seed_err e;
		if (default_is_value(&table[i]))
			(void)apply(c, &table[i], table[i].def, table[i].name, 0, &e);
	}
}

void dpconf_usage(FILE *out)
{
	fprintf(out, "usage: seed-dataplane --store DIR --bt-listen ADDR:PORT --http-listen "
		     "ADDR:PORT [OPTIONS]\n\n"
		     "Serves the releases of a store to BitTorrent peers and HTTP range "
		     "clients.\n\noptions:\n");
	for (size_t i = 0; i < N_TABLE; i++) {
		char left[48];
		const char *arg = table[i].kind == K_USER   ? "NAME"
				  : table[i].kind == K_BOOL ? "yes|no"
				  : table[i].kind == K_AUTO ? "yes|no|auto"
				  : table[i].kind == K_PATH || table[i].kind == K_CONFIG ? "PATH"
				  : table[i].kind == K_SIZE				 ? "BYTES"
				  : table[i].kind == K_UINT				 ? "N"
				  : table[i].kind == K_LOG				 ? "SPEC"
				  : table[i].kind == K_BACKEND				 ? "NAME"
				  : table[i].kind == K_SEEDING ? "plain|super|rarest"
				  : table[i].kind == K_TEXT    ? "ARGS"
				  : table[i].kind == K_IPNET   ? "ADDR/PREFIX"
				  : table[i].kind == K_IPV4    ? "ADDR"
				  : table[i].kind == K_CIDRS   ? "CIDR,..."
							       : "ADDR:PORT";
		snprintf(left, sizeof(left), "--%s %s", table[i].name, arg);
		fprintf(out, "  %-28s %s", left, table[i].help);
		if (table[i].def)
			fprintf(out, " (default %s)", table[i].def);
		fputc('\n', out);
	}
	fprintf(out, "  %-28s %s\n  %-28s %s\n", "--help", "show this help", "--version",
		"print the version");
}

int dpconf_parse_addr(const char *s, struct dpconf_addr *out, struct seed_err *err)
{
	char host[64];
	const char *colon;
	memset(out, 0, sizeof(*out));
	if (strlen(s) >= sizeof(out->text))
		return seed_err_set(err, -EINVAL, "address \"%.40s...\" is too long", s);
	snprintf(out->text, sizeof(out->text), "%s", s);
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return seed_err_set(err, -EINVAL, "address \"%s\": expected [IPv6]:PORT",
					    s);
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = 0;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return seed_err_set(err, -EINVAL, "address \"%s\": expected ADDR:PORT", s);
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = 0;
	}
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port > 65535 || !isdigit((unsigned char)colon[1]))
		return seed_err_set(err, -EINVAL, "address \"%s\": port must be 0-65535", s);
	struct sockaddr_in *v4 = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->ss;
	if (!strcmp(host, "*") || !strcmp(host, "0.0.0.0")) {
		v4->sin_family = AF_INET;
		v4->sin_addr.s_addr = htonl(INADDR_ANY);
		v4->sin_port = htons((uint16_t)port);
		out->len = sizeof(*v4);
	} else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		out->len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		out->len = sizeof(*v6);
	} else {
		return seed_err_set(err, -EINVAL,
				    "address \"%s\": \"%s\" is not an IPv4 or IPv6 address", s,
				    host);
	}
	return 0;
}

/* Two listeners that cannot both bind: the same port (not 0, which picks
 * a free one), the same family, and the same address or a wildcard. */
int dpconf_addr_overlaps(const struct dpconf_addr *a, const struct dpconf_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return 0;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin_port && x->sin_port == y->sin_port &&
		       (x->sin_addr.s_addr == y->sin_addr.s_addr || !x->sin_addr.s_addr ||
			!y->sin_addr.s_addr);
	}
	const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
	return x->sin6_port && x->sin6_port == y->sin6_port &&
	       (!memcmp(&x->sin6_addr, &y->sin6_addr, 16) ||
		IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr) || IN6_IS_ADDR_UNSPECIFIED(&y->sin6_addr));
}

/* where: "--name" or "file:line" for messages */
static int apply(struct dpconf *c, const struct setting *s, const char *v, const char *where,
		 int depth, struct seed_err *err)
{
	uint64_t n;
	char *end;
	switch (s->kind) {
	case K_USER:
		if (privs_check_name(v, err) < 0) {
			seed_err_prefix(err, "%s: ", where);
			return -EINVAL;
		}
		snprintf(c->user, sizeof(c->user), "%s", v);
		return 0;
	case K_PATH:
		if (!*v || strlen(v) >= sizeof(c->store))
			return seed_err_set(err, -EINVAL, "%s: bad path \"%s\"", where, v);
		snprintf((char *)c + s->off, sizeof(c->store), "%s", v);
		return 0;
	case K_LOG:
		/* checked whole by log_configure at start-up (main) */
		if (!*v || strlen(v) >= sizeof(c->log_level))
			return seed_err_set(err, -EINVAL, "%s: bad log level \"%.40s\"", where, v);
		snprintf(c->log_level, sizeof(c->log_level), "%s", v);
		return 0;
	case K_ADDR_BT:
	case K_ADDR_HTTP: {
		unsigned *cnt = s->kind == K_ADDR_BT ? &c->n_bt : &c->n_http;
		struct dpconf_addr *arr = s->kind == K_ADDR_BT ? c->bt : c->http;
		if (*cnt >= DPCONF_MAX_LISTEN)
			return seed_err_set(err, -EINVAL, "%s: more than %d listeners", where,
					    DPCONF_MAX_LISTEN);
		int rc = dpconf_parse_addr(v, &arr[*cnt], err);
		if (rc < 0) {
			seed_err_prefix(err, "%s: ", where);
			return rc;
		}
		(*cnt)++;
		return 0;
	}
	case K_UINT:
		if (!strcmp(v, "auto") && s->def && !strcmp(s->def, "auto")) {
			*(unsigned *)(void *)((char *)c + s->off) = 0;
			return 0;
		}
		errno = 0;
		n = strtoull(v, &end, 10);
		if (!isdigit((unsigned char)*v) || *end || errno || n < s->min || n > s->max)
			return seed_err_set(
				err, -EINVAL, "%s: \"%s\" is not a number from %llu to %llu", where,
				v, (unsigned long long)s->min, (unsigned long long)s->max);
		*(unsigned *)(void *)((char *)c + s->off) = (unsigned)n;
		return 0;
	case K_SIZE: {
		int rc = bytesize_parse_range(v, s->min, s->max, &n, err);
		if (rc < 0) {
			seed_err_prefix(err, "%s: ", where);
			return -EINVAL;
		}
		*(uint64_t *)(void *)((char *)c + s->off) = n;
		return 0;
	}
	case K_BOOL:
		if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
			*(int *)(void *)((char *)c + s->off) = 1;
		else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
			*(int *)(void *)((char *)c + s->off) = 0;
		else
			return seed_err_set(err, -EINVAL, "%s: \"%s\" is not yes or no", where, v);
		return 0;
	case K_AUTO:
		if (!strcmp(v, "auto")) {
			*(int *)(void *)((char *)c + s->off) = DPCONF_AUTO;
			return 0;
		}
		if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
			*(int *)(void *)((char *)c + s->off) = 1;
		else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
			*(int *)(void *)((char *)c + s->off) = 0;
		else
			return seed_err_set(err, -EINVAL, "%s: \"%.40s\" is not yes, no or auto",
					    where, v);
		return 0;
	case K_SEEDING: {
		uint8_t p;
		if (tenant_seeding_parse(v, strlen(v), &p) < 0 || p == TENANT_SEEDING_DEFAULT)
			return seed_err_set(err, -EINVAL,
					    "%s: \"%.40s\" is not plain, super or rarest", where,
					    v);
		*(unsigned *)(void *)((char *)c + s->off) = p;
		return 0;
	}
	case K_BACKEND:
		if (strcmp(v, "uring") && strcmp(v, "dpdk"))
			return seed_err_set(err, -EINVAL, "%s: \"%.40s\" is not uring or dpdk",
					    where, v);
		snprintf(c->backend, sizeof(c->backend), "%s", v);
		return 0;
	case K_TEXT:
		if (strlen(v) >= sizeof(c->dpdk_args))
			return seed_err_set(err, -EINVAL, "%s: longer than %zu bytes", where,
					    sizeof(c->dpdk_args) - 1);
		snprintf(c->dpdk_args, sizeof(c->dpdk_args), "%s", v);
		return 0;
	case K_IPNET:
	case K_IPV4: {
		char host[64];
		const char *slash = s->kind == K_IPNET ? strchr(v, '/') : NULL;
		size_t hl = slash ? (size_t)(slash - v) : strlen(v);
		struct in_addr a;
		if (hl >= sizeof(host))
			return seed_err_set(err, -EINVAL, "%s: \"%.40s\" is too long", where, v);
		memcpy(host, v, hl);
		host[hl] = 0;
		if (inet_pton(AF_INET, host, &a) != 1 || !a.s_addr)
			return seed_err_set(err, -EINVAL,
					    "%s: \"%s\" is not an IPv4 address%s (IPv6 on the dpdk "
					    "backend comes later)",
					    where, v, s->kind == K_IPNET ? " with /PREFIX" : "");
		if (s->kind == K_IPV4) {
			c->gateway = ntohl(a.s_addr);
			return 0;
		}
		errno = 0;
		unsigned long pfx = slash ? strtoul(slash + 1, &end, 10) : 0;
		if (!slash || !isdigit((unsigned char)slash[1]) || *end || errno || pfx < 1 ||
		    pfx > 32)
			return seed_err_set(err, -EINVAL,
					    "%s: \"%s\" needs a prefix length /1 to /32 (e.g. "
					    "192.0.2.10/24)",
					    where, v);
		c->ip = ntohl(a.s_addr);
		c->prefix = (unsigned)pfx;
		return 0;
	}
	case K_CIDRS: {
		/* the whole list at once: a later setting replaces an earlier one */
		struct cidr_set set;
		cidr_set_init(&set);
		if (strcmp(v, "none")) {
			const char *p = v;
			while (*p) {
				size_t l = strcspn(p, ", \t");
				char one[CIDR_INPUT_MAX + 1];
				if (l > CIDR_INPUT_MAX)
					return seed_err_set(err, -EINVAL,
							    "%s: \"%.40s...\" is not a CIDR prefix",
							    where, p);
				memcpy(one, p, l);
				one[l] = 0;
				if (l && cidr_set_add_str(&set, one, err) < 0) {
					seed_err_prefix(err, "%s: ", where);
					return -EINVAL;
				}
				p += l;
				p += strspn(p, ", \t");
			}
			if (!set.n)
				return seed_err_set(err, -EINVAL,
						    "%s: empty list (write none for no entries)",
						    where);
		}
		memcpy((char *)c + s->off, &set, sizeof(set));
		return 0;
	}
	case K_CONFIG:
		if (depth > 0)
			return seed_err_set(err, -EINVAL, "%s: config files do not nest", where);
		return dpconf_load_file(c, v, err);
	}
	return -EINVAL;
}

static const struct setting *find(const char *name, size_t len)
{
	for (size_t i = 0; i < N_TABLE; i++)
		if (strlen(table[i].name) == len && !memcmp(table[i].name, name, len))
			return &table[i];
	return NULL;
}

int dpconf_load_file(struct dpconf *c, const char *path, struct seed_err *err)
{
	uint8_t *buf;
	size_t len;
	int rc = fsu_read_file(path, 1u << 20, &buf, &len, err);
	if (rc < 0)
		return rc;
	unsigned lineno = 0;
	char *text = (char *)buf;
	if (memchr(buf, 0, len)) {
		free(buf);
		return seed_err_set(err, -EINVAL, "%s: contains a NUL byte", path);
	}
	for (char *line = text, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		lineno++;
		char where[4200];
		char *h = strchr(line, '#');
		if (h)
			*h = 0;
		char *eq = strchr(line, '=');
		char *k = line, *ke, *v;
		while (isspace((unsigned char)*k))
			k++;
		if (!*k)
			continue;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (!eq) {
			free(buf);
			return seed_err_set(err, -EINVAL, "%s: expected \"name = value\"", where);
		}
		ke = eq;
		while (ke > k && isspace((unsigned char)ke[-1]))
			ke--;
		v = eq + 1;
		while (isspace((unsigned char)*v))
			v++;
		char *ve = v + strlen(v);
		while (ve > v && isspace((unsigned char)ve[-1]))
			*--ve = 0;
		const struct setting *s = find(k, (size_t)(ke - k));
		if (!s) {
			free(buf);
			return seed_err_set(err, -EINVAL, "%s: unknown setting \"%.*s\"", where,
					    (int)(ke - k), k);
		}
		rc = apply(c, s, v, where, 1, err);
		if (rc < 0) {
			free(buf);
			return rc;
		}
	}
	free(buf);
	return 0;
}

int dpconf_parse_args(struct dpconf *c, int argc, char **argv, FILE *out, struct seed_err *err)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			dpconf_usage(out);
			return 1;
		}
		if (!strcmp(a, "--version")) {
			fprintf(out, "seed-dataplane %s\n", SEED_VERSION);
			return 1;
		}
		if (strncmp(a, "--", 2))
			return seed_err_set(err, -EINVAL, "unexpected argument \"%s\"", a);
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t nl = eq ? (size_t)(eq - name) : strlen(name);
		const struct setting *s = find(name, nl);
		if (!s)
			return seed_err_set(err, -EINVAL, "unknown option \"--%.*s\" (see --help)",
					    (int)nl, name);
		const char *v = eq ? eq + 1 : NULL;
		if (!v) {
			if (i + 1 >= argc)
				return seed_err_set(err, -EINVAL, "option --%s needs a value",
						    s->name);
			v = argv[++i];
		}
		char where[64];
		snprintf(where, sizeof(where), "--%s", s->name);
		int rc = apply(c, s, v, where, 0, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int dpconf_check(const struct dpconf *c, struct seed_err *err)
{
	if (!c->store[0])
		return seed_err_set(err, -EINVAL, "--store DIR is required");
	if (!c->n_bt && !c->n_http)
		return seed_err_set(err, -EINVAL,
				    "nothing to listen on: give --bt-listen and/or --http-listen");
	/* two listeners on one port: the second could never bind (and on the
	 * dpdk backend, which owns the address, it would steal the first's
	 * connections) */
	const struct dpconf_addr *all[2 * DPCONF_MAX_LISTEN];
	const char *flag[2 * DPCONF_MAX_LISTEN];
	unsigned n = 0;
	for (unsigned i = 0; i < c->n_bt; i++, n++)
		all[n] = &c->bt[i], flag[n] = "--bt-listen";
	for (unsigned i = 0; i < c->n_http; i++, n++)
		all[n] = &c->http[i], flag[n] = "--http-listen";
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = i + 1; j < n; j++)
			if (dpconf_addr_overlaps(all[i], all[j]))
				return seed_err_set(err, -EADDRINUSE,
						    "%s %s: the address is in use by %s %s",
						    flag[j], all[j]->text, flag[i], all[i]->text);
	if (!strcmp(c->backend, "dpdk")) {
		if (!c->ip)
			return seed_err_set(err, -EINVAL,
					    "--backend dpdk needs --ip ADDR/PREFIX: the port's "
					    "address (the kernel does not own it)");
		if (c->gateway && c->prefix < 32 && ((c->gateway ^ c->ip) >> (32 - c->prefix)) != 0)
			return seed_err_set(err, -EINVAL, "--gateway is not on the subnet of --ip");
	} else if (c->ip || c->gateway || c->dpdk_args[0]) {
		return seed_err_set(err, -EINVAL,
				    "--ip, --gateway and --dpdk-args apply to --backend dpdk only");
	}
	return 0;
}
