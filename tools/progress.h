/*
 * progress: a one-line progress bar on a terminal (bytes, rate, ETA),
 * redrawn in place on stderr; silent when stderr is not a TTY.
 */
#ifndef SEED_PROGRESS_H
#define SEED_PROGRESS_H

#include <stdint.h>

struct progress {
	int enabled;
	uint64_t total;
	double t0;
	const char *label;
};

void progress_init(struct progress *p, const char *label, uint64_t total);
/* Matches ingest_opts.progress; arg is the struct progress. */
void progress_update(void *arg, uint64_t done, uint64_t total_hint);
/* Clears the line. */
void progress_done(struct progress *p);
/* Human size: "1.5 GiB" into buf. */
const char *progress_size(uint64_t n, char *buf, unsigned len);
double progress_now(void);

#endif
