/*
 * uring: the netio backend over kernel sockets driven by io_uring.
 *
 * One ring per worker, set up with SINGLE_ISSUER | DEFER_TASKRUN where the
 * kernel has them (completions then run only when the worker asks, in its
 * own thread). Listeners use multishot accept; every connection has one
 * multishot recv drawing from a ring of provided buffers, so an idle
 * connection holds no buffer; sends are sendmsg with MSG_WAITALL, zero-copy
 * (SENDMSG_ZC) when asked and supported. A connection has at most one send
 * submitted at a time, the rest wait in its queue: two sends in flight on
 * one stream socket may interleave their bytes when the first has to wait
 * for room. Datagram sockets (uTP) have one multishot recvmsg each, into a
 * second ring of provided buffers, and send with sendmmsg, UDP_SEGMENT
 * where the route takes it.
 *
 * Invariants: a connection slot is reused only after its fd is closed and
 * nothing it issued is in flight (inflight == 0); every SQE's user_data
 * carries the slot's generation, so a late completion for a reused slot is
 * recognised and dropped. A send is reported at its result (SENT: the next
 * send may go) and, for zero-copy, again at its notification (FREED: only
 * then may the caller reuse the memory).
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "netio.h"
#include "mem.h"

enum op_type { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_WATCH, OP_UDP };

#define UD(type, gen, idx) (((uint64_t)(type) << 56) | ((uint64_t)((gen)&0xffffff) << 32) | (idx))
#define UD_TYPE(u)	   ((int)((u) >> 56))
#define UD_GEN(u)	   ((uint32_t)(((u) >> 32) & 0xffffff))
#define UD_IDX(u)	   ((uint32_t)(u))
#define MAX_LISTENERS	   16
#define MAX_UDP		   4
#define DG_SIZE		   2048		   /* bigger than any uTP packet we accept */
#define DG_SLOT		   (DG_SIZE + 256) /* + io_uring_recvmsg_out and the address */
#define DG_BUFS		   256		   /* datagram receive buffers per worker (power of two) */
#define DG_BATCH	   32		   /* messages per sendmmsg */
#define DG_IOV_CAP	   1024		   /* iovecs per sendmmsg, all its messages together */
#define DG_RCVBUF	   (4 << 20)	   /* a datagram socket's receive buffer */
/* One UDP_SEGMENT message: the kernel's UDP_MAX_SEGMENTS (64 before 6.9),
 * and an IPv4 datagram's largest payload. */
#define GSO_SEGS  64
#define GSO_BYTES 65507
#define BGID	  0 /* stream receive buffers */
#define BGID_DG	  1 /* datagram receive buffers, apart so neither starves the other */

enum conn_state { C_FREE = 0, C_OPEN, C_CLOSING };

struct conn {
	int fd;
	uint32_t gen;
	enum conn_state state;
	uint32_t inflight; /* armed recv + sends not yet reported */
	int want_rearm;	   /* recv stopped for lack of buffers */
	int32_t close_res;
	uint32_t sq_head, sq_tail; /* queued sends (op indices), NONE when empty */
	int sending;		   /* a send is submitted and has no result yet */
	/* The peer is on this host (and zerocopy_loopback is off): its data
	 * reaches it through skb_orphan_frags_rx, which copies pinned pages
	 * anyway, so SEND_ZC there only adds the notification (measured: half
	 * the throughput). Its sends copy. */
	uint8_t loopback;
};

#define NONE UINT32_MAX

struct sendop {
	uint32_t conn, gen;
	uint64_t cookie;
	struct msghdr msg;
	struct iovec iov[NETIO_MAX_IOV];
	int32_t res;
	size_t total;
	uint32_t next; /* next queued op of the same connection */
	uint8_t zc, got_res, got_notif, want_notif;
};

struct netio {
	struct io_uring ring;
	struct netio_config cfg;
	struct conn *conns;
	uint32_t *free_conns, n_free_conns;
	struct sendop *ops;
	uint32_t *free_ops, n_free_ops;
	struct {
		int fd;
		uint32_t tag;
	} lis[MAX_LISTENERS];
	int n_lis;
	struct {
		int fd;
		uint32_t tag;
	} watch[MAX_LISTENERS];
	int n_watch;
	/* Datagram sockets: each has one multishot recvmsg drawing from the
	 * datagram buffer ring (dgbr, dgbufs); a buffer handed out in an
	 * event goes back at the next poll (dg_lent), when the caller is done
	 * with the event. */
	struct {
		int fd;
		uint32_t tag;
		uint8_t armed;	   /* its recvmsg is in flight; else re-armed at the next poll */
		uint8_t failed;	   /* its recvmsg was refused: not re-armed (no busy loop) */
		uint8_t gso;	   /* UDP_SEGMENT works here (cleared at its first refusal) */
		struct msghdr msg; /* the recvmsg's layout: the address's room only */
	} udp[MAX_UDP];
	int n_udp;
	struct io_uring_buf_ring *dgbr;
	uint8_t *dgbufs;
	uint16_t dg_lent[DG_BUFS];
	uint32_t n_dg_lent;
	/* sendmmsg's messages, their iovecs, UDP_SEGMENT headers, and how many
	 * of the caller's datagrams each carries */
	struct mmsghdr dgm[DG_BATCH];
	struct iovec *dgiov;
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} dgcm[DG_BATCH];
	int dgn[DG_BATCH];
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	size_t bufs_bytes;
	int zc_ok;
	uint32_t n_want_rearm; /* connections waiting for receive buffers */
	/* connections closed but not yet reported */
	uint32_t *closed;
	uint32_t n_closed;
	struct netio_stats st;
};

/* 127/8, ::1, and ::ffff:127/104 (what a dual-stack listener reports). */
static uint8_t is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr)[0] == 127;
	if (ss->ss_family != AF_INET6)
		return 0;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a))
		return a->s6_addr[12] == 127;
	return IN6_IS_ADDR_LOOPBACK(a);
}

static struct io_uring_sqe *get_sqe(struct netio *n)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&n->ring);
	if (!sqe) {
		io_uring_submit(&n->ring);
		sqe = io_uring_get_sqe(&n->ring);
	}
	return sqe;
}

/* The ring, the buffer ring and every table; what was never made is NULL. */
static void free_netio(struct netio *n)
{
	io_uring_queue_exit(&n->ring);
	if (n->br)
		munmap(n->br, n->br_bytes);
	if (n->bufs)
		munmap(n->bufs, n->bufs_bytes);
	if (n->dgbr)
		munmap(n->dgbr, DG_BUFS * sizeof(struct io_uring_buf));
	if (n->dgbufs)
		munmap(n->dgbufs, (size_t)DG_BUFS * DG_SLOT);
	MEM_FREE_ALL(n->conns, n->free_conns, n->ops, n->free_ops, n->closed, n->dgiov, n);
}

static int u_create(const struct netio_config *cfg_in, struct netio **out, struct seed_err *err)
{
	struct netio_config cfg = *cfg_in;
	struct io_uring_params p;
	int rc;

	netio_config_defaults(&cfg);
	if (cfg.recv_bufs > 32768 || (cfg.recv_bufs & (cfg.recv_bufs - 1)))
		return seed_err_set(err, -EINVAL,
				    "netio: recv_bufs must be a power of two <= 32768");

	struct netio *n = calloc(1, sizeof(*n));
	if (!n)
		return seed_err_set(err, -ENOMEM, "out of memory");
	n->cfg = cfg;
	unsigned entries = 4096;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	rc = io_uring_queue_init_params(entries, &n->ring, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(entries, &n->ring, &p);
	}
	if (rc < 0) {
		free(n);
		return seed_err_set(err, rc, "io_uring setup failed: %s", strerror(-rc));
	}
	struct io_uring_probe *probe = io_uring_get_probe_ring(&n->ring);
	n->zc_ok = cfg.zerocopy && probe && io_uring_opcode_supported(probe, IORING_OP_SENDMSG_ZC);
	if (probe)
		io_uring_free_probe(probe);

	n->conns = calloc(cfg.max_conns, sizeof(*n->conns));
	n->free_conns = calloc(cfg.max_conns, sizeof(uint32_t));
	n->ops = calloc(cfg.max_sends, sizeof(*n->ops));
	n->free_ops = calloc(cfg.max_sends, sizeof(uint32_t));
	n->closed = calloc(cfg.max_conns, sizeof(uint32_t));
	if (!n->conns || !n->free_conns || !n->ops || !n->free_ops || !n->closed) {
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < cfg.max_conns; i++) {
		n->conns[i].fd = -1;
		n->free_conns[i] = cfg.max_conns - 1 - i;
	}
	n->n_free_conns = cfg.max_conns;
	for (uint32_t i = 0; i < cfg.max_sends; i++)
		n->free_ops[i] = cfg.max_sends - 1 - i;
	n->n_free_ops = cfg.max_sends;

	/* Debian's liburing 2.3 has no io_uring_setup_buf_ring: map and
	 * register the ring ourselves. */
	n->br_bytes = cfg.recv_bufs * sizeof(struct io_uring_buf);
	n->br = mmap(NULL, n->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	n->bufs_bytes = (size_t)cfg.recv_bufs * cfg.recv_buf_size;
	/* Populated now: the ring hands out every buffer in turn, so each page
	 * is touched within a worker's first megabytes of requests anyway, and
	 * a fault taken then (tens of microseconds in a paravirtualised guest)
	 * is paid by the first peers a worker serves (issue 19: a download from
	 * a worker that had served nothing cost 0.33-0.44 CPU-s/GiB, one from
	 * a worker that had served before 0.32; populated, 0.25-0.30). */
	n->bufs = mmap(NULL, n->bufs_bytes, PROT_READ | PROT_WRITE,
		       MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
	if (n->br == MAP_FAILED || n->bufs == MAP_FAILED) {
		n->br = n->br == MAP_FAILED ? NULL : n->br;
		n->bufs = n->bufs == MAP_FAILED ? NULL : n->bufs;
		rc = seed_err_set(err, -ENOMEM, "netio: cannot map receive buffers");
		goto fail;
	}
	struct io_uring_buf_reg reg = { .ring_addr = (unsigned long)n->br,
					.ring_entries = cfg.recv_bufs,
					.bgid = BGID };
	rc = io_uring_register_buf_ring(&n->ring, &reg, 0);
	if (rc < 0) {
		seed_err_set(err, rc, "netio: cannot register the receive buffer ring: %s",
			     strerror(-rc));
		goto fail;
	}
	io_uring_buf_ring_init(n->br);
	int mask = io_uring_buf_ring_mask(cfg.recv_bufs);
	for (uint32_t i = 0; i < cfg.recv_bufs; i++)
		io_uring_buf_ring_add(n->br, n->bufs + (size_t)i * cfg.recv_buf_size,
				      cfg.recv_buf_size, (unsigned short)i, mask, (int)i);
	io_uring_buf_ring_advance(n->br, (int)cfg.recv_bufs);
	*out = n;
	return 0;
fail:
	free_netio(n);
	return rc;
}

static void u_destroy(struct netio *n)
{
	if (!n)
		return;
	for (uint32_t i = 0; i < n->cfg.max_conns; i++)
		if (n->conns[i].fd >= 0)
			close(n->conns[i].fd);
	for (int i = 0; i < n->n_lis; i++)
		if (n->lis[i].fd >= 0)
			close(n->lis[i].fd);
	for (int i = 0; i < n->n_udp; i++)
		close(n->udp[i].fd);
	free_netio(n);
}

static void arm_accept(struct netio *n, int li)
{
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe)
		return;
	io_uring_prep_multishot_accept(sqe, n->lis[li].fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, UD(OP_ACCEPT, 0, (uint32_t)li));
}

static int u_listen(struct netio *n, const struct sockaddr *addr, socklen_t len, uint32_t tag,
		    uint16_t *out_port, struct seed_err *err)
{
	int one = 1;
	if (n->n_lis >= MAX_LISTENERS)
		return seed_err_set(err, -ENOSPC, "netio: too many listeners");
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return seed_err_set(err, -errno, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (addr->sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, addr, len) < 0 || listen(fd, 1024) < 0) {
		int e = errno;
		close(fd);
		return seed_err_set(err, -e, "cannot listen: %s", strerror(e));
	}
	if (out_port) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		getsockname(fd, (struct sockaddr *)&ss, &sl);
		*out_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							   : ((struct sockaddr_in *)&ss)->sin_port);
	}
	n->lis[n->n_lis].fd = fd;
	n->lis[n->n_lis].tag = tag;
	arm_accept(n, n->n_lis);
	n->n_lis++;
	return 0;
}

static int arm_watch(struct netio *n, int fd, uint32_t tag)
{
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe)
		return -EAGAIN;
	io_uring_prep_poll_multishot(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD(OP_WATCH, 0, tag));
	return 0;
}

static int u_watch(struct netio *n, int fd, uint32_t tag, struct seed_err *err)
{
	if (n->n_watch >= MAX_LISTENERS)
		return seed_err_set(err, -ENOSPC, "netio: too many watched fds");
	n->watch[n->n_watch].fd = fd;
	n->watch[n->n_watch].tag = tag;
	int rc = arm_watch(n, fd, (uint32_t)n->n_watch);
	if (rc < 0)
		return seed_err_set(err, rc, "netio: cannot watch fd %d", fd);
	n->n_watch++;
	return 0;
}

static int arm_udp(struct netio *n, int ui)
{
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe)
		return -EAGAIN;
	io_uring_prep_recvmsg_multishot(sqe, n->udp[ui].fd, &n->udp[ui].msg, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID_DG;
	io_uring_sqe_set_data64(sqe, UD(OP_UDP, 0, (uint32_t)ui));
	n->udp[ui].armed = 1;
	return 0;
}

/* The datagram buffer ring, at the first udp_bind (a backend serving no
 * uTP holds none). Debian's liburing 2.3 has no io_uring_setup_buf_ring. */
static int setup_dg_ring(struct netio *n, struct seed_err *err)
{
	size_t rb = DG_BUFS * sizeof(struct io_uring_buf);
	n->dgiov = calloc(DG_IOV_CAP, sizeof(*n->dgiov));
	n->dgbr = mmap(NULL, rb, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	n->dgbufs = mmap(NULL, (size_t)DG_BUFS * DG_SLOT, PROT_READ | PROT_WRITE,
			 MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0); /* as n->bufs */
	n->dgbr = n->dgbr == MAP_FAILED ? NULL : n->dgbr;
	n->dgbufs = n->dgbufs == MAP_FAILED ? NULL : n->dgbufs;
	int rc = -ENOMEM;
	if (n->dgiov && n->dgbr && n->dgbufs) {
		struct io_uring_buf_reg reg = { .ring_addr = (unsigned long)n->dgbr,
						.ring_entries = DG_BUFS,
						.bgid = BGID_DG };
		rc = io_uring_register_buf_ring(&n->ring, &reg, 0);
	}
	if (rc < 0) {
		/* all or nothing: a later udp_bind starts again */
		if (n->dgbr)
			munmap(n->dgbr, rb);
		if (n->dgbufs)
			munmap(n->dgbufs, (size_t)DG_BUFS * DG_SLOT);
		free(n->dgiov);
		n->dgbr = NULL;
		n->dgbufs = NULL;
		n->dgiov = NULL;
		return seed_err_set(err, rc, "netio: no datagram receive buffers: %s",
				    strerror(-rc));
	}
	io_uring_buf_ring_init(n->dgbr);
	for (uint32_t i = 0; i < DG_BUFS; i++)
		io_uring_buf_ring_add(n->dgbr, n->dgbufs + (size_t)i * DG_SLOT, DG_SLOT,
				      (unsigned short)i, io_uring_buf_ring_mask(DG_BUFS), (int)i);
	io_uring_buf_ring_advance(n->dgbr, DG_BUFS);
	return 0;
}

/* Gives the datagram buffers of the last poll's events back, then re-arms
 * the sockets whose recvmsg ended (out of buffers, or a full ring). */
static void dg_recycle(struct netio *n)
{
	int mask = io_uring_buf_ring_mask(DG_BUFS);
	for (uint32_t i = 0; i < n->n_dg_lent; i++) {
		uint16_t bid = n->dg_lent[i];
		io_uring_buf_ring_add(n->dgbr, n->dgbufs + (size_t)bid * DG_SLOT, DG_SLOT, bid,
				      mask, (int)i);
	}
	if (n->n_dg_lent)
		io_uring_buf_ring_advance(n->dgbr, (int)n->n_dg_lent);
	n->n_dg_lent = 0;
	for (int ui = 0; ui < n->n_udp; ui++)
		if (!n->udp[ui].armed && !n->udp[ui].failed)
			arm_udp(n, ui);
}

static int u_udp_bind(struct netio *n, const struct sockaddr *addr, socklen_t len, uint32_t tag,
		      struct seed_err *err)
{
	int one = 1;
	if (n->n_udp >= MAX_UDP)
		return seed_err_set(err, -ENOSPC, "netio: too many datagram sockets");
	if (!n->dgbr) {
		int rc = setup_dg_ring(n, err);
		if (rc < 0)
			return rc;
	}
	int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return seed_err_set(err, -errno, "socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (addr->sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, addr, len) < 0) {
		int e = errno;
		close(fd);
		return seed_err_set(err, -e, "cannot bind UDP: %s", strerror(e));
	}
	/* Datagrams wait in the socket between two passes of the loop (the
	 * ring's task work runs when the worker enters it): room for a burst
	 * of ACKs from every uTP peer. Beyond rmem_max only for root (CAP_
	 * NET_ADMIN: the data plane binds before it drops privileges). */
	int rcvbuf = DG_RCVBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	n->udp[n->n_udp].fd = fd;
	n->udp[n->n_udp].tag = tag;
	n->udp[n->n_udp].gso = 1;
	n->udp[n->n_udp].failed = 0;
	memset(&n->udp[n->n_udp].msg, 0, sizeof(n->udp[n->n_udp].msg));
	n->udp[n->n_udp].msg.msg_namelen = sizeof(struct sockaddr_storage);
	if (arm_udp(n, n->n_udp) < 0) {
		close(fd);
		return seed_err_set(err, -EAGAIN, "netio: no submission slot for UDP");
	}
	n->n_udp++;
	return 0;
}

static size_t dg_len(const struct netio_dgram *g)
{
	size_t len = 0;
	for (int i = 0; i < g->iovcnt; i++)
		len += g->iov[i].iov_len;
	return len;
}

/* How many of d[0..cnt) one UDP_SEGMENT message may carry after d[0]:
 * the same destination, the same length but for a shorter last one, and
 * within the kernel's bounds; *iovs counts their iovecs. */
static int gso_run(const struct netio_dgram *d, int cnt, int room, int *iovs)
{
	size_t len = dg_len(&d[0]);
	int segs = 1;
	size_t most = len ? GSO_BYTES / len : 1;
	*iovs = d[0].iovcnt;
	while (segs < cnt && (size_t)segs < most && segs < GSO_SEGS) {
		const struct netio_dgram *h = &d[segs];
		size_t hl = dg_len(h);
		if (hl > len || !hl || h->tolen != d[0].tolen || memcmp(h->to, d[0].to, h->tolen) ||
		    *iovs + h->iovcnt > room)
			break;
		*iovs += h->iovcnt;
		segs++;
		if (hl < len)
			break;
	}
	return segs;
}

/*
 * A batch of messages per sendmmsg; where UDP_SEGMENT works, a run of
 * full-size datagrams to one peer (what uTP sends while a window opens)
 * goes as one message that the stack, or the NIC, cuts into datagrams: the
 * per-datagram cost of the socket layer is paid once a run. A socket whose
 * device or route refuses it sends one datagram a message from then on.
 */
static int u_udp_send(struct netio *n, uint32_t tag, const struct netio_dgram *d, int cnt)
{
	int ui = 0;
	while (ui < n->n_udp && n->udp[ui].tag != tag)
		ui++;
	if (ui == n->n_udp)
		return -EBADF;
	int sent = 0;
	while (sent < cnt) {
		int k = 0, niov = 0, at = sent;
		while (k < DG_BATCH && at < cnt && d[at].iovcnt <= DG_IOV_CAP - niov) {
			int iovs = d[at].iovcnt;
			int segs = n->udp[ui].gso
					   ? gso_run(&d[at], cnt - at, DG_IOV_CAP - niov, &iovs)
					   : 1;
			struct msghdr *h = &n->dgm[k].msg_hdr;
			memset(h, 0, sizeof(*h));
			h->msg_name = (void *)d[at].to;
			h->msg_namelen = d[at].tolen;
			h->msg_iov = &n->dgiov[niov];
			for (int j = 0; j < segs; j++)
				for (int i = 0; i < d[at + j].iovcnt; i++)
					n->dgiov[niov++] = d[at + j].iov[i];
			h->msg_iovlen = (size_t)iovs;
			if (segs > 1) {
				h->msg_control = n->dgcm[k].buf;
				h->msg_controllen = sizeof(n->dgcm[k].buf);
				struct cmsghdr *cm = CMSG_FIRSTHDR(h);
				cm->cmsg_level = SOL_UDP;
				cm->cmsg_type = UDP_SEGMENT;
				cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
				uint16_t gs = (uint16_t)dg_len(&d[at]);
				memcpy(CMSG_DATA(cm), &gs, sizeof(gs));
			}
			n->dgn[k++] = segs;
			at += segs;
		}
		if (!k) {
			/* more iovecs than a call takes: never from utpnet */
			n->st.udp_dropped++;
			sent++;
			continue;
		}
		/* one call per batch; the kernel copies the payload */
		int r = sendmmsg(n->udp[ui].fd, n->dgm, (unsigned)k, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
				break;
			if (n->dgn[0] > 1) {
				/* EIO: no checksum offload on the route's device;
				 * EINVAL: a segment over its MTU. Plain from now. */
				n->udp[ui].gso = 0;
				continue;
			}
			/* a datagram the kernel refuses (an unreachable peer):
			 * skip it, as the network would drop it */
			n->st.udp_dropped++;
			sent++;
			continue;
		}
		for (int i = 0; i < r; i++) {
			n->st.udp_bytes_out += n->dgm[i].msg_len;
			n->st.udp_out += (uint64_t)n->dgn[i];
			n->st.udp_trains += n->dgn[i] > 1;
			sent += n->dgn[i];
		}
		if (r < k)
			break;
	}
	return sent;
}

static void u_stop_listening(struct netio *n)
{
	for (int i = 0; i < n->n_lis; i++) {
		if (n->lis[i].fd >= 0) {
			/* shutdown ends the multishot accept; the fd closes below */
			shutdown(n->lis[i].fd, SHUT_RDWR);
			close(n->lis[i].fd);
			n->lis[i].fd = -1;
		}
	}
}

static void arm_recv(struct netio *n, uint32_t idx)
{
	struct conn *c = &n->conns[idx];
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe) {
		if (!c->want_rearm)
			n->n_want_rearm++;
		c->want_rearm = 1;
		return;
	}
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, UD(OP_RECV, c->gen, idx));
	if (c->want_rearm)
		n->n_want_rearm--;
	c->want_rearm = 0;
	c->inflight++;
}

static void maybe_finish_close(struct netio *n, uint32_t idx)
{
	struct conn *c = &n->conns[idx];
	if (c->state != C_CLOSING || c->inflight)
		return;
	close(c->fd);
	c->fd = -1;
	c->state = C_FREE;
	c->gen++;
	n->closed[n->n_closed++] = idx;
}

static void start_close(struct netio *n, uint32_t idx, int32_t res)
{
	struct conn *c = &n->conns[idx];
	if (c->state != C_OPEN)
		return;
	c->state = C_CLOSING;
	c->close_res = res;
	/* ends the multishot recv and fails pending sends */
	shutdown(c->fd, SHUT_RDWR);
	maybe_finish_close(n, idx);
}

static void u_close(struct netio *n, uint32_t conn)
{
	if (conn < n->cfg.max_conns)
		start_close(n, conn, 0);
}

/* Submits op; 0, or -EAGAIN when the ring cannot take it. */
static int submit_send(struct netio *n, uint32_t oi)
{
	struct sendop *op = &n->ops[oi];
	struct conn *c = &n->conns[op->conn];
	struct io_uring_sqe *sqe = get_sqe(n);
	if (!sqe)
		return -EAGAIN;
	if (op->zc)
		io_uring_prep_sendmsg_zc(sqe, c->fd, &op->msg, MSG_NOSIGNAL | MSG_WAITALL);
	else
		io_uring_prep_sendmsg(sqe, c->fd, &op->msg, MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, UD(OP_SEND, 0, oi));
	c->sending = 1;
	return 0;
}

static int u_send(struct netio *n, uint32_t conn, const struct iovec *iov, int iovcnt, int zc,
		  uint64_t cookie)
{
	if (conn >= n->cfg.max_conns || n->conns[conn].state != C_OPEN)
		return -ENOTCONN;
	if (iovcnt < 1 || iovcnt > NETIO_MAX_IOV)
		return -EINVAL;
	if (!n->n_free_ops)
		return -EAGAIN;
	uint32_t oi = n->free_ops[n->n_free_ops - 1];
	struct sendop *op = &n->ops[oi];
	struct conn *c = &n->conns[conn];
	memset(op, 0, sizeof(*op));
	op->conn = conn;
	op->gen = c->gen;
	op->cookie = cookie;
	op->next = NONE;
	memcpy(op->iov, iov, (size_t)iovcnt * sizeof(*iov));
	op->msg.msg_iov = op->iov;
	op->msg.msg_iovlen = (size_t)iovcnt;
	for (int i = 0; i < iovcnt; i++)
		op->total += iov[i].iov_len;
	op->zc = zc && n->zc_ok && !c->loopback;
	if (c->sending) {
		if (c->sq_tail == NONE)
			c->sq_head = oi;
		else
			n->ops[c->sq_tail].next = oi;
		c->sq_tail = oi;
	} else if (submit_send(n, oi) < 0) {
		return -EAGAIN;
	}
	n->n_free_ops--;
	c->inflight++;
	n->st.sends++;
	n->st.send_bytes += op->total;
	n->st.send_zc += op->zc;
	return 0;
}

/* The send in flight on connection ci has its result: submit the next
 * queued one; when the connection is closing (or the ring refuses), the
 * queued sends are dropped, counted as errors, and never reported. */
static void send_next(struct netio *n, uint32_t ci)
{
	struct conn *c = &n->conns[ci];
	c->sending = 0;
	while (c->sq_head != NONE) {
		uint32_t oi = c->sq_head;
		c->sq_head = n->ops[oi].next;
		if (c->sq_head == NONE)
			c->sq_tail = NONE;
		if (c->state == C_OPEN && submit_send(n, oi) == 0)
			return;
		if (c->state == C_OPEN)
			start_close(n, ci, -EAGAIN);
		n->free_ops[n->n_free_ops++] = oi;
		n->st.send_errors++;
		c->inflight--;
	}
	maybe_finish_close(n, ci);
}

static void u_recv_release(struct netio *n, uint64_t rxh)
{
	if (rxh >= n->cfg.recv_bufs)
		return;
	uint16_t bid = (uint16_t)rxh;
	io_uring_buf_ring_add(n->br, n->bufs + (size_t)bid * n->cfg.recv_buf_size,
			      n->cfg.recv_buf_size, bid, io_uring_buf_ring_mask(n->cfg.recv_bufs),
			      0);
	io_uring_buf_ring_advance(n->br, 1);
	/* Connections that ran dry resume once buffers come back. */
	for (uint32_t i = 0; i < n->cfg.max_conns && n->n_want_rearm; i++) {
		if (n->conns[i].state == C_OPEN && n->conns[i].want_rearm) {
			n->n_want_rearm--;
			arm_recv(n, i);
			if (n->conns[i].want_rearm) { /* no SQE: try again later */
				n->n_want_rearm++;
				break;
			}
		}
	}
}

/* Converts one CQE; returns 1 when it produced an event in *ev. */
static int on_cqe(struct netio *n, const struct io_uring_cqe *cqe, struct netio_event *ev)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	uint32_t idx = UD_IDX(ud);
	int more = !!(cqe->flags & IORING_CQE_F_MORE);

	switch (UD_TYPE(ud)) {
	case OP_ACCEPT: {
		if (idx >= (uint32_t)n->n_lis)
			return 0;
		if (!more && n->lis[idx].fd >= 0)
			arm_accept(n, (int)idx);
		if (cqe->res < 0)
			return 0;
		int fd = cqe->res;
		if (!n->n_free_conns || n->lis[idx].fd < 0) {
			close(fd);
			return 0;
		}
		/* Every send is already a whole batch; Nagle would only hold
		 * back its tail (an HTTP header sent while the body is read
		 * from storage waits 40 ms for the peer's delayed ACK). */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		uint32_t ci = n->free_conns[--n->n_free_conns];
		struct conn *c = &n->conns[ci];
		c->fd = fd;
		c->state = C_OPEN;
		c->inflight = 0;
		c->close_res = 0;
		c->sq_head = c->sq_tail = NONE;
		c->sending = 0;
		arm_recv(n, ci);
		memset(ev, 0, sizeof(*ev));
		ev->kind = NETIO_EV_ACCEPT;
		ev->conn = ci;
		ev->tag = n->lis[idx].tag;
		socklen_t sl = sizeof(ev->peer);
		getpeername(fd, (struct sockaddr *)&ev->peer, &sl);
		c->loopback = !n->cfg.zerocopy_loopback && is_loopback(&ev->peer);
		n->st.accepts++;
		return 1;
	}
	case OP_RECV: {
		if (idx >= n->cfg.max_conns)
			return 0;
		struct conn *c = &n->conns[idx];
		if (UD_GEN(ud) != (c->gen & 0xffffff))
			return 0;
		int has_buf = !!(cqe->flags & IORING_CQE_F_BUFFER);
		uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		if (!more) {
			c->inflight--;
		}
		if (cqe->res > 0 && has_buf && c->state == C_OPEN) {
			if (!more)
				arm_recv(n, idx);
			memset(ev, 0, sizeof(*ev));
			ev->kind = NETIO_EV_RECV;
			ev->conn = idx;
			ev->data = n->bufs + (size_t)bid * n->cfg.recv_buf_size;
			ev->len = (uint32_t)cqe->res;
			ev->rxh = bid;
			n->st.recvs++;
			n->st.recv_bytes += (uint64_t)cqe->res;
			return 1;
		}
		if (has_buf)
			u_recv_release(n, bid);
		if (cqe->res == -ENOBUFS && c->state == C_OPEN) {
			n->st.no_bufs++;
			if (!c->want_rearm)
				n->n_want_rearm++;
			c->want_rearm = 1;
		} else if (c->state == C_OPEN && !more) {
			start_close(n, idx, cqe->res < 0 ? cqe->res : 0);
		}
		maybe_finish_close(n, idx);
		return 0;
	}
	case OP_WATCH:
		if (idx >= (uint32_t)n->n_watch)
			return 0;
		if (!more)
			arm_watch(n, n->watch[idx].fd, idx);
		if (cqe->res < 0)
			return 0;
		memset(ev, 0, sizeof(*ev));
		ev->kind = NETIO_EV_WAKE;
		ev->tag = n->watch[idx].tag;
		return 1;
	case OP_UDP: {
		if (idx >= (uint32_t)n->n_udp)
			return 0;
		if (!more)
			n->udp[idx].armed = 0; /* at the next poll, with the buffers back */
		if (cqe->res == -ENOBUFS)
			n->st.no_bufs++;
		else if (cqe->res < 0 && !more)
			/* not a pause but a refusal (a kernel before 6.0 has no
			 * multishot recvmsg): arming it again would spin */
			n->udp[idx].failed = 1;
		if (!(cqe->flags & IORING_CQE_F_BUFFER))
			return 0;
		/* lent until the next poll, whatever became of the datagram */
		uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		if (n->n_dg_lent < DG_BUFS) /* each id is lent once: always */
			n->dg_lent[n->n_dg_lent++] = bid;
		if (cqe->res < 0)
			return 0;
		struct msghdr *m = &n->udp[idx].msg;
		struct io_uring_recvmsg_out *o =
			io_uring_recvmsg_validate(n->dgbufs + (size_t)bid * DG_SLOT, cqe->res, m);
		if (!o || (o->flags & MSG_TRUNC) || o->namelen > sizeof(ev->peer)) {
			n->st.udp_dropped++;
			return 0;
		}
		memset(ev, 0, sizeof(*ev));
		ev->kind = NETIO_EV_DGRAM;
		ev->tag = n->udp[idx].tag;
		ev->data = io_uring_recvmsg_payload(o, m);
		ev->len = io_uring_recvmsg_payload_length(o, cqe->res, m);
		memcpy(&ev->peer, io_uring_recvmsg_name(o), o->namelen);
		n->st.udp_in++;
		n->st.udp_bytes_in += ev->len;
		return 1;
	}
	case OP_SEND: {
		if (idx >= n->cfg.max_sends)
			return 0;
		struct sendop *op = &n->ops[idx];
		uint32_t ci = op->conn;
		struct conn *c = &n->conns[ci];
		int live = op->gen == c->gen;
		int report = 0;
		if (cqe->flags & IORING_CQE_F_NOTIF) {
			op->got_notif = 1;
			report = NETIO_EV_FREED;
		} else {
			op->got_res = 1;
			op->res = cqe->res;
			op->want_notif = op->zc && more;
			report = NETIO_EV_SENT;
			if (op->res < 0)
				n->st.send_errors++;
			if (live) {
				/* A failed or short send leaves the stream unusable. */
				if (op->res < 0 || (size_t)op->res != op->total)
					start_close(n, ci, op->res < 0 ? op->res : -EPIPE);
				send_next(n, ci);
			}
		}
		int done = op->got_res && (!op->want_notif || op->got_notif);
		if (done) {
			n->free_ops[n->n_free_ops++] = idx;
			if (live)
				c->inflight--;
		}
		if (!live)
			return 0;
		if (c->state == C_CLOSING) {
			if (done)
				maybe_finish_close(n, ci);
			return 0;
		}
		memset(ev, 0, sizeof(*ev));
		ev->kind = report;
		ev->conn = ci;
		ev->res = op->res;
		ev->cookie = op->cookie;
		ev->freed = done;
		return 1;
	}
	}
	return 0;
}

static int u_poll(struct netio *n, struct netio_event *ev, int cap, int timeout_ms)
{
	int got = 0;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_sec = timeout_ms / 1000,
					.tv_nsec = (long long)(timeout_ms % 1000) * 1000000 };

	if (n->n_udp)
		dg_recycle(n);
	if (n->n_closed == 0) {
		int rc = io_uring_submit_and_wait_timeout(&n->ring, &cqe, 1,
							  timeout_ms >= 0 ? &ts : NULL, NULL);
		if (rc < 0 && rc != -ETIME && rc != -EINTR)
			return rc;
	} else {
		io_uring_submit(&n->ring);
	}
	unsigned head, seen = 0;
	io_uring_for_each_cqe(&n->ring, head, cqe)
	{
		/* leave room for the CLOSED event a CQE may cause */
		if (got >= cap - 1)
			break;
		seen++;
		got += on_cqe(n, cqe, &ev[got]);
	}
	io_uring_cq_advance(&n->ring, seen);
	while (n->n_closed && got < cap) {
		uint32_t idx = n->closed[--n->n_closed];
		memset(&ev[got], 0, sizeof(ev[got]));
		ev[got].kind = NETIO_EV_CLOSED;
		ev[got].conn = idx;
		ev[got].res = n->conns[idx].close_res;
		n->free_conns[n->n_free_conns++] = idx;
		got++;
	}
	return got;
}

static const struct netio_stats *u_stats(const struct netio *n)
{
	return &n->st;
}

const struct netio_ops netio_uring_ops = {
	.name = "uring",
	.create = u_create,
	.destroy = u_destroy,
	.listen = u_listen,
	.send = u_send,
	.recv_release = u_recv_release,
	.close = u_close,
	.watch = u_watch,
	.stop_listening = u_stop_listening,
	.poll = u_poll,
	.stats = u_stats,
	.udp_bind = u_udp_bind,
	.udp_send = u_udp_send,
};
