/*
 * backend: the network backends this build has, by name. uring is always
 * there; dpdk when meson found libdpdk (the `dpdk` feature option), so a
 * build without it still runs everywhere and says plainly what it lacks.
 * Also the one home of struct netio_config's defaults, which every
 * backend applies.
 */
#include <string.h>

#include "netio.h"

#ifdef SEED_HAVE_DPDK
extern const struct netio_backend netio_dpdk_backend;
#endif

static const struct netio_backend uring_backend = {
	.name = "uring",
	.ops = &netio_uring_ops,
};

const struct netio_backend *netio_backend_find(const char *name)
{
	if (!strcmp(name, "uring"))
		return &uring_backend;
#ifdef SEED_HAVE_DPDK
	if (!strcmp(name, "dpdk"))
		return &netio_dpdk_backend;
#endif
	return NULL;
}

void netio_config_defaults(struct netio_config *cfg)
{
	if (!cfg->max_conns)
		cfg->max_conns = 4096;
	if (!cfg->max_sends)
		cfg->max_sends = 4 * cfg->max_conns;
	if (!cfg->recv_buf_size)
		cfg->recv_buf_size = 4096;
	if (!cfg->recv_bufs)
		cfg->recv_bufs = 1024;
}
