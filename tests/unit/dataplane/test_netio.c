/*
 * Tests for dataplane/netio/uring.c over loopback with real sockets:
 * accept, receive, ordered gather sends (plain and zero-copy, large ones
 * read by a client thread), close from either side, and receive-buffer
 * exhaustion and recovery. Every wait is bounded.
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
