/* gate: see gate.h. Runs on worker threads; touches only its arguments, the
 * read-only catalog generation and the tenants' atomics. */
#include "gate.h"

#include <netinet/in.h>
#include <string.h>

#include "catalog.h"

void gate_peer_init(struct gate_peer *p, const struct sockaddr_storage *ss)
{
	memset(p, 0, sizeof(*p));
	p->tslot = -1;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		p->fam = AF_INET;
		memcpy(p->addr, &a->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			p->fam = AF_INET;
			memcpy(p->addr, a->sin6_addr.s6_addr + 12, 4);
		} else {
			p->fam = AF_INET6;
			memcpy(p->addr, a->sin6_addr.s6_addr, 16);
		}
	}
}

static const struct proto_release *refuse(const struct gate *g, enum dpstats_refusal why)
{
	dpstats_add(&g->ctr->refusals[why], 1);
	return NULL;
}

const struct proto_release *gate_check(const struct gate *g, const struct catalog *cat,
				       struct gate_peer *p, const struct proto_release *r)
{
	if (!r)
		return refuse(g, DPSTATS_REFUSE_UNKNOWN);
	if (!cat)
		return r;
	const struct catalog_release *cr = catalog_release_find(cat, r->id);
	if (!cr || !catalog_release_servable(cr, g->now_s))
		return refuse(g, cr && cr->state == CATALOG_EMBARGOED ? DPSTATS_REFUSE_EMBARGOED
								      : DPSTATS_REFUSE_NOT_LIVE);
	const struct tenant *t = catalog_tenant_of(cat, cr);
	if (t && !catalog_tenant_allows(t, p->fam, p->addr))
		return refuse(g, DPSTATS_REFUSE_CIDR);
	int slot = t && g->tenants ? tenants_find(g->tenants, t->id, strlen(t->id)) : -1;
	if (slot != p->tslot) {
		if (slot >= 0 && !tenants_peer_add(g->tenants, slot))
			return refuse(g, DPSTATS_REFUSE_MAX_PEERS);
		if (p->tslot >= 0)
			tenants_peer_del(g->tenants, p->tslot);
		p->tslot = slot;
	}
	return r;
}

void gate_peer_release(const struct gate *g, struct gate_peer *p)
{
	if (p->tslot >= 0 && g->tenants)
		tenants_peer_del(g->tenants, p->tslot);
	p->tslot = -1;
}
