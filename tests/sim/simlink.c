/*
 * simlink: see simlink.h. The heap holds every frame in flight in both
 * directions; a frame's delivery time is fixed when it is sent (queueing
 * behind earlier frames, serialization, propagation, maybe a reordering
 * delay), so nothing is rescheduled later.
 */
#include "simlink.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sim_fail(int *failed, char *err, size_t cap, const char *fmt, ...)
{
	if (*failed)
		return;
	*failed = 1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(struct sim_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

double sim_rng_unit(struct sim_rng *r)
{
	return (double)(sim_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t sim_rng_below(struct sim_rng *r, uint64_t n)
{
	return (uint64_t)(sim_rng_unit(r) * (double)n) % n;
}

double sim_rng_logu(struct sim_rng *r, double lo, double hi)
{
	return exp(log(lo) + sim_rng_unit(r) * (log(hi) - log(lo)));
}

int sim_link_init(struct sim_link *l, const struct sim_dir_cfg *a2b, const struct sim_dir_cfg *b2a,
		  uint64_t seed, uint32_t buf_size)
{
	memset(l, 0, sizeof(*l));
	l->cfg[SIM_A2B] = *a2b;
	l->cfg[SIM_B2A] = *b2a;
	sim_rng_seed(&l->rng, seed);
	l->buf_size = buf_size;
	l->cap = 1024;
	l->heap = malloc(l->cap * sizeof(*l->heap));
	return l->heap ? 0 : -ENOMEM;
}

void sim_link_free(struct sim_link *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		free(l->heap[i].data);
	for (uint32_t i = 0; i < l->n_free; i++)
		free(l->free_bufs[i]);
	free(l->heap);
	free(l->free_bufs);
	memset(l, 0, sizeof(*l));
}

static int earlier(const struct sim_pkt *a, const struct sim_pkt *b)
{
	return a->at_ns < b->at_ns || (a->at_ns == b->at_ns && a->order < b->order);
}

static int heap_push(struct sim_link *l, const struct sim_pkt *p)
{
	if (l->n == l->cap) {
		struct sim_pkt *h = realloc(l->heap, 2 * l->cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		l->heap = h;
		l->cap *= 2;
	}
	uint32_t i = l->n++;
	while (i) {
		uint32_t up = (i - 1) / 2;
		if (!earlier(p, &l->heap[up]))
			break;
		l->heap[i] = l->heap[up];
		i = up;
	}
	l->heap[i] = *p;
	return 0;
}

uint64_t sim_link_next(const struct sim_link *l)
{
	return l->n ? l->heap[0].at_ns : UINT64_MAX;
}

int sim_link_pop(struct sim_link *l, struct sim_pkt *out)
{
	if (!l->n)
		return -ENOENT;
	*out = l->heap[0];
	struct sim_pkt last = l->heap[--l->n];
	uint32_t i = 0;
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= l->n)
			break;
		if (c + 1 < l->n && earlier(&l->heap[c + 1], &l->heap[c]))
			c++;
		if (!earlier(&l->heap[c], &last))
			break;
		l->heap[i] = l->heap[c];
		i = c;
	}
	if (l->n)
		l->heap[i] = last;
	l->st[out->dir].delivered++;
	return 0;
}

static uint8_t *buf_get(struct sim_link *l)
{
	if (l->n_free)
		return l->free_bufs[--l->n_free];
	return malloc(l->buf_size);
}

void sim_link_release(struct sim_link *l, uint8_t *data)
{
	if (l->n_free == l->free_cap) {
		uint32_t cap = l->free_cap ? 2 * l->free_cap : 256;
		uint8_t **f = realloc(l->free_bufs, cap * sizeof(*f));
		if (!f) {
			free(data);
			return;
		}
		l->free_bufs = f;
		l->free_cap = cap;
	}
	l->free_bufs[l->n_free++] = data;
}

/* Bytes a frame occupies on the wire: FCS, padding to 64, preamble and
 * inter-frame gap. */
static uint32_t wire_bytes(uint32_t len)
{
	uint32_t f = len + 4 < 64 ? 64 : len + 4;
	return f + 20;
}

static int deliver_at(struct sim_link *l, int dir, uint64_t at, const struct sim_piece *p, int n,
		      uint32_t len)
{
	uint8_t *b = buf_get(l);
	if (!b)
		return -ENOMEM;
	uint32_t off = 0;
	for (int i = 0; i < n; i++) {
		memcpy(b + off, p[i].p, p[i].len);
		off += (uint32_t)p[i].len;
	}
	struct sim_pkt pk = { .at_ns = at, .order = l->order++, .dir = dir, .len = len, .data = b };
	int rc = heap_push(l, &pk);
	if (rc < 0)
		free(b);
	return rc;
}

int sim_link_send(struct sim_link *l, int dir, uint64_t now_ns, const struct sim_piece *p, int n)
{
	const struct sim_dir_cfg *c = &l->cfg[dir];
	struct sim_dir_stats *st = &l->st[dir];
	uint32_t len = 0;
	for (int i = 0; i < n; i++)
		len += (uint32_t)p[i].len;
	if (len > l->buf_size)
		return -EMSGSIZE;
	st->frames++;
	st->bytes += len;
	/* the random draws happen for every frame, whatever the outcome, so
	 * one change of setting does not shift every later draw */
	double u_loss = sim_rng_unit(&l->rng), u_dup = sim_rng_unit(&l->rng);
	double u_reo = sim_rng_unit(&l->rng), u_amt = sim_rng_unit(&l->rng);
	if (u_loss < c->loss) {
		st->lost++;
		return 0;
	}
	int copies = u_dup < c->dup ? 2 : 1;
	if (copies == 2)
		st->dups++;
	for (int k = 0; k < copies; k++) {
		uint64_t start = l->busy_until[dir] > now_ns ? l->busy_until[dir] : now_ns;
		if (c->queue_bytes && c->rate_Bps) {
			uint64_t backlog = (start - now_ns) * c->rate_Bps / 1000000000ull;
			if (backlog + len > c->queue_bytes) {
				st->queue_drops++;
				continue;
			}
		}
		uint64_t done = start + sim_ser_ns(c, wire_bytes(len));
		l->busy_until[dir] = done;
		uint64_t at = done + c->delay_ns;
		if (k == 0 && u_reo < c->reorder) {
			at += 1 + (uint64_t)(u_amt * (double)c->reorder_ns);
			st->reordered++;
		}
		int rc = deliver_at(l, dir, at, p, n, len);
		if (rc < 0)
			return rc;
	}
	return 0;
}
