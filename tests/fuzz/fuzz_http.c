/*
 * fuzz_http: libFuzzer target for dataplane/proto/http.c.
 *
 * Input: three control bytes, then the request stream of one connection.
 *   byte 0: bits 0-2 out array size (1, 2, 3, 4, 8, 16, 32, 64 slots: the
 *           large ones let one call fill the send buffer); bit 3 small engine
 *           (1 KiB head bound, 16 KiB segments); bits 4-5 time mode (0
 *           frozen, 1 +0..255 ms per chunk, 2 +0..16 s, 3 +0..65 s); bit 6
 *           call http_data_failed after the call numbered by byte 2
 *   byte 1: seed of the chunk sizes (1..64 bytes, or all the rest)
 *   byte 2: see bit 6
 * The stream is fed in chunks; unconsumed bytes are offered again;
 * http_on_tick runs whenever the deadline has passed; at the end pending
 * output is drained.
 *
 * Properties checked on every action (a violation aborts):
 *  - nothing after CLOSE; every call consumes at most what it is offered,
 *    appends at most cap actions, and makes progress when offered bytes;
 *  - SEND_DATA names a served file, 0 < len <= the segment bound,
 *    offset + len <= file length;
 *  - a response is a head (one SEND: "HTTP/1.1 NNN ", a Content-Length,
 *    CRLF CRLF), then body bytes (SEND or SEND_DATA) adding up to exactly
 *    Content-Length before the next head; a HEAD's (or a cut) response has
 *    none; only a timeout or data-error CLOSE may cut a body short;
 *  - 200: payload is the whole file, in order; 206 single part: exactly
 *    the Content-Range, in order; 416 carries "Content-Range: bytes * /len";
 *  - a tick at or past the deadline ends in CLOSE.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "http1.h"

/* The unit tests' fake catalog: two releases, six files. */
#include "../unit/dataplane/http_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_http: %s\n", what);
		abort();
	}
}

/* ---- the response checker ---- */

struct chk {
	int closed;
	int in_resp; /* a head was seen; its body may follow */
	unsigned status;
	int multipart;
	uint64_t cl, got;	   /* Content-Length, body bytes so far */
	uint64_t first, last, len; /* 206 single part: Content-Range */
	uint64_t next;		   /* expected next payload offset (200, 206 single) */
	int have_data;
	uint32_t release, file;
	uint32_t seg_max;
};

static const uint8_t *find(const uint8_t *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s));
}

/* The decimal at *p, which moves past it (lib/http1 has its own tests). */
static uint64_t num(const uint8_t **p, const uint8_t *end)
{
	uint64_t v;
	size_t n = http1_scan_u64(*p, end, &v);

	check(n && v != UINT64_MAX, "no number, or an overflowing one, in a head");
	*p += n;
	return v;
}

static void end_of_body(const struct chk *k)
{
	check(k->got == k->cl || k->got == 0, "body length differs from Content-Length");
}

static void on_head(struct chk *k, const uint8_t *p, size_t n)
{
	const uint8_t *eoh = find(p, n, "\r\n\r\n"), *q, *end;

	if (k->in_resp)
		end_of_body(k);
	check(n > 13 && !memcmp(p, "HTTP/1.1 ", 9), "head without a status line");
	check(eoh != NULL, "head without its end");
	end = eoh + 2;
	q = p + 9;
	k->status = (unsigned)num(&q, end);
	check(*q == ' ', "status line");
	switch (k->status) {
	case 200:
	case 206:
	case 400:
	case 404:
	case 405:
	case 408:
	case 414:
	case 416:
	case 431:
	case 505: break;
	default: check(0, "unexpected status");
	}
	check(find(p, (size_t)(end - p), "\r\nServer: BitStream\r\n") != NULL, "no Server");
	q = find(p, (size_t)(end - p), "\r\nContent-Length: ");
	check(q != NULL, "no Content-Length");
	check(!find(q + 2, (size_t)(end - q - 2), "\r\nContent-Length: "), "two Content-Length");
	q += 18;
	k->cl = num(&q, end);
	check(q[0] == '\r' && q[1] == '\n', "Content-Length value");
	k->multipart = find(p, (size_t)(end - p), "multipart/byteranges; boundary=") != NULL;
	check(!k->multipart || k->status == 206, "multipart outside a 206");
	if (k->status == 206 && !k->multipart) {
		q = find(p, (size_t)(end - p), "\r\nContent-Range: bytes ");
		check(q != NULL, "206 without Content-Range");
		q += 23;
		k->first = num(&q, end);
		check(*q++ == '-', "Content-Range");
		k->last = num(&q, end);
		check(*q++ == '/', "Content-Range");
		k->len = num(&q, end);
		check(k->first <= k->last && k->last < k->len, "Content-Range out of order");
		check(k->cl == k->last - k->first + 1, "206 Content-Length differs from its range");
	}
	if (k->status == 416)
		check(find(p, (size_t)(end - p), "\r\nContent-Range: bytes */") != NULL,
		      "416 without Content-Range");
	if (k->status == 405)
		check(find(p, (size_t)(end - p), "\r\nAllow: GET, HEAD\r\n") != NULL,
		      "405 without Allow");
	k->in_resp = 1;
	k->have_data = 0;
	k->got = (uint64_t)(p + n - (eoh + 4));
	check(k->got <= k->cl, "error body over Content-Length");
	if (k->status >= 400)
		check(k->got == k->cl || k->got == 0, "error body split");
}

static void on_actions(struct chk *k, const struct proto_out *o, size_t cap)
{
	check(o->n <= cap, "more actions than room");
	for (size_t i = 0; i < o->n; i++) {
		const struct proto_action *a = &o->a[i];

		check(!k->closed, "action after CLOSE");
		switch (a->kind) {
		case PROTO_ACT_SEND:
			check(a->u.send.len > 0 && a->u.send.len <= HTTP_PIECE_MAX, "SEND size");
			if (k->in_resp && k->got < k->cl &&
			    (a->u.send.len < 9 || memcmp(a->u.send.p, "HTTP/1.1 ", 9))) {
				check(k->multipart, "SEND inside a body that is not multipart");
				k->got += a->u.send.len;
				check(k->got <= k->cl, "body over Content-Length");
			} else {
				on_head(k, a->u.send.p, a->u.send.len);
			}
			break;
		case PROTO_ACT_SEND_DATA: {
			const struct proto_file *f = httpfx_file(a->u.data.release, a->u.data.file);

			check(f != NULL, "SEND_DATA of an unknown file");
			check(a->u.data.len > 0 && a->u.data.len <= k->seg_max, "SEND_DATA size");
			check(a->u.data.offset <= f->length &&
				      a->u.data.len <= f->length - a->u.data.offset,
			      "SEND_DATA past the file");
			check(k->in_resp && (k->status == 200 || k->status == 206),
			      "SEND_DATA outside a body");
			check(k->got + a->u.data.len <= k->cl, "body over Content-Length");
			if (!k->have_data) {
				k->have_data = 1;
				k->release = a->u.data.release;
				k->file = a->u.data.file;
				if (k->status == 200) {
					check(k->cl == f->length,
					      "200 Content-Length is not the file's");
					k->next = 0;
				} else if (!k->multipart) {
					check(k->len == f->length,
					      "Content-Range length is not the file's");
					k->next = k->first;
				}
			}
			check(k->release == a->u.data.release && k->file == a->u.data.file,
			      "one response, several files");
			if (!k->multipart) {
				check(a->u.data.offset == k->next, "payload out of order");
				k->next += a->u.data.len;
			}
			k->got += a->u.data.len;
			break;
		}
		case PROTO_ACT_CLOSE:
			check(a->u.close.detail != NULL, "CLOSE without detail");
			if (k->in_resp && k->got != k->cl && k->got != 0)
				check(a->u.close.reason == PROTO_CLOSE_DATA_ERROR ||
					      a->u.close.reason == PROTO_CLOSE_TIMEOUT,
				      "body cut short by an orderly CLOSE");
			k->closed = 1;
			k->in_resp = 0;
			break;
		default: check(0, "unknown action kind");
		}
	}
}

/* ---- the driver ---- */

static struct http_engine engines[2];
static int engines_ready;

static void init_engines(void)
{
	struct proto_catalog cat = httpfx_catalog();
	struct http_config small;

	httpfx_init();

	http_config_default(&small);
	small.max_head = HTTP_MIN_HEAD;
	small.max_segment = 16384;
	check(http_engine_init(&engines[0], NULL, &cat) == 0, "engine init");
	check(http_engine_init(&engines[1], &small, &cat) == 0, "small engine init");
	engines_ready = 1;
}

struct run {
	struct http_conn c;
	struct chk k;
	struct proto_action a[64];
	size_t cap;
	unsigned calls, fail_at;
	int fail;
	uint64_t now;
};

static void after_call(struct run *r, struct proto_out *o)
{
	on_actions(&r->k, o, r->cap);
	check(r->k.closed == http_is_closed(&r->c), "closed state disagrees");
	r->calls++;
	if (r->fail && r->calls == r->fail_at && !r->k.closed) {
		struct proto_out f = { r->a, 0, r->cap };

		http_data_failed(&r->c, &f);
		on_actions(&r->k, &f, r->cap);
		check(r->k.closed && f.a[0].u.close.reason == PROTO_CLOSE_DATA_ERROR,
		      "data failure did not close");
	}
}

static void tick_if_due(struct run *r)
{
	uint64_t dl = http_next_deadline(&r->c);

	if (r->k.closed) {
		check(dl == HTTP_NO_DEADLINE, "deadline after close");
		return;
	}
	if (r->now < dl)
		return;
	struct proto_out o = { r->a, 0, r->cap };

	http_on_tick(&r->c, r->now, &o);
	check(o.n > 0, "a due deadline emitted nothing");
	after_call(r, &o);
	for (int i = 0; i < 8 && !r->k.closed; i++) {
		check(http_wants_write(&r->c), "a timeout left nothing pending");
		o.n = 0;
		http_on_writable(&r->c, r->now, &o);
		after_call(r, &o);
	}
	check(r->k.closed, "a due deadline did not close");
}

static const size_t caps[8] = { 1, 2, 3, 4, 8, 16, 32, 64 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r;
	uint32_t x;
	size_t off = 3;
	unsigned tmode;

	if (size < 3)
		return 0;
	if (!engines_ready)
		init_engines();
	memset(&r, 0, sizeof(r));
	r.cap = caps[data[0] & 7];
	tmode = (data[0] >> 4) & 3;
	r.fail = (data[0] >> 6) & 1;
	r.fail_at = data[2];
	x = 0x9e3779b9u ^ data[1];
	r.now = 1000;
	check(http_conn_init(&r.c, &engines[(data[0] >> 3) & 1], r.now) == 0, "conn init");
	r.k.seg_max = r.c.e->cfg.max_segment;

	while (off < size) {
		size_t chunk, end;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		chunk = (x & 7) == 0 ? size - off : 1 + (x >> 8) % 64;
		end = size - off < chunk ? size : off + chunk;
		for (int spins = 0; off < end; spins++) {
			struct proto_out o = { r.a, 0, r.cap };
			size_t n = http_on_bytes(&r.c, data + off, end - off, r.now, &o);

			check(n <= end - off, "consumed more than offered");
			check(n > 0 || o.n > 0, "no progress on bytes");
			check(spins < 1000000, "no end to a chunk");
			off += n;
			after_call(&r, &o);
		}
		switch (tmode) {
		case 1: r.now += (x >> 3) & 255; break;
		case 2: r.now += (x >> 3) % 16384; break;
		case 3: r.now += (x >> 3) % 65536; break;
		}
		tick_if_due(&r);
	}
	for (int spins = 0; http_wants_write(&r.c); spins++) {
		struct proto_out o = { r.a, 0, r.cap };

		check(spins < 1000000, "no end to the output");
		http_on_writable(&r.c, r.now, &o);
		check(o.n > 0, "no progress on output");
		after_call(&r, &o);
	}
	if (r.k.in_resp && !r.k.closed)
		end_of_body(&r.k);
	r.now += 3600 * 1000;
	tick_if_due(&r);
	check(r.k.closed, "an hour idle did not close");
	http_conn_free(&r.c);
	return 0;
}
