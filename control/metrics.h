/*
 * metrics: the Prometheus text exposition (format 0.0.4) of the appliance:
 * the data plane's counters summed over workers (lib/dpstats), labelled by
 * tenant, release and protocol through the node model, plus seed-control's
 * own numbers (catalog generation, releases by state, announces by result).
 *
 * Every family has one HELP and one TYPE line and its samples right after,
 * label values are escaped, counters end in _total, the latency histogram's
 * buckets are cumulative and end with le="+Inf" equal to _count — what
 * `promtool check metrics` checks.
 */
#ifndef SEED_CTL_METRICS_H
#define SEED_CTL_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dpstats.h"
#include "keeper.h"
#include "node.h"
#include "scrub.h"

enum metrics_announce {
	METRICS_ANNOUNCE_OK = 0,
	METRICS_ANNOUNCE_FAILURE, /* tracker answered with a failure reason */
	METRICS_ANNOUNCE_ERROR,	  /* no answer, bad answer, network error */
	METRICS_NANNOUNCE,
};

struct metrics_input {
	const struct node *node;
	const struct dpstats *dp;	  /* NULL: data plane not running */
	const struct dpstats_worker *sum; /* dpstats_sum of dp (when dp) */
	uint64_t announces[METRICS_NANNOUNCE];
	int64_t now;
	int64_t started;		    /* seed-control's start, unix seconds */
	const struct scrub_last *scrub;	    /* the store's last scrub; NULL: never */
	const struct keeper_status *keeper; /* the store keeper; NULL: none */
	/* the store's file system (statvfs); have_fs 0 when it failed */
	int have_fs;
	uint64_t fs_size, fs_free;
};

/* Writes the whole exposition to f. Returns 0 or -errno of the stream. */
int metrics_write(FILE *f, const struct metrics_input *in);

#endif
