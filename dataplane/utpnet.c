/* utpnet: see utpnet.h. */
#include "utpnet.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mem.h"

#define UTPNET_RXH UINT64_MAX /* RECV events of ours: nothing to release */
#define TXCAP	   64	      /* datagrams per engine call */
#define EVCAP	   256	      /* engine events per call */
#define PENDCAP	   8192u      /* events waiting for the worker, a power of 2 */
#define RXA_CAP	   (8u << 20) /* bytes received per poll (copied out of datagrams) */
#define MAX_UDP	   4

/* A send the engine had no room for: retried at the connection's next
 * ACKED, and reported SENT only then (the worker sends nothing more on the
 * connection meanwhile, so it does not spin on -EAGAIN). */
struct parked {
	struct iovec iov[NETIO_MAX_IOV];
	int n;
	uint8_t on;
	uint64_t cookie;
};

struct netio {
	const struct netio_ops *in;
	struct netio *inner;
	struct utp *u;
	uint32_t base, n_utp, utp_tag;
	struct {
		uint32_t tag; /* inner's datagram tag: the index */
		int family;
	} udp[MAX_UDP];
	int n_udp;
	int draining;
	struct netio_event *pend; /* ring: events the worker has not had yet */
	uint32_t ph, pt;
	struct parked *parked; /* per uTP connection */
	uint8_t *rxa;	       /* received bytes of the events in pend and ev */
	size_t rxa_used;
	struct utp_tx tx[TXCAP];
	struct utp_ev uev[EVCAP];
};

static uint64_t now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static void to_utp_addr(const struct sockaddr_storage *ss, struct utp_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		a->af = UTP_AF_INET;
		a->port = ntohs(s4->sin_port);
		memcpy(a->ip, &s4->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		a->af = UTP_AF_INET6;
		a->port = ntohs(s6->sin6_port);
		memcpy(a->ip, &s6->sin6_addr, 16);
	}
}

static socklen_t to_sockaddr(const struct utp_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->af == UTP_AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		memcpy(&s4->sin_addr, a->ip, 4);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(a->port);
	memcpy(&s6->sin6_addr, a->ip, 16);
	return sizeof(*s6);
}

static uint32_t pend_n(const struct netio *n)
{
	return n->pt - n->ph;
}

static struct netio_event *pend_push(struct netio *n, enum netio_ev_kind kind, uint32_t conn)
{
	if (pend_n(n) == PENDCAP)
		return NULL;
	struct netio_event *e = &n->pend[n->pt++ % PENDCAP];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->conn = n->base + conn;
	return e;
}

/* Moves waiting events into ev[0..cap); returns how many. */
static int deliver(struct netio *n, struct netio_event *ev, int cap)
{
	int got = 0;
	while (got < cap && n->ph != n->pt)
		ev[got++] = n->pend[n->ph++ % PENDCAP];
	return got;
}

/* Sends what the engine produced; what the socket does not take is lost
 * as on a full NIC queue (uTP retransmits it). */
static void flush_tx(struct netio *n, const struct utp_out *out)
{
	struct netio_dgram d[TXCAP];
	struct iovec iov[TXCAP][UTP_TX_SLICES + 1];
	struct sockaddr_storage to[TXCAP];
	for (int fam = 0; fam < 2; fam++) {
		int want = fam ? UTP_AF_INET6 : UTP_AF_INET, k = 0, ui = 0;
		while (ui < n->n_udp && n->udp[ui].family != (fam ? AF_INET6 : AF_INET))
			ui++;
		for (uint32_t i = 0; i < out->ntx; i++) {
			const struct utp_tx *t = &out->tx[i];
			if (t->to.af != want)
				continue;
			iov[k][0].iov_base = (void *)t->hdr;
			iov[k][0].iov_len = t->hdr_len;
			for (unsigned j = 0; j < t->n_pay; j++) {
				iov[k][j + 1].iov_base = (void *)t->pay[j].p;
				iov[k][j + 1].iov_len = t->pay[j].len;
			}
			d[k].tolen = to_sockaddr(&t->to, &to[k]);
			d[k].to = (const struct sockaddr *)&to[k];
			d[k].iov = iov[k];
			d[k].iovcnt = 1 + t->n_pay;
			k++;
		}
		if (k && ui < n->n_udp)
			n->in->udp_send(n->inner, n->udp[ui].tag, d, k);
	}
}

/* Turns the engine's events into the worker's. */
static void translate(struct netio *n, const struct utp_out *out)
{
	for (uint32_t i = 0; i < out->nev; i++) {
		const struct utp_ev *u = &out->ev[i];
		struct netio_event *e;
		struct parked *pk = &n->parked[u->conn % n->n_utp];
		switch (u->kind) {
		case UTP_EV_ACCEPT:
			if (n->draining || !(e = pend_push(n, NETIO_EV_ACCEPT, u->conn))) {
				utp_abort(n->u, u->conn);
				break;
			}
			e->tag = n->utp_tag;
			to_sockaddr(&u->peer, &e->peer);
			break;
		case UTP_EV_DATA:
			if (n->rxa_used + u->len > RXA_CAP ||
			    !(e = pend_push(n, NETIO_EV_RECV, u->conn))) {
				/* cannot happen (RXA_CAP holds a poll's worth);
				 * were it to, the peer is dropped, not misread */
				utp_abort(n->u, u->conn);
				break;
			}
			memcpy(n->rxa + n->rxa_used, u->data, u->len);
			e->data = n->rxa + n->rxa_used;
			e->len = u->len;
			e->rxh = UTPNET_RXH;
			n->rxa_used += u->len;
			break;
		case UTP_EV_PEER_FIN:
			/* a seed has nothing to say once the peer is done */
			utp_close(n->u, u->conn);
			break;
		case UTP_EV_ACKED:
			if ((e = pend_push(n, NETIO_EV_FREED, u->conn)))
				e->cookie = u->cookie;
			if (pk->on &&
			    utp_send(n->u, u->conn, pk->iov, pk->n, pk->cookie) != -EAGAIN) {
				pk->on = 0;
				if ((e = pend_push(n, NETIO_EV_SENT, u->conn))) {
					e->cookie = pk->cookie;
					for (int k = 0; k < pk->n; k++)
						e->res += (int32_t)pk->iov[k].iov_len;
				}
			}
			break;
		case UTP_EV_CLOSED:
			pk->on = 0;
			if ((e = pend_push(n, NETIO_EV_CLOSED, u->conn)))
				e->res = u->res;
			break;
		case UTP_EV_CONNECTED: break; /* we never connect out */
		}
	}
}

/* Room the engine may use for events: what pend can still take. */
static struct utp_out engine_out(struct netio *n)
{
	uint32_t room = PENDCAP - pend_n(n);
	return (struct utp_out){ n->tx, 0, TXCAP, n->uev, 0, room < EVCAP ? room : EVCAP };
}

static void run_poll(struct netio *n, uint64_t now)
{
	/* the engine sends at most TXCAP datagrams a call: go on while it
	 * fills them and has more due */
	for (int round = 0; round < 16; round++) {
		struct utp_out out = engine_out(n);
		utp_poll(n->u, now, &out);
		flush_tx(n, &out);
		translate(n, &out);
		if (out.ntx < TXCAP || utp_next_deadline(n->u) > now)
			break;
	}
}

static void input(struct netio *n, const struct netio_event *dg, uint64_t now)
{
	struct utp_addr from;
	to_utp_addr(&dg->peer, &from);
	struct utp_out out = engine_out(n);
	utp_input(n->u, &from, dg->data, dg->len, now, &out);
	flush_tx(n, &out);
	translate(n, &out);
}

static int is_our_udp(const struct netio *n, uint32_t tag)
{
	for (int i = 0; i < n->n_udp; i++)
		if (n->udp[i].tag == tag)
			return 1;
	return 0;
}

static int w_poll(struct netio *n, struct netio_event *ev, int cap, int timeout_ms)
{
	/* what the worker has not had yet goes first, and the received bytes
	 * those events point at stay until it has */
	int got = deliver(n, ev, cap);
	if (n->ph != n->pt)
		return got;
	n->rxa_used = 0;
	uint64_t now = now_us();
	run_poll(n, now);
	got += deliver(n, ev + got, cap - got);
	if (got || n->ph != n->pt)
		timeout_ms = 0;
	uint64_t dl = utp_next_deadline(n->u);
	if (dl != UTP_NO_DEADLINE) {
		uint64_t ms = dl <= now ? 0 : (dl - now + 999) / 1000;
		if (timeout_ms < 0 || ms < (uint64_t)timeout_ms)
			timeout_ms = (int)ms;
	}
	if (cap - got < 2)
		return got;
	int k = n->in->poll(n->inner, ev + got, cap - got, timeout_ms);
	if (k < 0)
		return got ? got : k;
	now = now_us();
	int w = got;
	for (int i = got; i < got + k; i++) {
		if (ev[i].kind == NETIO_EV_DGRAM && is_our_udp(n, ev[i].tag)) {
			input(n, &ev[i], now);
			continue;
		}
		ev[w++] = ev[i];
	}
	/* what the input made due (ACKs, data the window opened for) */
	run_poll(n, now);
	return w + deliver(n, ev + w, cap - w);
}

static int w_send(struct netio *n, uint32_t conn, const struct iovec *iov, int iovcnt, int zc,
		  uint64_t cookie)
{
	if (conn < n->base)
		return n->in->send(n->inner, conn, iov, iovcnt, zc, cookie);
	uint32_t uc = conn - n->base;
	if (uc >= n->n_utp || iovcnt < 1 || iovcnt > NETIO_MAX_IOV)
		return -EINVAL;
	if (pend_n(n) == PENDCAP)
		return -EAGAIN;
	int rc = utp_send(n->u, uc, iov, iovcnt, cookie);
	if (rc == -EAGAIN) {
		struct parked *pk = &n->parked[uc];
		if (pk->on)
			return -EAGAIN;
		memcpy(pk->iov, iov, (size_t)iovcnt * sizeof(*iov));
		pk->n = iovcnt;
		pk->cookie = cookie;
		pk->on = 1;
		return 0;
	}
	if (rc < 0)
		return rc;
	struct netio_event *e = pend_push(n, NETIO_EV_SENT, uc);
	e->cookie = cookie;
	for (int k = 0; k < iovcnt; k++)
		e->res += (int32_t)iov[k].iov_len;
	return 0;
}

static void w_recv_release(struct netio *n, uint64_t rxh)
{
	if (rxh != UTPNET_RXH)
		n->in->recv_release(n->inner, rxh);
}

static void w_close(struct netio *n, uint32_t conn)
{
	struct utp_conn_info ci;
	uint32_t id = conn - n->base;
	if (conn < n->base) {
		n->in->close(n->inner, conn);
		return;
	}
	if (id >= n->n_utp)
		return;
	/* RESET, not FIN, when there is nothing to finish: a connection that
	 * was sent nothing (refused at accept: the client falls back to TCP
	 * at once, and the slot is free now rather than after a FIN that a
	 * flooder never acknowledges), and while stopping (the worker closes
	 * a connection once the peer has acknowledged all we sent, or at its
	 * drain deadline; a FIN to a peer that is gone would be resent for
	 * half a minute: uTP has no TIME-WAIT). */
	if (n->draining || (utp_conn_info(n->u, id, &ci) == 0 && ci.bytes_out == 0))
		utp_abort(n->u, id);
	else
		utp_close(n->u, id);
}

static int w_listen(struct netio *n, const struct sockaddr *addr, socklen_t len, uint32_t tag,
		    uint16_t *out_port, struct seed_err *err)
{
	uint16_t port = 0;
	int rc = n->in->listen(n->inner, addr, len, tag, &port, err);
	if (out_port)
		*out_port = port;
	if (rc < 0 || tag != n->utp_tag)
		return rc;
	if (n->n_udp >= MAX_UDP)
		return seed_err_set(err, -ENOSPC, "uTP: more than %d listeners", MAX_UDP);
	/* the port TCP got, so that one port serves both (port 0 included) */
	struct sockaddr_storage ss;
	memcpy(&ss, addr, len < sizeof(ss) ? len : sizeof(ss));
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	uint32_t ut = (uint32_t)n->n_udp;
	rc = n->in->udp_bind(n->inner, (const struct sockaddr *)&ss, len, ut, err);
	if (rc < 0) {
		seed_err_prefix(err, "uTP on UDP port %u (--utp-conns 0 turns it off): ", port);
		return rc;
	}
	n->udp[n->n_udp].tag = ut;
	n->udp[n->n_udp].family = ss.ss_family;
	n->n_udp++;
	return 0;
}

static void w_stop_listening(struct netio *n)
{
	n->in->stop_listening(n->inner);
	n->draining = 1;
}

static int w_watch(struct netio *n, int fd, uint32_t tag, struct seed_err *err)
{
	return n->in->watch(n->inner, fd, tag, err);
}

static int w_register_mem(struct netio *n, void *p, size_t len, struct seed_err *err)
{
	return n->in->register_mem ? n->in->register_mem(n->inner, p, len, err) : 0;
}

static const struct netio_stats *w_stats(const struct netio *n)
{
	return n->in->stats(n->inner);
}

static void w_describe(const struct netio *n, uint32_t conn, char *buf, size_t len)
{
	struct utp_conn_info ci;
	if (conn < n->base) {
		if (n->in->describe)
			n->in->describe(n->inner, conn, buf, len);
		else if (len)
			buf[0] = 0;
	} else if (utp_conn_info(n->u, conn - n->base, &ci) == 0) {
		snprintf(buf, len,
			 "utp cwnd %u flight %u peer_wnd %u delay %u us base %u us srtt %u us "
			 "rto %u us queued %u retransmits %llu timeouts %llu%s",
			 ci.cwnd, ci.flight, ci.peer_wnd, ci.our_delay_us, ci.base_delay_us,
			 ci.srtt_us, ci.rto_us, ci.queued, (unsigned long long)ci.retransmits,
			 (unsigned long long)ci.timeouts, ci.slow_start ? " slow-start" : "");
	} else if (len) {
		buf[0] = 0;
	}
}

static void w_destroy(struct netio *n)
{
	if (!n)
		return;
	utp_destroy(n->u);
	if (n->inner)
		n->in->destroy(n->inner);
	MEM_FREE_ALL(n->pend, n->parked, n->rxa, n);
}

static int w_create(const struct netio_config *cfg, struct netio **out, struct seed_err *err)
{
	(void)cfg;
	(void)out;
	return seed_err_set(err, -EINVAL, "utpnet: made with utpnet_create");
}

int utpnet_create(const struct netio_ops *inner, const struct netio_config *cfg,
		  const struct utp_config *utp, uint32_t n_utp, uint32_t utp_tag,
		  struct netio **out, struct seed_err *err)
{
	*out = NULL;
	if (!inner->udp_bind || !inner->udp_send || !inner->watch)
		return seed_err_set(err, -EOPNOTSUPP, "uTP: the %s backend has no datagrams yet",
				    inner->name);
	if (!n_utp || n_utp >= cfg->max_conns)
		return seed_err_set(err, -EINVAL, "uTP: %u connections of %u", n_utp,
				    cfg->max_conns);
	struct netio *n = calloc(1, sizeof(*n));
	if (!n)
		return seed_err_set(err, -ENOMEM, "out of memory");
	n->in = inner;
	n->n_utp = n_utp;
	n->utp_tag = utp_tag;
	n->base = cfg->max_conns - n_utp;
	n->pend = malloc(PENDCAP * sizeof(*n->pend));
	n->parked = calloc(n_utp, sizeof(*n->parked));
	n->rxa = malloc(RXA_CAP);
	if (!n->pend || !n->parked || !n->rxa) {
		w_destroy(n);
		return seed_err_set(err, -ENOMEM, "out of memory");
	}
	struct utp_config uc = *utp;
	uc.max_conns = n_utp;
	int rc = utp_create(&uc, &n->u, err);
	if (rc < 0) {
		w_destroy(n);
		return rc;
	}
	struct netio_config ic = *cfg;
	ic.max_conns = n->base;
	if (ic.max_sends > 4 * ic.max_conns)
		ic.max_sends = 4 * ic.max_conns;
	rc = inner->create(&ic, &n->inner, err);
	if (rc < 0) {
		w_destroy(n);
		return rc;
	}
	*out = n;
	return 0;
}

const struct utp_stats *utpnet_utp_stats(const struct netio *n)
{
	return utp_stats(n->u);
}

int utpnet_is_utp(const struct netio *n, uint32_t conn)
{
	return conn >= n->base && conn - n->base < n->n_utp;
}

const struct netio_ops utpnet_ops = {
	.name = "uring+utp",
	.create = w_create,
	.destroy = w_destroy,
	.listen = w_listen,
	.send = w_send,
	.recv_release = w_recv_release,
	.close = w_close,
	.watch = w_watch,
	.register_mem = w_register_mem,
	.stop_listening = w_stop_listening,
	.poll = w_poll,
	.stats = w_stats,
	.describe = w_describe,
};
