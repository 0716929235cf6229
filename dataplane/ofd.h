/*
 * ofd: a worker's open object files — a bounded table of descriptors (and
 * the storage ring's registered-file slots of the same numbers), opened
 * when a read needs an object and closed least recently used first.
 *
 * A store holds far more objects than a process may have descriptors, so
 * the data plane cannot keep every object open (issue 17): the table is
 * sized from RLIMIT_NOFILE and --object-fds, and an object's slot is the
 * index its reads name in the registered-file table. A slot with reads in
 * flight is never given to another object (its registered file must stay
 * what those reads name), so a slot is held from the read's submission to
 * its completion.
 *
 * This module does no I/O: the worker opens and closes (fetch.c). One
 * thread; no allocation after ofd_create.
 *
 *   slot = ofd_find(t, object)            open already? (marks it used)
 *   slot = ofd_victim(t)                  else the slot to reuse (-1: all busy)
 *   old  = ofd_install(t, slot, obj, fd)  the caller closes old (if >= 0)
 *   ofd_hold(t, slot) ... ofd_release(t, slot)   around each read
 */
#ifndef SEED_DP_OFD_H
#define SEED_DP_OFD_H

#include <stdint.h>

#include "seed_err.h"

struct ofd;

struct ofd_counters {
	uint64_t opens;	    /* ofd_install calls */
	uint64_t closes;    /* descriptors handed back to close (evicted or dropped) */
	uint64_t busy;	    /* ofd_victim found every slot with reads in flight */
	uint32_t open;	    /* slots holding a descriptor now */
	uint32_t in_flight; /* slots held by reads now */
};

/* cap slots (>= 1). */
int ofd_create(uint32_t cap, struct ofd **out, struct seed_err *err);
/* Frees the table; the caller closes what ofd_fd still lists first. */
void ofd_destroy(struct ofd *t);
uint32_t ofd_capacity(const struct ofd *t);

/* The slot holding object's descriptor, made most recently used; -1 none. */
int32_t ofd_find(struct ofd *t, uint32_t object);
/* The slot to put a new object in: an empty one, else the least recently
 * used with no read in flight; -1 when every slot has reads in flight. */
int32_t ofd_victim(struct ofd *t);
/* Puts object's fd in slot (from ofd_victim, nothing installed since),
 * most recently used; returns the descriptor it held before (-1: none),
 * which the caller closes once nothing names it any more. */
int ofd_install(struct ofd *t, int32_t slot, uint32_t object, int fd);
/* Empties the least recently used slot with no read in flight, to give a
 * descriptor back to the process (EMFILE); returns its fd, -1 when none. */
int ofd_drop_idle(struct ofd *t, int32_t *out_slot);

/* The slot's descriptor (-1: empty). */
int ofd_fd(const struct ofd *t, int32_t slot);

/* A read on slot was submitted / completed. Holds nest. */
void ofd_hold(struct ofd *t, int32_t slot);
void ofd_release(struct ofd *t, int32_t slot);

const struct ofd_counters *ofd_counters(const struct ofd *t);

#endif
