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
 * plane's counters and keeps the previous sum, from which rates come.
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
	struct dpstats_worker *cur, *prev; /* latest and previous sums */
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
