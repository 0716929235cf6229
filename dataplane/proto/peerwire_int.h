/*
 * peerwire_int: what the files of the peer-wire engine share, and nothing
 * else includes. The module is one public header (peerwire.h) over three
 * files split along the protocol:
 *   peerwire.c       the engine: handshake, framing, requests, choking,
 *                    timers, MSE glue; it owns connection state;
 *   peerwire_ext.c   BEP 10 extension handshake and BEP 9 ut_metadata;
 *   peerwire_hash.c  BEP 52 hash request / hashes / hash reject;
 *   swarm_peerwire.c the seeding policy's glue: what is advertised
 *                    (swarm.h decides, this file tells the peer).
 *
 * Naming: public functions keep peerwire_ (declared in peerwire.h); every
 * name in this header starts pw_, then the file that defines it for the
 * sub-protocol files (pw_ext_, pw_hash_), or nothing for the engine's own
 * helpers (pw_room, pw_close). So `peerwire_` always means API, `pw_` always
 * means "internal, look in peerwire_int.h", and the prefix after pw_ says
 * which file to open.
 *
 * Contract for a sub-protocol handler (pw_ext_on_message,
 * pw_hash_on_request): the engine calls it with a complete message, its
 * body (c->msg_len - 1 bytes, after the id) in c->rbuf and c->rel current. It returns
 * PW_OK (handled: possibly appended actions), PW_BLOCKED (appended nothing:
 * out or the send buffer lacks room, the engine hands the message's last
 * byte back and the call is repeated later) or PW_DEAD (closed through
 * pw_close or pw_glitch). It checks pw_room for everything it may append
 * before appending anything, and appends a CLOSE only through pw_close.
 */
#ifndef SEED_PEERWIRE_INT_H
#define SEED_PEERWIRE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "byteio.h"
#include "peerwire.h"

/* Message ids (BEP 3, 6, 10, 52). */
enum {
	PW_MSG_CHOKE = 0,
	PW_MSG_UNCHOKE = 1,
	PW_MSG_INTERESTED = 2,
	PW_MSG_NOT_INTERESTED = 3,
	PW_MSG_HAVE = 4,
	PW_MSG_BITFIELD = 5,
	PW_MSG_REQUEST = 6,
	PW_MSG_PIECE = 7,
	PW_MSG_CANCEL = 8,
	PW_MSG_PORT = 9,
	PW_MSG_SUGGEST = 0x0d,
	PW_MSG_HAVE_ALL = 0x0e,
	PW_MSG_HAVE_NONE = 0x0f,
	PW_MSG_REJECT = 0x10,
	PW_MSG_ALLOWED_FAST = 0x11,
	PW_MSG_EXTENDED = 20,
	PW_MSG_HASH_REQUEST = 21,
	PW_MSG_HASHES = 22,
	PW_MSG_HASH_REJECT = 23,
};

/* Outcome of handling a message. */
enum { PW_OK = 0, PW_BLOCKED, PW_DEAD };

#define PW_EXT_HS_MAX	 160u  /* our extension handshake, bound */
#define PW_SCRATCH_NODES 1024u /* uncle subtree hashed in one go */

static inline uint64_t pw_min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline int pw_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* ---- output: every file appends through these ---- */

static inline size_t pw_out_free(const struct proto_out *o)
{
	return o->cap > o->n ? o->cap - o->n : 0;
}

/* 1 when out has `actions` free slots and the send buffer `bytes`. */
static inline int pw_room(const struct peerwire_conn *c, const struct proto_out *out, size_t bytes,
			  size_t actions)
{
	return pw_out_free(out) >= actions && PEERWIRE_SEND_BUF - c->sbuf_used >= bytes;
}

/* Appends a SEND, merging it into the previous one of this call when the
 * bytes follow on in memory (consecutive messages in sbuf). */
static inline void pw_push_send(struct peerwire_conn *c, struct proto_out *out, const uint8_t *p,
				size_t n)
{
	if (out->n > c->call_base) {
		struct proto_action *l = &out->a[out->n - 1];

		if (l->kind == PROTO_ACT_SEND &&
		    (uintptr_t)l->u.send.p + l->u.send.len == (uintptr_t)p) {
			l->u.send.len += n;
			return;
		}
	}
	out->a[out->n].kind = PROTO_ACT_SEND;
	out->a[out->n].u.send.p = p;
	out->a[out->n].u.send.len = n;
	out->n++;
}

/* n bytes of sbuf for one message, already queued as a SEND; the caller
 * checked pw_room() and fills them. */
static inline uint8_t *pw_emit(struct peerwire_conn *c, struct proto_out *out, size_t n)
{
	uint8_t *p = c->sbuf + c->sbuf_used;

	c->sbuf_used += (uint32_t)n;
	pw_push_send(c, out, p, n);
	return p;
}

/* ---- peerwire.c ---- */

/* Closes c with why (detail: a static string): gives up its upload slot and
 * appends the CLOSE, or keeps it for the next call when out is full. */
void pw_close(struct peerwire_conn *c, struct proto_out *out, enum proto_close_reason why,
	      const char *detail);

/* Counts a glitch: PW_OK, or PW_DEAD once past cfg.max_glitches (closed
 * MALFORMED). */
int pw_glitch(struct peerwire_conn *c, struct proto_out *out);

/* ---- peerwire_ext.c (BEP 10, BEP 9) ---- */

/* Writes our extension handshake message (length prefix included) to p,
 * which has PW_EXT_HS_MAX bytes; returns its length. */
size_t pw_ext_handshake(const struct peerwire_conn *c, uint8_t *p);

/* An extended message (id 20) buffered in c->rbuf: see the contract above. */
int pw_ext_on_message(struct peerwire_conn *c, struct proto_out *out);

/* Answers the waiting ut_metadata requests once the info dict is at hand,
 * or rejects them after PEERWIRE_UTM_WAIT_MS: PW_OK (none left, or still
 * waiting), PW_BLOCKED (no room: the rest waits for the next call). */
int pw_ext_flush(struct peerwire_conn *c, struct proto_out *out, uint64_t now);

/* ---- peerwire_hash.c (BEP 52) ---- */

/* Fills e->zero (the roots of all-zero subtrees); at engine set-up, once
 * e->hash exists. 0 or the hash error. */
int pw_hash_init_zero(struct peerwire_engine *e);

/* A hash request (id 21) buffered in c->rbuf: see the contract above. */
int pw_hash_on_request(struct peerwire_conn *c, struct proto_out *out);

/* ---- swarm_peerwire.c (seeding policy) ---- */

/* The handshake named release r: joins the view under the peer's policy,
 * or stays plain. */
void pw_swarm_attach(struct peerwire_conn *c, const struct proto_release *r, uint64_t now);

/* 1 when c advertises piece by piece (joined under super or rarest). */
static inline int pw_swarm_on(const struct peerwire_conn *c)
{
	return c->sw.v != NULL;
}

/* The peer's message (id c->msg_id, buffered body in rbuf) for the view:
 * HAVE, HAVE_ALL; any message makes the connection ready to pick. */
void pw_swarm_on_message(struct peerwire_conn *c, uint64_t now);

/* Bitfield body bytes [off, off + n) as they arrive. */
void pw_swarm_bits(struct peerwire_conn *c, uint64_t off, const uint8_t *p, size_t n, uint64_t now);

/* Appends the HAVEs of the pieces picked now, as room allows. */
void pw_swarm_flush(struct peerwire_conn *c, struct proto_out *out, uint64_t now);

/* The policy's next deadline for c (0: HAVEs wait), PEERWIRE_NO_DEADLINE. */
uint64_t pw_swarm_deadline(const struct peerwire_conn *c);

/* Leaves the view (at close); frees the bitfields when free_mem. */
void pw_swarm_leave(struct peerwire_conn *c, int free_mem);

#endif
