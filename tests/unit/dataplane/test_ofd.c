/*
 * test_ofd: dataplane/ofd.c — the worker's table of open object files:
 * least recently used reuse, slots with reads in flight never reused,
 * dropping an idle descriptor, and a long random run checked against a
 * naive model (a list in use order, scanned), which also exercises the
 * map's backward-shift deletion.
 */
#include "ofd.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static struct ofd *mk(uint32_t cap)
{
	struct ofd *t = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(ofd_create(cap, &t, &e), 0, "%s", e.msg);
	return t;
}

/* Opens object (fd = 100 + object) the way fetch.c does; returns its slot
 * and the descriptor it put out (-1: none) in *closed. */
static int32_t open_obj(struct ofd *t, uint32_t object, int *closed)
{
	int32_t k = ofd_find(t, object);
	*closed = -1;
	if (k >= 0)
		return k;
	k = ofd_victim(t);
	if (k < 0)
		return -1;
	*closed = ofd_install(t, k, object, 100 + (int)object);
	return k;
}

/* The table's counters must be these; then it goes. */
static void done(struct ofd *t, uint64_t opens, uint64_t closes, uint32_t open, uint32_t in_flight)
{
	const struct ofd_counters *c = ofd_counters(t);
	cr_expect_eq(c->opens, opens, "opens %llu", (unsigned long long)c->opens);
	cr_expect_eq(c->closes, closes, "closes %llu", (unsigned long long)c->closes);
	cr_expect_eq(c->open, open, "open %u", c->open);
	cr_expect_eq(c->in_flight, in_flight, "in flight %u", c->in_flight);
	ofd_destroy(t);
}

Test(ofd, bad_sizes_are_refused)
{
	struct ofd *t = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_expect_lt(ofd_create(0, &t, &e), 0);
	cr_expect(strstr(e.msg, "0 slots"), "%s", e.msg);
	cr_expect_lt(ofd_create((1u << 28) + 1, &t, &e), 0);
	cr_expect_null(t);
}

Test(ofd, least_recently_used_is_reused)
{
	struct ofd *t = mk(3);
	int closed;
	int32_t a = open_obj(t, 1, &closed), b = open_obj(t, 2, &closed),
		c = open_obj(t, 3, &closed);
	cr_expect(a != b && b != c && a != c);
	cr_expect_eq(ofd_counters(t)->open, 3);
	cr_expect_eq(ofd_fd(t, b), 102);
	/* 1 is used again: 2 is now the least recently used */
	cr_expect_eq(ofd_find(t, 1), a);
	int32_t d = open_obj(t, 4, &closed);
	cr_expect_eq(d, b, "object 2's slot is reused");
	cr_expect_eq(closed, 102, "and its descriptor handed back to close");
	cr_expect_eq(ofd_find(t, 2), -1);
	cr_expect_eq(ofd_find(t, 4), b);
	cr_expect_eq(ofd_fd(t, b), 104);
	done(t, 4, 1, 3, 0);
}

Test(ofd, a_slot_with_reads_in_flight_is_never_reused)
{
	struct ofd *t = mk(2);
	int closed;
	int32_t a = open_obj(t, 10, &closed), b = open_obj(t, 11, &closed);
	ofd_hold(t, a);
	ofd_hold(t, a); /* two reads */
	ofd_hold(t, b);
	cr_expect_eq(ofd_victim(t), -1, "both slots busy");
	cr_expect_eq(ofd_counters(t)->busy, 1);
	cr_expect_eq(ofd_counters(t)->in_flight, 2);
	cr_expect_eq(ofd_find(t, 10), a, "a held object is still found");
	ofd_release(t, a);
	cr_expect_eq(ofd_victim(t), -1, "one read of object 10 is still in flight");
	ofd_release(t, b);
	cr_expect_eq(ofd_victim(t), b);
	ofd_release(t, a);
	/* a was released last: b is the least recently used */
	cr_expect_eq(ofd_victim(t), b);
	cr_expect_eq(open_obj(t, 12, &closed), b);
	cr_expect_eq(closed, 111);
	done(t, 3, 1, 2, 0);
}

Test(ofd, dropping_gives_back_the_least_recently_used_idle_descriptor)
{
	struct ofd *t = mk(4);
	int closed;
	int32_t s1 = open_obj(t, 1, &closed), s2 = open_obj(t, 2, &closed);
	open_obj(t, 3, &closed);
	ofd_hold(t, s1);
	int32_t d = -1;
	cr_expect_eq(ofd_drop_idle(t, &d), 102, "1 is held: 2 is the oldest idle");
	cr_expect_eq(d, s2);
	cr_expect_eq(ofd_fd(t, s2), -1);
	cr_expect_eq(ofd_find(t, 2), -1);
	cr_expect_eq(ofd_counters(t)->open, 2);
	cr_expect_eq(ofd_victim(t), s2, "an empty slot is used before an idle one");
	cr_expect_eq(ofd_drop_idle(t, NULL), 103);
	cr_expect_eq(ofd_drop_idle(t, NULL), -1, "only the held one is left");
	ofd_release(t, s1);
	cr_expect_eq(ofd_drop_idle(t, NULL), 101);
	done(t, 3, 3, 0, 0);
}

/* The model: objects in use order (oldest first), with their hold counts. */
struct model {
	uint32_t obj[64], holds[64];
	uint32_t n;
};

static int m_find(const struct model *m, uint32_t object)
{
	for (uint32_t i = 0; i < m->n; i++)
		if (m->obj[i] == object)
			return (int)i;
	return -1;
}

static void m_touch(struct model *m, int i)
{
	uint32_t o = m->obj[i], h = m->holds[i];
	memmove(&m->obj[i], &m->obj[i + 1], (m->n - (uint32_t)i - 1) * sizeof(uint32_t));
	memmove(&m->holds[i], &m->holds[i + 1], (m->n - (uint32_t)i - 1) * sizeof(uint32_t));
	m->obj[m->n - 1] = o;
	m->holds[m->n - 1] = h;
}

/* Drops the model's entry i (its descriptor was closed). */
static void m_remove(struct model *m, int i)
{
	memmove(&m->obj[i], &m->obj[i + 1], (m->n - (uint32_t)i - 1) * sizeof(uint32_t));
	memmove(&m->holds[i], &m->holds[i + 1], (m->n - (uint32_t)i - 1) * sizeof(uint32_t));
	m->n--;
}

/* The model's victim: the oldest object with no holds (-1: all held). */
static int m_victim(const struct model *m)
{
	for (uint32_t i = 0; i < m->n; i++)
		if (!m->holds[i])
			return (int)i;
	return -1;
}

Test(ofd, random_run_matches_a_naive_model)
{
	enum { CAP = 16, OBJECTS = 40, STEPS = 200000 };
	struct ofd *t = mk(CAP);
	struct model m = { .n = 0 };
	int32_t slot_of[OBJECTS];
	for (int i = 0; i < OBJECTS; i++)
		slot_of[i] = -1;
	srand(1234);
	for (int step = 0; step < STEPS; step++) {
		uint32_t o = (uint32_t)rand() % OBJECTS;
		int op = rand() % 10;
		int mi = m_find(&m, o);
		if (op < 6) {
			/* a read of o: open it if needed, hold its slot */
			int32_t k = ofd_find(t, o);
			cr_assert_eq(k >= 0, mi >= 0, "step %d: object %u open?", step, o);
			if (k >= 0) {
				cr_assert_eq(k, slot_of[o]);
				m_touch(&m, mi);
				mi = (int)m.n - 1;
			} else {
				k = ofd_victim(t);
				if (m.n < CAP) {
					cr_assert_geq(k, 0, "step %d: a free slot exists", step);
					cr_assert_eq(ofd_fd(t, k), -1);
				} else {
					int v = m_victim(&m);
					if (v < 0) {
						cr_assert_eq(k, -1, "step %d: all held", step);
						continue;
					}
					cr_assert_eq(k, slot_of[m.obj[v]],
						     "step %d: the victim is object %u", step,
						     m.obj[v]);
					slot_of[m.obj[v]] = -1;
					m_remove(&m, v);
				}
				int old = ofd_install(t, k, o, 1000 + (int)o);
				cr_assert(old == -1 || old >= 1000);
				slot_of[o] = k;
				m.obj[m.n] = o;
				m.holds[m.n] = 0;
				m.n++;
				mi = (int)m.n - 1;
			}
			ofd_hold(t, k);
			m.holds[mi]++;
		} else if (op < 9) {
			/* a read of o completes */
			if (mi >= 0 && m.holds[mi]) {
				ofd_release(t, slot_of[o]);
				if (!--m.holds[mi])
					m_touch(&m, mi); /* idle again: most recently used */
			}
		} else if (rand() % 8 == 0) {
			/* out of descriptors: drop the oldest idle one */
			int v = m_victim(&m);
			int32_t d = -2;
			int fd = ofd_drop_idle(t, &d);
			if (v < 0) {
				cr_assert_eq(fd, -1);
			} else {
				cr_assert_eq(fd, 1000 + (int)m.obj[v], "step %d", step);
				cr_assert_eq(d, slot_of[m.obj[v]]);
				slot_of[m.obj[v]] = -1;
				m_remove(&m, v);
			}
		}
		cr_assert_eq(ofd_counters(t)->open, m.n, "step %d", step);
	}
	for (uint32_t i = 0; i < m.n; i++)
		cr_expect_eq(ofd_fd(t, slot_of[m.obj[i]]), 1000 + (int)m.obj[i]);
	ofd_destroy(t);
}
