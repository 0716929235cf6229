/*
 * dlist: an intrusive, circular, doubly linked list. A list is a head
 * node; an element holds a node and is found from it with DLIST_ENTRY.
 * No allocation, O(1) append and remove: the peer-wire engine's unchoke
 * queues and the data plane's reclaim order use it.
 *
 * A node that is in no list points at itself (dlist_init, and
 * dlist_remove leaves it so), which is what dlist_linked tests: removing
 * a node twice is harmless. A zeroed node is neither linked nor unlinked;
 * dlist_init it first.
 *
 * Header-only: each call is a few stores on paths that run per request.
 */
#ifndef SEED_DLIST_H
#define SEED_DLIST_H

#include <stddef.h>

struct dlist {
	struct dlist *prev, *next;
};

/* The element of type holding node n in its field member. */
#define DLIST_ENTRY(n, type, member) ((type *)(void *)((char *)(n)-offsetof(type, member)))

static inline void dlist_init(struct dlist *n)
{
	n->prev = n->next = n;
}

/* For a head: the list is empty. For an element: it is in no list. */
static inline int dlist_empty(const struct dlist *n)
{
	return n->next == n;
}

static inline int dlist_linked(const struct dlist *n)
{
	return n->next != n;
}

/* Appends n, which is in no list, at the end of list h. */
static inline void dlist_append(struct dlist *h, struct dlist *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

/* Takes n out of its list (if any); n is then in none. */
static inline void dlist_remove(struct dlist *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* The first node of list h, or NULL when it is empty. */
static inline struct dlist *dlist_first(const struct dlist *h)
{
	return h->next == h ? NULL : h->next;
}

#endif
