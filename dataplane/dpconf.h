/*
 * dpconf: seed-dataplane's settings, from the command line and an optional
 * config file of `name = value` lines using the same names as the flags.
 * One table (dpconf.c) defines every setting: name, type, bounds, default,
 * help; --help and docs/dataplane.md come from it. The command line wins
 * over the file. Every error names the flag or file:line and the value.
 */
#ifndef SEED_DPCONF_H
#define SEED_DPCONF_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "cidr.h"
#include "seed_err.h"

#define DPCONF_MAX_LISTEN 8

struct dpconf_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[80]; /* as given, for messages */
};

#define DPCONF_AUTO 2

struct dpconf {
	char store[4096];
	char stats_file[4096]; /* "": counters in private memory */
	char catalog[4096];    /* "": serve every release in the store */
	char user[33];	       /* started as root: who to become (privs.h) */
	int allow_root;	       /* started as root: stay root */
	char drain_file[4096]; /* "": drained by signals only */
	struct dpconf_addr bt[DPCONF_MAX_LISTEN], http[DPCONF_MAX_LISTEN];
	unsigned n_bt, n_http;
	unsigned workers;      /* 0 = one per online CPU */
	uint64_t cache_size;   /* bytes, all workers together */
	uint64_t readahead;    /* per worker: bytes read ahead in flight (readahead.h) */
	uint64_t info_cache;   /* bytes of info dicts kept (served_set_info_budget) */
	unsigned object_fds;   /* open object files, all workers; 0 = auto (main) */
	unsigned upload_slots; /* per worker */
	unsigned max_conns;    /* per worker */
	unsigned utp_conns;    /* per worker, of max_conns; 0: no uTP */
	unsigned max_requests; /* outstanding peer-wire requests per peer */
	unsigned handshake_timeout_ms, idle_timeout_ms;
	unsigned quarantine_ms; /* a block beyond repair is refused unread this long */
	int hugepages;
	/* IOPOLL storage rings: 0, 1 or DPCONF_AUTO (main resolves it: the
	 * store's device has poll queues) */
	int storage_poll;
	unsigned mse; /* MSE handshakes: 0 refused, 1 plaintext only, 2 RC4 too */
	/* seeding policy for tenants without their own (enum swarm_policy:
	 * 1 plain, 2 super, 3 rarest) and its settings (docs/swarm.md) */
	unsigned seeding;
	unsigned swarm_window_kib, swarm_small, swarm_starve_ms, swarm_boot_pct, swarm_floor_kib;
	int zerocopy;
	char log_level[256]; /* "": SEED_LOG_LEVEL or info (lib/log.h's spec) */
	/* the network backend (netio.h) and, for dpdk, the port's settings */
	char backend[16];     /* "uring" (default) or "dpdk" */
	char dpdk_args[1024]; /* EAL arguments */
	unsigned dpdk_port;
	uint32_t ip;	 /* --ip ADDR/PREFIX, host order; 0: not given */
	unsigned prefix; /* 1..32 */
	uint32_t gateway;
	unsigned mtu;
	unsigned dpdk_idle_sleep_us;
	/* per-source limits at accept (admit.h; 0: off) */
	unsigned addr_conns, prefix_conns;
	unsigned addr_rate, addr_burst; /* new connections per second per address */
	unsigned mse_rate, mse_burst;	/* MSE handshakes per second per address */
	struct cidr_set deny;		/* refused at accept */
	struct cidr_set limit_exempt;	/* no per-source limits (default loopback) */
};

/* Fills defaults. */
void dpconf_defaults(struct dpconf *c);

/*
 * Parses argv (argv[0] is the program). Returns 0 to run, 1 when --help or
 * --version was handled (printed to out), or -EINVAL with err naming the
 * flag and value. A --config FILE is read where it appears; flags after it
 * override the file.
 */
int dpconf_parse_args(struct dpconf *c, int argc, char **argv, FILE *out, struct seed_err *err);

/* Reads a config file of `name = value` lines (# comments). */
int dpconf_load_file(struct dpconf *c, const char *path, struct seed_err *err);

/* Checks the whole (e.g. a store and at least one listener). */
int dpconf_check(const struct dpconf *c, struct seed_err *err);

/* 1 when two listeners cannot both bind: the same non-zero port and
 * family, and the same address or either a wildcard. */
int dpconf_addr_overlaps(const struct dpconf_addr *a, const struct dpconf_addr *b);

/* Parses "ADDR:PORT", "[V6]:PORT" or "*:PORT". */
int dpconf_parse_addr(const char *s, struct dpconf_addr *out, struct seed_err *err);

void dpconf_usage(FILE *out);

#endif
