/*
 * peerwire: the sans-I/O BitTorrent peer-wire engine of a pure seed (BEP 3,
 * with BEP 6 fast extension, BEP 10 extension protocol, BEP 9 ut_metadata
 * and the BEP 52 hash messages). We hold every piece of every release we
 * serve and never download.
 *
 * The engine takes bytes and time (ms, from the worker's clock) and appends
 * actions (proto_action.h). It never touches a socket, a file or a clock,
 * has no globals and allocates only in peerwire_engine_init and
 * peerwire_conn_init.
 *
 * Connection life:
 *  0. MSE (mse.h), when cfg.mse is on and the first 20 bytes are not
 *     19 "BitTorrent protocol": they are the start of the peer's DH key.
 *     The MSE responder answers and finds the release with
 *     catalog.by_mse_req2; its IA, decrypted, is the start of the
 *     handshake below. We select plaintext when offered, so the stream is
 *     plaintext from then on; a peer offering only RC4 gets RC4 with
 *     cfg.mse 2 (see peerwire_rc4_rx: the worker applies it) and is closed
 *     ENCRYPTION with cfg.mse 1. The handshake's info-hash must be the one
 *     MSE named. A failed exchange closes ENCRYPTION (UNKNOWN_TORRENT for
 *     an unknown release); with cfg.mse 0, MALFORMED as below. The
 *     handshake timeout covers MSE.
 *  1. Handshake (BEP 3): 19 "BitTorrent protocol", 8 reserved bytes, 20-byte
 *     info-hash, 20-byte peer id. A wrong length byte or protocol string
 *     closes MALFORMED at the first wrong byte. Once the info-hash is in
 *     (48 bytes) it is looked up with catalog.by_ih_v1, then by_ih_v2_20 (a
 *     v2 handshake carries the SHA-256 info-hash truncated to 20 bytes);
 *     unknown → CLOSE(UNKNOWN_TORRENT). We answer at once (BEP 3 lets the
 *     receiver answer before the peer id arrives) with our handshake echoing
 *     the peer's info-hash and setting reserved bits: fast (reserved[7] |=
 *     0x04), extension protocol (reserved[5] |= 0x10), v2 upgrade
 *     (reserved[7] |= 0x10, only when the release has v2), our peer id from
 *     the config. Then HAVE_ALL if the peer set the fast bit, else a
 *     BITFIELD with n_pieces bits set (spare bits zero); then, if the peer
 *     set the extension bit, our extension handshake:
 *       d1:md11:ut_metadatai1ee13:metadata_sizei<info_len>e
 *        4:reqqi<max_requests>e1:v14:BitStream seede
 *     (canonical bencode; "m" is empty and metadata_size absent when the
 *     release has no info dict). We start choked; see Upload slots.
 *  2. Messages (length-prefixed). keep-alive; choke/unchoke (noted);
 *     interested/not interested (drive the upload slots); have, bitfield,
 *     suggest, have_all, have_none, allowed_fast, reject, port, hash reject
 *     (lengths validated, then ignored: a bitfield must be exactly
 *     ceil(n_pieces/8) bytes with zero spare bits); request; cancel;
 *     extended; hash request. Unknown ids, an unsolicited piece or hashes,
 *     fast messages from a peer without the fast bit, extended messages
 *     without the extension bit, a have past n_pieces and unparsable or
 *     unknown extended messages are ignored and count a glitch; more than
 *     cfg.max_glitches glitches → CLOSE(MALFORMED).
 *
 * Bounds (checked on the length prefix, before the body is read):
 *  - any message over cfg.max_message → OVERSIZED;
 *  - request, cancel, reject, piece over 16 KiB + 13 → OVERSIZED;
 *  - bitfield over 1 + ceil(n_pieces/8) → OVERSIZED, under → MALFORMED;
 *  - extended over cfg.max_extended → OVERSIZED; extended messages over
 *    cfg.ext_buf (the bytes a connection buffers to parse one) are skipped
 *    as a glitch;
 *  - a fixed-size message of another length → MALFORMED.
 *
 * Requests (id 6: index, begin, length). index < n_pieces, 0 < length <=
 * 16 KiB and begin + length <= the piece's size (piece_length, except the
 * last piece of the release, which is short) or CLOSE(BAD_REQUEST). While
 * we choke the peer: REJECT_REQUEST with the fast extension, else ignored.
 * Otherwise the engine emits at once:
 *    SEND       the 13-byte PIECE header (len = 9 + length, id 7, index, begin)
 *    SEND_DATA  the part inside the piece's file (u.data: release handle,
 *               file index, file offset, len, piece, begin), when any
 *    SEND_ZERO  the part past the file's end (BEP 47 pad), when any
 * (every file starts on a piece boundary, so one request touches one file:
 * at most one SEND_DATA and one SEND_ZERO). A request with a SEND_DATA is
 * outstanding until the worker calls peerwire_data_done (or
 * peerwire_data_failed) for it; one past cfg.max_requests outstanding →
 * CLOSE(TOO_MANY). A request wholly in pad is answered with zeros and is
 * never outstanding.
 *
 * Cancel (id 8). Every accepted request is handed to the worker at once, so
 * the engine holds no queue a cancel could drop from: a cancel matching an
 * outstanding request marks it cancelled (counted) and the block is still
 * sent (BEP 6 lets a PIECE answer a cancelled request; BEP 3 peers drop
 * blocks they no longer want), so no REJECT follows a cancel. A cancelled
 * request stops counting against cfg.max_requests at once (the peer already
 * stopped counting it) but keeps its entry until peerwire_data_done; at
 * most 2 * cfg.max_requests entries exist, the rest → CLOSE(TOO_MANY), so
 * request+cancel floods stay bounded. A cancel matching nothing is a race,
 * silently ignored.
 *
 * Extended (id 20, BEP 10). Sub-id 0 is the peer's handshake: we learn its
 * ut_metadata id (a lenient, non-allocating bencode scan: key order is not
 * checked). Sub-id 1 is ut_metadata (BEP 9), our id for it: a request
 * {msg_type 0, piece N} is answered with {msg_type 1, piece N, total_size}
 * followed by the 16 KiB slice N of the release's info dict, or with
 * {msg_type 2, piece N} when N is out of range. Data and reject messages
 * from the peer are ignored (we never download metadata).
 *
 * Hash request (id 21, BEP 52: pieces root, base layer, index, length,
 * proof layers). Served only from the piece layer we hold (proto_file.layer):
 * base layer == log2(piece_length / 16 KiB), the file has a layer, length a
 * power of two <= PEERWIRE_MAX_HASHES (1 is accepted: it is what a layer
 * truncated to one hash asks for), index a multiple of length, index +
 * length within the layer padded to a power of two, proof layers below the
 * height of the tree above the base. The answer (HASHES, id 22) carries the
 * length base hashes (padding past the file's pieces with the root of an
 * all-zero piece subtree), then the uncle hashes: for each height h from
 * log2(length) to proof layers, the sibling of the requested range's
 * ancestor at h (the ones below log2(length) follow from the base hashes
 * and are omitted). Uncles are computed from the layer with SHA-256 on each
 * request; one whose computation would hash more than cfg.max_hash_work
 * nodes is rejected. Anything we cannot serve → HASH_REJECT (id 23)
 * echoing the request.
 *
 * Upload slots (engine-wide, across the connections of one worker).
 * cfg.upload_slots peers are unchoked at a time. A peer that becomes
 * interested is unchoked at once if a slot is free, else it waits in FIFO
 * order. A peer that loses interest or closes gives its slot to the
 * longest-waiting peer at once (and is choked). Every cfg.rotate_interval_ms
 * while peers wait, peerwire_engine_tick makes the cfg.rotate_count
 * longest-unchoked peers yield to the longest-waiting ones (the yielding
 * peer is choked and queues at the tail). Choke state that changes outside
 * a call on the connection (rotation, another peer leaving) is sent on the
 * connection's next call: peerwire_engine_tick reports such connections,
 * and their peerwire_next_deadline is 0, so the worker calls
 * peerwire_on_tick on them.
 *
 * Timers (time is an argument; the worker calls peerwire_on_tick at or
 * after peerwire_next_deadline): handshake timeout (cfg.handshake_timeout_ms
 * from peerwire_conn_init until the 68 handshake bytes are in) and idle
 * timeout (cfg.idle_timeout_ms since the last input byte) → CLOSE(TIMEOUT);
 * a keep-alive after cfg.keepalive_ms without an action of ours, and one
 * PEERWIRE_NUDGE_MS after our greeting to a peer not interested by then:
 * Transmission 3.00 over uTP leaves the bytes that follow our handshake
 * in its buffer until another datagram arrives (measured: a 90 s stall,
 * until the regular keep-alive), and 4 bytes cost nothing.
 *
 * Output and flow. A call appends at most out->cap - out->n actions;
 * out->cap must be at least PEERWIRE_MIN_OUT (a call with a smaller array
 * does nothing). peerwire_on_bytes stops before a message it has no room
 * for and returns the bytes it consumed: the worker keeps buf[ret..len) and
 * offers it again after carrying out the actions (CONVENTIONS.md rule 7).
 * A return of len means nothing is pending. After CLOSE the engine emits
 * nothing ever again and consumes (drops) every byte.
 *
 * Memory and ownership. PROTO_ACT_SEND points into memory the engine owns:
 *  - PIECE headers live in their request's outstanding entry and stay valid
 *    until peerwire_data_done / peerwire_data_failed for that request, so
 *    the worker may hold one while the cache resolves the block;
 *  - the REJECT appended by peerwire_data_failed lives in the failed
 *    request's entry, valid until the next peerwire_on_bytes /
 *    peerwire_on_tick (so it never needs send-buffer room);
 *  - the BITFIELD body of a large release points into an engine buffer
 *    that is never written after peerwire_engine_init;
 *  - everything else is in the connection's send buffer (PEERWIRE_SEND_BUF
 *    bytes), valid until the next peerwire_on_bytes / peerwire_on_tick on
 *    the connection (peerwire_data_done and peerwire_data_failed leave
 *    it alone). A worker that holds actions across those calls (waiting for
 *    the cache) copies their SEND bytes or does not make those calls
 *    meanwhile.
 * Releases are looked up again (by the handshake's info-hash) at the start
 * of every peerwire_on_bytes / peerwire_on_tick, as
 * proto_catalog pointers are valid only until the next call returns; a
 * release that is no longer served → CLOSE(UNKNOWN_TORRENT). Bytes of info
 * dicts and piece layers are copied into the send buffer, never referenced.
 *
 * Verified data. The worker fetches each SEND_DATA through the verified
 * cache and must resolve it before sending the PIECE header in front of
 * it. When it cannot be verified the worker sends none of that request's
 * actions (header, data, zero) and calls peerwire_data_failed: with the
 * fast extension the engine answers REJECT_REQUEST, else CLOSE(DATA_ERROR)
 * — the peer never gets unverified bytes. The worker carries on with the
 * actions after the failed request.
 *
 * Seeding policy (swarm.h, docs/swarm.md). Once the handshake names a
 * release, the engine asks the worker's swarm_view lookup (set with
 * peerwire_engine_set_swarm) for the release's shared view and the policy
 * that applies to the peer. Plain (or no lookup, or no view: counted in
 * peerwire_swarm_plain_total when the policy was another) is the
 * behaviour above. Under super or rarest the connection joins the view
 * (its bitfields, swarm_peer_mem: 3 * ceil(n_pieces / 8) bytes, allocated then: once
 * per connection, never per message) and:
 *  - our greeting says HAVE_NONE (fast extension) or nothing instead of
 *    HAVE_ALL / a full bitfield;
 *  - the peer's BITFIELD, HAVE_ALL and HAVEs feed the view (the bitfield's
 *    bytes straight from the input, whatever its size);
 *  - once the peer's bitfield is in (its first message after the
 *    handshake) or PEERWIRE_SWARM_WAIT_MS after our greeting, every call ends
 *    with the HAVEs of the pieces swarm_pick chooses (at most
 *    PEERWIRE_SWARM_BATCH a call; more: next deadline 0), and
 *    peerwire_next_deadline includes the policy's own (starvation,
 *    polling);
 *  - a request for a piece we did not advertise is served all the same
 *    (the bytes are right; counted);
 *  - the connection leaves the view when it closes or is freed.
 *
 * Call order: peerwire_engine_init once per worker (not thread-safe: one
 * engine and its connections belong to one thread); per connection
 * peerwire_conn_init, then any sequence of peerwire_on_bytes /
 * peerwire_on_tick / peerwire_data_done / peerwire_data_failed, then
 * peerwire_conn_free (also after CLOSE); peerwire_engine_tick whenever
 * peerwire_engine_next_deadline is due; peerwire_engine_free after every
 * connection is freed.
 */
#ifndef SEED_PEERWIRE_H
#define SEED_PEERWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "dlist.h"
#include "hash.h"
#include "mse.h"
#include "proto_action.h"
#include "proto_release.h"
#include "seed_err.h"
#include "swarm.h"

#define PEERWIRE_MIN_OUT       8u     /* least out->cap a call works with */
#define PEERWIRE_SEND_BUF      20480u /* per-connection SEND bytes per call */
#define PEERWIRE_BLOCK	       16384u /* largest block a request may ask for */
#define PEERWIRE_MAX_HASHES    512u   /* base hashes one hash request may ask for */
#define PEERWIRE_UT_METADATA   1u     /* our BEP 10 id for ut_metadata */
#define PEERWIRE_NO_DEADLINE   UINT64_MAX
#define PEERWIRE_SWARM_WAIT_MS 200u /* for the peer's bitfield before we pick */
#define PEERWIRE_SWARM_BATCH   64u  /* HAVEs one call sends at most */

/*
 * Settings. Every field but peer_id is a uint32_t listed in the option
 * table (peerwire_options): name, bounds, default, help.
 */
struct peerwire_config {
	uint8_t peer_id[20];	     /* ours; the worker should randomise the tail */
	uint32_t upload_slots;	     /* peers unchoked at once, per engine */
	uint32_t max_requests;	     /* outstanding requests per peer ("reqq") */
	uint32_t max_message;	     /* any message's length prefix */
	uint32_t max_extended;	     /* extended message bound (OVERSIZED) */
	uint32_t ext_buf;	     /* largest extended message parsed */
	uint32_t max_glitches;	     /* ignored oddities tolerated per peer */
	uint32_t rotate_interval_ms; /* slot rotation period */
	uint32_t rotate_count;	     /* peers rotated per period */
	uint32_t handshake_timeout_ms;
	uint32_t idle_timeout_ms;
	uint32_t keepalive_ms;
	uint32_t max_hash_work; /* SHA-256 node hashes per hash request */
	uint32_t mse;		/* MSE/PE: 0 refused, 1 plaintext only, 2 RC4 when insisted on */
	/* the seeding policy's settings (swarm.h, struct swarm_config) */
	uint32_t swarm_window_kib;
	uint32_t swarm_small;
	uint32_t swarm_starve_ms;
	uint32_t swarm_boot_pct;
	uint32_t swarm_floor_kib;
};

struct peerwire_option {
	const char *name; /* as in a config file, "peerwire_" omitted */
	size_t offset;	  /* of its uint32_t in struct peerwire_config */
	uint32_t min, max, def;
	const char *help;
};

/* The option table (static storage) and its length. */
const struct peerwire_option *peerwire_options(size_t *out_n);

/* Fills cfg with the table's defaults and the peer id "-BS0100-" + 12 '0'. */
void peerwire_config_default(struct peerwire_config *cfg);

/*
 * One per worker thread. Fields are private to the module (peerwire.c,
 * peerwire_ext.c, peerwire_hash.c).
 */
struct peerwire_engine {
	struct peerwire_config cfg;
	struct proto_catalog catalog; /* copied; ctx borrowed */
	struct hash_ctx *hash;	      /* borrowed, or owned when own_hash */
	int own_hash;
	uint8_t zero[64][32]; /* roots of all-zero subtrees by height
	                                * above the 16 KiB leaves (BEP 52 pads) */
	uint8_t *ones;	      /* all-0xff bitfield body, read-only */
	uint8_t *scratch;     /* uncle computation */
	struct hash_job *jobs;
	/* upload slots */
	struct dlist unchoked; /* holding a slot, longest-unchoked first */
	struct dlist waiting;  /* interested, no slot, longest-waiting first */
	struct dlist dirty;    /* choke state to send outside their calls */
	uint32_t slots_used, n_waiting, n_conns;
	uint64_t next_rotation; /* 0: not armed */
	uint64_t last_now;	/* latest time seen, for slot hand-overs in free */
	/* MSE: the DH group (NULL when cfg.mse is 0) and the randomness */
	struct mse_dh *dh;
	void (*random)(void *ctx, uint8_t *p, size_t n);
	void *random_ctx;
	/* Seeding policies (see Seeding policy): the worker's view lookup,
	 * NULL: every release plain */
	struct swarm_view *(*swarm_view)(void *ctx, void *peer, const struct proto_release *r,
					 enum swarm_policy *out_policy);
	void *swarm_ctx;
	struct swarm_config swarm_cfg;
	uint32_t swarm_seed; /* spreads peers' scan cursors */
};

/* Per-connection counters; the worker sums them (each named as its
 * Prometheus metric). */
struct peerwire_stats {
	uint64_t peerwire_requests_total;	   /* valid block requests */
	uint64_t peerwire_request_bytes_total;	   /* payload bytes they asked for */
	uint64_t peerwire_blocks_total;		   /* requests answered with a PIECE */
	uint64_t peerwire_rejects_total;	   /* REJECT_REQUEST sent */
	uint64_t peerwire_cancels_total;	   /* cancels matching an outstanding request */
	uint64_t peerwire_glitches_total;	   /* ignored protocol oddities */
	uint64_t peerwire_metadata_requests_total; /* ut_metadata requests */
	uint64_t peerwire_metadata_rejects_total;
	uint64_t peerwire_hash_requests_total; /* BEP 52 hash requests */
	uint64_t peerwire_hash_rejects_total;
	uint64_t peerwire_keepalives_sent_total;
	uint64_t peerwire_mse_handshakes_total;	    /* MSE handshakes completed */
	uint64_t peerwire_swarm_haves_total;	    /* HAVEs we sent (super, rarest) */
	uint64_t peerwire_swarm_unadvertised_total; /* requests for pieces not advertised */
	uint64_t peerwire_swarm_plain_total;	    /* super/rarest peers seeded plain (no view) */
};

/* An outstanding request. Private to peerwire.c. */
struct peerwire_req {
	uint32_t piece, begin, len;
	uint16_t prev, next; /* arrival order list / free list */
	uint8_t state;	     /* free, live, cancelled */
	uint8_t hdr[17];     /* the PIECE header SEND points at; a REJECT after
	                      * peerwire_data_failed */
};

/*
 * One connection, in storage the worker owns (it may embed it). Fields are
 * private to the module (peerwire*.c) except stats and user. Not shared
 * between threads.
 */
/* ut_metadata requests that wait for the release's info dict to be read
 * (proto_catalog.info): how many per connection (more are rejected at
 * once), how often the engine asks again, and how long before it gives up
 * and rejects them (the peer asks another peer, or us again, then). */
#define PEERWIRE_NUDGE_MS    1000u
#define PEERWIRE_UTM_PEND    4u
#define PEERWIRE_UTM_POLL_MS 5u
#define PEERWIRE_UTM_WAIT_MS 10000u

struct peerwire_conn {
	struct peerwire_engine *e;
	void *user;    /* the worker's, untouched */
	uint8_t *mem;  /* owned: one block from peerwire_conn_init */
	uint8_t *rbuf; /* buffered message body */
	uint8_t *sbuf; /* SEND bytes of the current call */
	struct peerwire_req *reqs;
	uint32_t rbuf_cap, sbuf_used;
	size_t call_base; /* out->n when the current call began */
	uint8_t state;	  /* handshake, open, closing, closed */
	uint8_t greeted;  /* our handshake and greeting are out */
	uint8_t peer_fast, peer_ext;
	uint8_t ih_kind; /* catalog table the info-hash hit */
	uint8_t hdr_have, id_have, mode;
	uint8_t last_byte; /* of a skipped body */
	uint8_t peer_interested, peer_choking;
	uint8_t want_choke, wire_choke; /* slot decision, what the peer was told */
	uint8_t slot;			/* none, waiting, unchoked */
	uint8_t in_dirty;
	uint8_t peer_ut_metadata; /* the peer's ut_metadata id, 0 none */
	uint8_t utm_n;		  /* ut_metadata requests waiting (utm_pend) */
	uint8_t nudged;		  /* the keep-alive after the greeting: sent or not needed */
	uint32_t utm_pend[PEERWIRE_UTM_PEND]; /* their pieces, oldest first */
	uint64_t utm_since, utm_next;	      /* oldest waiting since; when to look again */
	uint8_t hs[68];
	uint32_t hs_have;
	struct mse_resp *mse; /* in mem when cfg.mse; live while state is MSE */
	uint16_t ia_off;      /* IA bytes the handshake parser has taken */
	uint8_t via_mse;      /* the handshake came through MSE */
	uint8_t rc4;	      /* ... and selected RC4 (peerwire_rc4_rx/tx) */
	uint8_t hdr[4];
	uint8_t msg_id;
	uint32_t msg_len, body_have;
	enum proto_close_reason close_reason; /* while closing */
	const char *close_detail;
	const struct proto_release *rel; /* refreshed on each call */
	uint64_t n_pieces;		 /* of the release, from the handshake */
	size_t file_hint;
	uint16_t req_head, req_tail, req_free; /* arrival order, free list */
	uint16_t req_rejected;		       /* entries holding a REJECT */
	uint32_t req_cap, n_live, n_active;    /* entries, in table, not cancelled */
	uint32_t req_fresh;		       /* entries never used start here */
	uint64_t t_init, t_rx, t_tx, slot_since;
	uint64_t t_greet; /* when our greeting went out */
	struct dlist slot_link, dirty_link;
	struct peerwire_stats stats;
	/* seeding policy (swarm_peerwire.c): joined when sw.v is set */
	struct swarm_peer sw;
	uint8_t *sw_mem;  /* owned: the peer's bitfields */
	uint8_t sw_ready; /* the peer's bitfield is in (or it had time to send one) */
	uint8_t sw_more;  /* a pick had more than one call could send */
};

/*
 * Sets up an engine. cfg NULL means the defaults; catalog is copied (its
 * ctx is borrowed and must outlive the engine; by_ih_v1 and by_ih_v2_20
 * may be NULL). hash is borrowed (it must outlive the engine and belong to
 * this thread); NULL makes the engine create its own (libipsec-mb, else
 * OpenSSL). Allocates the engine's buffers (about 124 KiB). 0, -EINVAL (a
 * bound out of range, err names it) or -ENOMEM.
 */
int peerwire_engine_init(struct peerwire_engine *e, const struct peerwire_config *cfg,
			 const struct proto_catalog *catalog, struct hash_ctx *hash,
			 struct seed_err *err);

/* Frees what peerwire_engine_init allocated. Every connection must have
 * been freed. e may be freed again. */
void peerwire_engine_free(struct peerwire_engine *e);

/* Where MSE's private keys and pads come from. The default is getrandom();
 * tests pass a seeded generator. */
void peerwire_engine_set_random(struct peerwire_engine *e,
				void (*random)(void *ctx, uint8_t *p, size_t n), void *ctx);

/*
 * The seeding policy's lookup (see Seeding policy): view(ctx, peer, r,
 * &policy) returns release r's shared view (valid until the engine is
 * freed) and sets the policy for that peer, or returns NULL for plain.
 * Called once per connection, at its handshake. view NULL: plain for all.
 */
void peerwire_engine_set_swarm(struct peerwire_engine *e,
			       struct swarm_view *(*view)(void *ctx, void *peer,
							  const struct proto_release *r,
							  enum swarm_policy *out_policy),
			       void *ctx);

/* Replaces the catalog (a new generation), between calls. */
void peerwire_engine_set_catalog(struct peerwire_engine *e, const struct proto_catalog *catalog);

/*
 * Rotates the upload slots when due (see Upload slots) and reports up to
 * cap connections whose choke state changed outside their own calls; the
 * worker calls peerwire_on_tick on each (each is reported once). Returns
 * the number written to out_conns. More may remain when it returns cap.
 */
size_t peerwire_engine_tick(struct peerwire_engine *e, uint64_t now_ms,
			    struct peerwire_conn **out_conns, size_t cap);

/* When peerwire_engine_tick is next due: 0 when connections wait to be
 * reported, PEERWIRE_NO_DEADLINE when nothing is scheduled. */
uint64_t peerwire_engine_next_deadline(const struct peerwire_engine *e);

/*
 * Sets up a connection (accepted or connected) at now_ms; e is borrowed and
 * outlives c. The one allocation of the connection: cfg.ext_buf bytes of
 * receive buffer, PEERWIRE_SEND_BUF of send buffer and 2 * cfg.max_requests
 * outstanding entries (about 44 KiB with the defaults). 0 or -ENOMEM (c is
 * then safe to peerwire_conn_free).
 */
int peerwire_conn_init(struct peerwire_conn *c, struct peerwire_engine *e, uint64_t now_ms);

/* Leaves the upload slots (handing a slot on) and frees what
 * peerwire_conn_init allocated; c may be freed again. */
void peerwire_conn_free(struct peerwire_conn *c);

/*
 * Input bytes received at now_ms (burst call): see Output and flow. buf may
 * be NULL when len is 0 (which only sends what is due: a choke change).
 */
size_t peerwire_on_bytes(struct peerwire_conn *c, const uint8_t *buf, size_t len, uint64_t now_ms,
			 struct proto_out *out);

/* Fires what is due at now_ms: timeouts, keep-alive, a choke change. */
void peerwire_on_tick(struct peerwire_conn *c, uint64_t now_ms, struct proto_out *out);

/* When peerwire_on_tick is next due; 0 when a choke change or a CLOSE waits;
 * PEERWIRE_NO_DEADLINE once closed. */
uint64_t peerwire_next_deadline(const struct peerwire_conn *c);

/*
 * The worker is done with the SEND_DATA of request (piece, begin): handed
 * to the NIC, or dropped because the connection is going away. Ends the
 * oldest outstanding request with that piece and begin (its PIECE header
 * memory is then reused). Once per SEND_DATA. 0, or -ENOENT when none
 * matches. Emits nothing and leaves the send buffer alone.
 */
int peerwire_data_done(struct peerwire_conn *c, uint32_t piece, uint32_t begin);

/*
 * The block of outstanding request (piece, begin) could not be verified
 * (see Verified data): ends the request and appends REJECT_REQUEST (fast
 * extension) or CLOSE(DATA_ERROR). Leaves the send buffer alone (the
 * REJECT is written into the request's own entry), so SEND bytes of the
 * previous call stay intact and a full send buffer never refuses it. A
 * CLOSE that finds out full is emitted on the next call (next deadline 0).
 * 0; -ENOENT when no such request is outstanding (or the connection is
 * closed); -ENOSPC only when out has no free slot for the REJECT (nothing
 * done: call again with room).
 */
int peerwire_data_failed(struct peerwire_conn *c, uint32_t piece, uint32_t begin,
			 struct proto_out *out);

/*
 * After an MSE handshake that selected RC4 (a peer that offered nothing
 * else, cfg.mse 2): the stream ciphers, NULL otherwise or before. The call
 * that selects RC4 returns right after step 4 (its actions are already
 * encrypted); the bytes it did not consume, and every byte received after,
 * are ciphertext: the worker decrypts each byte once with rx before
 * offering it. Every action of later calls is plaintext the worker
 * encrypts with tx, in the order the bytes go out. The engine's memory
 * (pointers stay valid until peerwire_conn_free).
 */
struct mse_rc4 *peerwire_rc4_rx(struct peerwire_conn *c);
struct mse_rc4 *peerwire_rc4_tx(struct peerwire_conn *c);

/* 1 once CLOSE has been emitted (or is waiting for room). */
int peerwire_is_closed(const struct peerwire_conn *c);

/* Requests outstanding (cancelled ones included). */
uint32_t peerwire_outstanding(const struct peerwire_conn *c);

/* 1 while the engine chokes the peer, as last told to it. */
int peerwire_choking(const struct peerwire_conn *c);

/* Requests of the peer served so far: blocks queued (a PIECE emitted),
 * metadata pieces (BEP 9) and hashes (BEP 52) sent. Keep-alives, HAVE,
 * INTERESTED, the handshake and requests dropped or rejected (choked,
 * unknown) do not count. The worker compares it between calls to tell a
 * peer that uses its slot from one that only holds it (it reclaims the
 * slots of the latter first). */
uint64_t peerwire_requests_served(const struct peerwire_conn *c);

#endif
