/*
 * seedconf: the node and tenants config file (/etc/seed/seed.conf), read
 * with libconfig so every setting has a line number.
 *
 *   node = {
 *     name = "seed-01";                      # required: [A-Za-z0-9._-]{1,63}
 *     store = "/var/lib/seed/store";         # required: absolute path
 *     run_dir = "/run/seed";                 # catalog generations, counters
 *     api_socket = "/run/seed/control.sock"; # seedctl's Unix socket (<= 107 bytes)
 *     status_listen = "127.0.0.1:9180";      # ADDR:PORT, [V6]:PORT, *:PORT, "" = off
 *     status_hosts = [ "seed-01.example" ];  # Host: names answered; [] = listen addr, localhost
 *     status_max_conns = 256;                # TCP connections at once, 1..4096
 *     api_max_conns = 64;                    # API socket connections at once, 1..4096
 *     admin_group = "seed";                  # may change things over the API socket
 *     readonly_group = "seed-ro";            # may read over the API socket
 *     announce_port = 6881;                  # announced to trackers, 1..65535
 *     announce_ip = "";                      # "" = trackers see the source address
 *     scrub_interval = "7d";                 # background scrub of the store; "0" none
 *     scrub_rate = "8MB/s";                  # its read rate
 *     reclaim_retired = "7d";                # retired releases removed after; "0" never
 *   };
 *   tenants = (
 *     { id = "acme";                         # required: [a-z0-9-]{1,32}, unique
 *       name = "Acme Games";                 # default: the id
 *       bandwidth = "20MB/s";                # default "unlimited" (see parse_rate)
 *       max_peers = 500;                     # default 0 = unlimited, <= 1000000
 *       allow = [ "10.0.0.0/8", "::/0" ];    # default [] = every peer (cidr_parse)
 *       trackers = [ "udp://t.example:6969/announce" ];  # http:// or udp://, <= 32
 *       embargo = "48h";                     # default "0" = none (see parse_duration)
 *     }
 *   );
 *
 * The options table in seedconf.c is the single description of every
 * setting (type, default, bounds, whether a reload applies it, help);
 * seedconf_option_at() exposes it for --help and the docs.
 *
 * Rules the parser enforces, so a typo is never silently ignored:
 *  - Unknown keys anywhere are errors (with a "did you mean" hint).
 *  - Types are strict: announce_port = "6881" is an error, as is 500.0.
 *  - Integers beyond 32 bits must carry libconfig's L suffix: libconfig
 *    1.5 silently wraps an unsuffixed 5000000000 to 705032704, so the
 *    parser scans the text for such literals and refuses them.
 *  - @include is refused: the whole config is one file, so every message
 *    names that file.
 *  - Invalid config is refused whole: on any error *out is NULL and
 *    nothing is leaked; the caller keeps running with its old config.
 *
 * Error messages are one line, "FILE:LINE: KEY.PATH: what is wrong", with
 * libconfig's path syntax for list elements (0-based):
 *   /etc/seed/seed.conf:14: tenants.[1].bandwidth: "20 MB/s" is not a
 *   rate (use e.g. 20MB/s, 160Mbit/s or a number of bytes per second)
 * Only a missing top-level `node` has no line to name ("FILE: node: ...").
 * libconfig 1.5 numbers an unnamed array or list element by the token that
 * follows it, so an element last on its line (closing bracket on the next)
 * is reported one line late; the message quotes the value to find it by.
 *
 * Call order: seedconf_load_file() or seedconf_load_string(), read the
 * result (immutable, may be shared read-only between threads),
 * seedconf_free(). A reload loads a new struct seedconf beside the old one
 * and swaps only on success.
 */
#ifndef SEED_SEEDCONF_H
#define SEED_SEEDCONF_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "seed_err.h"
#include "tenant.h"

#define SEEDCONF_FILE_MAX	 (16u << 20) /* bytes in a config file */
#define SEEDCONF_NODE_NAME_MAX	 63
#define SEEDCONF_PATH_MAX	 4095 /* bytes in a path, NUL excluded */
#define SEEDCONF_SOCKET_PATH_MAX 107  /* sizeof(sun_path) - 1 */
#define SEEDCONF_LISTEN_MAX	 63
#define SEEDCONF_MAX_TENANTS	 1024
#define SEEDCONF_MAX_HOSTS	 16   /* status_hosts entries */
#define SEEDCONF_HOST_MAX	 263  /* a 253-byte name, ':' and a port, or [IPv6]:PORT */
#define SEEDCONF_GROUP_MAX	 32   /* a group name, as useradd/groupadd allow */
#define SEEDCONF_MAX_CONNS	 4096 /* api_max_conns, status_max_conns */
/* Ten years (365-day years): longer is a typo, not an embargo. */
#define SEEDCONF_DURATION_MAX (3650ll * 86400)

struct seedconf_node {
	char name[SEEDCONF_NODE_NAME_MAX + 1];
	char store[SEEDCONF_PATH_MAX + 1];
	char run_dir[SEEDCONF_PATH_MAX + 1];
	char api_socket[SEEDCONF_SOCKET_PATH_MAX + 1];
	/* status_listen as written ("" = disabled) and parsed (len 0 when
	 * disabled; "*" is 0.0.0.0). */
	char status_listen[SEEDCONF_LISTEN_MAX + 1];
	struct sockaddr_storage status_addr;
	socklen_t status_addr_len;
	/* Host: names the status listener answers, as written (lowercased);
	 * n_status_hosts 0: the default (see the options table), which the
	 * listener derives from status_listen. */
	char status_hosts[SEEDCONF_MAX_HOSTS][SEEDCONF_HOST_MAX + 1];
	unsigned n_status_hosts;
	uint32_t status_max_conns, api_max_conns;
	/* API socket roles by group name; "" = the role has no group. */
	char admin_group[SEEDCONF_GROUP_MAX + 1];
	char readonly_group[SEEDCONF_GROUP_MAX + 1];
	uint16_t announce_port;
	/* announce_ip as written ("" = none) and parsed: family 0 when none,
	 * else AF_INET (addr[0..3]) or AF_INET6 (addr[0..15]). */
	char announce_ip[INET6_ADDRSTRLEN];
	int announce_family;
	uint8_t announce_addr[16];
	/* The store keeper (control/keeper.h): background scrub every
	 * scrub_interval_s (0: none) at scrub_rate bytes a second (0: as fast
	 * as it goes); retired releases removed reclaim_retired_s after their
	 * retirement (0: never). */
	int64_t scrub_interval_s;
	uint64_t scrub_rate;
	int64_t reclaim_retired_s;
};

struct seedconf {
	char source[SEEDCONF_PATH_MAX + 1]; /* file name used in messages */
	struct seedconf_node node;
	struct tenant *tenants; /* in file order; line set, from_api false */
	size_t n_tenants;	/* 0..SEEDCONF_MAX_TENANTS */
};

/*
 * Reads and checks a config file (at most SEEDCONF_FILE_MAX bytes). On
 * success *out is a new config the caller frees with seedconf_free(); on
 * failure *out is NULL and err holds one line (-errno from reading, or
 * -EINVAL for the content).
 */
int seedconf_load_file(const char *path, struct seedconf **out, struct seed_err *err);

/* As seedconf_load_file() for text in memory; name_for_errors (NULL:
 * "<string>") stands for the file name in messages. Borrows text. */
int seedconf_load_string(const char *text, const char *name_for_errors, struct seedconf **out,
			 struct seed_err *err);

/* Frees a config and everything it owns. NULL is fine. */
void seedconf_free(struct seedconf *c);

/* The tenant with this id, or NULL. Valid until seedconf_free(c). */
const struct tenant *seedconf_tenant_find(const struct seedconf *c, const char *id);

/*
 * Parses a rate into bytes per second (0 = unlimited):
 *   "unlimited", "0"                   no cap
 *   "1250000"                          bytes per second
 *   NUMBER UNIT, no space between      NUMBER may have up to 9 decimals
 *     B/s kB/s MB/s GB/s               SI: 1000, 1000^2, 1000^3 bytes
 *     KiB/s MiB/s GiB/s                1024, 1024^2, 1024^3 bytes
 *     bit/s kbit/s Mbit/s Gbit/s       bits, SI, rounded down to bytes
 * Units are case-sensitive ("mb/s" is refused: bits or bytes?). Refuses a
 * non-zero rate under 1 byte/s (it would round to 0, i.e. unlimited) and
 * more than TENANT_RATE_MAX. The message starts with the quoted value.
 */
int seedconf_parse_rate(const char *s, uint64_t *out_bytes_per_s, struct seed_err *err);

/*
 * Parses a duration into seconds: "0" (none) or NUMBER UNIT groups with
 * units d, h, m, s, each at most once and largest first ("48h", "1d12h",
 * "90m", "30s"). A bare number other than 0 is refused (seconds? hours?).
 * At most SEEDCONF_DURATION_MAX. The message starts with the quoted value.
 */
int seedconf_parse_duration(const char *s, int64_t *out_seconds, struct seed_err *err);

/* One setting as the options table describes it, for --help and docs. */
struct seedconf_option {
	const char *group; /* "node" or "tenants" */
	const char *name;
	const char *type; /* "string", "integer", "rate", "duration", ... */
	const char *def;  /* default as an operator would write it; NULL = required */
	int reloadable;	  /* 1: a reload applies a change; 0: needs a restart */
	const char *help; /* one line */
};

/* The i-th option (0-based), NULL past the last one. */
const struct seedconf_option *seedconf_option_at(size_t i);

#endif
