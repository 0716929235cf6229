/*
 * ofd: see ofd.h. A slot is in one of three places: the free stack (no
 * descriptor), the idle list (a descriptor, no read in flight; least
 * recently used at its head) or held (reads in flight, in no list, so a
 * victim is found in O(1) and never among them). Objects are found through
 * an open-addressed map deleted from by backward shift (no tombstones to
 * fill it up over a long run).
 */
#include "ofd.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

enum { S_FREE, S_IDLE, S_HELD };

struct oslot {
	uint32_t object;
	int fd;
	uint32_t holds;
	uint32_t prev, next; /* idle list; cap = the list's head */
	uint8_t where;
};

struct ofd {
	uint32_t cap;
	struct oslot *s; /* cap + 1: the last is the idle list's sentinel */
	uint32_t *free;	 /* stack of empty slots */
	uint32_t n_free;
	uint32_t *map; /* slot + 1, 0 = empty */
	uint32_t mask;
	struct ofd_counters ctr;
};

static uint32_t home(const struct ofd *t, uint32_t object)
{
	return (uint32_t)(((uint64_t)object * 0x9e3779b97f4a7c15ull) >> 32) & t->mask;
}

static void unlink_idle(struct ofd *t, uint32_t i)
{
	t->s[t->s[i].prev].next = t->s[i].next;
	t->s[t->s[i].next].prev = t->s[i].prev;
}

static void append_idle(struct ofd *t, uint32_t i)
{
	uint32_t h = t->cap;
	t->s[i].prev = t->s[h].prev;
	t->s[i].next = h;
	t->s[t->s[h].prev].next = i;
	t->s[h].prev = i;
	t->s[i].where = S_IDLE;
}

static void map_del(struct ofd *t, uint32_t object)
{
	uint32_t i = home(t, object);
	while (t->map[i] && t->s[t->map[i] - 1].object != object)
		i = (i + 1) & t->mask;
	if (!t->map[i])
		return;
	/* backward shift: pull later entries of the run into the hole when
	 * their home lies at or before it */
	for (uint32_t j = (i + 1) & t->mask; t->map[j]; j = (j + 1) & t->mask) {
		uint32_t h = home(t, t->s[t->map[j] - 1].object);
		if (((j - h) & t->mask) >= ((j - i) & t->mask)) {
			t->map[i] = t->map[j];
			i = j;
		}
	}
	t->map[i] = 0;
}

int ofd_create(uint32_t cap, struct ofd **out, struct seed_err *err)
{
	if (!cap || cap > (1u << 28))
		return seed_err_set(err, -EINVAL, "object descriptor table: %u slots (1 .. 2^28)",
				    cap);
	uint32_t msize = 4;
	while (msize < 2 * cap)
		msize <<= 1;
	/* one block: the table, its slots (+ the idle list's sentinel), the
	 * free stack, the map */
	struct ofd *t = calloc(1, sizeof(*t) + ((size_t)cap + 1) * sizeof(struct oslot) +
					  ((size_t)cap + msize) * sizeof(uint32_t));
	if (!t)
		return seed_err_set(err, -ENOMEM, "object descriptor table: out of memory");
	t->s = (struct oslot *)(t + 1);
	t->free = (uint32_t *)(t->s + cap + 1);
	t->map = t->free + cap;
	t->cap = cap;
	t->mask = msize - 1;
	t->s[cap].prev = t->s[cap].next = cap;
	/* slot 0 on top: the first objects get the lowest slots */
	for (uint32_t i = 0; i < cap; i++) {
		t->s[i].fd = -1;
		t->free[i] = cap - 1 - i;
	}
	t->n_free = cap;
	*out = t;
	return 0;
}

void ofd_destroy(struct ofd *t)
{
	free(t);
}

uint32_t ofd_capacity(const struct ofd *t)
{
	return t->cap;
}

int32_t ofd_find(struct ofd *t, uint32_t object)
{
	for (uint32_t i = home(t, object); t->map[i]; i = (i + 1) & t->mask) {
		uint32_t k = t->map[i] - 1;
		if (t->s[k].object != object)
			continue;
		if (t->s[k].where == S_IDLE) {
			unlink_idle(t, k);
			append_idle(t, k);
		}
		return (int32_t)k;
	}
	return -1;
}

int32_t ofd_victim(struct ofd *t)
{
	if (t->n_free)
		return (int32_t)t->free[t->n_free - 1];
	uint32_t h = t->s[t->cap].next;
	if (h != t->cap)
		return (int32_t)h;
	t->ctr.busy++;
	return -1;
}

int ofd_install(struct ofd *t, int32_t slot, uint32_t object, int fd)
{
	uint32_t k = (uint32_t)slot;
	struct oslot *o = &t->s[k];
	int old = -1;
	if (o->where == S_FREE) {
		assert(t->n_free && t->free[t->n_free - 1] == k);
		t->n_free--;
		t->ctr.open++;
	} else {
		assert(o->where == S_IDLE && !o->holds);
		map_del(t, o->object);
		unlink_idle(t, k);
		old = o->fd;
		t->ctr.closes++;
	}
	o->object = object;
	o->fd = fd;
	uint32_t i = home(t, object);
	while (t->map[i])
		i = (i + 1) & t->mask;
	t->map[i] = k + 1;
	append_idle(t, k);
	t->ctr.opens++;
	return old;
}

int ofd_drop_idle(struct ofd *t, int32_t *out_slot)
{
	uint32_t k = t->s[t->cap].next;
	if (k == t->cap)
		return -1;
	struct oslot *o = &t->s[k];
	int fd = o->fd;
	map_del(t, o->object);
	unlink_idle(t, k);
	o->fd = -1;
	o->where = S_FREE;
	t->free[t->n_free++] = k;
	t->ctr.open--;
	t->ctr.closes++;
	if (out_slot)
		*out_slot = (int32_t)k;
	return fd;
}

int ofd_fd(const struct ofd *t, int32_t slot)
{
	return slot >= 0 && (uint32_t)slot < t->cap ? t->s[slot].fd : -1;
}

void ofd_hold(struct ofd *t, int32_t slot)
{
	struct oslot *o = &t->s[slot];
	assert(o->where != S_FREE);
	if (!o->holds++) {
		unlink_idle(t, (uint32_t)slot);
		o->where = S_HELD;
		t->ctr.in_flight++;
	}
}

void ofd_release(struct ofd *t, int32_t slot)
{
	struct oslot *o = &t->s[slot];
	assert(o->where == S_HELD && o->holds);
	if (!--o->holds) {
		append_idle(t, (uint32_t)slot);
		t->ctr.in_flight--;
	}
}

const struct ofd_counters *ofd_counters(const struct ofd *t)
{
	return &t->ctr;
}
