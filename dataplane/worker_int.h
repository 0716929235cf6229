/*
 * worker_int.h: what the worker's files share — worker.c (the loop,
 * connections, engines), sendq.c (each connection's queue of segments and
 * its sends), fetch.c (bringing blocks into the cache from storage) — and
 * nothing outside them includes.
 *
 * Invariants (all files):
 *  - a connection's segments leave in queue order; a peer-wire request
 *    (PIECE header + its data) is sent only once all of it is verified and
 *    in memory, so a verification failure can still withdraw it whole;
 *  - a cache block is pinned from cache_get (or the fill that brings it)
 *    until the send that carried it completed, or the segment is dropped;
 *  - engine SEND bytes are copied into the connection's tx buffer before
 *    the next engine call (engines reuse their buffers); payload bytes are
 *    never copied (except into an RC4 peer's stage, to encrypt them).
 */
#ifndef SEED_DP_WORKER_INT_H
#define SEED_DP_WORKER_INT_H

#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>

#include "admit.h"
#include "scache.h"
#include "dlist.h"
#include "gate.h"
#include "http.h"
#include "netio.h"
#include "parity.h"
#include "peerwire.h"
#include "readahead.h"
#include "storage.h"
#include "worker.h"

enum { TAG_BT = 1, TAG_HTTP = 2, TAG_STORAGE = 3, TAG_WAKE = 4 };
enum seg_kind { SEG_BYTES = 1, SEG_BLOCK, SEG_ZERO };
enum seg_state { S_READY = 1, S_FETCH, S_WAIT, S_FAILED, S_SKIP, S_BAD };

#define QCAP		1024u	     /* segments per connection */
#define TXCAP		(128u << 10) /* engine bytes per connection */
#define RXCAP		(64u << 10)  /* unconsumed input per connection */
#define OUTCAP		16	     /* actions per engine call */
#define SEGS_PER_ACTION 70	     /* 1 MiB data action: 64 blocks + slack */
#define TICK_MS		50
#define THROTTLE_MS	2	     /* bandwidth wait: bucket refill period */
#define BATCH_TOKENS	(256u << 10) /* tokens one send may take */
#define READAHEAD_SEGS	256u
#define RECS		64u	     /* sends in flight or awaiting FREED, per connection */
#define STORAGE_DEPTH	256u	     /* block reads in flight per worker */
#define RA_GROUPS	128u	     /* of them, reads of several blocks (readahead.h) */
#define QUARANTINE	4096u	     /* bad blocks remembered per worker (power of two) */
#define REPAIRS		4u	     /* stripes being rebuilt at once per worker */
#define REPAIR_QUEUE	256u	     /* bad blocks waiting for a rebuild, per worker */
#define WAITERS		4096	     /* a fill's own waiters handed back at once (more: inbox) */
#define STAGE_CAP	(256u << 10) /* RC4 peers: ciphertext of one send */
#define PARK_MS		1000u	     /* this long without a send completing: stuck */
/* Bytes of one send: a connection starts at SEND_MIN and doubles with each
 * send that completes, up to SEND_MAX. A send in flight pins its blocks for
 * as long as the peer does not read, and the peer's socket buffers take a
 * few MB before it stops: what a connection that stops reading holds is
 * its last send, at most SEND_MAX, not the 1 MiB of NETIO_MAX_IOV blocks
 * (--prefix-conns such connections: 512 x 256 KiB, half the default cache). */
#define SEND_MIN (64u << 10)
#define SEND_MAX (256u << 10)

struct seg {
	uint8_t kind, state, last; /* last: ends its data action */
	uint32_t len;
	const uint8_t *p;      /* bytes to send (valid when S_READY) */
	uint8_t *pin;	       /* cache block to unpin after the send */
	uint32_t group;	       /* peer wire: the request it belongs to (0: none) */
	uint32_t piece, begin; /* the data action, for data_done/failed */
	int32_t rslot;	       /* the release's counter slot (-1: none) */
	/* block fetch */
	uint32_t object, block, in_off, blen;
	uint32_t ra_end; /* a miss may read ahead up to this block (readahead.h) */
};

struct wconn {
	int used, kind;	   /* TAG_BT or TAG_HTTP */
	uint8_t utp;	   /* over uTP (utpnet.h), not TCP */
	uint8_t throttled; /* on the bandwidth wait list */
	struct gate_peer peer;
	struct admit_ticket ticket; /* what admit_conn counted for it */
	/* Place in the worker's reclaim order (least recently used first),
	 * while open and not closing; the engine's request count when it
	 * last moved to the end. */
	struct dlist lru;
	uint64_t seen_reqs;
	int eng_ok; /* the engine connection was set up */
	uint32_t gen;
	union {
		struct peerwire_conn pw;
		struct http_conn http;
	} e;
	struct seg *q;	     /* ring of QCAP */
	uint32_t qh, qs, qt; /* oldest unreleased, next to send, tail */
	int sending;	     /* a send is in flight (no SENT yet) */
	struct {
		uint32_t start, count;
		int freed;
	} rec[RECS];	 /* sends whose memory is not free yet */
	uint32_t rh, rt; /* record ring head, tail */
	uint8_t *tx;
	uint32_t tx_used;
	uint8_t *rx;
	uint32_t rx_len;
	uint32_t next_group;
	/* ms of the last send submitted or completed; parked: the cache ran
	 * short of slots while a send of ours had been stuck for PARK_MS (the
	 * peer stopped reading), so its queued blocks were let go, to be
	 * fetched again once that send completes */
	uint64_t progress_at;
	uint8_t parked;
	uint32_t send_cap; /* bytes the next send may carry */
	int close_after;   /* engine closed: close when the queue drains */
	int closing;	   /* netio close issued */
	int in_retry;
	uint32_t open_at; /* index in worker.open while used */
	/* An MSE peer that insisted on RC4 (peerwire_rc4_rx): its stream
	 * ciphers, and the ciphertext of the send being made. A send that
	 * could not be submitted keeps its ciphertext (stage_segs) for the
	 * retry, as the keystream cannot be rewound. */
	struct mse_rc4 *rc4_rx, *rc4_tx;
	uint32_t rc4_from; /* queue index of the first segment to encrypt */
	uint8_t mse_counted;
	uint8_t *stage;
	uint32_t stage_len, stage_segs;
	/* the stage belongs to send record stage_rec until that send's memory
	 * is free (FREED): a backend that keeps references for retransmission
	 * (dpdk) reads it until the peer has acknowledged it */
	uint32_t stage_rec;
	uint8_t stage_busy;
};

struct worker {
	struct worker_params p;
	pthread_t tid;
	sem_t started;
	sem_t go; /* posted by worker_go: the loop may start */
	int start_rc;
	struct seed_err start_err;
	const struct netio_ops *nio;
	struct netio *net;
	struct scache *cache; /* all workers' (scache.h), p.cache */
	int wake_efd;	      /* written by the loader and by other workers' fills */
	struct storage *st;
	struct peerwire_engine pwe;
	struct http_engine hte;
	struct proto_catalog cat;
	struct gate gate;
	/* Open connections not closing, the one longest without a request
	 * first, per transport (0 TCP, 1 uTP: each has its own slots in the
	 * backend, utpnet.h): when n_lru[t] reaches reclaim_at[t], each
	 * accept of that transport closes its first (slots go to peers that
	 * use them). */
	struct dlist lru[2];
	uint32_t n_lru[2], reclaim_at[2];
	struct wconn *conns;
	uint32_t max_conns;
	uint32_t n_utp; /* of them, uTP's (the last ones); 0: no uTP */
	/* fills in flight: by cache slot, the block pointer and the filler */
	uint8_t **fill_ptr;
	uint64_t *fill_owner;
	uint32_t *fill_len; /* the block's length (the read is rounded up) */
	uint64_t *fill_key; /* object << 32 | block */
	uint64_t *fill_t0;  /* when its read was submitted (ns) */
	int32_t *fill_ofd;  /* the object's descriptor slot, held by the read */
	uint32_t n_slots;
	uint64_t cookies[WAITERS]; /* waiters handed back by one fill */
	uint32_t *retry;	   /* connections with segments to (re)fetch */
	uint32_t *retry_snap;
	uint32_t *throttled; /* connections waiting for their tenant's tokens */
	uint32_t n_throttled;
	uint32_t n_retry;
	uint8_t *zero; /* 16 KiB of zeros (BEP 47 pads) */
	uint16_t bt_port[DPCONF_MAX_LISTEN], http_port[DPCONF_MAX_LISTEN];
	struct dpstats_worker *ctr; /* in the shared counters file; this thread writes it */
	/* Blocks that failed verification: refused at once afterwards, so a
	 * corrupt block is read (and counted) once, not once per request.
	 * Open addressing on (object, block + 1); 0 = empty. */
	uint64_t quarantine[QUARANTINE];
	uint64_t quarantine_until[QUARANTINE]; /* w->now (ms) when it lapses */
	uint32_t n_quarantine;
	/* Blocks that failed on their way into the cache and are being
	 * rebuilt from their stripe (fetch.c): the cache slot stays filling,
	 * its waiters queued, until the rebuild ends. */
	struct repair {
		int used;
		uint32_t slot, object, block;
		uint64_t stripe;
		uint64_t want, issued, done, lost; /* bit i: shard i (data, then parity) */
		uint8_t *buf;			   /* one STORE_BLOCK per shard */
		int32_t ofd;			   /* the object's descriptor slot, held */
	} repairs[REPAIRS];
	uint8_t *repair_mem;
	/* bad blocks whose rebuild waits for one of the REPAIRS (their cache
	 * slots stay filling): a ring of slot, object, block */
	struct repair_wait {
		uint32_t slot, object, block;
	} repair_queue[REPAIR_QUEUE];
	uint32_t rq_head, rq_len;
	struct parity par; /* for the k + m of the last stripe rebuilt */
	/* Object files open now (fetch.c); slots are the storage ring's
	 * registered files when ofd_fixed. fetch_wait: a read waits for a
	 * descriptor slot (every one has reads in flight, or the process is
	 * out of descriptors) or for its object's table (served.h's loader), so
	 * retries wait for a wake-up (a completion, the loader) instead of
	 * spinning. */
	struct ofd *ofd;
	int ofd_fixed, fetch_wait;
	/* cache_full_at (ms, 0: not): a miss found no slot it could take
	 * (every one pinned by a queued send or filling). Until the next poll
	 * returns (an event, or a tick: a send or a fill somewhere may have
	 * freed one) misses are not tried again: each try scans the whole
	 * cache under its lock, and a pass that tried every queued block of
	 * every connection would spin for seconds while the peers that could
	 * free slots wait. */
	uint64_t cache_full_at;
	uint64_t pressure_seen; /* scache_pressure at the last look (each tick) */
	/* Reads of several blocks (fetch.c, readahead.h), and the blocks of
	 * those that failed or came back short, to read again one by one: a
	 * ring of cache slots (their fills stay open, their waiters queued). */
	struct ra *ra;
	uint32_t *reread;
	uint32_t rr_head, rr_len;
	uint64_t now;
	uint32_t n_open; /* used connection slots */
	/* The used slots, dense: periodic work visits these, not every slot
	 * (a full scan of max_conns slots each tick costs an idle worker CPU
	 * and evicts the cache under load). */
	uint32_t *open;
	int dumped;
};

static inline uint32_t qlen(const struct wconn *c)
{
	return c->qt - c->qh;
}

static inline struct seg *qat(struct wconn *c, uint32_t i)
{
	return &c->q[i % QCAP];
}

static inline unsigned proto_of(const struct wconn *c)
{
	return c->kind == TAG_BT ? DPSTATS_BT : DPSTATS_HTTP;
}

/* cookie of a waiting segment: connection, its generation, segment index */
static inline uint64_t seg_cookie(const struct wconn *c, uint32_t ci, uint32_t si)
{
	return ((uint64_t)(c->gen & 0xffff) << 48) | ((uint64_t)ci << 16) | (si & 0xffff);
}

/* worker.c: what the other files call back into the loop for. */
uint64_t worker_now_ns(void);
void worker_mark_retry(struct worker *w, struct wconn *c, uint32_t ci);
void worker_throttle(struct worker *w, struct wconn *c, uint32_t ci);
void worker_conn_close(struct worker *w, struct wconn *c, uint32_t ci);
/* Feeds the engine what the connection received and sends what is ready. */
void worker_pump(struct worker *w, uint32_t ci);
/* Segment si of connection ci could not be verified: withdraw what it
 * belongs to and tell the engine. */
void worker_seg_failed(struct worker *w, struct wconn *c, uint32_t ci, uint32_t si);

#endif
