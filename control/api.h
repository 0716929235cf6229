/*
 * api: the routes of seed-control's HTTP API (docs/api.md) over the node
 * model, the data plane's counters and the tracker client. One handler call
 * answers one request on an httpd connection. JSON in and out through
 * jansson; every error answer names what was wrong.
 *
 * Nothing secret leaves through here: tracker URLs and tracker messages
 * go out through redact (lib/redact.h), and a tenant sent back with a
 * redacted URL keeps the URL it had.
 *
 * api_sample() is called about once a second by the loop: it sums the data
 * plane's counters and keeps the sums of the last API_RATE_WINDOW samples;
 * rates are taken over that window, from the oldest sum to the newest. One
 * second is too short: a client that reads its socket in bursts (curl
 * --limit-rate, a launcher throttling its disk) makes the kernel take a
 * sender's bytes in bursts a second or more apart, and a one-second rate
 * would show such a download at 0 B/s every other second.
 */
#ifndef SEED_CTL_API_H
#define SEED_CTL_API_H

#include <stdbool.h>
#include <stdint.h>

#include "dpstats.h"
#include "httpd.h"
#include "metrics.h"
#include "node.h"

struct tracker;
struct keeper;

/* Samples, about a second apart, over which rates are measured. */
#define API_RATE_WINDOW 6

/* Things the API asks the loop to do, and what it reports back. */
struct api_hooks {
	void *ctx;
	/* re-read the config; 0 or -errno with err filled */
	int (*reload)(void *ctx, struct seed_err *err);
	/* stop accepting, finish in flight, announce stopped */
	int (*drain)(void *ctx, struct seed_err *err);
};

struct api {
	struct node *node;
	struct api_hooks hooks;
	struct tracker *tracker; /* may be NULL */
	struct keeper *keeper;	 /* may be NULL */
	char stats_path[4200];
	struct dpstats *dp; /* mapped counters, NULL when absent */
	int32_t dp_pid;
	uint64_t dp_start;
	/* the last sums, a ring: cur is the newest, prev the oldest (cur
	 * itself, with prev_ms 0, until there are two) */
	struct dpstats_worker *ring[API_RATE_WINDOW];
	uint64_t ring_ms[API_RATE_WINDOW];
	unsigned ring_head, ring_n;
	struct dpstats_worker *cur, *prev;
	uint64_t cur_ms, prev_ms;
	int64_t started;
	bool draining;
	const unsigned char *page; /* the status page (embedded) */
	size_t page_len;
};

int api_init(struct api *a, struct node *node, const char *stats_path, int64_t now);
void api_fini(struct api *a);

/* Maps (or re-maps, after a data plane restart) the counters and samples. */
void api_sample(struct api *a, uint64_t now_ms);

/*
 * What a connection may do: the TCP status listener and read-only API
 * callers may read (GET, HEAD), admins anything, a caller with no role
 * nothing. A refused request gets 403 with refusal (one line naming what
 * is missing, e.g. the group a change needs).
 */
struct api_caller {
	bool may_read, may_write;
	const char *refusal; /* borrowed, valid during api_handle() */
};

/* Answers req on c for who. Returns what httpd_respond returned. */
int api_handle(struct api *a, struct httpd_conn *c, const struct httpd_request *req,
	       const struct api_caller *who, int64_t now);

/* Fills the announce totals for metrics (from the tracker client). */
void api_announce_totals(const struct api *a, uint64_t out[METRICS_NANNOUNCE]);

#endif
