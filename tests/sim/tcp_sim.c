/*
 * tcp_sim: the TCP engine (dataplane/stack/) against a Linux-like client
 * (receiver.c) over a simulated Ethernet link (simlink.c), in virtual time
 * (CONVENTIONS rule 14). Everything follows from the seeds: a failing
 * transfer prints the command that replays it alone.
 *
 * Per transfer: our server is a struct stack listening on a port; its
 * application, like the real sender, queues the object as references into
 * one shared pattern buffer (byte o of every object is pattern[o % P], P a
 * prime near 1 MiB), alternating 13-byte header-like sends and 16 KiB
 * blocks, some split over two iovecs; on -EAGAIN it waits for an ACKED
 * event; it checks every ACKED cookie comes back once and in order, then
 * closes and expects CLOSED(0). The client resolves the server by ARP,
 * connects with its option set, sends a request, checks every byte and
 * header it receives, and closes after the server's FIN.
 *
 * Modes: the default runs --transfers transfers with parameters drawn from
 * each seed (size, rate, RTT, loss, duplication, reordering, the client's
 * options); --mathis runs bulk transfers at a fixed loss rate for each RTT
 * and MSS listed and compares the goodput with the Mathis et al. bound
 * MSS/RTT * 1.22/sqrt(p) (capped by the link rate), failing under
 * --min-ratio of it.
 *
 * Loop: the next thing to happen is the earliest of the link's next
 * delivery, the stack's deadline and the client's timer; time jumps there.
 * A frame for the server goes through stack_input() then stack_poll() at
 * that instant, and the server's frames go onto the link in order.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "receiver.h"
#include "simlink.h"
#include "stack.h"
#include "tcp.h"

#define SRV_IP	   0x0a000001u /* 10.0.0.1 */
#define CLI_IP	   0x0a000002u
#define SRV_PORT   6881
#define LISTEN_TAG 7
#define OUT_TX	   256
#define OUT_EV	   256
#define PERIOD	   1048573u /* a prime near 1 MiB */

static const uint8_t srv_mac[6] = { 0x02, 0, 0, 0, 0, 1 };
static const uint8_t cli_mac[6] = { 0x02, 0, 0, 0, 0, 2 };

static uint8_t *pattern; /* PERIOD + 65536 bytes: pattern[i] = pattern[i % PERIOD] */

/* ---- a transfer's parameters and results ---- */

struct xfer {
	uint64_t seed;
	uint64_t size;
	struct sim_dir_cfg down, up; /* server -> client, client -> server */
	uint16_t mtu, mss;	     /* mss 0: no option */
	int ws, sack, ts;
	uint32_t rcvbuf;
	double rtt_ms; /* base round trip (propagation both ways) */
};

struct result {
	int ok;
	char err[400];
	uint64_t t_est, t_last, t_end; /* ns */
	uint32_t smss;
	struct tcp_stats tcp;
	struct rcv_stats rcv;
	struct sim_dir_stats down, up;
};

/* ---- the server's application ---- */

struct app {
	struct stack *s;
	struct rcv *client;
	uint64_t size, off;
	uint64_t issued, acked; /* cookies: issued sends, ACKED seen */
	uint32_t conn;
	int accepted, close_called, closed, peer_fin, small_next;
	uint32_t req_got;
	int32_t close_res;
	uint32_t smss;
	struct sim_rng rng;
	char err[300];
	int failed;
};

static const char request[] = "GET /seed/object HTTP/1.1\r\nHost: sim\r\nRange: bytes=0-\r\n\r\n";

/* The application's first failure, kept in a->err. */
#define app_fail(a, ...) sim_fail(&(a)->failed, (a)->err, sizeof((a)->err), __VA_ARGS__)

/* Queues what it can; -EAGAIN waits for the next ACKED. */
static void app_pump(struct app *a)
{
	while (a->off < a->size && !a->failed) {
		uint64_t len = a->small_next ? 13 : 16384;
		if (len > a->size - a->off)
			len = a->size - a->off;
		const uint8_t *p = pattern + a->off % PERIOD;
		struct iovec iov[2] = { { (void *)p, len } };
		int n = 1;
		if (len > 1 && sim_rng_below(&a->rng, 4) == 0) {
			size_t cut = 1 + sim_rng_below(&a->rng, len - 1);
			iov[0].iov_len = cut;
			iov[1].iov_base = (void *)(p + cut);
			iov[1].iov_len = len - cut;
			n = 2;
		}
		int rc = stack_send(a->s, a->conn, iov, n, a->issued);
		if (rc == -EAGAIN) {
			if (a->issued == a->acked)
				app_fail(a, "app: -EAGAIN with nothing queued");
			return;
		}
		if (rc < 0) {
			app_fail(a, "app: stack_send: %s", strerror(-rc));
			return;
		}
		a->issued++;
		a->off += len;
		a->small_next = !a->small_next;
	}
	if (a->off == a->size && !a->close_called) {
		a->close_called = 1;
		stack_close(a->s, a->conn);
	}
}

static void app_event(struct app *a, const struct stack_ev *ev)
{
	if (ev->kind != STACK_EV_ACCEPT && (!a->accepted || ev->conn != a->conn)) {
		app_fail(a, "app: event %d for connection %u", ev->kind, ev->conn);
		return;
	}
	switch (ev->kind) {
	case STACK_EV_ACCEPT:
		if (a->accepted) {
			app_fail(a, "app: a second ACCEPT");
			return;
		}
		if (ev->tag != LISTEN_TAG || ev->peer.af != STACK_AF_INET) {
			app_fail(a, "app: ACCEPT with tag %u", ev->tag);
			return;
		}
		a->accepted = 1;
		a->conn = ev->conn;
		{
			struct tcp_conn_info ci;
			if (tcp_conn_info(stack_tcp(a->s), a->conn, &ci) == 0)
				a->smss = ci.smss;
		}
		app_pump(a);
		break;
	case STACK_EV_DATA:
		if (a->peer_fin || a->req_got + ev->len > sizeof(request) - 1 ||
		    memcmp(ev->data, request + a->req_got, ev->len)) {
			app_fail(a, "app: unexpected request bytes at %u (+%u)", a->req_got,
				 ev->len);
			return;
		}
		a->req_got += ev->len;
		break;
	case STACK_EV_PEER_FIN:
		if (a->peer_fin || a->req_got != sizeof(request) - 1)
			app_fail(a, "app: PEER_FIN after %u request bytes", a->req_got);
		a->peer_fin = 1;
		break;
	case STACK_EV_ACKED:
		if (ev->cookie != a->acked || a->acked >= a->issued) {
			app_fail(a,
				 "app: ACKED cookie %" PRIu64 ", expected %" PRIu64 " (%" PRIu64
				 " issued)",
				 ev->cookie, a->acked, a->issued);
			return;
		}
		a->acked++;
		app_pump(a);
		break;
	case STACK_EV_CLOSED:
		if (a->closed)
			app_fail(a, "app: CLOSED twice");
		a->closed = 1;
		a->close_res = ev->res;
		if (ev->res != 0)
			app_fail(a, "app: CLOSED(%d) (client at %" PRIu64 " of %" PRIu64 ")",
				 ev->res, a->client->rcv_nxt, a->size);
		else if (a->acked != a->issued || a->off != a->size)
			app_fail(a, "app: CLOSED with %" PRIu64 " of %" PRIu64 " sends ACKED",
				 a->acked, a->issued);
		break;
	default: app_fail(a, "app: event kind %d", ev->kind);
	}
}

/* ---- one transfer ---- */

struct sim {
	struct sim_link link;
	struct stack *s;
	struct rcv client;
	struct app app;
	struct stack_out out;
	uint64_t now;
	int link_err;
};

static void client_send(void *arg, const uint8_t *f, size_t len)
{
	struct sim *S = arg;
	struct sim_piece p = { f, len };
	if (sim_link_send(&S->link, SIM_B2A, S->now, &p, 1) < 0)
		S->link_err = 1;
}

static int trace; /* --trace: every TCP segment both ways on stderr */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One line per TCP segment: time, direction, flags, seq, ack, length,
 * window, SACK blocks (relative to the receiver's ISNs would be nicer;
 * raw keeps it honest). */
static void trace_seg(uint64_t now, const char *dir, const uint8_t *ip, uint32_t pay_len)
{
	if (ip[9] != 6)
		return;
	const uint8_t *th = ip + 20;
	uint32_t doff = (uint32_t)(th[12] >> 4) * 4u;
	fprintf(stderr, "%10.6f %s %c%c%c%c seq %u ack %u len %u win %u", (double)now / 1e9, dir,
		th[13] & 2 ? 'S' : '.', th[13] & 1 ? 'F' : '.', th[13] & 4 ? 'R' : '.',
		th[13] & 0x10 ? 'A' : '.', be32(th + 4), be32(th + 8), pay_len,
		(unsigned)(th[14] << 8 | th[15]));
	struct tcp_opt o;
	size_t at = 0;
	while (tcp_opt_next(th + 20, doff - 20, &at, &o) > 0)
		for (uint32_t b = 0; o.kind == 5 && b + 8 <= o.len - 2u; b += 8)
			fprintf(stderr, " sack %u-%u", be32(o.val + b), be32(o.val + b + 4));
	fputc('\n', stderr);
}

/* Puts the server's frames on the link and hands its events to the
 * application, then empties out. */
static void server_flush(struct sim *S)
{
	for (uint32_t i = 0; i < S->out.ntx; i++) {
		const struct stack_tx *tx = &S->out.tx[i];
		struct sim_piece p[1 + STACK_TX_SLICES];
		int n = 0;
		p[n++] = (struct sim_piece){ tx->hdr, tx->hdr_len };
		if (trace && tx->hdr_len > 34)
			trace_seg(S->now, "S>", tx->hdr + 14, tx->pay_len);
		for (uint32_t k = 0; k < tx->n_pay; k++)
			p[n++] = (struct sim_piece){ tx->pay[k].p, tx->pay[k].len };
		if (sim_link_send(&S->link, SIM_A2B, S->now, p, n) < 0)
			S->link_err = 1;
	}
	S->out.ntx = 0;
	for (uint32_t i = 0; i < S->out.nev; i++)
		app_event(&S->app, &S->out.ev[i]);
	S->out.nev = 0;
}

static void choose_stack(const struct xfer *x, struct sim_rng *rng, struct stack_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	memcpy(cfg->mac, srv_mac, 6);
	cfg->ip = SRV_IP;
	cfg->prefix = 24;
	cfg->mtu = x->mtu;
	cfg->tcp.max_conns = 4;
	for (int i = 0; i < 16; i++)
		cfg->tcp.secret[i] = (uint8_t)(sim_rng_next(rng) | 1);
}

static int run_transfer(const struct xfer *x, struct result *res)
{
	memset(res, 0, sizeof(*res));
	struct sim *S = calloc(1, sizeof(*S));
	static struct stack_tx txs[OUT_TX];
	static struct stack_ev evs[OUT_EV];
	if (!S)
		return -ENOMEM;
	S->out = (struct stack_out){ .tx = txs, .txcap = OUT_TX, .ev = evs, .evcap = OUT_EV };
	struct sim_rng rng;
	sim_rng_seed(&rng, x->seed ^ 0x5eed5eed5eedull);
	struct stack_config cfg;
	choose_stack(x, &rng, &cfg);
	struct seed_err err = { 0 };
	int rc = stack_create(&cfg, &S->s, &err);
	if (rc < 0) {
		snprintf(res->err, sizeof(res->err), "stack_create: %.300s", err.msg);
		free(S);
		return rc;
	}
	stack_listen(S->s, SRV_PORT, LISTEN_TAG);
	rc = sim_link_init(&S->link, &x->down, &x->up, x->seed, x->mtu + 14);
	S->app.s = S->s;
	S->app.client = &S->client;
	S->app.size = x->size;
	sim_rng_seed(&S->app.rng, x->seed ^ 0xa99ull);
	struct rcv_cfg rc_cfg = {
		.ip = CLI_IP,
		.srv_ip = SRV_IP,
		.port = (uint16_t)(1024 + sim_rng_below(&rng, 64000)),
		.srv_port = SRV_PORT,
		.mss = x->mss,
		.ws = x->ws,
		.sack = x->sack,
		.ts = x->ts,
		.dsack = 1,
		.rcvbuf = x->rcvbuf,
		.mtu = x->mtu,
		.size = x->size,
		.pattern = pattern,
		.period = PERIOD,
		.req = (const uint8_t *)request,
		.req_len = sizeof(request) - 1,
		.isn = (uint32_t)sim_rng_next(&rng),
		.ts_off = (uint32_t)sim_rng_next(&rng),
		.send = client_send,
		.arg = S,
	};
	memcpy(rc_cfg.mac, cli_mac, 6);
	if (rc == 0)
		rc = rcv_init(&S->client, &rc_cfg, 0);
	if (rc < 0) {
		snprintf(res->err, sizeof(res->err), "out of memory");
		goto out;
	}
	uint64_t last_progress = 0, progress_mark = 0, same_time = 0, prev_now = 0;
	const uint64_t stall_ns = 600ull * 1000000000ull;
	for (;;) {
		if (S->client.failed || S->app.failed || S->link_err)
			break;
		if (S->client.state == RCV_DONE && S->app.closed)
			break;
		uint64_t t_link = sim_link_next(&S->link);
		uint64_t d = stack_next_deadline(S->s);
		uint64_t t_srv = d == UINT64_MAX ? UINT64_MAX : d * 1000;
		if (t_srv < S->now)
			t_srv = S->now;
		uint64_t t_cli = rcv_deadline(&S->client);
		uint64_t t = t_link < t_srv ? t_link : t_srv;
		if (t_cli < t)
			t = t_cli;
		if (t == UINT64_MAX) {
			snprintf(res->err, sizeof(res->err),
				 "stalled: nothing in flight and no timer (client at %" PRIu64
				 " of %" PRIu64 ")",
				 S->client.rcv_nxt, x->size);
			break;
		}
		if (t > S->now)
			S->now = t;
		if (S->now == prev_now) {
			if (++same_time > 100000) {
				snprintf(res->err, sizeof(res->err),
					 "livelock at %" PRIu64 " ns (stack deadline %" PRIu64
					 " us, client %" PRIu64 " ns, link %" PRIu64 " ns)",
					 S->now, d, t_cli, t_link);
				break;
			}
		} else {
			same_time = 0;
			prev_now = S->now;
		}
		if (S->client.rcv_nxt != progress_mark || S->client.got_fin) {
			progress_mark = S->client.rcv_nxt;
			last_progress = S->now;
		}
		if (S->now - last_progress > stall_ns && !S->client.got_fin) {
			struct tcp_conn_info ci = { 0 };
			tcp_conn_info(stack_tcp(S->s), S->app.conn, &ci);
			snprintf(res->err, sizeof(res->err),
				 "no progress for 600 s at %" PRIu64 " of %" PRIu64
				 " (state %d cwnd %u wnd %u flight %u rto %u)",
				 S->client.rcv_nxt, x->size, ci.state, ci.cwnd, ci.snd_wnd,
				 ci.flight, ci.rto_us);
			break;
		}
		uint64_t now_us = S->now / 1000;
		if (t == t_link) {
			struct sim_pkt pk;
			sim_link_pop(&S->link, &pk);
			if (pk.dir == SIM_A2B) {
				rcv_input(&S->client, pk.data, pk.len, S->now);
			} else {
				if (trace && pk.len > 34 && pk.data[12] == 8)
					trace_seg(S->now, "<C", pk.data + 14,
						  pk.len - 34u - (uint32_t)(pk.data[46] >> 4) * 4u);
				stack_input(S->s, pk.data, pk.len, 0, pk.order, now_us, &S->out);
				server_flush(S);
				stack_poll(S->s, now_us, &S->out);
				server_flush(S);
			}
			sim_link_release(&S->link, pk.data);
		} else if (t == t_srv) {
			uint64_t rto = tcp_stats(stack_tcp(S->s))->rto;
			stack_poll(S->s, now_us, &S->out);
			if (trace && tcp_stats(stack_tcp(S->s))->rto != rto) {
				struct tcp_conn_info ci = { 0 };
				tcp_conn_info(stack_tcp(S->s), S->app.conn, &ci);
				fprintf(stderr, "%10.6f RTO cwnd %u ssthresh %u rto %u srtt %u\n",
					(double)S->now / 1e9, ci.cwnd, ci.ssthresh, ci.rto_us,
					ci.srtt_us);
			}
			server_flush(S);
		} else {
			rcv_timer(&S->client, S->now);
		}
	}
	if (S->client.failed)
		snprintf(res->err, sizeof(res->err), "%s", S->client.err);
	else if (S->app.failed)
		snprintf(res->err, sizeof(res->err), "%s", S->app.err);
	else if (S->link_err)
		snprintf(res->err, sizeof(res->err), "link: out of memory or oversized frame");
	else if (!res->err[0] && S->client.rcv_nxt != x->size)
		snprintf(res->err, sizeof(res->err), "client got %" PRIu64 " of %" PRIu64,
			 S->client.rcv_nxt, x->size);
	res->ok = !res->err[0];
	res->t_est = S->client.t_est;
	res->t_last = S->client.t_last;
	res->t_end = S->now;
	res->smss = S->app.smss;
	res->tcp = *tcp_stats(stack_tcp(S->s));
	res->rcv = S->client.st;
	res->down = S->link.st[SIM_A2B];
	res->up = S->link.st[SIM_B2A];
out:
	rcv_free(&S->client);
	sim_link_free(&S->link);
	stack_destroy(S->s);
	free(S);
	return res->ok ? 0 : -EPROTO;
}

/* ---- options ---- */

/* What a transfer's parameter is drawn from. */
struct span {
	double lo, hi;
};

struct opts {
	uint64_t seed;
	uint32_t transfers;
	struct span mib;
	struct span loss;
	double rev_loss; /* < 0: up to the forward loss */
	double dup_max, reorder_max;
	struct span rtt;  /* ms */
	struct span rate; /* Mbit/s */
	int optmask;	  /* -1: drawn; -2: every combination in turn */
	int mss;	  /* -1: drawn */
	int mtu;
	int mathis;
	double min_ratio;
	char rtts[128], msss[64];
	int verbose;
};

enum { O_MSS = 1, O_WS = 2, O_SACK = 4, O_TS = 8 };

static const struct option long_opts[] = {
	{ "seed", required_argument, 0, 's' },
	{ "transfers", required_argument, 0, 'n' },
	{ "min-mib", required_argument, 0, 'a' },
	{ "max-mib", required_argument, 0, 'b' },
	{ "loss", required_argument, 0, 'l' },
	{ "loss-min", required_argument, 0, 'L' },
	{ "rev-loss", required_argument, 0, 'r' },
	{ "dup", required_argument, 0, 'd' },
	{ "reorder", required_argument, 0, 'o' },
	{ "rtt-ms", required_argument, 0, 't' },
	{ "rate-mbit", required_argument, 0, 'R' },
	{ "opts", required_argument, 0, 'O' },
	{ "all-opts", no_argument, 0, 'A' },
	{ "mss", required_argument, 0, 'm' },
	{ "mtu", required_argument, 0, 'M' },
	{ "mathis", no_argument, 0, 'T' },
	{ "min-ratio", required_argument, 0, 'q' },
	{ "verbose", no_argument, 0, 'v' },
	{ "trace", no_argument, 0, 'x' },
	{ "help", no_argument, 0, 'h' },
	{ 0, 0, 0, 0 },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: tcp_sim [options]\n"
		   "Runs TCP transfers from the stack (dataplane/stack) to a simulated Linux-like\n"
		   "client over a simulated link, in virtual time; exits 1 on any failure.\n"
		   "  --seed N          first seed (transfer k uses seed N+k; default 1)\n"
		   "  --transfers N     transfers to run (default 20)\n"
		   "  --min-mib X       smallest object, MiB (default 1)\n"
		   "  --max-mib X       largest object, MiB, sizes log-uniform (default 64)\n"
		   "  --loss P          forward loss (a fraction): drawn uniformly from\n"
		   "                    [--loss-min, P] (default 0.10); with --mathis exactly P\n"
		   "  --loss-min P      see --loss (default 0)\n"
		   "  --rev-loss P      loss of the client's frames (default: drawn up to the\n"
		   "                    forward loss)\n"
		   "  --dup P           duplication, drawn up to P (default 0.01)\n"
		   "  --reorder P       reordering, drawn up to P (default 0.03)\n"
		   "  --rtt-ms A[:B]    base RTT, or range drawn log-uniformly (default 1:200);\n"
		   "                    with --mathis a comma list (default 10,50,100)\n"
		   "  --rate-mbit A[:B] link rate, or range (default 5:1000)\n"
		   "  --opts MASK       client options: 1 MSS, 2 window scale, 4 SACK,\n"
		   "                    8 timestamps (default: drawn per transfer)\n"
		   "  --all-opts        cycle through all 16 option sets\n"
		   "  --mss N           client MSS option value (default: drawn; with --mathis a\n"
		   "                    comma list, default 1460)\n"
		   "  --mtu N           IP MTU of both ends (default 1500)\n"
		   "  --mathis          goodput vs Mathis bound at --loss (default 0.01), one\n"
		   "                    row per RTT and MSS, --transfers seeds each (default 4)\n"
		   "  --min-ratio X     --mathis fails below X times the bound (default 0.8)\n"
		   "  --verbose         a line per transfer\n"
		   "  --trace           every TCP segment in and out of the server, on stderr\n"
		   "  --help            this text\n");
}

/* "LO:HI" or "V" (LO = HI = V); on failure *out is left as it was. */
static int parse_range(const char *s, struct span *out)
{
	struct span v;
	char *end;
	v.lo = strtod(s, &end);
	if (end == s)
		return -1;
	if (*end == ':') {
		const char *b = end + 1;
		v.hi = strtod(b, &end);
		if (end == b)
			return -1;
	} else {
		v.hi = v.lo;
	}
	if (*end || v.lo <= 0 || v.hi < v.lo)
		return -1;
	*out = v;
	return 0;
}

/* ---- drawing a transfer ---- */

static void link_dirs(struct xfer *x, double rate_mbit, double rtt_ms, double loss, double rev,
		      double dup, double reo)
{
	uint64_t rate = (uint64_t)(rate_mbit * 1e6 / 8);
	uint64_t delay = (uint64_t)(rtt_ms * 1e6 / 2);
	/* a drop-tail queue of one to two bandwidth-delay products, at least
	 * 64 frames */
	double bdp = (double)rate * rtt_ms / 1000.0;
	uint64_t q = (uint64_t)(bdp * 1.5);
	if (q < 64 * 1538)
		q = 64 * 1538;
	x->rtt_ms = rtt_ms;
	x->down = (struct sim_dir_cfg){ rate, delay, q, loss, dup, reo, delay / 2 + 100000 };
	x->up = (struct sim_dir_cfg){ rate, delay, q, rev, dup, reo, delay / 2 + 100000 };
}

static void client_opts(struct xfer *x, int mask, struct sim_rng *r, int mss)
{
	static const uint16_t msss[] = { 1460, 1460, 1448, 1400, 1360, 1220, 536, 8960 };
	x->mss = mask & O_MSS ? (uint16_t)(mss > 0 ? mss : msss[sim_rng_below(r, 8)]) : 0;
	x->sack = !!(mask & O_SACK);
	x->ts = !!(mask & O_TS);
	if (mask & O_WS) {
		static const int wss[] = { 7, 7, 7, 2, 9, 14 };
		x->ws = wss[sim_rng_below(r, 6)];
		uint64_t max = (uint64_t)65535 << x->ws;
		static const uint32_t bufs[] = { 6u << 20, 6u << 20, 4u << 20, 1u << 20,
						 256u << 10 };
		uint64_t b = bufs[sim_rng_below(r, 5)];
		x->rcvbuf = (uint32_t)(b < max ? b : max);
	} else {
		x->ws = -1;
		x->rcvbuf = sim_rng_below(r, 4) ? 65535 : 32768;
	}
}

static void draw(const struct opts *o, uint64_t seed, uint32_t k, struct xfer *x)
{
	struct sim_rng r;
	sim_rng_seed(&r, seed * 0x9e3779b97f4a7c15ull + 17);
	memset(x, 0, sizeof(*x));
	x->seed = seed;
	x->mtu = (uint16_t)o->mtu;
	double mib = sim_rng_logu(&r, o->mib.lo, o->mib.hi);
	x->size = (uint64_t)(mib * 1048576.0);
	if (x->size < 1)
		x->size = 1;
	double rate = sim_rng_logu(&r, o->rate.lo, o->rate.hi);
	double rtt = sim_rng_logu(&r, o->rtt.lo, o->rtt.hi);
	double loss = o->loss.lo + sim_rng_unit(&r) * (o->loss.hi - o->loss.lo);
	double rev = o->rev_loss >= 0 ? o->rev_loss : sim_rng_unit(&r) * loss;
	double dup = sim_rng_unit(&r) * o->dup_max;
	double reo = sim_rng_unit(&r) * o->reorder_max;
	link_dirs(x, rate, rtt, loss, rev, dup, reo);
	int mask;
	if (o->optmask == -2)
		mask = (int)(k % 16);
	else if (o->optmask >= 0)
		mask = o->optmask;
	else /* half the clients offer everything, as most do */
		mask = sim_rng_below(&r, 2) ? 15 : (int)sim_rng_below(&r, 16);
	client_opts(x, mask, &r, o->mss);
}

static void describe(const struct xfer *x, char *buf, size_t n)
{
	snprintf(buf, n,
		 "seed %" PRIu64 " size %" PRIu64 " rate %.1f Mbit/s rtt %.1f ms loss %.3f/%.3f"
		 " dup %.3f reorder %.3f mss %u ws %d sack %d ts %d rcvbuf %u",
		 x->seed, x->size, (double)x->down.rate_Bps * 8 / 1e6, x->rtt_ms, x->down.loss,
		 x->up.loss, x->down.dup, x->down.reorder, x->mss, x->ws, x->sack, x->ts,
		 x->rcvbuf);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double goodput_Bps(const struct xfer *x, const struct result *r)
{
	uint64_t dt = r->t_last > r->t_est ? r->t_last - r->t_est : 1;
	return (double)x->size * 1e9 / (double)dt;
}

static int run_matrix(const struct opts *o)
{
	double t0 = now_s();
	uint64_t bytes = 0, rtx = 0, rto = 0, failures = 0;
	double vtime = 0;
	for (uint32_t k = 0; k < o->transfers; k++) {
		struct xfer x;
		struct result r;
		draw(o, o->seed + k, k, &x);
		run_transfer(&x, &r);
		char d[400];
		describe(&x, d, sizeof(d));
		if (!r.ok) {
			failures++;
			printf("FAIL %s\n  %s\n  replay: tcp_sim --seed %" PRIu64
			       " --transfers 1 (same size/loss options)\n",
			       d, r.err, x.seed);
			fflush(stdout);
			continue;
		}
		bytes += x.size;
		rtx += r.tcp.retransmits;
		rto += r.tcp.rto;
		vtime += (double)r.t_end / 1e9;
		if (o->verbose)
			printf("ok %s: %.2f s, %.2f Mbit/s, rtx %" PRIu64 " rto %" PRIu64
			       " sack-rec %" PRIu64 " fast-rec %" PRIu64 " dsack %" PRIu64
			       " qdrop %" PRIu64 " lost %" PRIu64 "\n",
			       d, (double)(r.t_last - r.t_est) / 1e9, goodput_Bps(&x, &r) * 8 / 1e6,
			       r.tcp.retransmits, r.tcp.rto, r.tcp.sack_recovery,
			       r.tcp.fast_recovery, r.rcv.dsacks, r.down.queue_drops,
			       r.down.lost + r.up.lost);
	}
	double wall = now_s() - t0;
	printf("%u transfers, %" PRIu64 " failed; %.1f MiB in %.1f s wall (%.1f transfers/s, "
	       "%.0f MiB/s simulated), %.0f s virtual; %" PRIu64 " retransmits, %" PRIu64 " RTOs\n",
	       o->transfers, failures, (double)bytes / 1048576.0, wall,
	       o->transfers / (wall > 0 ? wall : 1), (double)bytes / 1048576.0 / wall, vtime, rtx,
	       rto);
	return failures ? 1 : 0;
}

static int run_mathis(const struct opts *o)
{
	double loss = o->loss.hi > 0 ? o->loss.hi : 0.01;
	int fails = 0;
	printf("loss %.3f; goodput averaged over %u seeds; bound = min(link, MSS/RTT * 1.22 / "
	       "sqrt(p))\n",
	       loss, o->transfers);
	printf("%8s %6s %7s %12s %12s %12s %7s %6s %5s\n", "rtt_ms", "mss", "smss", "goodput",
	       "mathis", "bound", "ratio", "rtx", "rto");
	char rtts[128], *sp1 = NULL;
	snprintf(rtts, sizeof(rtts), "%s", o->rtts);
	for (char *rt = strtok_r(rtts, ",", &sp1); rt; rt = strtok_r(NULL, ",", &sp1)) {
		char msss[64], *sp2 = NULL;
		snprintf(msss, sizeof(msss), "%s", o->msss);
		for (char *ms = strtok_r(msss, ",", &sp2); ms; ms = strtok_r(NULL, ",", &sp2)) {
			double rtt = atof(rt), sum_g = 0;
			uint64_t rtx = 0, rto = 0;
			uint32_t smss = 0;
			int bad = 0;
			struct xfer x;
			for (uint32_t k = 0; k < o->transfers; k++) {
				memset(&x, 0, sizeof(x));
				x.seed = o->seed + k;
				x.mtu = (uint16_t)o->mtu;
				x.size = (uint64_t)(o->mib.hi * 1048576.0);
				link_dirs(&x, o->rate.hi, rtt, loss,
					  o->rev_loss > 0 ? o->rev_loss : 0, 0, 0);
				x.mss = (uint16_t)atoi(ms);
				x.ws = 7;
				x.sack = 1;
				x.ts = 1;
				x.rcvbuf = 6u << 20;
				struct result r;
				run_transfer(&x, &r);
				if (!r.ok) {
					char d[400];
					describe(&x, d, sizeof(d));
					printf("FAIL %s\n  %s\n", d, r.err);
					bad = 1;
					continue;
				}
				sum_g += goodput_Bps(&x, &r);
				rtx += r.tcp.retransmits;
				rto += r.tcp.rto;
				smss = r.smss;
			}
			if (bad) {
				fails++;
				continue;
			}
			double g = sum_g / o->transfers;
			/* the round trip a full segment and its ACK see on an
			 * empty link */
			double frame = smss + 40 + 12 + 14 + 24;
			double rtt_s = rtt / 1000 + (frame + 84) / (double)x.down.rate_Bps;
			double mathis = smss / rtt_s * 1.22 / sqrt(loss);
			double link = (double)x.down.rate_Bps * smss / frame;
			double bound = mathis < link ? mathis : link;
			double ratio = g / bound;
			printf("%8.1f %6s %7u %9.3f Mb %9.3f Mb %9.3f Mb %7.3f %6" PRIu64
			       " %5" PRIu64 "%s\n",
			       rtt, ms, smss, g * 8 / 1e6, mathis * 8 / 1e6, bound * 8 / 1e6, ratio,
			       rtx / o->transfers, rto / o->transfers,
			       ratio < o->min_ratio ? "  FAIL" : "");
			if (ratio < o->min_ratio)
				fails++;
		}
	}
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.seed = 1,
		.transfers = 20,
		.mib = { 1, 64 },
		.loss = { 0, 0.10 },
		.rev_loss = -1,
		.dup_max = 0.01,
		.reorder_max = 0.03,
		.rtt = { 1, 200 },
		.rate = { 5, 1000 },
		.optmask = -1,
		.mss = -1,
		.mtu = 1500,
		.min_ratio = 0.8,
	};
	snprintf(o.rtts, sizeof(o.rtts), "10,50,100");
	snprintf(o.msss, sizeof(o.msss), "1460");
	/* the options given, by their short name: --mathis has its own
	 * defaults for those that were not */
	uint8_t given[128] = { 0 };
	int c;
	while ((c = getopt_long(argc, argv, "hv", long_opts, NULL)) != -1) {
		if (c > 0 && c < (int)sizeof(given))
			given[c] = 1;
		switch (c) {
		case 's': o.seed = strtoull(optarg, NULL, 0); break;
		case 'n': o.transfers = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'a': o.mib.lo = atof(optarg); break;
		case 'b': o.mib.hi = atof(optarg); break;
		case 'l': o.loss.hi = atof(optarg); break;
		case 'L': o.loss.lo = atof(optarg); break;
		case 'r': o.rev_loss = atof(optarg); break;
		case 'd': o.dup_max = atof(optarg); break;
		case 'o': o.reorder_max = atof(optarg); break;
		case 't':
			snprintf(o.rtts, sizeof(o.rtts), "%s", optarg);
			parse_range(optarg, &o.rtt); /* --mathis reads the list itself */
			break;
		case 'R':
			if (parse_range(optarg, &o.rate) < 0) {
				fprintf(stderr, "tcp_sim: bad --rate-mbit %s\n", optarg);
				return 2;
			}
			break;
		case 'O': o.optmask = atoi(optarg) & 15; break;
		case 'A': o.optmask = -2; break;
		case 'm':
			snprintf(o.msss, sizeof(o.msss), "%s", optarg);
			o.mss = atoi(optarg);
			break;
		case 'M': o.mtu = atoi(optarg); break;
		case 'T': o.mathis = 1; break;
		case 'q': o.min_ratio = atof(optarg); break;
		case 'v': o.verbose = 1; break;
		case 'x': trace = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || o.transfers == 0 || o.mib.lo <= 0 || o.mib.hi < o.mib.lo ||
	    o.mtu < 576 || o.mtu > 9000 || o.loss.hi < o.loss.lo || o.loss.hi >= 1) {
		usage(stderr);
		return 2;
	}
	pattern = malloc(PERIOD + 65536);
	if (!pattern)
		return 1;
	struct sim_rng pr;
	sim_rng_seed(&pr, 0x7a77e2);
	for (uint32_t i = 0; i < PERIOD; i++)
		pattern[i] = (uint8_t)(sim_rng_next(&pr) >> 56);
	memcpy(pattern + PERIOD, pattern, 65536);
	int rc;
	if (o.mathis) {
		if (!given['n'])
			o.transfers = 4;
		if (!given['l'])
			o.loss.hi = 0.01;
		if (!given['a'] && !given['b'])
			o.mib.hi = 16;
		if (!given['R'])
			o.rate.hi = 100;
		rc = run_mathis(&o);
	} else {
		rc = run_matrix(&o);
	}
	free(pattern);
	return rc;
}
