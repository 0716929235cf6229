/*
 * arp: ARP for IPv4 over Ethernet (RFC 826) and the neighbour cache.
 *
 * Memory: arp_create() allocates everything, once: `entries` entries and
 * the age list's head, a bucket array (the next power of two at or above
 * entries) of chain heads, and nothing after. Entries are linked by 32-bit
 * indexes, never pointers.
 *
 * Each entry is in exactly one of:
 *   - the free list (state FREE), linked through `next`;
 *   - a hash chain (`next`) and, unless STATIC, the age list (`older`,
 *     `newer`), whose oldest entry is the one to replace when the cache is
 *     full. The list is a ring through one extra entry, e[age], that is on
 *     no chain: every member has two neighbours, so linking and unlinking
 *     take no branches, and an empty list is e[age] alone. An entry moves
 *     to the young end when it is created, learns an address or resolves a
 *     lookup, so "oldest" is the least recently used and the gateway,
 *     resolved for every packet, is never the one replaced.
 * States: PENDING (created by a lookup that sent a request; no address
 * yet), VALID (an address learned at `updated_us`, usable for ttl), STATIC
 * (never expires, never replaced, never changed by a packet).
 *
 * Requests are rate-limited per entry (`req_us`), so the limit holds for
 * an address that is pending, or expired, alike. A lookup for an address
 * with no entry creates a PENDING one to remember the request; when the
 * cache is all STATIC there is nowhere to remember it, and no request is
 * sent (a request per packet would be the flood the limit exists to stop).
 *
 * The bucket is a keyed hash of the address (cfg.hash_key), so a sender
 * choosing addresses cannot pile them into one chain without knowing the
 * key. The wire is read field by field with byteio; addresses are checked
 * before anything is learned (arp.h lists what is refused).
 */
#include "arp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "byteio.h"
#include "ipv4.h"
#include "mem.h"

#define ARP_HTYPE_ETHER 1
#define ARP_OP_REQUEST	1
#define ARP_OP_REPLY	2
#define NIL		UINT32_MAX

enum { ST_FREE, ST_PENDING, ST_VALID, ST_STATIC };

struct arp_entry {
	uint32_t ip;
	uint32_t next;	       /* hash chain or free list */
	uint32_t older, newer; /* age list (not STATIC) */
	uint64_t updated_us;   /* VALID: when the address was learned */
	uint64_t req_us;       /* when the last request was sent, if requested */
	uint8_t mac[ETH_ADDR_LEN];
	uint8_t state;
	uint8_t requested;
};

struct arp {
	struct arp_config cfg;
	struct arp_stats st;
	uint32_t mask; /* buckets - 1 */
	uint32_t *bucket;
	struct arp_entry *e; /* cfg.entries of them, then the age list's head */
	uint32_t free_head;
	uint32_t age; /* e[age].newer: the oldest entry; e[age].older: the youngest */
};

static const uint8_t zero_mac[ETH_ADDR_LEN];
static const uint8_t bcast_mac[ETH_ADDR_LEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

int arp_create(const struct arp_config *cfg, struct arp **out)
{
	struct arp *a;
	uint32_t n, nb = 1;

	*out = NULL;
	n = cfg && cfg->entries ? cfg->entries : 1024;
	if (n > ARP_ENTRIES_MAX)
		return -EINVAL;
	while (nb < n)
		nb <<= 1;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->e = calloc((size_t)n + 1, sizeof(*a->e));
	a->bucket = malloc(nb * sizeof(*a->bucket));
	if (!a->e || !a->bucket) {
		arp_destroy(a);
		return -ENOMEM;
	}
	if (cfg)
		a->cfg = *cfg;
	a->cfg.entries = n;
	if (!a->cfg.ttl_us)
		a->cfg.ttl_us = 300ull * 1000000;
	if (!a->cfg.retry_us)
		a->cfg.retry_us = 1000000;
	a->mask = nb - 1;
	for (uint32_t i = 0; i < nb; i++)
		a->bucket[i] = NIL;
	for (uint32_t i = 0; i < n; i++)
		a->e[i].next = i + 1 < n ? i + 1 : NIL;
	a->free_head = 0;
	a->age = n;
	a->e[n].older = a->e[n].newer = n;
	*out = a;
	return 0;
}

void arp_destroy(struct arp *a)
{
	if (!a)
		return;
	MEM_FREE_ALL(a->e, a->bucket, a);
}

const struct arp_stats *arp_stats(const struct arp *a)
{
	return &a->st;
}

/* splitmix64's finalizer over the keyed address. */
static uint32_t bucket_of(const struct arp *a, uint32_t ip)
{
	uint64_t z = ip ^ a->cfg.hash_key;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (uint32_t)z & a->mask;
}

static uint32_t find(const struct arp *a, uint32_t ip)
{
	uint32_t i = a->bucket[bucket_of(a, ip)];

	while (i != NIL && a->e[i].ip != ip)
		i = a->e[i].next;
	return i;
}

static void age_unlink(struct arp *a, uint32_t i)
{
	struct arp_entry *e = &a->e[i];

	a->e[e->older].newer = e->newer;
	a->e[e->newer].older = e->older;
	e->older = e->newer = NIL;
}

/* Makes i the youngest entry: the head's older neighbour. */
static void age_append(struct arp *a, uint32_t i)
{
	struct arp_entry *e = &a->e[i], *head = &a->e[a->age];

	e->older = head->older;
	e->newer = a->age;
	a->e[head->older].newer = i;
	head->older = i;
}

/* Moves a non-STATIC entry to the young end. */
static void touch(struct arp *a, uint32_t i)
{
	if (a->e[a->age].older != i) {
		age_unlink(a, i);
		age_append(a, i);
	}
}

static void chain_unlink(struct arp *a, uint32_t i)
{
	uint32_t *link = &a->bucket[bucket_of(a, a->e[i].ip)];

	while (*link != i)
		link = &a->e[*link].next;
	*link = a->e[i].next;
}

/* A fresh entry for ip in state st (not yet STATIC's age rules: the caller
 * appends it to the age list unless STATIC), taken from the free list or by
 * replacing the oldest entry; NIL when every entry is STATIC. */
static uint32_t entry_new(struct arp *a, uint32_t ip, uint8_t st)
{
	uint32_t i = a->free_head, b;
	struct arp_entry *e;

	if (i != NIL) {
		a->free_head = a->e[i].next;
	} else {
		i = a->e[a->age].newer;
		if (i == a->age)
			return NIL;
		age_unlink(a, i);
		chain_unlink(a, i);
		a->st.evicted++;
	}
	e = &a->e[i];
	memset(e, 0, sizeof(*e));
	e->ip = ip;
	e->state = st;
	e->older = e->newer = NIL;
	b = bucket_of(a, ip);
	e->next = a->bucket[b];
	a->bucket[b] = i;
	if (st != ST_STATIC)
		age_append(a, i);
	return i;
}

static void learn(struct arp *a, uint32_t i, const uint8_t *mac, uint64_t now_us)
{
	struct arp_entry *e = &a->e[i];

	memcpy(e->mac, mac, ETH_ADDR_LEN);
	e->state = ST_VALID;
	e->updated_us = now_us;
	touch(a, i);
	a->st.learned++;
}

/* Writes an ARP frame from (my_mac, my_ip): Ethernet to eth_dst, then the
 * packet with operation op and target (tha, tpa). */
static void build_frame(uint8_t f[ARP_FRAME_LEN], const uint8_t *eth_dst, uint16_t op,
			const uint8_t *my_mac, uint32_t my_ip, const uint8_t *tha, uint32_t tpa)
{
	uint8_t *p = f + ETH_HDR_LEN;

	eth_build(f, eth_dst, my_mac, ETH_TYPE_ARP);
	byteio_put_be16(p, ARP_HTYPE_ETHER);
	byteio_put_be16(p + 2, ETH_TYPE_IPV4);
	p[4] = ETH_ADDR_LEN;
	p[5] = 4;
	byteio_put_be16(p + 6, op);
	memcpy(p + 8, my_mac, ETH_ADDR_LEN);
	byteio_put_be32(p + 14, my_ip);
	memcpy(p + 18, tha, ETH_ADDR_LEN);
	byteio_put_be32(p + 24, tpa);
}

int arp_input(struct arp *a, const uint8_t *p, size_t len, uint32_t my_ip,
	      const uint8_t my_mac[ETH_ADDR_LEN], uint64_t now_us, uint8_t reply[ARP_FRAME_LEN])
{
	const uint8_t *sha;
	uint32_t spa, tpa, i;
	uint16_t op;
	int probe, for_us;

	if (len < ARP_PKT_LEN || byteio_be16(p) != ARP_HTYPE_ETHER ||
	    byteio_be16(p + 2) != ETH_TYPE_IPV4 || p[4] != ETH_ADDR_LEN || p[5] != 4)
		goto malformed;
	op = byteio_be16(p + 6);
	sha = p + 8;
	spa = byteio_be32(p + 14);
	tpa = byteio_be32(p + 24);
	if (op != ARP_OP_REQUEST && op != ARP_OP_REPLY)
		goto malformed;
	/* group bit (multicast and broadcast) or all zero: no station's address */
	if ((sha[0] & 1) || memcmp(sha, zero_mac, ETH_ADDR_LEN) == 0)
		goto malformed;
	/* an RFC 5227 probe: a request from 0.0.0.0, answered but not learned */
	probe = spa == 0 && op == ARP_OP_REQUEST;
	if (!probe && ipv4_is_martian(spa))
		goto malformed;
	if (op == ARP_OP_REQUEST)
		a->st.requests_in++;
	else
		a->st.replies_in++;
	for_us = my_ip != 0 && tpa == my_ip;
	/* our own frame looped back, or another station claiming our
	 * address: neither is a neighbour to learn or answer */
	if (memcmp(sha, my_mac, ETH_ADDR_LEN) == 0 || (spa == my_ip && !probe)) {
		a->st.not_for_us++;
		return 0;
	}
	if (!probe) {
		/* RFC 826: merge into an existing entry whoever the packet is
		 * for; add one only when it is for us */
		i = find(a, spa);
		if (i != NIL && a->e[i].state != ST_STATIC)
			learn(a, i, sha, now_us);
		else if (i == NIL && for_us) {
			i = entry_new(a, spa, ST_VALID);
			if (i != NIL)
				learn(a, i, sha, now_us);
		}
	}
	if (!for_us) {
		a->st.not_for_us++;
		return 0;
	}
	if (op != ARP_OP_REQUEST)
		return 0;
	build_frame(reply, sha, ARP_OP_REPLY, my_mac, my_ip, sha, spa);
	a->st.replies_out++;
	return ARP_FRAME_LEN;

malformed:
	a->st.malformed++;
	return -EBADMSG;
}

int arp_resolve(struct arp *a, uint32_t ip, uint32_t my_ip, const uint8_t my_mac[ETH_ADDR_LEN],
		uint64_t now_us, uint8_t out_mac[ETH_ADDR_LEN], uint8_t req[ARP_FRAME_LEN],
		size_t *out_req_len)
{
	struct arp_entry *e;
	uint32_t i;

	*out_req_len = 0;
	if (ipv4_is_martian(ip))
		return -ENOENT;
	i = find(a, ip);
	if (i != NIL) {
		e = &a->e[i];
		if (e->state == ST_STATIC) {
			memcpy(out_mac, e->mac, ETH_ADDR_LEN);
			return 0;
		}
		if (e->state == ST_VALID &&
		    (now_us < e->updated_us || now_us - e->updated_us < a->cfg.ttl_us)) {
			memcpy(out_mac, e->mac, ETH_ADDR_LEN);
			touch(a, i);
			return 0;
		}
		if (e->requested && (now_us < e->req_us || now_us - e->req_us < a->cfg.retry_us))
			return -ENOENT;
	} else {
		i = entry_new(a, ip, ST_PENDING);
		if (i == NIL)
			return -ENOENT;
		e = &a->e[i];
	}
	e->requested = 1;
	e->req_us = now_us;
	build_frame(req, bcast_mac, ARP_OP_REQUEST, my_mac, my_ip, zero_mac, ip);
	*out_req_len = ARP_FRAME_LEN;
	a->st.requests_out++;
	return -ENOENT;
}

int arp_add_static(struct arp *a, uint32_t ip, const uint8_t mac[ETH_ADDR_LEN])
{
	uint32_t i = find(a, ip);

	if (i != NIL) {
		if (a->e[i].state != ST_STATIC) {
			age_unlink(a, i);
			a->e[i].state = ST_STATIC;
		}
	} else {
		i = entry_new(a, ip, ST_STATIC);
		if (i == NIL)
			return -ENOSPC;
	}
	memcpy(a->e[i].mac, mac, ETH_ADDR_LEN);
	return 0;
}
