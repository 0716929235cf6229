/*
 * dpstats: the data plane's counters, in a shared-memory file that
 * seed-control (and `seedctl stats`) read while the data plane runs.
 *
 * One writer per block: each worker thread owns its struct dpstats_worker and
 * is the only thread that writes it, so an update is a relaxed load + store
 * (no locked instruction, no shared cache line between workers: blocks are
 * 64-byte aligned). Readers sum the blocks with relaxed loads; a sum is not a
 * snapshot across fields, which Prometheus counters do not need.
 *
 * Per-release counters live in slots. The data plane's main thread assigns a
 * release its slot (dpstats_release_slot) before any worker can serve it, and
 * publishes the slot's id before the slot count (release store), so a reader
 * that sees n slots also sees their ids. Slots are never reused during a run:
 * a release that stops being served keeps its totals, as counters must.
 *
 * The file: a header (magic, version, sizes, writer pid, start time), the
 * release id table, then one block per worker, then one repair ring per
 * worker (below). dpstats_create writes it under
 * a temporary name and renames it into place, so a reader never maps a
 * half-initialised file; a new run replaces the file (the start time tells a
 * reader that counters restarted). Without a path the same layout lives in
 * private memory (tests, or a data plane run without telemetry).
 *
 * Call order (writer): dpstats_create -> dpstats_release_slot for each
 * release -> workers update their dpstats_worker -> dpstats_close.
 * Reader: dpstats_open -> dpstats_sum / dpstats_release_* -> dpstats_close.
 */
#ifndef SEED_DPSTATS_H
#define SEED_DPSTATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "close_reason.h"
#include "seed_err.h"

#define DPSTATS_MAX_WORKERS   1024
#define DPSTATS_MAX_RELEASES  4096
#define DPSTATS_ID_MAX	      128 /* bytes of a release id slot, NUL included */
#define DPSTATS_MAX_TENANTS   1024
#define DPSTATS_CLOSE_REASONS CLOSE_REASON_SLOTS
#define DPSTATS_LAT_BUCKETS   14 /* storage read latency; last is +Inf */

/* What an MSE handshake selected (the peer-wire stream after it). */
enum dpstats_mse {
	DPSTATS_MSE_PLAINTEXT = 0,
	DPSTATS_MSE_RC4,
	DPSTATS_NMSE,
};

/* Protocols a byte is served over. */
enum dpstats_proto {
	DPSTATS_BT = 0,
	DPSTATS_HTTP,
	DPSTATS_NPROTO,
};

/* Why a peer or request was refused before any payload was sent. */
enum dpstats_refusal {
	DPSTATS_REFUSE_UNKNOWN = 0, /* info-hash or path not in the store */
	DPSTATS_REFUSE_NOT_LIVE,    /* staged, paused or retired release */
	DPSTATS_REFUSE_EMBARGOED,   /* live later: embargo not over */
	DPSTATS_REFUSE_CIDR,	    /* peer address outside the tenant's allow-list */
	DPSTATS_REFUSE_MAX_PEERS,   /* tenant at its peer limit */
	DPSTATS_REFUSE_DRAINING,    /* node draining: no new peers */
	DPSTATS_REFUSE_CORRUPT,	    /* block failed verification: reject / cut */
	DPSTATS_NREFUSALS,
};

/* Why a connection was refused at accept (dataplane/admit.h), before any
 * engine or memory was given to it; mse_rate is the one refusal made later,
 * when a peer starts an MSE handshake (before its key exchange). */
enum dpstats_admit {
	DPSTATS_ADMIT_DENIED = 0,   /* address inside the deny list */
	DPSTATS_ADMIT_ADDR_CONNS,   /* address at its concurrent connection limit */
	DPSTATS_ADMIT_PREFIX_CONNS, /* its /24 (IPv4) or /56 (IPv6) at its limit */
	DPSTATS_ADMIT_ADDR_RATE,    /* address over its new connections per second */
	DPSTATS_ADMIT_MSE_RATE,	    /* address over its MSE handshakes per second */
	DPSTATS_NADMIT,
};

/* The seeding policies' counters (dataplane/proto/swarm.h, struct
 * swarm_view_counters), summed over every release with a swarm view. The
 * views are shared by all workers, so these are not per worker: the data
 * plane's main thread publishes the sums (dpstats_set_swarm) each time it
 * polls the catalog and at its stop. Order = dpstats_swarm_names. */
enum dpstats_swarm {
	DPSTATS_SWARM_INJECTED = 0, /* pieces advertised to a peer lacking them */
	DPSTATS_SWARM_SECOND,	    /* of them, of a piece a peer held or was getting */
	DPSTATS_SWARM_FALLBACKS,    /* given to a starving peer */
	DPSTATS_SWARM_SMALL,	    /* given under the small-swarm rule */
	DPSTATS_SWARM_PASSED,	    /* pieces the swarm passed on (HAVEs we did not cause) */
	DPSTATS_SWARM_RELEASED,	    /* advertised pieces a stalled peer stopped holding */
	DPSTATS_SWARM_BOOT,	    /* second copies given to slow peers (the top-up) */
	DPSTATS_SWARM_REFUNDED,	    /* of them, back to the pool (got elsewhere first) */
	DPSTATS_SWARM_LATE,	    /* latecomers that joined (their arrivals fed the pool) */
	DPSTATS_NSWARM,
};

/* The same per release (its counter slot; a hybrid's v1 companion, a swarm
 * of its own, adds into its release's slot), published by the main thread
 * at the same times: two gauges, then counters. Order =
 * dpstats_rswarm_names. */
enum dpstats_rswarm {
	DPSTATS_RSWARM_PEERS = 0, /* gauge: peers connected */
	DPSTATS_RSWARM_LEECHERS,  /* gauge: of them, lacking a piece */
	DPSTATS_RSWARM_INJECTED,  /* counter: pieces advertised to a peer lacking them */
	DPSTATS_RSWARM_PASSED,	  /* counter: pieces the swarm passed on */
	DPSTATS_RSWARM_BOOT,	  /* counter: top-ups from the pool */
	DPSTATS_RSWARM_LATE,	  /* counter: latecomers */
	DPSTATS_NRSWARM,
};
#define DPSTATS_RSWARM_GAUGES 2 /* the first ones are gauges */

/* Upper bounds of the storage latency buckets in microseconds (+Inf last). */
extern const uint32_t dpstats_lat_bounds_us[DPSTATS_LAT_BUCKETS - 1];
/* Metric label of each refusal reason ("unknown", "not_live", ...). */
extern const char *const dpstats_refusal_names[DPSTATS_NREFUSALS];
/* Name of each swarm counter ("injected", "second", ...): the metric is
 * seed_dataplane_swarm_NAME_total. */
extern const char *const dpstats_swarm_names[DPSTATS_NSWARM];
/* Name of each per-release swarm value: the metric is seed_swarm_NAME
 * (gauges) or seed_swarm_NAME_total (counters). */
extern const char *const dpstats_rswarm_names[DPSTATS_NRSWARM];
/* Metric label of each admission refusal ("denied", "addr_conns", ...). */
extern const char *const dpstats_admit_names[DPSTATS_NADMIT];
/* Label of each close reason (index = its value in close_reason.h, which
 * enum proto_close_reason takes; 0 unused): the reason="..." label. */
extern const char *const dpstats_close_names[DPSTATS_CLOSE_REASONS];

struct dpstats_release_ctr {
	_Atomic uint64_t bytes[DPSTATS_NPROTO];
	_Atomic uint64_t requests[DPSTATS_NPROTO];
};

/* One worker's counters: written by that worker only. */
struct dpstats_worker {
	_Atomic uint64_t conns_accepted[DPSTATS_NPROTO];
	_Atomic uint64_t conns_closed[DPSTATS_NPROTO];
	_Atomic uint64_t conns_open[DPSTATS_NPROTO]; /* gauge */
	_Atomic uint64_t payload_bytes[DPSTATS_NPROTO];
	_Atomic uint64_t requests[DPSTATS_NPROTO]; /* blocks (BT) / ranges (HTTP) */
	_Atomic uint64_t refusals[DPSTATS_NREFUSALS];
	_Atomic uint64_t closes[DPSTATS_CLOSE_REASONS];
	_Atomic uint64_t verify_failures;
	/* bad blocks rebuilt from their stripe's parity on the way into the
	 * cache (then served), and those beyond it (refused); of the latter,
	 * those rebuilt whole that matched their XXH3-128 but not their
	 * SHA-256 leaf (the data and its table entry damaged alike) */
	_Atomic uint64_t blocks_repaired, repair_failures, leaf_failures;
	/* MSE handshakes completed, by the method we selected */
	_Atomic uint64_t mse_handshakes[DPSTATS_NMSE];
	_Atomic uint64_t cache_hits, cache_misses, cache_evictions;
	_Atomic uint64_t cache_capacity_bytes; /* gauge: block memory of the cache */
	_Atomic uint64_t storage_reads, storage_read_bytes, storage_errors;
	_Atomic uint64_t storage_lat_bucket[DPSTATS_LAT_BUCKETS]; /* not cumulative */
	_Atomic uint64_t storage_lat_sum_us;
	/* reads of several blocks (dataplane/readahead.h): completed, the
	 * blocks they brought beyond the one asked for, and those that failed
	 * or came back short (their blocks read again one by one) */
	_Atomic uint64_t readahead_reads, readahead_blocks, readahead_splits;
	/* misses read alone because the worker's read-ahead budget was in
	 * flight (--readahead too small for the load when it climbs) */
	_Atomic uint64_t readahead_budget_waits;
	/* blocks queued for peers that had stopped reading, let go while the
	 * cache had no free slot (fetched again when the peer reads on) */
	_Atomic uint64_t blocks_parked;
	/* object files (the worker's descriptor table, dataplane/ofd.h): opened
	 * (each open of a file not open), open now (gauge), open failures (the
	 * file is gone or unreadable), and reads that waited for a slot */
	_Atomic uint64_t object_opens, object_fds_open, object_open_errors, object_fd_waits;
	_Atomic uint64_t unrouted_bytes[DPSTATS_NPROTO]; /* bytes with no release slot */
	/* the network backend (netio_stats): the port and, on dpdk, our stack */
	_Atomic uint64_t net_links_up; /* gauge: 1 per worker that sees its link up */
	_Atomic uint64_t net_rx_packets, net_tx_packets, net_rx_dropped, net_tx_dropped;
	_Atomic uint64_t tcp_retransmits, tcp_timeouts, tcp_syn_cookies, tcp_bad_cookies;
	_Atomic uint64_t net_input_errors; /* frames the stack refused (checksums, headers) */
	_Atomic uint64_t busy_cycles;	   /* TSC cycles of loop passes that did work */
	/* uTP (BEP 29, dataplane/utpnet.h): connections, the BitTorrent payload
	 * sent over it (part of payload_bytes[DPSTATS_BT]), and its engine's
	 * datagrams, retransmissions, timeouts and refused datagrams */
	_Atomic uint64_t utp_conns_accepted, utp_payload_bytes;
	_Atomic uint64_t utp_datagrams_in, utp_datagrams_out, utp_retransmits, utp_timeouts;
	_Atomic uint64_t utp_malformed;
	_Atomic uint64_t admit_refusals[DPSTATS_NADMIT]; /* per-source limits (admit.h) */
	struct dpstats_release_ctr rel[DPSTATS_MAX_RELEASES];
} __attribute__((aligned(64)));

struct dpstats;

/* Adds n to a counter this thread owns (the single writer). */
static inline void dpstats_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Subtracts n from a gauge this thread owns. */
static inline void dpstats_sub(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
			      memory_order_relaxed);
}

/* Sets a gauge this thread owns. */
static inline void dpstats_set(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

/*
 * Creates the counters for n_workers workers. path NULL or "": private memory.
 * Otherwise the file is created (mode 0644) beside its final name and renamed
 * over it, replacing a previous run's file.
 */
int dpstats_create(const char *path, unsigned n_workers, struct dpstats **out,
		   struct seed_err *err);

/* Maps an existing counters file read-only; checks its header against its size. */
int dpstats_open(const char *path, struct dpstats **out, struct seed_err *err);

/* Unmaps (the file stays: readers may still want the last values). */
void dpstats_close(struct dpstats *s);

/* Worker i's block (writer only; i < n_workers). */
struct dpstats_worker *dpstats_worker(struct dpstats *s, unsigned i);

/*
 * The slot of a release id, assigned on first call (writer, one thread).
 * Returns the slot, or -ENOSPC when DPSTATS_MAX_RELEASES are taken (the
 * release is then counted in unrouted_bytes), -EINVAL for an id that does not
 * fit a slot.
 */
int dpstats_release_slot(struct dpstats *s, const char *id);

/*
 * Per-tenant peer gauges, published by the data plane's main thread (the
 * only writer) from its tenant table: slot i is set with its id the first
 * time (slots are appended in order, i <= count) and its peer count after.
 */
int dpstats_tenant_set(struct dpstats *s, unsigned i, const char *id, int64_t peers);
unsigned dpstats_n_tenants(const struct dpstats *s);
const char *dpstats_tenant_id(const struct dpstats *s, unsigned i);
int64_t dpstats_tenant_peers(const struct dpstats *s, unsigned i);

/* Releases in the store the data plane's last load could not serve (their
 * manifest, torrent or objects: damage or resources); main thread writes. */
void dpstats_set_unloadable(struct dpstats *s, uint64_t n);
uint64_t dpstats_unloadable(const struct dpstats *s);

/* The swarm counters' sums (main thread writes; readers load each one
 * relaxed: counters, not a snapshot). */
void dpstats_set_swarm(struct dpstats *s, const uint64_t v[DPSTATS_NSWARM]);
void dpstats_swarm(const struct dpstats *s, uint64_t out[DPSTATS_NSWARM]);
/* Per release: slot < the slots assigned, writer only; 0 or -EINVAL. */
int dpstats_set_release_swarm(struct dpstats *s, unsigned slot, const uint64_t v[DPSTATS_NRSWARM]);
/* Zeros when slot is out of range (or the release never had a view). */
void dpstats_release_swarm(const struct dpstats *s, unsigned slot, uint64_t out[DPSTATS_NRSWARM]);

/* Readers. */
unsigned dpstats_n_workers(const struct dpstats *s);
unsigned dpstats_n_releases(const struct dpstats *s);
/* The id of slot i (< dpstats_n_releases), NUL-terminated, in the mapping. */
const char *dpstats_release_id(const struct dpstats *s, unsigned i);
/* Writer's pid and start time (unix ns): a new run means counters restarted. */
int32_t dpstats_pid(const struct dpstats *s);
uint64_t dpstats_start_ns(const struct dpstats *s);

/*
 * Repair records: each block a worker found bad on its way into the cache
 * (rebuilt from its stripe's parity, or beyond it and refused) goes into the
 * worker's ring, so that seed-control's store keeper can check that stripe
 * and write the repair back at once (the data plane never writes the
 * store). A ring keeps the last DPSTATS_REPAIR_RING records; one reader
 * follows it with its own count of records seen.
 */
#define DPSTATS_REPAIR_RING 32

struct dpstats_repair {
	uint8_t root[32]; /* the object: its file's pieces root */
	uint64_t length;  /* its file's length */
	uint64_t block;	  /* the bad block */
	int rebuilt;	  /* 1 rebuilt and served, 0 beyond the parity, refused */
};

/* Appends a record to worker i's ring (that worker only). */
void dpstats_repair_note(struct dpstats *s, unsigned i, const struct dpstats_repair *r);
/*
 * Worker i's records after the *seen-th, oldest first: at most cap into
 * out; returns how many and advances *seen. Records overwritten before they
 * were read (more than DPSTATS_REPAIR_RING since the last call, or while
 * reading) are skipped and counted in *missed. *seen starts at 0 for a new
 * data plane run (dpstats_start_ns changed).
 */
size_t dpstats_repairs_read(const struct dpstats *s, unsigned i, uint64_t *seen,
			    struct dpstats_repair *out, size_t cap, uint64_t *missed);

/* Sums every worker's block, and release slot counters, into *out. */
void dpstats_sum(const struct dpstats *s, struct dpstats_worker *out);
/* Reader: worker i's own counters (which worker served what); NULL past
 * the last. Each field is a single atomic load: no snapshot across them. */
const struct dpstats_worker *dpstats_worker_read(const struct dpstats *s, unsigned i);

/* Index of the latency bucket for a read that took us microseconds. */
unsigned dpstats_lat_bucket(uint64_t us);

#endif
