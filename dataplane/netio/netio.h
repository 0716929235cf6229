/*
 * netio: the data plane's network backend, as events.
 *
 * A backend owns the listening sockets and the connections of one worker
 * and reports what happened as events (accepted, bytes received, a send
 * finished, closed); the worker feeds them to the protocol engines and asks
 * for sends. Payload is sent from caller memory by reference (zero-copy
 * where the backend can); that memory must stay untouched until the send's
 * NETIO_EV_SENT event, which a zero-copy backend delivers only once the
 * kernel has let go of the pages.
 *
 * Backends are an ops table, one file each: uring.c (kernel sockets driven
 * by io_uring) and dpdk.c (the NIC's queues and our own TCP/IP stack,
 * dataplane/stack/). One netio belongs to one worker thread; a backend's
 * process-wide set-up (DPDK's EAL and port) is struct netio_backend.
 */
#ifndef SEED_NETIO_H
#define SEED_NETIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "seed_err.h"

#define NETIO_MAX_IOV 64

enum netio_ev_kind {
	NETIO_EV_ACCEPT = 1, /* conn: new connection on listener `tag` */
	NETIO_EV_RECV,	     /* conn: data[0..len) received; hand back with recv_release(rxh) */
	NETIO_EV_SENT,	     /* conn: send `cookie` done; res = bytes or -errno. The next
	                        * send may go; its memory is free only when `freed` is 1,
	                        * else a NETIO_EV_FREED for the cookie follows */
	NETIO_EV_FREED,	     /* conn: the kernel let go of send `cookie`'s memory (zero-copy) */
	NETIO_EV_CLOSED, /* conn: gone (after netio close or peer/socket error); slot reusable */
	NETIO_EV_WAKE,	 /* tag: a watched fd became readable (e.g. the storage eventfd) */
	NETIO_EV_DGRAM,	 /* tag: a datagram data[0..len) from peer to the socket bound
			  * with udp_bind(tag); valid until the next poll */
};

/* A datagram to send: iov[0..iovcnt) to `to`. */
struct netio_dgram {
	const struct sockaddr *to;
	socklen_t tolen;
	const struct iovec *iov;
	int iovcnt;
};

struct netio_event {
	enum netio_ev_kind kind;
	uint32_t conn;
	uint32_t tag;	     /* ACCEPT: the listener's tag */
	int32_t res;	     /* SENT: bytes or -errno; CLOSED: 0 or -errno */
	const uint8_t *data; /* RECV */
	uint32_t len;
	uint64_t rxh;		      /* RECV: the receive buffer, opaque (a provided-buffer
				       * id for io_uring, an mbuf for DPDK) */
	uint64_t cookie;	      /* SENT, FREED */
	int freed;		      /* SENT: the memory is free already */
	struct sockaddr_storage peer; /* ACCEPT: the peer's address; DGRAM: its sender */
};

struct netio_config {
	uint32_t max_conns;	/* connection slots (default 4096) */
	uint32_t max_sends;	/* sends in flight (default 4 * max_conns) */
	uint32_t recv_buf_size; /* provided-buffer size (default 4096) */
	uint32_t recv_bufs;	/* provided buffers, a power of two (default 1024) */
	int zerocopy;		/* try SEND_ZC for sends flagged zc (default 1) */
	int zerocopy_loopback;	/* ... also towards a peer on this host (default 0:
				 * it only costs there; tests set it to reach the path) */
	unsigned worker;	/* this worker's index: its NIC queue under DPDK */
};

/* Sets each field of cfg left 0 to its default above; every backend's
 * create applies it to its copy of the caller's config. */
void netio_config_defaults(struct netio_config *cfg);

struct netio_stats {
	uint64_t accepts, recvs, recv_bytes, sends, send_bytes, send_zc, send_errors;
	uint64_t no_bufs; /* times receive paused for lack of buffers */
	/* datagrams (udp_bind): in, out, their bytes, and dropped (too big,
	 * or refused by the kernel on the way out); udp_trains: sends that
	 * carried several datagrams cut by the kernel (UDP_SEGMENT) */
	uint64_t udp_in, udp_out, udp_bytes_in, udp_bytes_out, udp_dropped, udp_trains;
	/* what a backend that owns the port knows (0 on uring), published as
	 * the seed_net_* and seed_tcp_* metrics (lib/dpstats.h) */
	uint64_t links_up; /* 1: the port's link is up */
	uint64_t rx_packets, tx_packets, rx_dropped, tx_dropped;
	uint64_t tcp_retransmits, tcp_timeouts, syn_cookies, bad_cookies, input_errors;
	uint64_t busy_cycles;
};

struct netio;

struct netio_ops {
	const char *name;
	int (*create)(const struct netio_config *cfg, struct netio **out, struct seed_err *err);
	void (*destroy)(struct netio *n);
	/* Listens on addr with SO_REUSEPORT (so workers share the port); tag
	 * comes back with every ACCEPT from it; *out_port (optional) gets the
	 * bound port (useful with port 0). */
	int (*listen)(struct netio *n, const struct sockaddr *addr, socklen_t len, uint32_t tag,
		      uint16_t *out_port, struct seed_err *err);
	/* Sends iov[0..n) in order; all-or-nothing per call. zc says the
	 * memory is worth sending by reference (block payloads); whether a
	 * given connection gains from it is the backend's policy (uring: not
	 * towards a loopback peer, nor with zero-copy disabled).
	 * Returns 0, or -EAGAIN when no send slot is free (retry after events). */
	int (*send)(struct netio *n, uint32_t conn, const struct iovec *iov, int iovcnt, int zc,
		    uint64_t cookie);
	void (*recv_release)(struct netio *n, uint64_t rxh);
	/* Closes a connection; its CLOSED event follows once nothing is in flight. */
	void (*close)(struct netio *n, uint32_t conn);
	/* Reports NETIO_EV_WAKE(tag) whenever fd is readable (the caller drains
	 * it), so one poll sleeps for the network and other rings alike.
	 * NULL in a busy-polling backend: its caller checks its other rings
	 * on every pass instead. */
	int (*watch)(struct netio *n, int fd, uint32_t tag, struct seed_err *err);
	/* Makes p[0..len) (the block cache) sendable without a copy: DMA
	 * mapping under DPDK. Optional (NULL: nothing to do). */
	int (*register_mem)(struct netio *n, void *p, size_t len, struct seed_err *err);
	/* Stops accepting (drain); existing connections continue. */
	void (*stop_listening)(struct netio *n);
	/* Waits up to timeout_ms (-1: no limit) for events; returns how many
	 * were written to ev (cap >= 2), or -errno. */
	int (*poll)(struct netio *n, struct netio_event *ev, int cap, int timeout_ms);
	const struct netio_stats *(*stats)(const struct netio *n);
	/* Writes one line about conn's transport state (our TCP's window,
	 * timers and recovery) into buf, for the SIGUSR1 dump. Optional. */
	void (*describe)(const struct netio *n, uint32_t conn, char *buf, size_t len);
	/* Datagrams (uTP, dataplane/utpnet.h); both NULL in a backend without
	 * them yet. udp_bind binds a UDP socket to addr with SO_REUSEPORT
	 * beside the TCP listener on the same port (the kernel then steers a
	 * peer's datagrams to one worker's socket by their addresses' hash,
	 * the same for every datagram of the flow); what arrives comes back
	 * as NETIO_EV_DGRAM(tag). udp_send sends d[0..cnt) through the socket
	 * of tag, copying them (the memory is free on return), and returns how
	 * many went (fewer when the socket's buffer is full) or -errno. */
	int (*udp_bind)(struct netio *n, const struct sockaddr *addr, socklen_t len, uint32_t tag,
			struct seed_err *err);
	int (*udp_send)(struct netio *n, uint32_t tag, const struct netio_dgram *d, int cnt);
	/* 1: poll() never sleeps (it returns at once); the caller runs its
	 * per-pass work every time round. */
	int busy_poll;
};

extern const struct netio_ops netio_uring_ops;

/* Process-wide settings of a backend, from the data plane's config. */
struct netio_env {
	unsigned workers;
	uint32_t max_conns;    /* per worker */
	const char *dpdk_args; /* EAL arguments, separated by spaces */
	uint16_t dpdk_port;    /* the DPDK port to serve on */
	uint32_t ip;	       /* the port's IPv4 address, host order */
	uint8_t prefix;
	uint32_t gateway; /* host order, 0: none */
	uint16_t mtu;
	uint32_t idle_sleep_us; /* sleep this long after an idle pass (0: pure polling) */
};

/*
 * A backend: its ops, and what it needs done once per process. init runs
 * before any worker's create (DPDK: EAL, the port, one queue pair per
 * worker); launch runs fn(arg) as worker i's thread (an EAL lcore under
 * DPDK) and join waits for it. NULL init/fini: nothing to do; NULL
 * launch/join: an ordinary pthread.
 */
struct netio_backend {
	const char *name;
	const struct netio_ops *ops;
	int (*init)(const struct netio_env *env, struct seed_err *err);
	void (*fini)(void);
	int (*launch)(unsigned worker, void *(*fn)(void *), void *arg, struct seed_err *err);
	void (*join)(unsigned worker);
};

/* The backend called name ("uring", "dpdk"), or NULL when this build has
 * none by that name. */
const struct netio_backend *netio_backend_find(const char *name);

#endif
