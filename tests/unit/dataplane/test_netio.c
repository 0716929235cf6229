/*
 * Tests for dataplane/netio/uring.c over loopback with real sockets:
 * accept, receive, ordered gather sends (plain and zero-copy, large ones
 * read by a client thread), close from either side, receive-buffer
 * exhaustion and recovery, and datagrams both ways (bursts through the
 * recycled buffers, trains cut by the kernel). Every wait is bounded.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netio.h"

static const struct netio_ops *ops = &netio_uring_ops;

/* Every peer here is on loopback, where the backend copies by default:
 * zero-copy is forced on so these tests reach the SEND_ZC path. */
static struct netio *mk_zc(uint32_t bufs, uint16_t *port, int zc_loopback)
{
	struct netio *n;
	struct seed_err e;
	seed_err_clear(&e);
	struct netio_config cfg = { .max_conns = 16,
				    .recv_bufs = bufs,
				    .recv_buf_size = 1024,
				    .zerocopy = 1,
				    .zerocopy_loopback = zc_loopback };
	cr_assert_eq(ops->create(&cfg, &n, &e), 0, "%s", e.msg);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(ops->listen(n, (struct sockaddr *)&a, sizeof(a), 7, port, &e), 0, "%s", e.msg);
	cr_assert_gt(*port, 0);
	return n;
}

static struct netio *mk(uint32_t bufs, uint16_t *port)
{
	return mk_zc(bufs, port, 1);
}

static int client(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	struct timeval tv = { 10, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Polls until an event of kind arrives (bounded: 200 polls of 50 ms);
 * RECV data is appended to acc and its buffer released. */
static struct netio_event wait_for(struct netio *n, enum netio_ev_kind kind, uint8_t *acc,
				   size_t *acc_len)
{
	struct netio_event ev[16];
	for (int round = 0; round < 200; round++) {
		int k = ops->poll(n, ev, 16, 50);
		cr_assert_geq(k, 0);
		for (int i = 0; i < k; i++) {
			if (ev[i].kind == NETIO_EV_RECV) {
				if (acc) {
					memcpy(acc + *acc_len, ev[i].data, ev[i].len);
					*acc_len += ev[i].len;
				}
				ops->recv_release(n, ev[i].rxh);
			}
			if (ev[i].kind == kind)
				return ev[i];
		}
	}
	cr_assert_fail("no event of kind %d within 10 s", kind);
	return ev[0];
}

Test(netio, accept_recv_send_close)
{
	uint16_t port;
	struct netio *n = mk(64, &port);
	int fd = client(port);
	struct netio_event a = wait_for(n, NETIO_EV_ACCEPT, NULL, NULL);
	cr_assert_eq(a.tag, 7);
	cr_assert_eq(((struct sockaddr_in *)&a.peer)->sin_family, AF_INET);

	cr_assert_eq(write(fd, "hello", 5), 5);
	uint8_t got[64];
	size_t gl = 0;
	for (int i = 0; i < 50 && gl < 5; i++) {
		struct netio_event ev[8];
		int k = ops->poll(n, ev, 8, 50);
		for (int j = 0; j < k; j++) {
			if (ev[j].kind == NETIO_EV_RECV) {
				cr_assert_eq(ev[j].conn, a.conn);
				memcpy(got + gl, ev[j].data, ev[j].len);
				gl += ev[j].len;
				ops->recv_release(n, ev[j].rxh);
			}
		}
	}
	cr_assert_eq(gl, 5);
	cr_assert_arr_eq(got, "hello", 5);

	for (int zc = 0; zc < 2; zc++) {
		struct iovec iov[2] = { { "abc", 3 }, { "defg", 4 } };
		cr_assert_eq(ops->send(n, a.conn, iov, 2, zc, 42 + zc), 0);
		struct netio_event s = wait_for(n, NETIO_EV_SENT, NULL, NULL);
		cr_assert_eq(s.cookie, (uint64_t)(42 + zc));
		cr_assert_eq(s.res, 7);
		if (!zc)
			cr_assert(s.freed, "a copying send frees its memory with its result");
		char buf[8] = { 0 };
		size_t have = 0;
		while (have < 7) {
			ssize_t r = read(fd, buf + have, 7 - have);
			cr_assert_gt(r, 0);
			have += (size_t)r;
		}
		cr_assert_arr_eq(buf, "abcdefg", 7);
	}

	ops->close(n, a.conn);
	struct netio_event c = wait_for(n, NETIO_EV_CLOSED, NULL, NULL);
	cr_assert_eq(c.conn, a.conn);
	char b;
	cr_assert_eq(read(fd, &b, 1), 0, "client sees EOF after server close");
	cr_assert_eq(ops->send(n, a.conn, (struct iovec[]){ { "x", 1 } }, 1, 0, 1), -ENOTCONN);
	close(fd);
	ops->destroy(n);
}

struct reader {
	int fd;
	size_t want;
	uint8_t *buf;
	size_t got;
};

static void *read_all(void *arg)
{
	struct reader *r = arg;
	while (r->got < r->want) {
		ssize_t k = read(r->fd, r->buf + r->got, r->want - r->got);
		if (k <= 0)
			break;
		r->got += (size_t)k;
	}
	return NULL;
}

Test(netio, large_zero_copy_send_in_order)
{
	uint16_t port;
	struct netio *n = mk(64, &port);
	int fd = client(port);
	struct netio_event a = wait_for(n, NETIO_EV_ACCEPT, NULL, NULL);
	size_t len = 8u << 20;
	uint8_t *src = malloc(len);
	for (size_t i = 0; i < len; i++)
		src[i] = (uint8_t)(i * 7 + (i >> 13));
	struct reader r = { fd, len + 5, malloc(len + 5), 0 };
	pthread_t t;
	pthread_create(&t, NULL, read_all, &r);
	struct iovec iov[3] = { { "HDR:", 4 }, { src, len / 2 }, { src + len / 2, len / 2 } };
	cr_assert_eq(ops->send(n, a.conn, iov, 3, 1, 9), 0);
	cr_assert_eq(ops->send(n, a.conn, (struct iovec[]){ { "!", 1 } }, 1, 0, 10), 0);
	int done = 0, freed = 0;
	for (int i = 0; i < 400 && done < 2; i++) {
		struct netio_event ev[8];
		int k = ops->poll(n, ev, 8, 50);
		for (int j = 0; j < k; j++) {
			/* FREED may come before the second send completes */
			freed |= (ev[j].kind == NETIO_EV_FREED || ev[j].freed) && ev[j].cookie == 9;
			if (ev[j].kind != NETIO_EV_SENT)
				continue;
			cr_assert_eq(ev[j].res, ev[j].cookie == 9 ? (int32_t)(len + 4) : 1);
			done++;
			if (ev[j].cookie == 9 && ev[j].freed)
				cr_assert_eq(ops->stats(n)->send_zc, 0);
		}
	}
	cr_assert_eq(done, 2);
	pthread_join(t, NULL);
	/* the zero-copy send's memory comes back (FREED) once the reader took it */
	for (int i = 0; i < 100 && !freed; i++) {
		struct netio_event ev[8];
		int k = ops->poll(n, ev, 8, 20);
		for (int j = 0; j < k; j++)
			freed |= ev[j].kind == NETIO_EV_FREED && ev[j].cookie == 9;
	}
	cr_assert(freed || ops->stats(n)->send_zc == 0, "no FREED for the zero-copy send");
	cr_assert_eq(r.got, len + 5);
	cr_assert_arr_eq(r.buf, "HDR:", 4);
	cr_assert_arr_eq(r.buf + 4, src, len);
	cr_assert_eq(r.buf[len + 4], '!');
	free(src);
	free(r.buf);
	close(fd);
	ops->destroy(n);
}

/* The backend's policy: a zero-copy send towards a loopback peer copies
 * (it would only add the notification there), and frees with its result. */
Test(netio, loopback_peer_gets_copying_sends)
{
	uint16_t port;
	struct netio *n = mk_zc(64, &port, 0);
	int fd = client(port);
	struct netio_event a = wait_for(n, NETIO_EV_ACCEPT, NULL, NULL);
	static uint8_t big[64 << 10];
	memset(big, 0x5a, sizeof(big));
	struct iovec iov[1] = { { big, sizeof(big) } };
	cr_assert_eq(ops->send(n, a.conn, iov, 1, 1, 77), 0);
	struct reader r = { fd, sizeof(big), malloc(sizeof(big)), 0 };
	pthread_t t;
	pthread_create(&t, NULL, read_all, &r);
	struct netio_event s = wait_for(n, NETIO_EV_SENT, NULL, NULL);
	pthread_join(t, NULL);
	cr_assert_eq(s.cookie, 77);
	cr_assert_eq(s.res, (int32_t)sizeof(big));
	cr_assert(s.freed, "a copying send frees its memory with its result");
	cr_assert_eq(ops->stats(n)->send_zc, 0);
	cr_assert_eq(ops->stats(n)->sends, 1);
	cr_assert_eq(r.got, sizeof(big));
	cr_assert_arr_eq(r.buf, big, sizeof(big));
	free(r.buf);
	close(fd);
	ops->destroy(n);
}

Test(netio, peer_close_and_buffer_exhaustion)
{
	uint16_t port;
	struct netio *n = mk(2, &port);
	int fd = client(port);
	struct netio_event a = wait_for(n, NETIO_EV_ACCEPT, NULL, NULL);
	/* Hold on to both receive buffers: reception must pause, not lose data. */
	uint8_t chunk[1024];
	memset(chunk, 'q', sizeof(chunk));
	struct netio_event held[2];
	int nh = 0;
	for (int i = 0; i < 3; i++)
		cr_assert_eq(write(fd, chunk, sizeof(chunk)), (ssize_t)sizeof(chunk));
	size_t total = 0;
	for (int i = 0; i < 40 && nh < 2; i++) {
		struct netio_event ev[8];
		int k = ops->poll(n, ev, 8, 50);
		for (int j = 0; j < k; j++)
			if (ev[j].kind == NETIO_EV_RECV) {
				held[nh++] = ev[j];
				total += ev[j].len;
			}
	}
	cr_assert_eq(nh, 2);
	struct netio_event ev[8];
	ops->poll(n, ev, 8, 100);
	cr_assert_gt(ops->stats(n)->no_bufs, 0, "the third KiB must wait for a buffer");
	ops->recv_release(n, held[0].rxh);
	ops->recv_release(n, held[1].rxh);
	uint8_t acc[4096];
	size_t al = 0;
	for (int i = 0; i < 40 && total + al < 3072; i++) {
		int k = ops->poll(n, ev, 8, 50);
		for (int j = 0; j < k; j++)
			if (ev[j].kind == NETIO_EV_RECV) {
				memcpy(acc + al, ev[j].data, ev[j].len);
				al += ev[j].len;
				ops->recv_release(n, ev[j].rxh);
			}
	}
	cr_assert_eq(total + al, 3072, "no byte lost across the pause");
	close(fd);
	struct netio_event c = wait_for(n, NETIO_EV_CLOSED, NULL, NULL);
	cr_assert_eq(c.conn, a.conn);
	ops->destroy(n);
}

/* ---- datagrams ---- */

/* A backend with a UDP socket bound beside its listener (as utpnet binds
 * it, on the port TCP got); *port is that port. */
static struct netio *mk_udp(uint16_t *port)
{
	struct netio *n = mk(64, port);
	struct seed_err e;
	seed_err_clear(&e);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(*port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(ops->udp_bind(n, (struct sockaddr *)&a, sizeof(a), 9, &e), 0, "%s", e.msg);
	return n;
}

/* A client UDP socket on loopback, with a receive buffer that holds a
 * test's worth of datagrams (SO_RCVBUFFORCE as root, else what the
 * system allows), and its address in *self. */
static int udp_client(struct sockaddr_in *self)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	int sz = 4 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t sl = sizeof(*self);
	getsockname(fd, (struct sockaddr *)self, &sl);
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Byte j of datagram i: which datagram and where in it, so a datagram cut
 * short, merged or swapped shows. */
static uint8_t dg_byte(uint32_t i, uint32_t j)
{
	return (uint8_t)(i * 131u + j * 7u + (j >> 8));
}

/* 2,000 datagrams in bursts of 50 (small enough for any socket buffer;
 * more than the backend's 256 receive buffers in all, so buffers must come
 * back at each poll), sizes 1 to 2,000 bytes: each arrives once, whole, in order, with its sender; one
 * too big for a buffer is dropped and counted, and the socket goes on. */
Test(netio_dgram, receive_bursts_through_recycled_buffers)
{
	uint16_t port;
	struct netio *n = mk_udp(&port);
	struct sockaddr_in self, to = { .sin_family = AF_INET,
					.sin_port = htons(port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = udp_client(&self);
	static uint8_t d[4096];
	uint32_t next = 0, sent = 0;
	for (int burst = 0; burst < 40; burst++) {
		for (int i = 0; i < 50; i++, sent++) {
			uint32_t len = 1 + (sent * 37u) % 2000u;
			for (uint32_t j = 0; j < len; j++)
				d[j] = dg_byte(sent, j);
			cr_assert_eq(sendto(fd, d, len, 0, (struct sockaddr *)&to, sizeof(to)),
				     (ssize_t)len);
		}
		if (burst == 3) {
			/* bigger than a buffer: MSG_TRUNC, dropped */
			memset(d, 'x', 3000);
			cr_assert_eq(sendto(fd, d, 3000, 0, (struct sockaddr *)&to, sizeof(to)),
				     3000);
		}
		for (int round = 0; round < 200 && next < sent; round++) {
			struct netio_event ev[64];
			int k = ops->poll(n, ev, 64, 50);
			cr_assert_geq(k, 0);
			for (int e = 0; e < k; e++) {
				if (ev[e].kind != NETIO_EV_DGRAM)
					continue;
				cr_assert_eq(ev[e].tag, 9);
				const struct sockaddr_in *from =
					(const struct sockaddr_in *)&ev[e].peer;
				cr_assert_eq(from->sin_family, AF_INET);
				cr_assert_eq(from->sin_port, self.sin_port);
				uint32_t len = 1 + (next * 37u) % 2000u;
				cr_assert_eq(ev[e].len, len, "datagram %u: %u bytes, sent %u", next,
					     ev[e].len, len);
				for (uint32_t j = 0; j < len; j++)
					cr_assert_eq(ev[e].data[j], dg_byte(next, j),
						     "datagram %u byte %u", next, j);
				next++;
			}
		}
		cr_assert_eq(next, sent, "burst %d: %u of %u datagrams arrived", burst, next, sent);
	}
	cr_assert_eq(ops->stats(n)->udp_in, 2000);
	cr_assert_eq(ops->stats(n)->udp_dropped, 1);
	close(fd);
	ops->destroy(n);
}

/* Trains: 50 full-size datagrams to one peer (cut at the kernel's 64 KiB
 * into two trains), a shorter one that ends the train, then 30 to a second
 * peer interleaved with nothing, each datagram a header and two payload
 * slices as utpnet gives them. Each peer receives its datagrams one by
 * one, whole and in order; the sends went as trains where the kernel
 * takes UDP_SEGMENT (it does on loopback). */
Test(netio_dgram, send_trains_arrive_as_datagrams)
{
	uint16_t port;
	struct netio *n = mk_udp(&port);
	struct sockaddr_in pa, pb;
	int fa = udp_client(&pa), fb = udp_client(&pb);
	enum { NA = 50, NB = 30, FULL = 1400, N = NA + 1 + NB };
	static uint8_t body[N][FULL];
	static struct iovec iov[N][3];
	struct netio_dgram g[N];
	for (uint32_t i = 0; i < N; i++) {
		uint32_t len = i == NA ? 700 : FULL;
		for (uint32_t j = 0; j < len; j++)
			body[i][j] = dg_byte(i, j);
		/* a 20-byte "header", then the payload in two slices */
		iov[i][0] = (struct iovec){ body[i], 20 };
		iov[i][1] = (struct iovec){ body[i] + 20, 500 };
		iov[i][2] = (struct iovec){ body[i] + 520, len - 520 };
		g[i] = (struct netio_dgram){ .to = (const struct sockaddr *)(i <= NA ? &pa : &pb),
					     .tolen = sizeof(pa),
					     .iov = iov[i],
					     .iovcnt = 3 };
	}
	cr_assert_eq(ops->udp_send(n, 9, g, N), N);
	cr_assert_eq(ops->stats(n)->udp_out, N);
	cr_assert_geq(ops->stats(n)->udp_trains, 2, "expected the runs to go as trains");
	cr_assert_leq(ops->stats(n)->udp_trains, 4);
	uint8_t rb[4096];
	for (uint32_t i = 0; i < N; i++) {
		ssize_t r = recv(i <= NA ? fa : fb, rb, sizeof(rb), 0);
		uint32_t len = i == NA ? 700 : FULL;
		cr_assert_eq(r, (ssize_t)len, "datagram %u: %zd bytes, sent %u", i, r, len);
		cr_assert_eq(memcmp(rb, body[i], len), 0, "datagram %u differs", i);
	}
	/* nothing more: no datagram doubled */
	cr_assert_lt(recv(fa, rb, sizeof(rb), MSG_DONTWAIT), 0);
	cr_assert_lt(recv(fb, rb, sizeof(rb), MSG_DONTWAIT), 0);
	close(fa);
	close(fb);
	ops->destroy(n);
}
