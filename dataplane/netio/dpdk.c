/*
 * dpdk: the kernel-bypass backend. The worker owns one RX/TX queue pair of
 * a DPDK port and runs our own TCP/IP stack (dataplane/stack/) to
 * completion on it: receive a burst, feed each frame to the stack, turn the
 * stack's events into netio events, transmit what it produced. No system
 * call and no lock on this path; poll() returns at once (busy_poll), and
 * the worker reaps its storage ring on every pass.
 *
 * Process-wide (dpdk_init, before any worker): the EAL from --dpdk-args,
 * the port with one queue pair and one mempool per worker, RSS on the TCP
 * 4-tuple when the PMD has it. Without RSS (af_packet, af_xdp on most
 * drivers) and with more than one worker, every worker checks which worker
 * owns each frame it receives (a hash of the 4-tuple, the same on every
 * worker) and passes the others on through that worker's ring, so every
 * segment of a connection reaches the stack that holds it (SYN cookies
 * make the handshake stateless, but the connection after it is not). ARP
 * goes to every worker: each one resolves its own next hops.
 *
 * Each worker's mbufs come from its own pool, laid out by pool_create so
 * that net_af_xdp can use them (see there); with net_af_xdp the kernel's
 * counts of what its sockets dropped join the port's (xsk_find).
 *
 * Payload is copied into the mbufs here (part 1: the af_xdp and af_packet
 * PMDs copy anyway on a veth); register_mem registers the cache with the
 * EAL so that part 2 can attach cache memory to mbufs as external buffers
 * instead (the stack already hands out references, never copies).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/if_xdp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_memory.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#include "byteio.h"
#include "netio.h"
#include "stack.h"

#define DP_MAX_WORKERS 128
#define DP_BURST       32
#define DP_TXCAP       256
#define DP_EVCAP       256
#define DP_PENDCAP     8192
#define DP_RX_DESC     1024
#define DP_TX_DESC     1024
#define DP_POOL_MBUFS  8191
#define DP_STEER_RING  4096
/* Bursts one pass receives while the queue has more: a pass may send
 * DP_TXCAP frames and more, and a peer ACKs one in two; one burst per pass
 * let the ACKs overflow net_af_xdp's ring (bench/veth.sh, 16 HTTP
 * connections: 12,000 to 215,000 frames dropped per 3 s run; 0 with 8) */
#define DP_RX_BURSTS 8

struct dp_job {
	void *(*fn)(void *);
	void *arg;
};

static struct {
	int up;
	struct netio_env env;
	uint16_t port;
	unsigned workers;
	unsigned lcore[DP_MAX_WORKERS];
	struct rte_mempool *pool[DP_MAX_WORKERS];
	struct rte_ring *steer[DP_MAX_WORKERS]; /* NULL: RSS steers */
	int xsk[DP_MAX_WORKERS];		/* net_af_xdp's sockets (xsk_find) */
	unsigned n_xsk;
	struct dp_job job[DP_MAX_WORKERS];
	struct rte_ether_addr mac;
	int rx_csum, tx_csum;
	uint8_t secret[16];
	uint64_t tsc_hz;
	char eal_said[8192]; /* what the EAL printed while starting */
} g;

struct dconn {
	uint8_t used;
	uint8_t closing;
};

struct netio {
	struct netio_config cfg;
	uint16_t q;
	struct rte_mempool *pool;
	struct stack *stack;
	struct stack_tx *tx;
	struct stack_ev *sev;
	struct stack_out out;
	struct netio_event *pend;
	uint32_t ph, pt; /* pend[ph..pt), modulo DP_PENDCAP */
	struct dconn *conns;
	struct rte_mbuf *hold[DP_BURST * DP_RX_BURSTS]; /* freed after this pass */
	uint32_t n_hold;
	struct netio_stats st;
	uint64_t next_stats;  /* TSC time of the next port counter refresh */
	uint64_t steer_drops; /* frames for another worker whose ring was full */
	uint64_t tx_drops;    /* frames made here that found no mbuf or no room */
};

/* ---- process-wide set-up ---- */

static int split_args(char *s, char **argv, int max)
{
	int n = 0;
	for (char *tok = strtok(s, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
		if (n == max)
			return -E2BIG;
		argv[n++] = tok;
	}
	return n;
}

static int has_arg(char **argv, int argc, const char *a, const char *b, const char *c)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], a) || !strcmp(argv[i], b) || !strncmp(argv[i], c, strlen(c)))
			return 1;
	return 0;
}

/* The most telling line of what the EAL said while starting (g.eal_said):
 * an option it refused (getopt names the program), else its last FATAL,
 * else the first line about a failure, else (when any will do) its last
 * line. */
static void eal_reason(char *out, size_t cap, int any)
{
	char buf[sizeof(g.eal_said)];
	const char *pick[4] = { NULL, NULL, NULL, NULL };
	snprintf(buf, sizeof(buf), "%s", g.eal_said);
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (!pick[0] && !strncmp(line, "seed-dataplane: ", 16))
			pick[0] = line + 16;
		else if (strstr(line, "FATAL"))
			pick[1] = line;
		else if (!pick[2] && (strstr(line, "failed") || strstr(line, "No such") ||
				      strstr(line, "Cannot") || strstr(line, "rror")))
			pick[2] = line;
		if (!strncmp(line, "EAL:", 4))
			pick[3] = line;
	}
	out[0] = 0;
	for (int k = 0; k < (any ? 4 : 3); k++) {
		if (pick[k]) {
			snprintf(out, cap, "%s", pick[k]);
			return;
		}
	}
}

/*
 * A worker's mbufs, data room for a frame of room bytes after the
 * headroom. net_af_xdp (DPDK 22.11) hands the kernel, as the memory its
 * socket may use (the UMEM), populated_size * object size bytes from the
 * pool's first object, as if the objects lay end to end; but rte_mempool
 * keeps an object smaller than a page off page boundaries. With
 * rte_pktmbuf_pool_create's 2368-byte objects on 4 KiB pages (--no-huge)
 * one object filled each page, and 3455 of the 8191 mbufs lay past the
 * end of the UMEM: the kernel refused every frame sent from one of them
 * (XDP_STATISTICS tx_invalid_descs, exactly as many as such frames), in
 * no DPDK counter. Only a worker reaching deep into its pool used them
 * (many frames in flight, the CPU contended), so one run in four on a
 * veth lost segments over and over until every connection sat in RTO
 * backoff. For net_af_xdp the objects here are a power of two on a
 * page-aligned zone: they tile every page exactly, so they lie end to end
 * as the PMD assumes and none crosses a page. Other PMDs take the pool
 * rte_pktmbuf_pool_create makes.
 */
static struct rte_mempool *pool_create(unsigned q, uint32_t room, int xdp, int socket,
				       struct seed_err *err)
{
	char name[32], zname[32];
	snprintf(name, sizeof(name), "seed_pool%u", q);
	snprintf(zname, sizeof(zname), "seed_mbufs%u", q);
	if (room < RTE_MBUF_DEFAULT_DATAROOM)
		room = RTE_MBUF_DEFAULT_DATAROOM;
	struct rte_mempool *mp = NULL;
	const struct rte_memzone *mz = NULL;
	if (!xdp) {
		mp = rte_pktmbuf_pool_create(name, DP_POOL_MBUFS, 256, 0,
					     (uint16_t)(RTE_PKTMBUF_HEADROOM + room), socket);
		if (!mp)
			goto nomem;
		return mp;
	}
	struct rte_mempool_objsz sz;
	rte_mempool_calc_obj_size(0, RTE_MEMPOOL_F_NO_SPREAD, &sz);
	/* the kernel writes a received frame XDP_PACKET_HEADROOM bytes past
	 * the mbuf's headroom */
	uint32_t need = sz.header_size + (uint32_t)sizeof(struct rte_mbuf) + RTE_PKTMBUF_HEADROOM +
			XDP_PACKET_HEADROOM + room;
	uint32_t obj = 2048;
	while (obj < need)
		obj *= 2;
	long pg = sysconf(_SC_PAGESIZE);
	uint32_t elt = obj - sz.header_size;
	if (pg <= 0 || obj > (uint32_t)pg ||
	    rte_mempool_calc_obj_size(elt, RTE_MEMPOOL_F_NO_SPREAD, NULL) != obj) {
		seed_err_set(err, -EINVAL,
			     "dpdk: worker %u's mbufs: no layout net_af_xdp can use for %u-byte "
			     "objects on %ld-byte pages",
			     q, obj, pg);
		return NULL;
	}
	mp = rte_mempool_create_empty(name, DP_POOL_MBUFS, elt, 256,
				      sizeof(struct rte_pktmbuf_pool_private), socket,
				      RTE_MEMPOOL_F_NO_SPREAD);
	if (!mp || rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL) < 0)
		goto nomem;
	struct rte_pktmbuf_pool_private priv = {
		.mbuf_data_room_size = (uint16_t)(elt - sizeof(struct rte_mbuf)),
	};
	rte_pktmbuf_pool_init(mp, &priv);
	size_t len = RTE_ALIGN_CEIL((size_t)DP_POOL_MBUFS * obj, (size_t)pg);
	mz = rte_memzone_reserve_aligned(zname, len, socket, 0, (unsigned)pg);
	if (!mz || rte_mempool_populate_virt(mp, mz->addr, len, (size_t)pg, NULL, NULL) < 0 ||
	    mp->populated_size != mp->size)
		goto nomem;
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	return mp;
nomem:
	seed_err_set(err, -ENOMEM,
		     "dpdk: no memory for worker %u's mbufs (%s): reserve hugepages or give "
		     "--no-huge -m MB",
		     q, rte_strerror(rte_errno));
	rte_mempool_free(mp);
	if (mz)
		rte_memzone_free(mz);
	return NULL;
}

struct span {
	uintptr_t lo, hi;
	uint32_t outside;
};

static void span_obj(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	(void)idx;
	struct span *s = arg;
	uintptr_t a = (uintptr_t)obj - mp->header_size;
	if (a < s->lo || (uintptr_t)obj + mp->elt_size + mp->trailer_size > s->hi)
		s->outside++;
}

/* How many of mp's objects lie outside the memory net_af_xdp registers
 * for it (see pool_create): the layout is checked, not trusted, since a
 * frame in any of them is lost without a trace. */
static uint32_t pool_outside_umem(struct rte_mempool *mp)
{
	const struct rte_mempool_memhdr *mh = STAILQ_FIRST(&mp->mem_list);
	long pg = sysconf(_SC_PAGESIZE);
	if (!mh || pg <= 0)
		return mp->populated_size;
	uintptr_t first = (uintptr_t)mh->addr;
	struct span s = { .lo = first & ~((uintptr_t)pg - 1) };
	s.hi = first + (uintptr_t)mp->populated_size *
			       rte_mempool_calc_obj_size(mp->elt_size, mp->flags, NULL);
	rte_mempool_obj_iter(mp, span_obj, &s);
	return s.outside;
}

/* net_af_xdp publishes what its sockets dropped for want of a fill
 * buffer (imissed) but not the frames the kernel refused to send or could
 * not queue for want of room: those come from the sockets themselves
 * (XDP_STATISTICS), which the PMD opened in this process. */
static void xsk_find(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	for (struct dirent *e = readdir(d); e && g.n_xsk < DP_MAX_WORKERS; e = readdir(d)) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		int dom = 0;
		socklen_t len = sizeof(dom);
		if (end != e->d_name && !*end && fd >= 0 && fd <= INT_MAX &&
		    getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) == 0 && dom == AF_XDP)
			g.xsk[g.n_xsk++] = (int)fd;
	}
	closedir(d);
}

static int dpdk_init(const struct netio_env *env, struct seed_err *err)
{
	if (g.up)
		return seed_err_set(err, -EALREADY, "dpdk: already initialized");
	if (env->workers > DP_MAX_WORKERS)
		return seed_err_set(err, -EINVAL, "--workers %u: the dpdk backend takes at most %d",
				    env->workers, DP_MAX_WORKERS);
	g.env = *env;
	g.workers = env->workers;
	static char argbuf[1100], lcores[64];
	char *argv[72];
	int argc = 0;
	argv[argc++] = "seed-dataplane";
	snprintf(argbuf, sizeof(argbuf), "%s", env->dpdk_args ? env->dpdk_args : "");
	int n = split_args(argbuf, argv + argc, 64);
	if (n < 0)
		return seed_err_set(err, -E2BIG, "--dpdk-args: more than 64 arguments");
	argc += n;
	/* One main lcore (signals, the catalog) and one per worker, floating
	 * over the CPUs, unless the operator placed them with -l/-c/--lcores. */
	if (!has_arg(argv, argc, "-l", "-c", "--lcores")) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		snprintf(lcores, sizeof(lcores), "--lcores=(0-%u)@(0-%ld)", env->workers,
			 ncpu > 0 ? ncpu - 1 : 0);
		argv[argc++] = lcores;
	}
	argv[argc] = NULL;
	/* The EAL prints its usage on stdout and its reasons on stderr and
	 * its log: while it starts, all three go to a scratch file; an
	 * operator gets one line naming the setting with the EAL's last word
	 * in it, and, when it started, what it said on stderr. */
	FILE *scratch = tmpfile();
	int saved_out = -1, saved_err = -1;
	if (scratch) {
		fflush(stdout);
		fflush(stderr);
		saved_out = dup(STDOUT_FILENO);
		saved_err = dup(STDERR_FILENO);
		dup2(fileno(scratch), STDOUT_FILENO);
		dup2(fileno(scratch), STDERR_FILENO);
		rte_openlog_stream(scratch);
	}
	g.eal_said[0] = 0;
	int eal = rte_eal_init(argc, argv);
	int eal_errno = rte_errno;
	char last[200] = "";
	if (scratch) {
		fflush(stdout);
		fflush(stderr);
		fflush(scratch);
		dup2(saved_out, STDOUT_FILENO);
		dup2(saved_err, STDERR_FILENO);
		close(saved_out);
		close(saved_err);
		rte_openlog_stream(NULL);
		rewind(scratch);
		size_t got = fread(g.eal_said, 1, sizeof(g.eal_said) - 1, scratch);
		g.eal_said[got] = 0;
		fclose(scratch);
	}
	if (eal < 0) {
		eal_reason(last, sizeof(last), 1);
		return seed_err_set(
			err, -ENODEV,
			"--dpdk-args: the EAL did not start (%s%s%s): check the device, "
			"hugepages (or --no-huge -m MB) and the arguments",
			rte_strerror(eal_errno), *last ? ": " : "", last);
	}
	g.tsc_hz = rte_get_tsc_hz();
	unsigned k = 0, lc;
	RTE_LCORE_FOREACH_WORKER(lc)
	{
		if (k < g.workers)
			g.lcore[k++] = lc;
	}
	if (k < g.workers)
		return seed_err_set(err, -EINVAL,
				    "--workers %u: the EAL has %u worker lcores (give more with "
				    "-l or --lcores in --dpdk-args)",
				    g.workers, k);
	g.port = env->dpdk_port;
	if (!rte_eth_dev_is_valid_port(g.port)) {
		char why[200] = "";
		eal_reason(why, sizeof(why), 0);
		return seed_err_set(
			err, -ENODEV,
			"--dpdk-port %u: no such DPDK port (%u ports%s%s: bind a NIC with "
			"dpdk-devbind.py or add a --vdev to --dpdk-args)",
			g.port, rte_eth_dev_count_avail(), *why ? "; " : "", why);
	}
	struct rte_eth_dev_info di;
	int rc = rte_eth_dev_info_get(g.port, &di);
	if (rc < 0)
		return seed_err_set(err, rc, "--dpdk-port %u: %s", g.port, rte_strerror(-rc));
	if (g.workers > di.max_rx_queues || g.workers > di.max_tx_queues)
		return seed_err_set(
			err, -EINVAL, "--workers %u: port %u (%s) has %u RX and %u TX queues",
			g.workers, g.port, di.driver_name, di.max_rx_queues, di.max_tx_queues);
	struct rte_eth_conf pc;
	memset(&pc, 0, sizeof(pc));
	uint64_t rss = di.flow_type_rss_offloads & RTE_ETH_RSS_NONFRAG_IPV4_TCP;
	int sw_steer = 0;
	if (g.workers > 1 && rss) {
		pc.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		pc.rx_adv_conf.rss_conf.rss_hf = rss;
	} else if (g.workers > 1) {
		sw_steer = 1;
	}
	const uint64_t txcs = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
	const uint64_t rxcs = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	if ((di.tx_offload_capa & txcs) == txcs) {
		pc.txmode.offloads |= txcs;
		g.tx_csum = 1;
	}
	if ((di.rx_offload_capa & rxcs) == rxcs) {
		pc.rxmode.offloads |= rxcs;
		g.rx_csum = 1;
	}
	rc = rte_eth_dev_configure(g.port, (uint16_t)g.workers, (uint16_t)g.workers, &pc);
	if (rc < 0)
		return seed_err_set(err, rc, "--dpdk-port %u (%s): configure: %s", g.port,
				    di.driver_name, rte_strerror(-rc));
	rc = rte_eth_dev_set_mtu(g.port, env->mtu);
	if (rc < 0 && rc != -ENOTSUP)
		return seed_err_set(err, rc, "--mtu %u: port %u (%s) refuses it: %s", env->mtu,
				    g.port, di.driver_name, rte_strerror(-rc));
	/* net_af_xdp's kernel side holds 2048 fill buffers: a receive ring
	 * of as many takes the burst of ACKs a burst of sends draws from a
	 * peer on the same host (veth), which overflowed 1024 in half the
	 * test_dpdk_serve runs (up to 2863 frames) and none of 4 with 2048 */
	int xdp = !strcmp(di.driver_name, "net_af_xdp");
	uint16_t nrx = xdp ? 2 * DP_RX_DESC : DP_RX_DESC, ntx = DP_TX_DESC;
	rte_eth_dev_adjust_nb_rx_tx_desc(g.port, &nrx, &ntx);
	int socket = rte_eth_dev_socket_id(g.port);
	if (socket < 0)
		socket = 0;
	for (unsigned q = 0; q < g.workers; q++) {
		char name[32];
		/* a frame of the whole MTU in one segment */
		g.pool[q] = pool_create(q, env->mtu + RTE_ETHER_HDR_LEN + 64, xdp, socket, err);
		if (!g.pool[q])
			return err->code;
		uint32_t out = xdp ? pool_outside_umem(g.pool[q]) : 0;
		if (out)
			return seed_err_set(err, -EINVAL,
					    "dpdk: port %u (%s): %u of worker %u's %u mbufs lie "
					    "outside the memory the PMD registers with the kernel "
					    "(frames in them would be lost)",
					    g.port, di.driver_name, out, q,
					    g.pool[q]->populated_size);
		rc = rte_eth_rx_queue_setup(g.port, (uint16_t)q, nrx, (unsigned)socket, NULL,
					    g.pool[q]);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(g.port, (uint16_t)q, ntx, (unsigned)socket,
						    NULL);
		if (rc < 0)
			return seed_err_set(err, rc, "dpdk: port %u queue %u: %s", g.port, q,
					    rte_strerror(-rc));
		if (sw_steer) {
			snprintf(name, sizeof(name), "seed_steer%u", q);
			g.steer[q] = rte_ring_create(name, DP_STEER_RING, socket, RING_F_SC_DEQ);
			if (!g.steer[q])
				return seed_err_set(err, -ENOMEM, "dpdk: steering ring %u: %s", q,
						    rte_strerror(rte_errno));
		}
	}
	rc = rte_eth_macaddr_get(g.port, &g.mac);
	if (rc < 0)
		return seed_err_set(err, rc, "dpdk: port %u has no MAC address", g.port);
	rc = rte_eth_dev_start(g.port);
	if (rc < 0)
		return seed_err_set(err, rc, "dpdk: port %u (%s) does not start: %s", g.port,
				    di.driver_name, rte_strerror(-rc));
	if (xdp)
		xsk_find();
	if (getrandom(g.secret, sizeof(g.secret), 0) != (ssize_t)sizeof(g.secret))
		return seed_err_set(err, -EIO, "dpdk: no random bytes for the SYN cookie key");
	/* it started: what the EAL said is worth the operator's log */
	fputs(g.eal_said, stderr);
	g.up = 1;
	return 0;
}

static void dpdk_fini(void)
{
	if (!g.up)
		return;
	rte_eth_dev_stop(g.port);
	rte_eth_dev_close(g.port);
	rte_eal_cleanup();
	g.up = 0;
}

static int run_job(void *arg)
{
	struct dp_job *j = arg;
	j->fn(j->arg);
	return 0;
}

static int dpdk_launch(unsigned worker, void *(*fn)(void *), void *arg, struct seed_err *err)
{
	if (worker >= g.workers)
		return seed_err_set(err, -EINVAL, "dpdk: no lcore for worker %u", worker);
	g.job[worker].fn = fn;
	g.job[worker].arg = arg;
	int rc = rte_eal_remote_launch(run_job, &g.job[worker], g.lcore[worker]);
	if (rc < 0)
		return seed_err_set(err, rc, "dpdk: lcore %u is busy", g.lcore[worker]);
	return 0;
}

static void dpdk_join(unsigned worker)
{
	if (worker < g.workers)
		rte_eal_wait_lcore(g.lcore[worker]);
}

/* ---- one worker ---- */

static int d_create(const struct netio_config *cfg, struct netio **out, struct seed_err *err)
{
	if (!g.up || cfg->worker >= g.workers)
		return seed_err_set(err, -EINVAL, "dpdk: worker %u has no queue", cfg->worker);
	struct netio *n = calloc(1, sizeof(*n));
	if (!n)
		return seed_err_set(err, -ENOMEM, "dpdk: out of memory");
	n->cfg = *cfg;
	netio_config_defaults(&n->cfg);
	n->q = (uint16_t)cfg->worker;
	n->pool = g.pool[n->q];
	n->tx = calloc(DP_TXCAP, sizeof(*n->tx));
	n->sev = calloc(DP_EVCAP, sizeof(*n->sev));
	n->pend = calloc(DP_PENDCAP, sizeof(*n->pend));
	n->conns = calloc(n->cfg.max_conns, sizeof(*n->conns));
	int rc = -ENOMEM;
	if (!n->tx || !n->sev || !n->pend || !n->conns) {
		seed_err_set(err, rc, "dpdk: out of memory");
		goto fail;
	}
	struct stack_config sc;
	memset(&sc, 0, sizeof(sc));
	memcpy(sc.mac, g.mac.addr_bytes, ETH_ADDR_LEN);
	sc.ip = g.env.ip;
	sc.prefix = g.env.prefix;
	sc.gateway = g.env.gateway;
	sc.mtu = g.env.mtu;
	sc.tx_csum_offload = g.tx_csum;
	sc.tcp.max_conns = n->cfg.max_conns;
	memcpy(sc.tcp.secret, g.secret, sizeof(sc.tcp.secret));
	rc = stack_create(&sc, &n->stack, err);
	if (rc < 0)
		goto fail;
	n->out = (struct stack_out){
		.tx = n->tx, .txcap = DP_TXCAP, .ev = n->sev, .evcap = DP_EVCAP
	};
	*out = n;
	return 0;
fail:
	free(n->tx);
	free(n->sev);
	free(n->pend);
	free(n->conns);
	free(n);
	return rc;
}

static void d_destroy(struct netio *n)
{
	if (!n)
		return;
	for (uint32_t i = 0; i < n->n_hold; i++)
		rte_pktmbuf_free(n->hold[i]);
	/* RECV events not handed back: their mbufs */
	for (uint32_t i = n->ph; i != n->pt; i = (i + 1) % DP_PENDCAP)
		if (n->pend[i].kind == NETIO_EV_RECV)
			rte_pktmbuf_free((struct rte_mbuf *)(uintptr_t)n->pend[i].rxh);
	stack_destroy(n->stack);
	free(n->tx);
	free(n->sev);
	free(n->pend);
	free(n->conns);
	free(n);
}

static int d_listen(struct netio *n, const struct sockaddr *addr, socklen_t len, uint32_t tag,
		    uint16_t *out_port, struct seed_err *err)
{
	if (addr->sa_family != AF_INET || len < sizeof(struct sockaddr_in))
		return seed_err_set(err, -EAFNOSUPPORT,
				    "the dpdk backend listens on IPv4 (IPv6 comes later)");
	const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)addr;
	uint32_t ip = ntohl(a->sin_addr.s_addr);
	uint16_t port = ntohs(a->sin_port);
	if (ip && ip != g.env.ip)
		return seed_err_set(err, -EADDRNOTAVAIL,
				    "not the port's address (--ip): listen on * or on it");
	if (!port)
		return seed_err_set(err, -EINVAL, "the dpdk backend needs a port number, not 0");
	int rc = stack_listen(n->stack, port, tag);
	if (rc < 0)
		return seed_err_set(err, rc, "port %u: %s", port,
				    rc == -EADDRINUSE ? "already listening" : "too many listeners");
	if (out_port)
		*out_port = port;
	return 0;
}

static struct netio_event *pend_push(struct netio *n)
{
	uint32_t next = (n->pt + 1) % DP_PENDCAP;
	if (next == n->ph)
		return NULL; /* cannot happen: input stops well before (see d_poll) */
	struct netio_event *e = &n->pend[n->pt];
	memset(e, 0, offsetof(struct netio_event, peer));
	n->pt = next;
	return e;
}

static uint32_t pend_count(const struct netio *n)
{
	return (n->pt + DP_PENDCAP - n->ph) % DP_PENDCAP;
}

static int d_send(struct netio *n, uint32_t conn, const struct iovec *iov, int iovcnt, int zc,
		  uint64_t cookie)
{
	(void)zc; /* every send is by reference: the stack never copies */
	int rc = stack_send(n->stack, conn, iov, iovcnt, cookie);
	if (rc == -EAGAIN)
		return -EAGAIN;
	struct netio_event *e = pend_push(n);
	if (!e)
		return -EAGAIN;
	uint64_t bytes = 0;
	for (int i = 0; i < iovcnt; i++)
		bytes += iov[i].iov_len;
	e->kind = NETIO_EV_SENT;
	e->conn = conn;
	e->cookie = cookie;
	if (rc < 0) {
		e->res = rc;
		e->freed = 1;
		n->st.send_errors++;
	} else {
		/* queued: the memory is the stack's until ACKED -> FREED */
		e->res = (int32_t)(bytes > INT32_MAX ? INT32_MAX : bytes);
		n->st.sends++;
		n->st.send_bytes += bytes;
	}
	return 0;
}

static void d_recv_release(struct netio *n, uint64_t rxh)
{
	(void)n;
	if (rxh)
		rte_pktmbuf_free((struct rte_mbuf *)(uintptr_t)rxh);
}

static void d_close(struct netio *n, uint32_t conn)
{
	if (conn >= n->cfg.max_conns || !n->conns[conn].used || n->conns[conn].closing)
		return;
	n->conns[conn].closing = 1;
	stack_close(n->stack, conn);
}

static void d_stop_listening(struct netio *n)
{
	stack_stop_listening(n->stack);
}

/* Stack events to netio events. */
static void take_events(struct netio *n)
{
	for (uint32_t i = 0; i < n->out.nev; i++) {
		const struct stack_ev *s = &n->sev[i];
		if (s->kind == STACK_EV_PEER_FIN) {
			/* as a kernel socket's end of file: the worker's
			 * connection ends; ours closes once the peer has
			 * what was queued */
			if (s->conn < n->cfg.max_conns && !n->conns[s->conn].closing) {
				n->conns[s->conn].closing = 1;
				stack_close(n->stack, s->conn);
			}
			continue;
		}
		struct netio_event *e = pend_push(n);
		if (!e)
			break;
		e->conn = s->conn;
		switch (s->kind) {
		case STACK_EV_ACCEPT: {
			e->kind = NETIO_EV_ACCEPT;
			e->tag = s->tag;
			if (s->conn < n->cfg.max_conns)
				n->conns[s->conn] = (struct dconn){ .used = 1 };
			struct sockaddr_in *sa = (struct sockaddr_in *)(void *)&e->peer;
			memset(&e->peer, 0, sizeof(e->peer));
			sa->sin_family = AF_INET;
			sa->sin_port = htons(s->peer.port);
			memcpy(&sa->sin_addr, s->peer.ip, 4);
			n->st.accepts++;
			break;
		}
		case STACK_EV_DATA:
			e->kind = NETIO_EV_RECV;
			e->data = s->data;
			e->len = s->len;
			e->rxh = s->rx_handle;
			n->st.recvs++;
			n->st.recv_bytes += s->len;
			break;
		case STACK_EV_PEER_FIN: break;
		case STACK_EV_ACKED:
			e->kind = NETIO_EV_FREED;
			e->cookie = s->cookie;
			break;
		case STACK_EV_CLOSED:
			e->kind = NETIO_EV_CLOSED;
			e->res = s->res;
			if (s->conn < n->cfg.max_conns)
				n->conns[s->conn] = (struct dconn){ 0 };
			break;
		}
	}
	n->out.nev = 0;
}

/*
 * Frames the stack made to mbufs, and out. A frame that finds no mbuf or
 * no room on the queue is dropped, as on a full NIC ring: TCP sends it
 * again. A pass with nothing to send still calls the PMD: net_af_xdp in
 * copy mode hands frames to the kernel only when it is called (the kernel
 * sends a bounded batch per system call), so frames queued by the last
 * burst of a window waited there until the next transmission, which TCP
 * made only after an RTO: on a veth, connections stalled for seconds and
 * then for good, pings unanswered (bench/veth.sh,
 * 16 BitTorrent connections: half the runs).
 */
static void flush_tx(struct netio *n)
{
	struct rte_mbuf *m[DP_TXCAP];
	uint32_t nm = 0;
	for (uint32_t i = 0; i < n->out.ntx; i++) {
		const struct stack_tx *t = &n->tx[i];
		struct rte_mbuf *mb = rte_pktmbuf_alloc(n->pool);
		if (!mb) {
			n->tx_drops++;
			continue;
		}
		uint32_t len = t->hdr_len + t->pay_len;
		char *p = rte_pktmbuf_append(mb, (uint16_t)(len < 60 ? 60 : len));
		if (!p || len > UINT16_MAX) {
			rte_pktmbuf_free(mb);
			n->tx_drops++;
			continue;
		}
		memcpy(p, t->hdr, t->hdr_len);
		uint32_t off = t->hdr_len;
		for (uint32_t k = 0; k < t->n_pay; k++) {
			memcpy(p + off, t->pay[k].p, t->pay[k].len);
			off += t->pay[k].len;
		}
		if (len < 60)
			memset(p + len, 0, 60 - len); /* Ethernet's minimum frame */
		if (t->ol_flags) {
			mb->l2_len = t->l2_len;
			mb->l3_len = t->l3_len;
			mb->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM |
					RTE_MBUF_F_TX_TCP_CKSUM;
		}
		m[nm++] = mb;
	}
	n->out.ntx = 0;
	uint32_t sent = 0;
	for (int tries = 0; sent < nm && tries < 4; tries++)
		sent += rte_eth_tx_burst(g.port, n->q, m + sent, (uint16_t)(nm - sent));
	if (!nm)
		rte_eth_tx_burst(g.port, n->q, m, 0);
	for (uint32_t i = sent; i < nm; i++) {
		rte_pktmbuf_free(m[i]);
		n->tx_drops++;
	}
}

/* The worker a frame belongs to: a hash of the TCP 4-tuple (the same on
 * every worker); -1 for ARP (every worker); 0 for anything else. */
static int owner_of(const struct rte_mbuf *m)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m);
	if (len < 14)
		return 0;
	uint16_t type = byteio_be16(f + 12);
	if (type == 0x0806)
		return -1;
	if (type != 0x0800 || len < 14 + 20 + 4 || f[14 + 9] != 6)
		return 0;
	uint32_t ihl = (f[14] & 15u) * 4u;
	if (14 + ihl + 4 > len)
		return 0;
	uint32_t h = byteio_be32(f + 26) * 2654435761u ^ byteio_be32(f + 30) * 2246822519u ^
		     byteio_be32(f + 14 + ihl) * 3266489917u;
	h ^= h >> 15;
	return (int)(h % g.workers);
}

static void steer(struct netio *n, struct rte_mbuf **rx, uint16_t *nb)
{
	uint16_t keep = 0;
	for (uint16_t i = 0; i < *nb; i++) {
		struct rte_mbuf *m = rx[i];
		int o = owner_of(m);
		if (o == (int)n->q) {
			rx[keep++] = m;
			continue;
		}
		if (o < 0) {
			/* ARP: a reference for each other worker, ours kept */
			rte_mbuf_refcnt_update(m, (int16_t)(g.workers - 1));
			for (unsigned w = 0; w < g.workers; w++)
				if (w != n->q && rte_ring_mp_enqueue(g.steer[w], m) != 0) {
					rte_pktmbuf_free(m);
					n->steer_drops++;
				}
			rx[keep++] = m;
			continue;
		}
		if (rte_ring_mp_enqueue(g.steer[o], m) != 0) {
			rte_pktmbuf_free(m);
			n->steer_drops++;
		}
	}
	*nb = keep;
}

static void input(struct netio *n, struct rte_mbuf *m, uint64_t now)
{
	if (m->nb_segs > 1 && rte_pktmbuf_linearize(m) < 0) {
		rte_pktmbuf_free(m);
		return;
	}
	uint32_t flags = 0;
	if (g.rx_csum &&
	    (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
	    (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		flags |= STACK_RX_CSUM_OK;
	uint32_t ev0 = n->out.nev;
	stack_input(n->stack, rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), flags,
		    (uint64_t)(uintptr_t)m, now, &n->out);
	int taken = 0;
	for (uint32_t i = ev0; i < n->out.nev; i++)
		if (n->sev[i].kind == STACK_EV_DATA)
			taken = 1;
	/* a frame the worker now holds (DATA) is freed by recv_release;
	 * the others after this pass (a reply may point into them) */
	if (!taken)
		n->hold[n->n_hold++] = m;
	take_events(n);
	if (n->out.ntx + 8 > DP_TXCAP)
		flush_tx(n);
}

/* The port's and the stack's totals into n->st, ten times a second (the
 * port's counters may be device registers: not every pass). */
static void refresh_stats(struct netio *n, uint64_t tsc)
{
	if (tsc < n->next_stats)
		return;
	n->next_stats = tsc + g.tsc_hz / 10;
	struct rte_eth_link link;
	if (rte_eth_link_get_nowait(g.port, &link) == 0)
		n->st.links_up = link.link_status == RTE_ETH_LINK_UP;
	/* drops of the whole port, and net_af_xdp's sockets' (any queue's),
	 * are counted once, by worker 0 */
	uint64_t xsk_rx = 0, xsk_tx = 0;
	for (unsigned i = 0; n->q == 0 && i < g.n_xsk; i++) {
		struct xdp_statistics xs;
		socklen_t len = sizeof(xs);
		memset(&xs, 0, sizeof(xs));
		if (getsockopt(g.xsk[i], SOL_XDP, XDP_STATISTICS, &xs, &len) < 0)
			continue;
		/* a shorter answer (an older kernel) counts a full ring in
		 * rx_dropped, which is imissed already */
		xsk_rx += len == sizeof(xs) ? xs.rx_ring_full : 0;
		xsk_tx += xs.tx_invalid_descs;
	}
	struct rte_eth_stats es;
	if (rte_eth_stats_get(g.port, &es) == 0 && n->q < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
		n->st.rx_packets = es.q_ipackets[n->q];
		n->st.tx_packets = es.q_opackets[n->q];
		n->st.rx_dropped = es.q_errors[n->q] + (n->q == 0 ? es.imissed + es.rx_nombuf : 0) +
				   xsk_rx + n->steer_drops;
	}
	n->st.tx_dropped = n->tx_drops + xsk_tx;
	const struct tcp_stats *ts = tcp_stats(stack_tcp(n->stack));
	n->st.tcp_retransmits = ts->retransmits;
	n->st.tcp_timeouts = ts->rto;
	n->st.syn_cookies = ts->synack_out;
	n->st.bad_cookies = ts->cookie_bad;
	const struct stack_stats *ss = stack_stats(n->stack);
	n->st.input_errors = ss->eth_bad + ss->eth_vlan + ss->ip_bad + ss->ip_csum + ss->ip_frag +
			     ss->icmp_bad + ss->tcp_csum + ss->arp_bad + ts->malformed;
}

static int d_poll(struct netio *n, struct netio_event *ev, int cap, int timeout_ms)
{
	(void)timeout_ms; /* busy polling: never sleeps on the network */
	uint64_t t0 = rte_get_tsc_cycles();
	uint64_t now = t0 / (g.tsc_hz / 1000000u);
	int work = 0;
	/* take input only while the worker keeps up with the events */
	for (int b = 0; b < DP_RX_BURSTS && pend_count(n) < DP_PENDCAP / 2; b++) {
		struct rte_mbuf *rx[DP_BURST];
		uint16_t nb = rte_eth_rx_burst(g.port, n->q, rx, DP_BURST), got = nb;
		if (g.steer[n->q]) {
			steer(n, rx, &nb);
			nb = (uint16_t)(nb +
					rte_ring_sc_dequeue_burst(g.steer[n->q], (void **)(rx + nb),
								  (unsigned)(DP_BURST - nb), NULL));
		}
		for (uint16_t i = 0; i < nb; i++)
			input(n, rx[i], now);
		work |= nb != 0;
		if (got < DP_BURST)
			break;
	}
	stack_poll(n->stack, now, &n->out);
	take_events(n);
	work |= n->out.ntx != 0;
	flush_tx(n);
	for (uint32_t i = 0; i < n->n_hold; i++)
		rte_pktmbuf_free(n->hold[i]);
	n->n_hold = 0;
	int k = 0;
	while (k < cap && n->ph != n->pt) {
		ev[k++] = n->pend[n->ph];
		n->ph = (n->ph + 1) % DP_PENDCAP;
	}
	uint64_t t1 = rte_get_tsc_cycles();
	if (work || k)
		n->st.busy_cycles += t1 - t0;
	refresh_stats(n, t1);
	if (!work && !k && g.env.idle_sleep_us) {
		struct timespec ts = { 0, (long)g.env.idle_sleep_us * 1000 };
		nanosleep(&ts, NULL);
	}
	return k;
}

static int d_register_mem(struct netio *n, void *p, size_t len, struct seed_err *err)
{
	(void)n;
	long pg = sysconf(_SC_PAGESIZE);
	if (pg <= 0 || (uintptr_t)p % (size_t)pg || len % (size_t)pg)
		return 0; /* not page-aligned: stays copied (part 1 copies anyway) */
	int rc = rte_extmem_register(p, len, NULL, 0, (size_t)pg);
	if (rc < 0 && rte_errno != EEXIST)
		return seed_err_set(err, -rte_errno, "dpdk: registering the cache with the EAL: %s",
				    rte_strerror(rte_errno));
	return 0;
}

static void d_describe(const struct netio *n, uint32_t conn, char *buf, size_t len)
{
	struct tcp_conn_info i;
	if (tcp_conn_info(stack_tcp(n->stack), conn, &i) < 0) {
		snprintf(buf, len, " tcp=none");
		return;
	}
	snprintf(buf, len,
		 " tcp_state=%d cwnd=%u ssthresh=%u flight=%u snd_wnd=%u srtt_us=%u rto_us=%u "
		 "nxt=%u max=%u end=%u recovery=%u rto_recovery=%u sack_ranges=%u backoff=%u "
		 "timer=%u",
		 i.state, i.cwnd, i.ssthresh, i.flight, i.snd_wnd, i.srtt_us, i.rto_us, i.nxt,
		 i.max, i.end, i.in_recovery, i.rto_recovery, i.nsack, i.backoff, i.timer);
}

static const struct netio_stats *d_stats(const struct netio *n)
{
	return &n->st;
}

static const struct netio_ops netio_dpdk_ops = {
	.name = "dpdk",
	.create = d_create,
	.destroy = d_destroy,
	.listen = d_listen,
	.send = d_send,
	.recv_release = d_recv_release,
	.close = d_close,
	.watch = NULL,
	.register_mem = d_register_mem,
	.stop_listening = d_stop_listening,
	.poll = d_poll,
	.stats = d_stats,
	.describe = d_describe,
	.busy_poll = 1,
};

const struct netio_backend netio_dpdk_backend = {
	.name = "dpdk",
	.ops = &netio_dpdk_ops,
	.init = dpdk_init,
	.fini = dpdk_fini,
	.launch = dpdk_launch,
	.join = dpdk_join,
};
