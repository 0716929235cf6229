/* progress: see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double progress_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *progress_size(uint64_t n, char *buf, unsigned len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
	return buf;
}

void progress_init(struct progress *p, const char *label, uint64_t total)
{
	p->enabled = isatty(STDERR_FILENO);
	p->total = total;
	p->t0 = progress_now();
	p->label = label;
}

void progress_update(void *arg, uint64_t done, uint64_t total_hint)
{
	struct progress *p = arg;
	char a[32], b[32], bar[31];
	(void)total_hint;
	if (!p->enabled || !p->total)
		return;
	double el = progress_now() - p->t0;
	double frac = (double)done / (double)p->total;
	if (frac > 1)
		frac = 1;
	double rate = el > 0 ? (double)done / el : 0;
	int filled = (int)(frac * 30);
	for (int i = 0; i < 30; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[30] = 0;
	long eta = rate > 0
			   ? (long)((double)(p->total - (done < p->total ? done : p->total)) / rate)
			   : 0;
	fprintf(stderr, "\r%s [%s] %3.0f%%  %s / %s  %.0f MB/s  ETA %ld:%02ld ", p->label, bar,
		frac * 100, progress_size(done, a, sizeof(a)),
		progress_size(p->total, b, sizeof(b)), rate / 1e6, eta / 60, eta % 60);
	fflush(stderr);
}

void progress_done(struct progress *p)
{
	if (p->enabled)
		fprintf(stderr, "\r\033[K");
}
