/*
 * Unit tests for dataplane/gate.c, the check in front of every release
 * lookup: unknown, not live and embargoed releases refused and counted,
 * allow-lists matched on the peer's own address (IPv4-mapped IPv6 as the
 * IPv4 address it is), a flood of peers from one address stopped at the
 * tenant's max_peers and let in again as they leave, a peer counted once
 * and moved between tenants. Catalogs are built in memory; no store.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "gate.h"
#include "tenants.h"

#define NOW	  1000000
#define MAX_PEERS 3

static struct catalog *cat;
static struct tenants *tn;
static struct dpstats_worker *ctr;
static struct gate g;
static int acme, free_slot;

static const struct proto_release r_live = { .id = "acme.game.1" };
static const struct proto_release r_embargo = { .id = "acme.game.2" };
static const struct proto_release r_paused = { .id = "acme.game.3" };
static const struct proto_release r_free = { .id = "free.tool.1" };
static const struct proto_release r_absent = { .id = "acme.game.9" };

static void setup(void)
{
	struct seed_err e;
	struct tenant a = { .id = "acme", .max_peers = MAX_PEERS };
	struct tenant f = { .id = "free" };
	uint32_t ia, ifr;

	seed_err_clear(&e);
	cidr_set_init(&a.allow);
	cr_assert_eq(cidr_set_add_str(&a.allow, "10.0.0.0/8", &e), 0, "%s", e.msg);
	cr_assert_eq(cidr_set_add_str(&a.allow, "2001:db8::/32", &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_create(1, 0, &cat, &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_add_tenant(cat, &a, &ia, &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_add_tenant(cat, &f, &ifr, &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_add_release(cat, "acme.game.1", ia, CATALOG_LIVE, 0, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(catalog_add_release(cat, "acme.game.2", ia, CATALOG_EMBARGOED, NOW + 60, &e),
		     0, "%s", e.msg);
	cr_assert_eq(catalog_add_release(cat, "acme.game.3", ia, CATALOG_PAUSED, 0, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(catalog_add_release(cat, "free.tool.1", ifr, CATALOG_LIVE, 0, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(tenants_create(&tn), 0);
	cr_assert_eq(tenants_sync(tn, cat), 0);
	acme = tenants_find(tn, "acme", 4);
	free_slot = tenants_find(tn, "free", 4);
	cr_assert(acme >= 0 && free_slot >= 0 && acme != free_slot);
	ctr = calloc(1, sizeof(*ctr));
	cr_assert_not_null(ctr);
	g = (struct gate){ .tenants = tn, .ctr = ctr, .now_s = NOW };
}

static void teardown(void)
{
	tenants_free(tn);
	catalog_free(cat);
	free(ctr);
}

TestSuite(gate, .init = setup, .fini = teardown);

/* A peer at address a of family af (AF_INET or AF_INET6). */
static struct gate_peer peer_at(int af, const char *a)
{
	struct sockaddr_storage ss = { .ss_family = (sa_family_t)af };
	void *addr = af == AF_INET ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
				   : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
	struct gate_peer p;

	cr_assert_eq(inet_pton(af, a, addr), 1, "%s", a);
	gate_peer_init(&p, &ss);
	return p;
}

static struct gate_peer v4(const char *a)
{
	return peer_at(AF_INET, a);
}

static struct gate_peer v6(const char *a)
{
	return peer_at(AF_INET6, a);
}

static uint64_t refused(enum dpstats_refusal why)
{
	return ctr->refusals[why];
}

Test(gate, unknown_not_live_and_embargoed_are_refused_and_counted)
{
	struct gate_peer p = v4("10.1.2.3");

	cr_assert_null(gate_check(&g, cat, &p, NULL));
	cr_assert_eq(refused(DPSTATS_REFUSE_UNKNOWN), 1);
	/* in the store but not in the catalog: not live */
	cr_assert_null(gate_check(&g, cat, &p, &r_absent));
	cr_assert_null(gate_check(&g, cat, &p, &r_paused));
	cr_assert_eq(refused(DPSTATS_REFUSE_NOT_LIVE), 2);
	cr_assert_null(gate_check(&g, cat, &p, &r_embargo));
	cr_assert_eq(refused(DPSTATS_REFUSE_EMBARGOED), 1);
	/* once the embargo is over it is served */
	g.now_s = NOW + 60;
	cr_assert_eq(gate_check(&g, cat, &p, &r_embargo), &r_embargo);
	cr_assert_eq(p.tslot, acme);
	gate_peer_release(&g, &p);
	cr_assert_eq(tenants_peers(tn, acme), 0);
}

Test(gate, no_catalog_serves_everything_in_the_store)
{
	struct gate_peer p = v4("192.0.2.1");

	cr_assert_eq(gate_check(&g, NULL, &p, &r_paused), &r_paused);
	cr_assert_eq(p.tslot, -1, "nothing to count against without a catalog");
	cr_assert_null(gate_check(&g, NULL, &p, NULL));
	cr_assert_eq(refused(DPSTATS_REFUSE_UNKNOWN), 1);
}

Test(gate, allow_list_on_the_peers_own_address)
{
	static const struct {
		const char *addr;
		int v6, allowed;
	} rows[] = {
		{ "10.1.2.3", 0, 1 },		{ "192.168.1.1", 0, 0 },
		{ "::ffff:10.1.2.3", 1, 1 }, /* a dual-stack listener's IPv4 peer */
		{ "::ffff:192.168.1.1", 1, 0 }, { "2001:db8::1", 1, 1 },
		{ "2001:db9::1", 1, 0 },	{ "::1", 1, 0 },
	};
	uint64_t want_refused = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct gate_peer p = rows[i].v6 ? v6(rows[i].addr) : v4(rows[i].addr);
		const struct proto_release *got = gate_check(&g, cat, &p, &r_live);

		cr_assert_eq(got != NULL, rows[i].allowed, "%s", rows[i].addr);
		want_refused += !rows[i].allowed;
		cr_assert_eq(refused(DPSTATS_REFUSE_CIDR), want_refused, "%s", rows[i].addr);
		/* the tenant with no allow-list serves every address */
		cr_assert_eq(gate_check(&g, cat, &p, &r_free), &r_free, "%s", rows[i].addr);
		gate_peer_release(&g, &p);
	}
	cr_assert_eq(tenants_peers(tn, acme), 0);
	cr_assert_eq(tenants_peers(tn, free_slot), 0);
}

/* One address opening connection after connection: the tenant's limit
 * holds, other tenants are not affected, and a slot that frees up is
 * taken by the next one. */
Test(gate, a_flood_from_one_address_stops_at_max_peers)
{
	struct gate_peer p[50];

	for (int i = 0; i < 50; i++) {
		p[i] = v4("10.9.9.9");
		const struct proto_release *got = gate_check(&g, cat, &p[i], &r_live);
		cr_assert_eq(got != NULL, i < MAX_PEERS, "connection %d", i);
		cr_assert_eq(p[i].tslot, i < MAX_PEERS ? acme : -1, "connection %d", i);
	}
	cr_assert_eq(tenants_peers(tn, acme), MAX_PEERS);
	cr_assert_eq(refused(DPSTATS_REFUSE_MAX_PEERS), 50 - MAX_PEERS);
	/* another tenant still serves the same address */
	cr_assert_eq(gate_check(&g, cat, &p[49], &r_free), &r_free);
	cr_assert_eq(tenants_peers(tn, free_slot), 1);
	/* a peer already counted asks again: counted once */
	cr_assert_eq(gate_check(&g, cat, &p[0], &r_live), &r_live);
	cr_assert_eq(tenants_peers(tn, acme), MAX_PEERS);
	/* one leaves: the next one gets in, and only one */
	gate_peer_release(&g, &p[1]);
	cr_assert_eq(gate_check(&g, cat, &p[10], &r_live), &r_live);
	cr_assert_null(gate_check(&g, cat, &p[11], &r_live));
	cr_assert_eq(tenants_peers(tn, acme), MAX_PEERS);
	for (int i = 0; i < 50; i++)
		gate_peer_release(&g, &p[i]);
	cr_assert_eq(tenants_peers(tn, acme), 0);
	cr_assert_eq(tenants_peers(tn, free_slot), 0);
}

/* An HTTP client may fetch from two tenants in turn: it counts against the
 * one it fetches from now, never against both. */
Test(gate, a_peer_moves_between_tenants)
{
	struct gate_peer p = v4("10.0.0.7");

	cr_assert_eq(gate_check(&g, cat, &p, &r_live), &r_live);
	cr_assert_eq(tenants_peers(tn, acme), 1);
	cr_assert_eq(gate_check(&g, cat, &p, &r_free), &r_free);
	cr_assert_eq(tenants_peers(tn, acme), 0);
	cr_assert_eq(tenants_peers(tn, free_slot), 1);
	cr_assert_eq(p.tslot, free_slot);
	/* a refused lookup leaves it where it was */
	cr_assert_null(gate_check(&g, cat, &p, &r_paused));
	cr_assert_eq(p.tslot, free_slot);
	gate_peer_release(&g, &p);
	cr_assert_eq(p.tslot, -1);
	cr_assert_eq(tenants_peers(tn, free_slot), 0);
	gate_peer_release(&g, &p); /* twice is harmless */
	cr_assert_eq(tenants_peers(tn, free_slot), 0);
}
