/*
 * fuzz_peerwire: libFuzzer target for dataplane/proto/peerwire.c.
 *
 * Input: byte 0 flags, bytes 1-2 a PRNG seed, the rest peer bytes.
 *   flags bit 0  prefix connection A's bytes with a valid handshake
 *         bit 1  ...with the fast bit      bit 2  ...with the BEP 10 bit,
 *                                                 then an extension handshake
 *         bit 3  use the v2 release (hash requests with deep proofs, a big
 *                bitfield) instead of the multi-file hybrid one
 *         bit 4  a second connection B (slots: one upload slot) with its own
 *                valid handshake (fast, interested), fed the same chunks
 *         bit 5  prefix A with INTERESTED
 *         bits 6+7 both set: MSE answered (cfg.mse 2); the bytes then go to
 *                the MSE responder unless they start a plain handshake
 *   the seed's top two bits: the seeding policy (plain, super, rarest,
 *   rarest), with a fresh swarm view of each release per input
 * The peer bytes go in chunks of PRNG sizes (to both connections), with out
 * arrays of PEERWIRE_MIN_OUT..24 actions; between calls virtual
 * time moves on, due timers and slot rotations fire, and a simulated worker
 * carries the actions out: it completes SEND_DATA blocks (data_done) in
 * PRNG order and now and then fails one (data_failed) instead of sending it.
 *
 * Checked on every call (a violation aborts):
 *  - nothing is ever appended after CLOSE, and CLOSE is a call's last action;
 *  - on_bytes returns at most len, and returns short only after appending
 *    something (it always makes progress);
 *  - every SEND is non-empty; every SEND_DATA names this release, an
 *    existing file, lies inside it, is at most 16 KiB and matches the piece
 *    and begin it answers; every SEND_ZERO is 1..16 KiB;
 *  - what the engine sends parses as a peer-wire stream: our handshake,
 *    then length-prefixed messages with ids we send, each PIECE header
 *    followed by exactly its payload in SEND_DATA/SEND_ZERO;
 *  - outstanding requests stay within 2 * max_requests, data_done of a
 *    block the engine handed out always finds it;
 *  - engine slot accounting returns to zero when the connections are freed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteio.h"
#include "peerwire.h"
#include "swarm.h"

/* The releases' layout, shared with the unit tests. */
#include "../unit/dataplane/peerwire_releases.h"
#include "xorshift.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_peerwire: %s\n", what);
		abort();
	}
}

/* ---- releases ---- */

#define V2_PIECES 3000 /* > 2 * 1024: uncle subtrees past the engine's scratch */

static struct proto_file h_files[4], v_files[1];
static struct proto_release hyb, v2r;
static uint8_t h_layer_a[PWR_HYB_LAYER_A], h_layer_c[PWR_HYB_LAYER_C], h_root[3][32];
static uint8_t v_layer[V2_PIECES * 32], v_root[32];
static uint8_t h_info[20000], v_info[700];
static struct hash_ctx *hctx;

static const struct proto_release *by_v1(void *ctx, void *peer, const uint8_t ih[20])
{
	(void)peer;
	(void)ctx;
	return memcmp(ih, hyb.ih_v1, 20) ? NULL : &hyb;
}

static const struct proto_release *by_v2(void *ctx, void *peer, const uint8_t ih[20])
{
	(void)peer;
	(void)ctx;
	if (!memcmp(ih, hyb.ih_v2, 20))
		return &hyb;
	return memcmp(ih, v2r.ih_v2, 20) ? NULL : &v2r;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	pwr_hybrid_layers(h_layer_a, h_layer_c);
	for (size_t i = 0; i < sizeof(v_layer); i++)
		v_layer[i] = (uint8_t)(i * 13 + (i >> 8));
	for (int k = 0; k < 3; k++)
		memset(h_root[k], 0xa0 + k, 32);
	memset(v_root, 0xc4, 32);
	for (size_t i = 0; i < sizeof(h_info); i++)
		h_info[i] = (uint8_t)(i * 31);

	pwr_hybrid(&hyb, h_files, 7, "f.h.1",
		   (const uint8_t *const[]){ h_root[0], h_root[1], h_root[2] }, h_layer_a,
		   h_layer_c, h_info, sizeof(h_info), 1);
	memset(hyb.ih_v2, 0x22, 32);

	v_files[0] = (struct proto_file){ "v.bin", (uint64_t)V2_PIECES * 16384 - 1000, 0, 5, v_root,
					  v_layer };
	pwr_single(&v2r, v_files, 8, "f.v.1", 0, 16384, v_info, sizeof(v_info));
	memset(v2r.ih_v2, 0x44, 32);
	check(hash_ctx_create(HASH_IMPL_OPENSSL, &hctx, NULL) == 0, "hash_ctx_create");
	return 0;
}

/* ---- PRNG ---- */

static uint32_t rng_state;
static struct swarm_view *fz_view[2]; /* per input: see fz_swarm */
static enum swarm_policy fz_policy;

static uint32_t rnd(void)
{
	return xorshift32(&rng_state);
}

/* ---- one simulated connection ---- */

#define MAX_DONE 128

struct sim {
	struct peerwire_conn c;
	const struct proto_release *rel;
	int closed; /* CLOSE seen */
	/* our output stream */
	uint64_t sent; /* engine SEND bytes so far */
	uint8_t hs[68];
	uint8_t hdr[13];
	uint32_t hdr_have;
	uint32_t msg_left; /* body bytes of the current message still due */
	int in_piece;	   /* inside a PIECE's payload */
	uint32_t piece, begin;
	/* blocks handed out, waiting for data_done */
	struct {
		uint32_t piece, begin;
	} done[MAX_DONE];
	size_t n_done;
};

/* Engine bytes (SEND) through the stream parser. */
static void stream_bytes(struct sim *s, const uint8_t *p, size_t n)
{
	/* Bytes before our handshake can only be an MSE answer (Yb, PadB, step
	 * 4): no peer-wire framing to check. The fuzzer cannot finish MSE (our
	 * key comes from getrandom), so such a connection never greets. */
	if (s->c.mse && !s->c.greeted)
		return;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i];

		if (s->sent < 68) {
			s->hs[s->sent++] = b;
			if (s->sent == 68) {
				check(s->hs[0] == 19 &&
					      !memcmp(s->hs + 1, "BitTorrent protocol", 19),
				      "our handshake's protocol string");
				check((s->hs[27] & 0x04) && (s->hs[25] & 0x10),
				      "our reserved bits");
				/* a raw handshake may name either release */
				s->rel = by_v1(NULL, NULL, s->hs + 28);
				if (!s->rel)
					s->rel = by_v2(NULL, NULL, s->hs + 28);
				check(s->rel != NULL, "our handshake echoes an unknown info-hash");
				check(!(s->hs[27] & 0x10) == !s->rel->has_v2, "our v2 bit");
			}
			continue;
		}
		s->sent++;
		check(!s->in_piece, "SEND bytes inside a PIECE payload");
		if (s->msg_left && s->hdr_have >= 5 && s->hdr[4] != 7) {
			/* body of a non-PIECE message */
			s->msg_left--;
			if (!s->msg_left)
				s->hdr_have = 0;
			continue;
		}
		s->hdr[s->hdr_have++] = b;
		if (s->hdr_have < 4)
			continue;
		if (s->hdr_have == 4) {
			uint32_t len = byteio_be32(s->hdr);

			if (len == 0) {
				s->hdr_have = 0; /* keep-alive */
				continue;
			}
			check(len <= (1u << 20), "message over 1 MiB from us");
			s->msg_left = len;
			continue;
		}
		if (s->hdr_have == 5) {
			uint32_t len = s->msg_left;

			s->msg_left--;
			switch (b) {
			case 0:
			case 1:
			case 0x0e: check(len == 1, "choke/unchoke/have_all length"); break;
			case 0x0f:
			case 4:
				/* what super and rarest advertise with */
				check(fz_policy != SWARM_PLAIN,
				      "HAVE or HAVE_NONE from a plain seed");
				check(len == (b == 4 ? 5u : 1u), "have/have_none length");
				break;
			case 5:
				check(len == 1 + (s->rel->n_pieces + 7) / 8, "bitfield length");
				break;
			case 7: check(len > 9 && len <= 9 + 16384, "PIECE length"); break;
			case 0x10: check(len == 13, "reject length"); break;
			case 20: check(len >= 2, "extended length"); break;
			case 22:
				check(len >= 49 + 32 && (len - 49) % 32 == 0, "hashes length");
				break;
			case 23: check(len == 49, "hash reject length"); break;
			default: check(0, "a message id we never send");
			}
			if (!s->msg_left)
				s->hdr_have = 0;
			continue;
		}
		if (s->hdr_have > 5 && s->hdr[4] == 7) {
			s->msg_left--;
			if (s->hdr_have == 13) {
				s->in_piece = 1;
				s->piece = byteio_be32(s->hdr + 5);
				s->begin = byteio_be32(s->hdr + 9);
				check(s->msg_left == byteio_be32(s->hdr) - 9,
				      "PIECE header accounting");
			}
			continue;
		}
		check(0, "stream parser lost");
	}
}

static void stream_payload(struct sim *s, uint32_t len)
{
	check(s->in_piece, "payload outside a PIECE");
	check(len <= s->msg_left, "payload longer than its PIECE");
	s->msg_left -= len;
	if (!s->msg_left) {
		s->in_piece = 0;
		s->hdr_have = 0;
	}
}

static void check_data(const struct sim *s, const struct proto_action *a)
{
	const struct proto_release *r = s->rel;
	const struct proto_file *f;

	check(a->u.data.release == r->handle, "SEND_DATA names another release");
	check(a->u.data.file < r->n_files, "SEND_DATA file index");
	f = &r->files[a->u.data.file];
	check(a->u.data.len > 0 && a->u.data.len <= 16384, "SEND_DATA length");
	check(a->u.data.offset < f->length && a->u.data.len <= f->length - a->u.data.offset,
	      "SEND_DATA outside its file");
	check(a->u.data.piece >= f->first_piece &&
		      a->u.data.piece - f->first_piece < proto_file_pieces(r, f),
	      "SEND_DATA piece not in its file");
	check(a->u.data.offset ==
		      (a->u.data.piece - f->first_piece) * r->piece_length + a->u.data.begin,
	      "SEND_DATA offset does not match piece/begin");
	check(a->u.data.piece == s->piece && a->u.data.begin == s->begin,
	      "SEND_DATA does not answer the PIECE in front of it");
}

static void fail_block(struct sim *s, uint32_t piece, uint32_t begin);

/* Carries out one call's actions. may_fail: the simulated cache may fail
 * a block (dropping its header, data and zero) instead of sending it. */
static void run(struct sim *s, struct proto_out *out, size_t base, int may_fail)
{
	uint32_t failed[8][2];
	size_t n_failed = 0;

	check(out->n <= out->cap, "out overflow");
	if (s->closed)
		check(out->n == base, "action after CLOSE");
	for (size_t i = base; i < out->n; i++) {
		const struct proto_action *a = &out->a[i];

		switch (a->kind) {
		case PROTO_ACT_SEND:
			check(a->u.send.p && a->u.send.len > 0, "empty SEND");
			if (may_fail && n_failed < 8 && i + 1 < out->n &&
			    out->a[i + 1].kind == PROTO_ACT_SEND_DATA && a->u.send.len == 13 &&
			    rnd() % 8 == 0) {
				const struct proto_action *d = &out->a[i + 1];

				check(s->hdr_have == 0 && s->msg_left == 0,
				      "failed block mid-message");
				failed[n_failed][0] = d->u.data.piece;
				failed[n_failed][1] = d->u.data.begin;
				n_failed++;
				i++;
				if (i + 1 < out->n && out->a[i + 1].kind == PROTO_ACT_SEND_ZERO)
					i++;
				break;
			}
			stream_bytes(s, a->u.send.p, a->u.send.len);
			break;
		case PROTO_ACT_SEND_DATA:
			check_data(s, a);
			stream_payload(s, a->u.data.len);
			if (s->n_done < MAX_DONE) {
				s->done[s->n_done].piece = a->u.data.piece;
				s->done[s->n_done].begin = a->u.data.begin;
				s->n_done++;
			} else {
				check(peerwire_data_done(&s->c, a->u.data.piece, a->u.data.begin) ==
					      0,
				      "data_done of a block just handed out");
			}
			break;
		case PROTO_ACT_SEND_ZERO:
			check(a->u.zero.len > 0 && a->u.zero.len <= 16384, "SEND_ZERO length");
			stream_payload(s, a->u.zero.len);
			break;
		case PROTO_ACT_CLOSE:
			check(i == out->n - 1, "CLOSE is not the last action");
			check((a->u.close.reason >= PROTO_CLOSE_DONE &&
			       a->u.close.reason <= PROTO_CLOSE_DATA_ERROR) ||
				      a->u.close.reason == PROTO_CLOSE_ENCRYPTION,
			      "close reason");
			s->closed = 1;
			break;
		default: check(0, "unknown action kind");
		}
	}
	check(peerwire_outstanding(&s->c) <= 2 * 32, "outstanding over 2 * max_requests");
	check(s->sent == 0 || s->sent >= 68, "call ends inside our handshake");
	check(s->sent < 68 || (!s->in_piece && !s->hdr_have && !s->msg_left),
	      "call ends inside a message");
	for (size_t k = 0; k < n_failed; k++)
		fail_block(s, failed[k][0], failed[k][1]);
}

static void fail_block(struct sim *s, uint32_t piece, uint32_t begin)
{
	struct proto_action acts[PEERWIRE_MIN_OUT];
	struct proto_out out = { acts, 0, PEERWIRE_MIN_OUT };
	int rc = peerwire_data_failed(&s->c, piece, begin, &out);

	if (s->closed) {
		/* the worker drops a closed connection's blocks: done */
		check(rc == -ENOENT && out.n == 0, "data_failed acted after CLOSE");
		check(peerwire_data_done(&s->c, piece, begin) == 0, "data_done after CLOSE");
		return;
	}
	check(rc == 0, "data_failed of a block just handed out");
	run(s, &out, 0, 0);
}

/* Completes some handed-out blocks, in PRNG order. */
static void complete(struct sim *s)
{
	while (s->n_done && rnd() % 4) {
		size_t k = rnd() % s->n_done;

		check(peerwire_data_done(&s->c, s->done[k].piece, s->done[k].begin) == 0,
		      "data_done of a block handed out");
		s->done[k] = s->done[--s->n_done];
	}
}

static void feed(struct sim *s, const uint8_t *p, size_t n, uint64_t now)
{
	while (n) {
		struct proto_action acts[24];
		struct proto_out out = { acts, 0,
					 PEERWIRE_MIN_OUT + rnd() % (24 - PEERWIRE_MIN_OUT + 1) };
		size_t used = peerwire_on_bytes(&s->c, p, n, now, &out);

		check(used <= n, "consumed more than given");
		if (s->closed)
			check(used == n, "closed connection kept input");
		run(s, &out, 0, 1);
		if (used < n)
			check(out.n > 0, "short return without progress");
		p += used;
		n -= used;
		complete(s);
	}
}

static void tick(struct sim *s, uint64_t now)
{
	struct proto_action acts[24];
	struct proto_out out = { acts, 0, 24 };

	if (peerwire_next_deadline(&s->c) > now)
		return;
	peerwire_on_tick(&s->c, now, &out);
	run(s, &out, 0, 1);
}

static size_t prefix(uint8_t *b, const struct proto_release *r, int v2, int fast, int ext,
		     int interested)
{
	size_t n = 0;
	static const char exths[] = "d1:md11:ut_metadatai2eee";

	b[n++] = 19;
	memcpy(b + n, "BitTorrent protocol", 19);
	n += 19;
	memset(b + n, 0, 8);
	if (ext)
		b[n + 5] = 0x10;
	if (fast)
		b[n + 7] = 0x04;
	n += 8;
	memcpy(b + n, v2 ? r->ih_v2 : r->ih_v1, 20);
	n += 20;
	memcpy(b + n, "-FZ0001-fuzzfuzzfuzz", 20);
	n += 20;
	if (ext) {
		uint32_t l = (uint32_t)sizeof(exths) - 1 + 2;

		b[n++] = 0;
		b[n++] = 0;
		b[n++] = 0;
		b[n++] = (uint8_t)l;
		b[n++] = 20;
		b[n++] = 0;
		memcpy(b + n, exths, sizeof(exths) - 1);
		n += sizeof(exths) - 1;
	}
	if (interested) {
		memcpy(b + n, "\0\0\0\1\2", 5);
		n += 5;
	}
	return n;
}

/* The seeding policy's lookup: one view per release, made per input so
 * that no state crosses inputs. */

static struct swarm_view *fz_swarm(void *ctx, void *peer, const struct proto_release *r,
				   enum swarm_policy *out)
{
	(void)ctx;
	(void)peer;
	*out = fz_policy;
	return fz_policy == SWARM_PLAIN ? NULL : fz_view[r == &v2r];
}

/* Every peer undoes what it did to a view when it leaves: with every
 * connection freed, nobody holds or is getting a piece. */
static void check_view_empty(const struct swarm_view *v)
{
	check(atomic_load(&v->peers) == 0 && atomic_load(&v->leechers) == 0,
	      "swarm view: peers left after every connection was freed");
	for (uint32_t i = 0; i < v->n_pieces; i++)
		check(atomic_load(&v->p[i].avail) == 0 && atomic_load(&v->p[i].pending) == 0,
		      "swarm view: a piece still held or pending after every peer left");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sim sa, sb;
	struct peerwire_engine e;
	struct peerwire_config cfg;
	struct proto_catalog cat = { NULL, by_v1, by_v2, NULL };
	struct peerwire_conn *dirty[4];
	uint8_t pre[128];
	uint64_t now = 1000;
	uint8_t flags;
	const struct proto_release *r;
	int two;
	size_t n;

	if (!hctx)
		LLVMFuzzerInitialize(NULL, NULL);
	if (size < 3)
		return 0;
	flags = data[0];
	rng_state = byteio_be16(data + 1);
	static const enum swarm_policy pols[4] = { SWARM_PLAIN, SWARM_SUPER, SWARM_RAREST,
						   SWARM_RAREST };
	fz_policy = pols[(rng_state >> 14) & 3];
	rng_state = rng_state * 2654435761u + 1;
	data += 3;
	size -= 3;
	r = flags & 8 ? &v2r : &hyb;
	two = (flags & 16) != 0;

	peerwire_config_default(&cfg);
	cfg.max_requests = 32;
	cfg.upload_slots = 1;
	cfg.max_glitches = 8;
	cfg.ext_buf = 1024;
	cfg.max_extended = 4096;
	cfg.max_message = 65536;
	cfg.handshake_timeout_ms = 3000;
	cfg.idle_timeout_ms = 30000;
	cfg.keepalive_ms = 7000;
	cfg.rotate_interval_ms = 4000;
	cfg.max_hash_work = 2600;
	/* MSE costs two modular exponentiations per connection: on for a
	 * quarter of the inputs, so the plain wire keeps its exec rate */
	cfg.mse = (flags & 64) && (flags & 128) ? 2 : 0;
	check(peerwire_engine_init(&e, &cfg, &cat, hctx, NULL) == 0, "engine init");
	for (int i = 0; i < 2; i++) {
		const struct proto_release *vr = i ? &v2r : &hyb;
		size_t vs = swarm_view_size(vr->n_pieces);

		check(vs && (fz_view[i] = calloc(1, vs)), "swarm view");
		swarm_view_init(fz_view[i], vr->n_pieces, vr->piece_length);
	}
	peerwire_engine_set_swarm(&e, fz_swarm, NULL);

	memset(&sa, 0, sizeof(sa));
	memset(&sb, 0, sizeof(sb));
	check(peerwire_conn_init(&sa.c, &e, now) == 0, "conn init");
	if (two)
		check(peerwire_conn_init(&sb.c, &e, now) == 0, "conn init");

	if (flags & 1) {
		n = prefix(pre, r, r == &v2r, flags & 2, flags & 4, flags & 32);
		feed(&sa, pre, n, now);
	}
	if (two) {
		n = prefix(pre, r, r == &v2r, 1, 0, 1);
		feed(&sb, pre, n, now);
	}

	while (size) {
		uint32_t small = rnd() % 4; /* sequenced: same stream under any compiler */
		size_t chunk = 1 + rnd() % (small ? 16 : 300);

		if (chunk > size)
			chunk = size;
		feed(&sa, data, chunk, now);
		if (two)
			feed(&sb, data, chunk, now);
		data += chunk;
		size -= chunk;

		now += rnd() % 16 ? rnd() % 300 : rnd() % 8000;
		if (peerwire_engine_next_deadline(&e) <= now) {
			size_t k = peerwire_engine_tick(&e, now, dirty, 4);

			for (size_t i = 0; i < k; i++)
				tick(dirty[i] == &sa.c ? &sa : &sb, now);
		}
		tick(&sa, now);
		if (two)
			tick(&sb, now);
	}
	/* quiet time: timers run out */
	for (int k = 0; k < 8; k++) {
		now += 5000;
		tick(&sa, now);
		if (two)
			tick(&sb, now);
		complete(&sa);
		complete(&sb);
	}
	if (sa.closed) {
		struct proto_action acts[8];
		struct proto_out out = { acts, 0, 8 };

		check(peerwire_on_bytes(&sa.c, (const uint8_t *)"\0\0\0\1\2", 5, now, &out) == 5 &&
			      out.n == 0,
		      "closed connection acted on input");
		peerwire_on_tick(&sa.c, now + 1000000, &out);
		check(out.n == 0, "closed connection acted on a tick");
		check(peerwire_next_deadline(&sa.c) == PEERWIRE_NO_DEADLINE,
		      "deadline after CLOSE");
	}
	while (sa.n_done) {
		sa.n_done--;
		check(peerwire_data_done(&sa.c, sa.done[sa.n_done].piece,
					 sa.done[sa.n_done].begin) == 0,
		      "data_done at the end");
	}
	check(peerwire_outstanding(&sa.c) == 0, "outstanding left after every data_done");
	peerwire_conn_free(&sa.c);
	if (two)
		peerwire_conn_free(&sb.c);
	check(e.slots_used == 0 && e.n_waiting == 0 && e.n_conns == 0, "slot accounting");
	peerwire_engine_free(&e);
	for (int i = 0; i < 2; i++) {
		check_view_empty(fz_view[i]);
		free(fz_view[i]);
		fz_view[i] = NULL;
	}
	return 0;
}
