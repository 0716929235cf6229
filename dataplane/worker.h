/*
 * worker: one data-plane thread — its network ring, storage ring, block
 * cache, protocol engines and connections. Workers share nothing but the
 * read-only served set, the tenants' and the per-source limits' atomics
 * (admit.h says why one table); the listening port is shared with
 * SO_REUSEPORT.
 *
 * The loop (worker.c) reads as the data path: wait for network and storage
 * events; feed received bytes to the engines; turn their actions into a
 * per-connection queue of segments (engine bytes, cache blocks, zeros);
 * resolve blocks through the cache (one verified NVMe read per block); send
 * the ready prefix of each queue as one gather send, block payloads by
 * reference (SEND_ZC); fire timers.
 */
#ifndef SEED_WORKER_H
#define SEED_WORKER_H

#include <stdatomic.h>
#include <stdint.h>

#include "dpconf.h"
#include "seed_err.h"
#include "dpstats.h"
#include "served.h"
#include "tenants.h"
#include "netio.h"

/* Counters of one worker, read by telemetry. Written by the worker only. */
struct worker;

struct worker_params {
	const struct dpconf *conf;
	struct served *served; /* shared; workers call served_enter on it */
	unsigned index;
	atomic_int *stop;		     /* 1: drain and exit */
	atomic_int *ready;		     /* incremented once listening */
	atomic_int *dump;		     /* changed: print connection states (SIGUSR1) */
	struct dpstats_worker *ctr;	     /* this worker's counters (it is their only writer) */
	struct dpstats *stats;		     /* the file: this worker's repair ring (index) */
	struct tenants *tenants;	     /* per-tenant limits, shared by all workers */
	struct admit *admit;		     /* per-source limits, shared by all workers */
	const struct netio_backend *backend; /* initialized already (netio.h) */
	unsigned seeding;     /* enum swarm_policy for tenants without their own (--seeding) */
	struct scache *cache; /* the block cache, shared by all workers */
};

/*
 * Creates a worker in a new thread, which sets up its listeners, rings and
 * cache and then waits for worker_go before it handles any peer. Start-up
 * errors (listen, ring set-up, memory) are returned through
 * err; worker_join waits for the thread.
 */
int worker_start(const struct worker_params *p, struct worker **out, struct seed_err *err);
/*
 * Lets a started worker run its loop. The data plane calls it once it has
 * dropped its privileges (privs.h), so that no peer's bytes are handled by
 * a thread that is still root; or after setting *stop, when start-up failed
 * (the worker then leaves at once). Once per worker.
 */
void worker_go(struct worker *w);
/* Waits for the worker's thread to end (after *stop); counters stay readable. */
void worker_join(struct worker *w);
void worker_free(struct worker *w);
/* Connections open now (after worker_join: those the drain closed, 0). */
uint32_t worker_conns_open(const struct worker *w);
/* Bound ports, for listeners asked with port 0 (tests). */
uint16_t worker_bt_port(const struct worker *w, unsigned i);
uint16_t worker_http_port(const struct worker *w, unsigned i);
/* Whether its storage ring is polled (IORING_SETUP_IOPOLL, storage.h). */
int worker_storage_polled(const struct worker *w);
/* uTP connection slots of the worker (0: no uTP: --utp-conns 0, no
 * peer-wire listener, or a backend without datagrams). */
uint32_t worker_utp_slots(const struct worker *w);
/* The eventfd that wakes the worker's loop when written (the object
 * loader, other workers' fills of blocks it waits for); a worker that polls
 * without sleeping reads it on every pass. */
int worker_wake_fd(const struct worker *w);

#endif
