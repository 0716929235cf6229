/*
 * readahead: see readahead.h. Groups live in one array allocated at
 * create; free ones are on a stack. A group's iovecs stay in place from
 * ra_submit to ra_complete, as the kernel may read them after submission.
 */
#include "readahead.h"

#include <errno.h>
#include <stdlib.h>

struct group {
	uint64_t off;
	uint32_t n;
	uint8_t used, submitted;
	uint64_t ahead; /* bytes counted against the budget */
	uint32_t slot[RA_MAX_BLOCKS];
	uint32_t blen[RA_MAX_BLOCKS];
	struct iovec iov[RA_MAX_BLOCKS];
};

struct ra {
	struct group *g;
	uint32_t cap;
	uint32_t *free;
	uint32_t n_free;
	uint64_t budget, inflight;
	struct ra_counters ctr;
};

int ra_create(uint32_t groups, uint64_t budget, struct ra **out, struct seed_err *err)
{
	*out = NULL;
	if (groups == 0 || groups > (1u << 16))
		return seed_err_set(err, -EINVAL, "read-ahead: %u groups (1 to 65536)", groups);
	struct ra *ra = calloc(1, sizeof(*ra));
	if (ra) {
		ra->g = calloc(groups, sizeof(*ra->g));
		ra->free = calloc(groups, sizeof(*ra->free));
	}
	if (!ra || !ra->g || !ra->free) {
		ra_destroy(ra);
		return seed_err_set(err, -ENOMEM, "read-ahead: out of memory for %u groups",
				    groups);
	}
	ra->cap = groups;
	ra->budget = budget;
	for (uint32_t i = 0; i < groups; i++)
		ra->free[ra->n_free++] = groups - 1 - i;
	*out = ra;
	return 0;
}

void ra_destroy(struct ra *ra)
{
	if (!ra)
		return;
	free(ra->g);
	free(ra->free);
	free(ra);
}

uint32_t ra_window(struct ra *ra, uint64_t obj_len, uint32_t first, uint32_t want_end,
		   uint32_t queued)
{
	uint64_t blocks = obj_len / RA_BLOCK + (obj_len % RA_BLOCK != 0);
	if (first >= blocks)
		return 0;
	uint64_t end = blocks;
	if (want_end < end)
		end = want_end;
	uint64_t ahead = queued > RA_MIN_AHEAD ? queued : RA_MIN_AHEAD;
	if ((uint64_t)first + 1 + ahead < end)
		end = (uint64_t)first + 1 + ahead;
	if ((uint64_t)first + RA_MAX_BLOCKS < end)
		end = (uint64_t)first + RA_MAX_BLOCKS;
	if (end <= first + 1u)
		return 1;
	uint64_t left = ra->budget > ra->inflight ? ra->budget - ra->inflight : 0;
	uint64_t fits = left / RA_BLOCK; /* blocks after the first */
	if (end - first - 1 > fits) {
		ra->ctr.budget_waits++;
		end = first + 1 + fits;
	}
	return (uint32_t)(end - first);
}

int32_t ra_begin(struct ra *ra, uint64_t off)
{
	if (!ra->n_free)
		return -1;
	uint32_t i = ra->free[--ra->n_free];
	struct group *g = &ra->g[i];
	g->off = off;
	g->n = 0;
	g->used = 1;
	g->submitted = 0;
	g->ahead = 0;
	return (int32_t)i;
}

static struct group *group(const struct ra *ra, int32_t g)
{
	if (g < 0 || (uint32_t)g >= ra->cap || !ra->g[g].used)
		return NULL;
	return &ra->g[g];
}

void ra_add(struct ra *ra, int32_t gi, uint32_t slot, void *buf, uint32_t blen, uint32_t rlen)
{
	struct group *g = group(ra, gi);
	if (!g || g->submitted || g->n >= RA_MAX_BLOCKS)
		return;
	g->slot[g->n] = slot;
	g->blen[g->n] = blen;
	g->iov[g->n].iov_base = buf;
	g->iov[g->n].iov_len = rlen;
	g->n++;
}

uint32_t ra_count(const struct ra *ra, int32_t gi)
{
	const struct group *g = group(ra, gi);
	return g ? g->n : 0;
}

uint32_t ra_slot(const struct ra *ra, int32_t gi, uint32_t i)
{
	const struct group *g = group(ra, gi);
	return g && i < g->n ? g->slot[i] : UINT32_MAX;
}

void ra_submit(struct ra *ra, int32_t gi, const struct iovec **iov, uint32_t *n, uint64_t *off,
	       uint64_t *len)
{
	struct group *g = group(ra, gi);
	*iov = NULL;
	*n = 0;
	*off = 0;
	*len = 0;
	if (!g)
		return;
	uint64_t total = 0;
	for (uint32_t i = 0; i < g->n; i++)
		total += g->iov[i].iov_len;
	g->submitted = 1;
	g->ahead = g->n > 1 ? total - g->iov[0].iov_len : 0;
	ra->inflight += g->ahead;
	*iov = g->iov;
	*n = g->n;
	*off = g->off;
	*len = total;
}

static void release(struct ra *ra, int32_t gi)
{
	struct group *g = &ra->g[gi];
	ra->inflight -= g->ahead;
	g->used = 0;
	g->submitted = 0;
	g->ahead = 0;
	ra->free[ra->n_free++] = (uint32_t)gi;
}

void ra_abort(struct ra *ra, int32_t gi)
{
	if (group(ra, gi))
		release(ra, gi);
}

uint32_t ra_complete(struct ra *ra, int32_t gi, int32_t res, struct ra_block *out)
{
	struct group *g = group(ra, gi);
	if (!g || !g->submitted)
		return 0;
	/* A block counts only when every byte before it came back too: a
	 * short read says nothing about where it stopped and why. */
	uint64_t have = res > 0 ? (uint64_t)res : 0, at = 0;
	uint32_t whole = 0;
	for (uint32_t i = 0; i < g->n; i++) {
		at += g->iov[i].iov_len;
		int ok = at <= have;
		out[i].slot = g->slot[i];
		out[i].got = ok ? (int64_t)g->blen[i] : RA_REREAD;
		whole += ok;
	}
	if (g->n > 1) {
		ra->ctr.reads++;
		ra->ctr.blocks += g->n - 1;
		if (whole < g->n)
			ra->ctr.splits++;
	}
	uint32_t n = g->n;
	release(ra, gi);
	return n;
}

const struct ra_counters *ra_counters(const struct ra *ra)
{
	return &ra->ctr;
}

uint64_t ra_inflight(const struct ra *ra)
{
	return ra->inflight;
}
