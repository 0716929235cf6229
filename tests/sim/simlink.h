/*
 * simlink: the deterministic parts of the packet simulator (tests/sim/,
 * CONVENTIONS rule 14): a seeded PRNG, and an Ethernet link between two
 * endpoints in virtual time; and sim_fail, the first-failure-wins message
 * both ends of a simulated transfer keep.
 *
 * Time is in nanoseconds and only moves when the caller says so. Each
 * direction of the link has a rate, a propagation delay, a drop-tail queue
 * bound (bytes waiting to be serialized), and seeded random loss,
 * duplication and reordering (a fraction of frames get extra delay, so
 * later ones overtake them, as netem's "delay ... reorder" does). A frame
 * handed to sim_link_send() is copied; its deliveries wait in one binary
 * heap ordered by (delivery time, send order), so a run is a function of
 * the seeds alone.
 */
#ifndef SEED_SIMLINK_H
#define SEED_SIMLINK_H

#include <stddef.h>
#include <stdint.h>

/* xoshiro256** seeded through splitmix64. */
struct sim_rng {
	uint64_t s[4];
};

void sim_rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *r);
/* Uniform in [0, 1). */
double sim_rng_unit(struct sim_rng *r);
/* Uniform in [0, n), n > 0. */
uint64_t sim_rng_below(struct sim_rng *r, uint64_t n);
/* Log-uniform in [lo, hi], lo > 0. */
double sim_rng_logu(struct sim_rng *r, double lo, double hi);

/*
 * Keeps the first failure: when *failed is 0, sets it to 1 and formats the
 * message into err[0..cap); once it is set, later failures (usually what
 * the first one caused) are dropped.
 */
void sim_fail(int *failed, char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

enum { SIM_A2B = 0, SIM_B2A = 1 };

struct sim_dir_cfg {
	uint64_t rate_Bps;    /* bytes per second on the wire */
	uint64_t delay_ns;    /* propagation delay */
	uint64_t queue_bytes; /* drop-tail bound on bytes waiting (0: none) */
	double loss;	      /* probability a frame is dropped */
	double dup;	      /* probability a frame is delivered twice */
	double reorder;	      /* probability a frame is held back */
	uint64_t reorder_ns;  /* ... by up to this much extra delay */
};

struct sim_dir_stats {
	uint64_t frames, bytes, lost, queue_drops, dups, reordered, delivered;
};

struct sim_pkt {
	uint64_t at_ns;
	uint64_t order;
	int dir;
	uint32_t len;
	uint8_t *data;
};

struct sim_link {
	struct sim_dir_cfg cfg[2];
	struct sim_dir_stats st[2];
	uint64_t busy_until[2]; /* when the transmitter frees up, ns */
	struct sim_rng rng;
	struct sim_pkt *heap;
	uint32_t n, cap;
	uint64_t order;
	/* frame buffers, recycled */
	uint8_t **free_bufs;
	uint32_t n_free, free_cap;
	uint32_t buf_size;
};

/* buf_size: the largest frame that will be sent. Returns 0 or -ENOMEM. */
int sim_link_init(struct sim_link *l, const struct sim_dir_cfg *a2b, const struct sim_dir_cfg *b2a,
		  uint64_t seed, uint32_t buf_size);
void sim_link_free(struct sim_link *l);

/* Hands a frame (the pieces p[0..n), concatenated) to direction dir at
 * time now_ns; it is copied. Returns 0, or -EMSGSIZE (larger than
 * buf_size) or -ENOMEM. A lost or queue-dropped frame returns 0. */
struct sim_piece {
	const void *p;
	size_t len;
};
int sim_link_send(struct sim_link *l, int dir, uint64_t now_ns, const struct sim_piece *p, int n);

/* The delivery time of the next frame (UINT64_MAX: none in flight). */
uint64_t sim_link_next(const struct sim_link *l);
/* Takes the next frame out; give its data back with sim_link_release(). */
int sim_link_pop(struct sim_link *l, struct sim_pkt *out);
void sim_link_release(struct sim_link *l, uint8_t *data);

/* Bytes per second of the link in a direction, as frames carry them. */
static inline uint64_t sim_ser_ns(const struct sim_dir_cfg *c, uint32_t bytes)
{
	return c->rate_Bps ? (uint64_t)bytes * 1000000000ull / c->rate_Bps : 0;
}

#endif
