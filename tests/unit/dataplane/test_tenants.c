/*
 * dataplane/tenants: the shared per-tenant limits. The token bucket is driven
 * with synthetic time (tenants_refill takes nanoseconds), so rates are exact;
 * a multi-threaded run checks no token is minted or lost between workers.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../testutil.h"
#include "catalog.h"
#include "seedconf.h"
#include "tenants.h"

static struct catalog *cat_with(uint64_t bw, uint32_t max_peers)
{
	struct catalog *c;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_create(1, 0, &c, &e), 0, "%s", e.msg);
	struct tenant a = { .id = "acme", .bandwidth = bw, .max_peers = max_peers };
	struct tenant b = { .id = "free" };
	cr_assert_eq(catalog_add_tenant(c, &a, NULL, &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_add_tenant(c, &b, NULL, &e), 0, "%s", e.msg);
	return c;
}

/* A table synced to cat_with(bw, max_peers), with the slots of acme and free. */
struct fx {
	struct tenants *t;
	struct catalog *c;
	int a, f;
};

static struct fx fx_open(uint64_t bw, uint32_t max_peers)
{
	struct fx x;

	cr_assert_eq(tenants_create(&x.t), 0);
	x.c = cat_with(bw, max_peers);
	cr_assert_eq(tenants_sync(x.t, x.c), 0);
	x.a = tenants_find(x.t, "acme", 4);
	x.f = tenants_find(x.t, "free", 4);
	cr_assert_geq(x.a, 0);
	cr_assert_geq(x.f, 0);
	return x;
}

static void fx_close(struct fx *x)
{
	catalog_free(x->c);
	tenants_free(x->t);
}

Test(tenants, slots_are_found_by_id_and_stay_stable)
{
	struct tenants *t;
	cr_assert_eq(tenants_create(&t), 0);
	cr_expect_eq(tenants_find(t, "acme", 4), -1);
	struct catalog *c = cat_with(1000, 0);
	cr_assert_eq(tenants_sync(t, c), 0);
	int a = tenants_find(t, "acme", 4), f = tenants_find(t, "free", 4);
	cr_expect_geq(a, 0);
	cr_expect_geq(f, 0);
	cr_expect_neq(a, f);
	cr_expect_eq(tenants_find(t, "acm", 3), -1);
	cr_expect(tenants_capped(t, a));
	cr_expect_not(tenants_capped(t, f));
	/* a tenant that leaves the catalog keeps its slot, without limits */
	catalog_free(c);
	cr_assert_eq(tenants_sync(t, NULL), 0);
	cr_expect_eq(tenants_find(t, "acme", 4), a);
	cr_expect_not(tenants_capped(t, a));
	tenants_free(t);
}

/* A slot keeps the catalog's limits, not a pointer into it: the catalog it
 * was synced from may be freed (a failed publication frees one at once)
 * and the slot still enforces them (ASan would see a read of the freed
 * catalog). */
Test(tenants, a_slot_keeps_its_limits_after_the_catalog_is_freed)
{
	struct tenants *t;
	uint64_t rate;
	uint32_t maxp;
	cr_assert_eq(tenants_create(&t), 0);
	struct catalog *c = cat_with(1000, 2);
	cr_assert_eq(tenants_sync(t, c), 0);
	catalog_free(c);
	int a = tenants_find(t, "acme", 4);
	tenants_limits(t, a, &rate, &maxp);
	cr_expect_eq(rate, 1000);
	cr_expect_eq(maxp, 2);
	cr_expect(tenants_capped(t, a));
	cr_expect(tenants_peer_add(t, a));
	cr_expect(tenants_peer_add(t, a));
	cr_expect_not(tenants_peer_add(t, a), "max_peers still enforced");
	cr_assert_eq(tenants_sync(t, NULL), 0);
	tenants_limits(t, a, &rate, &maxp);
	cr_expect_eq(rate, 0, "left the catalog: no cap");
	cr_expect_eq(maxp, 0);
	cr_expect(tenants_peer_add(t, a));
	cr_expect_str_eq(tenants_id(t, a), "acme", "the slot keeps its id");
	tenants_free(t);
}

Test(tenants, refill_says_whether_any_tenant_is_capped)
{
	struct tenants *t;
	cr_assert_eq(tenants_create(&t), 0);
	/* no tenant at all, then an uncapped one: the main thread may sleep */
	cr_expect_not(tenants_refill(t, 1000000000ull));
	struct catalog *c = cat_with(0, 0);
	cr_assert_eq(tenants_sync(t, c), 0);
	cr_expect_not(tenants_refill(t, 1002000000ull));
	catalog_free(c);
	c = cat_with(20000000, 0);
	cr_assert_eq(tenants_sync(t, c), 0);
	cr_expect(tenants_refill(t, 1004000000ull));
	/* also on a call that adds no time */
	cr_expect(tenants_refill(t, 1004000000ull));
	catalog_free(c);
	cr_assert_eq(tenants_sync(t, NULL), 0);
	cr_expect_not(tenants_refill(t, 1006000000ull));
	tenants_free(t);
}

Test(tenants, ten_simulated_seconds_at_20_mb_s_deliver_200_mb)
{
	struct fx x = fx_open(20000000, 0);
	struct tenants *t = x.t;
	int a = x.a;
	uint64_t now = 1000000000ull, got = 0;
	tenants_refill(t, now);
	/* refill every 2 ms, take 16 KiB blocks as fast as granted */
	for (int tick = 0; tick < 5000; tick++) {
		now += 2000000;
		tenants_refill(t, now);
		for (;;) {
			uint64_t g = tenants_take(t, a, 16384);
			got += g;
			if (g < 16384) {
				tenants_give_back(t, a, g);
				got -= g;
				break;
			}
		}
	}
	/* 10 s at 20 MB/s, within one block and the initial empty bucket */
	cr_expect(got >= 200000000 - 16384 && got <= 200000000, "got %llu bytes",
		  (unsigned long long)got);
	fx_close(&x);
}

Test(tenants, idle_time_does_not_accumulate_past_the_burst)
{
	struct fx x = fx_open(20000000, 0);
	struct tenants *t = x.t;
	int a = x.a;
	uint64_t now = 5;
	tenants_refill(t, now);
	for (int i = 0; i < 100; i++) { /* 100 s idle, refilled each second */
		now += 1000000000ull;
		tenants_refill(t, now);
	}
	uint64_t burst = tenants_take(t, a, UINT64_MAX / 2);
	cr_expect_eq(burst, 2000000, "100 ms of 20 MB/s, not 100 s of it: %llu",
		     (unsigned long long)burst);
	cr_expect_eq(tenants_take(t, a, 1), 0);
	/* time going backwards mints nothing */
	tenants_refill(t, now - 500000000ull);
	cr_expect_eq(tenants_take(t, a, 1), 0);
	fx_close(&x);
}

Test(tenants, a_new_cap_starts_from_an_empty_bucket)
{
	struct fx x = fx_open(100000000, 0);

	tenants_refill(x.t, 1);
	tenants_refill(x.t, 1 + 1000000000ull);
	catalog_free(x.c);
	x.c = cat_with(1000000, 0);
	cr_assert_eq(tenants_sync(x.t, x.c), 0);
	cr_expect_eq(tenants_take(x.t, x.a, 1 << 30), 0, "no burst saved up at the old rate");
	fx_close(&x);
}

Test(tenants, max_peers_is_enforced_and_released)
{
	struct fx x = fx_open(0, 2);
	struct tenants *t = x.t;
	int a = x.a, f = x.f;
	cr_expect(tenants_peer_add(t, a));
	cr_expect(tenants_peer_add(t, a));
	cr_expect_not(tenants_peer_add(t, a), "the third peer of a tenant capped at 2");
	cr_expect_eq(tenants_peers(t, a), 2, "a refused peer is not counted");
	tenants_peer_del(t, a);
	cr_expect(tenants_peer_add(t, a));
	for (int i = 0; i < 1000; i++)
		cr_assert(tenants_peer_add(t, f), "max_peers 0 is unlimited");
	fx_close(&x);
}

struct taker {
	struct tenants *t;
	int slot;
	uint64_t got;
	_Atomic int *stop;
};

static void *take_loop(void *arg)
{
	struct taker *k = arg;
	while (!atomic_load(k->stop)) {
		uint64_t g = tenants_take(k->t, k->slot, 16384);
		if (g == 16384)
			k->got += g;
		else
			tenants_give_back(k->t, k->slot, g);
	}
	return NULL;
}

Test(tenants, workers_share_one_bucket_without_minting_tokens)
{
	struct fx x = fx_open(50000000, 0);
	struct tenants *t = x.t;
	int a = x.a;
	_Atomic int stop = 0;
	struct taker k[3];
	pthread_t th[3];
	uint64_t now = 1;
	tenants_refill(t, now);
	for (int i = 0; i < 3; i++) {
		k[i] = (struct taker){ t, a, 0, &stop };
		pthread_create(&th[i], NULL, take_loop, &k[i]);
	}
	/* 2 simulated seconds of refills at 50 MB/s = 100 MB to share */
	for (int tick = 0; tick < 1000; tick++) {
		now += 2000000;
		tenants_refill(t, now);
		for (volatile int spin = 0; spin < 2000; spin++)
			;
	}
	/* A loaded machine may not have run the takers yet: give them up to
	 * 5 s of real time to empty what is left (a bounded wait, no timing
	 * assertion). */
	for (int i = 0; i < 500; i++) {
		uint64_t g = tenants_take(t, a, 16384);
		tenants_give_back(t, a, g);
		if (g < 16384)
			break;
		usleep(10000);
	}
	atomic_store(&stop, 1);
	uint64_t sum = 0;
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		sum += k[i].got;
	}
	uint64_t left = tenants_take(t, a, UINT64_MAX / 2);
	cr_expect_leq(sum + left, 100000000, "granted %llu + left %llu: tokens were minted",
		      (unsigned long long)sum, (unsigned long long)left);
	/* tokens may be lost only at the burst cap, when takers fall behind
	 * (a busy machine): the bound that matters is the one above */
	cr_expect_gt(sum, 0);
	fx_close(&x);
}

/* The last leg of a tenant's one shape (test_node.c has config -> node ->
 * catalog): from the config to the catalog file, loaded as the data plane
 * loads it with every field the config gave, and to the slot, which holds
 * and enforces the limits the config gave. */
Test(tenants, a_config_tenant_reaches_the_slot_with_every_field)
{
	static const char conf[] =
		"node = { name = \"n\"; store = \"/s\"; };\n"
		"tenants = ( { id = \"acme\"; name = \"Acme Gämes\"; bandwidth = \"20MB/s\";"
		" max_peers = 2; allow = [ \"10.0.0.0/8\", \"2001:db8::/32\" ];"
		" trackers = [ \"udp://t.example:6969/announce\" ]; embargo = \"1d\"; } );\n";
	struct seedconf *sc = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(seedconf_load_string(conf, "seed.conf", &sc, &e), 0, "%s", e.msg);
	const struct tenant *want = &sc->tenants[0];

	char dir[TU_PATH_MAX], path[TU_PATH_MAX + 16];
	tu_tmpdir_file(dir, "test_tenants", path, sizeof(path), "catalog");
	struct catalog *w = NULL;
	cr_assert_eq(catalog_create(1, 0, &w, &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_add_tenant(w, want, NULL, &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_write(path, w, &e), 0, "%s", e.msg);
	catalog_free(w);
	struct catalog *c = NULL;
	cr_assert_eq(catalog_load(path, &c, &e), 0, "%s", e.msg);

	struct tenants *t;
	cr_assert_eq(tenants_create(&t), 0);
	cr_assert_eq(tenants_sync(t, c), 0);
	int a = tenants_find(t, "acme", 4);
	const struct tenant *got = catalog_tenant_find(c, "acme");
	cr_assert_not_null(got);
	uint64_t rate;
	uint32_t maxp;
	tenants_limits(t, a, &rate, &maxp);
	cr_expect_eq(rate, 20000000, "the slot enforces the config's cap");
	cr_expect_eq(maxp, 2);
	cr_expect_str_eq(got->id, want->id);
	cr_expect_str_eq(got->name, want->name);
	cr_expect_eq(got->bandwidth, 20000000);
	cr_expect_eq(got->max_peers, 2);
	cr_expect_eq(got->embargo_s, 86400);
	cr_assert_eq(got->allow.n, 2);
	cr_expect_eq(memcmp(got->allow.v, want->allow.v, 2 * sizeof(want->allow.v[0])), 0);
	cr_assert_eq(got->n_trackers, 1);
	cr_expect_str_eq(got->trackers[0], want->trackers[0]);
	cr_expect(catalog_tenant_allows(got, AF_INET, (const uint8_t[]){ 10, 1, 2, 3 }));
	cr_expect_not(catalog_tenant_allows(got, AF_INET, (const uint8_t[]){ 11, 1, 2, 3 }));
	cr_expect(tenants_capped(t, a));
	cr_expect(tenants_peer_add(t, a));
	cr_expect(tenants_peer_add(t, a));
	cr_expect_not(tenants_peer_add(t, a), "max_peers from the config");

	tenants_free(t);
	catalog_free(c);
	seedconf_free(sc);
	tu_rmtree(dir);
}
