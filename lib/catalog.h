/*
 * catalog: the generation file through which seed-control tells the data
 * plane what to serve.
 *
 * seed-control (the only writer) builds a catalog -- tenants with their
 * bandwidth cap, peer limit and allow-list, releases with their state and
 * embargo time -- and writes it atomically under one path. Each worker of
 * seed-dataplane polls that path with catalog_reload() (a stat() when nothing
 * changed), loads a new generation off the hot path and switches to it
 * between batches; the old generation is freed once no worker uses it.
 *
 * File format (all integers little-endian):
 *
 *   0   8  magic "SEEDCAT1"
 *   8   4  format version (CATALOG_FORMAT_VERSION)
 *   12  4  flags, must be 0
 *   16  8  generation (>= 1)
 *   24  8  payload length: the file is exactly 48 + this many bytes
 *   32 16  XXH3-128 (canonical, big-endian) of bytes [0, 32) then the payload
 *   48     payload: one canonical bencoded dictionary
 *
 *   d 8:releases l d 13:embargo_until i<s>e 2:id <str> 5:state <str>
 *                    6:tenant i<index>e e ... e
 *     7:tenants  l d 5:allow l <5 or 17 byte str> ... e 9:bandwidth i<B/s>e
 *                    9:embargo_s i<s>e 2:id <str> 9:max_peers i<n>e
 *                    4:name <str> [7:seeding i<1-3>e] 8:trackers l <str> ... e e ... e
 *     10:written_at i<s>e e
 *
 * A tenant record is a struct tenant (tenant.h) field for field, less the
 * control plane's provenance (line, from_api). An allow-list entry is one
 * prefix-length byte followed by the 4 (IPv4) or 16 (IPv6) network address
 * bytes. Every key is required but seeding (tenant.h's enum
 * tenant_seeding, present only when not 0: the data plane's own default)
 * and no other key is accepted, so a file decodes one way and re-encodes to
 * the same bytes.
 *
 * Version 1 (still read, never written) had tenant records of allow,
 * bandwidth, id and max_peers only: such a tenant loads with name = id, no
 * trackers and no embargo, and is written back as version 2.
 *
 * Invariants of every catalog, built or loaded (the loader goes through the
 * same catalog_add_*() checks as a builder, so a file can hold nothing a
 * builder could not): generation >= 1; written_at and embargo_until >= 0;
 * at most CATALOG_MAX_TENANTS tenants, CATALOG_MAX_RELEASES releases,
 * CATALOG_MAX_ALLOW allow entries per tenant; ids unique; a tenant id is
 * [a-z0-9-]{1,32}, not starting with '-' (tenant_id_valid); a tenant's name
 * is 1 to TENANT_NAME_MAX bytes of printable UTF-8, its trackers at most
 * TENANT_MAX_TRACKERS distinct strings of 1 to TENANT_URL_MAX printable
 * ASCII bytes, its embargo_s >= 0; a release id passes
 * store_check_id() and reads "<tenant id>.<name>.<version>" for the tenant it
 * names (so a release cannot be filed under another tenant); allow entries
 * pass cidr_check() (what cidr_parse() could have produced).
 *
 * Call order, writer (seed-control):
 *   catalog_create -> catalog_add_tenant* -> catalog_add_release* ->
 *   catalog_write -> catalog_free
 * Reader (seed-dataplane), per poll:
 *   catalog_reload (or catalog_stat_changed + catalog_load) -> lookups ->
 *   catalog_free of the generation it replaced, once no thread uses it.
 *
 * Thread-safety: a loaded catalog is immutable (catalog_add_*() refuse it),
 * so every const function may be called on it from any number of threads
 * without locks. A catalog being built belongs to one thread. The file has
 * one writer; concurrent writers to the same path are not supported.
 */
#ifndef SEED_CATALOG_H
#define SEED_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "seed_err.h"
#include "tenant.h"

#define CATALOG_MAGIC		  "SEEDCAT1"
#define CATALOG_FORMAT_VERSION	  2u /* what catalog_encode() writes */
#define CATALOG_FORMAT_VERSION_V1 1u /* still read: tenants without name, trackers, embargo */
#define CATALOG_HEADER_LEN	  48u
#define CATALOG_MAX_FILE	  (64u << 20) /* the largest legal catalog is ~56 MiB */
#define CATALOG_MAX_TENANTS	  1024u
#define CATALOG_MAX_RELEASES	  65536u
#define CATALOG_MAX_ALLOW	  TENANT_MAX_ALLOW

enum catalog_state {
	CATALOG_STAGED = 0, /* in the store, not announced, not served */
	CATALOG_EMBARGOED,  /* served from embargo_until on */
	CATALOG_LIVE,	    /* served */
	CATALOG_PAUSED,	    /* temporarily not served */
	CATALOG_RETIRED,    /* no longer served */
};
#define CATALOG_N_STATES 5

/* A release as stored in a catalog; owned by the catalog. */
struct catalog_release {
	const char *id; /* NUL-terminated */
	size_t id_len;
	uint32_t tenant; /* index into the catalog's tenants */
	enum catalog_state state;
	int64_t embargo_until; /* unix seconds; meaningful for CATALOG_EMBARGOED */
};

/*
 * What catalog_stat_changed() last saw of the file. Zero it (= {0}) before
 * the first poll; zero it again to force the next poll to report a change.
 */
struct catalog_stamp {
	uint64_t dev, ino, size;
	int64_t mtime_sec, mtime_nsec, ctime_sec, ctime_nsec;
	int seen;
};

struct catalog;

/* ---- states ---- */

/* "staged", "embargoed", "live", "paused", "retired"; "?" when out of range. */
const char *catalog_state_name(enum catalog_state s);
/* Exact, case-sensitive inverse of catalog_state_name(). 0 or -EINVAL. */
int catalog_state_parse(const char *name, enum catalog_state *out_state);

/* ---- building (one thread) ---- */

/*
 * An empty catalog to fill. generation must be >= 1 and written_at >= 0
 * (-ERANGE otherwise). *out_cat is freed with catalog_free().
 */
int catalog_create(uint64_t generation, int64_t written_at, struct catalog **out_cat,
		   struct seed_err *err);

/*
 * Whether t could be added to a catalog (the rules above: id, bandwidth,
 * allow entries, name, trackers, embargo), without one: for the control
 * plane to refuse a tenant when it is given, not when it is written out.
 * Errors as catalog_add_tenant()'s, the message starting "tenant <id>: "
 * once the id is valid.
 */
int catalog_check_tenant(const struct tenant *t, struct seed_err *err);

/*
 * Appends a deep copy of t (borrowed for the call; its provenance, line and
 * from_api, is not kept). An empty name is taken as the id. *out_index (may
 * be NULL) receives the index releases refer to it by. Errors: -EINVAL (bad
 * id, name, tracker or allow entry), -ERANGE (bandwidth > INT64_MAX,
 * embargo_s < 0), -EEXIST (id taken), -E2BIG (a limit), -EPERM (catalog was
 * loaded, hence immutable), -ENOMEM. All-or-nothing: on failure the catalog
 * is unchanged.
 */
int catalog_add_tenant(struct catalog *c, const struct tenant *t, uint32_t *out_index,
		       struct seed_err *err);

/*
 * Appends a release of tenant index `tenant`, copying id. Errors: -ENOENT
 * (no such tenant), -EINVAL (bad id, id not "<tenant>.<name>.<version>",
 * bad state), -ERANGE (embargo_until < 0), -EEXIST, -E2BIG, -EPERM, -ENOMEM.
 * All-or-nothing. Pointers from catalog_release_find()/_at() taken before
 * the call may be invalidated by it.
 */
int catalog_add_release(struct catalog *c, const char *id, uint32_t tenant,
			enum catalog_state state, int64_t embargo_until, struct seed_err *err);

/* ---- one tenant record ---- */

/*
 * The tenant record of the payload above, on its own, for any file that
 * keeps tenants (seed-control's state file does): one encoder and one
 * decoder, so a tenant has one serialized shape.
 */
struct bencode_buf;
struct bencode_node;

/* What a tenant record holds, by the file that wrote it. */
enum catalog_tenant_format {
	CATALOG_TENANT_V1 = 1, /* catalog format 1: allow, bandwidth, id, max_peers */
	CATALOG_TENANT_V2 = 2, /* catalog format 2: what catalog_encode_tenant() writes */
	/* V2's keys with allow entries as cidr_format() text ("10.0.0.0/8"):
	 * seed-control's state file version 1, still read */
	CATALOG_TENANT_TEXT_ALLOW,
};

/*
 * Appends t (borrowed) to b as one V2 tenant record: every field but the
 * provenance (line, from_api); an empty name is written as the id, as
 * catalog_add_tenant() takes it. Errors stay in b (bencode_buf_finish()).
 */
void catalog_encode_tenant(struct bencode_buf *b, const struct tenant *t);
/* Appends the list of the n tenants v[0..n) (borrowed), one record each. */
void catalog_encode_tenants(struct bencode_buf *b, const struct tenant *v, size_t n);

/*
 * Decodes the tenant record rec, a node of a document parsed from the buffer
 * that starts at base (borrowed; offsets in messages count from it), written
 * in `format`. what names the record in messages ("tenant #3"), which go on
 * with its id once that is read. On success *out_t (overwritten) owns its
 * trackers and passes catalog_check_tenant(), provenance zero; on failure it
 * owns nothing. Errors as catalog_parse()'s: -EBADMSG (unknown or missing
 * key, wrong type, bad entry, and what catalog_check_tenant() calls
 * -EINVAL), -ERANGE, -E2BIG, -ENOMEM.
 *
 * A TEXT_ALLOW record was written under older rules (seed-control's API
 * took names with control characters and trackers with spaces, non-ASCII
 * bytes or duplicates): those are brought to today's rules instead of
 * refused (control characters in the name become '?'; such trackers are
 * dropped), and *out_repaired (may be NULL) counts the fields changed so
 * the caller can say so. Other formats are never changed (0).
 */
int catalog_decode_tenant(const struct bencode_node *rec, const uint8_t *base,
			  enum catalog_tenant_format format, const char *what, struct tenant *out_t,
			  unsigned *out_repaired, struct seed_err *err);

/* ---- the file ---- */

/*
 * Encodes c as a complete file image (header + payload). *out_buf is
 * malloc'd, the caller frees it. 0 or -ENOMEM.
 */
int catalog_encode(const struct catalog *c, uint8_t **out_buf, size_t *out_len,
		   struct seed_err *err);

/*
 * Writes c to path: temporary file in the same directory, fsync, rename,
 * fsync of the directory, so a reader sees the old file or the new one.
 *
 * Generation policy: generations on disk only go up. When path holds a
 * valid catalog (header and checksum check out) whose generation is >= c's,
 * nothing is written and -ESTALE names both. A missing file is created. A
 * file that is not a valid catalog is replaced: the writer is the authority
 * and must be able to repair a damaged file (readers refuse going backwards
 * on their own, see catalog_reload()). Callers choose the next generation
 * with catalog_peek_generation() at start-up, then count up.
 */
int catalog_write(const char *path, const struct catalog *c, struct seed_err *err);

/*
 * Checks the header and checksum of the catalog at path (not the payload's
 * structure) and reports its generation. -ENOENT when absent, the loader's
 * errors otherwise.
 */
int catalog_peek_generation(const char *path, uint64_t *out_generation, struct seed_err *err);

/*
 * Parses a complete file image [buf, buf + len) (borrowed for the call).
 * On success *out_cat owns an immutable catalog; on failure it is NULL and
 * err names the fault and its byte offset in buf:
 *   -EBADMSG  truncated, bad magic, nonzero flags, payload length mismatch,
 *             checksum mismatch, malformed bencode, unknown/missing key, wrong
 *             type, unknown state, bad id or allow entry
 *   -EPROTO   unknown format version (1 and 2 are read)
 *   -ERANGE   a number out of range (generation 0, negative time, tenant
 *             index past the tenants, max_peers > UINT32_MAX, ...)
 *   -EEXIST   duplicate tenant or release id
 *   -E2BIG    more tenants, releases or allow entries than the limits, or
 *             past the bencode parser's bounds (nesting deeper than the
 *             format's, too many values, an integer beyond 64 bits)
 *   -ENOMEM
 */
int catalog_parse(const uint8_t *buf, size_t len, struct catalog **out_cat, struct seed_err *err);

/* Reads (at most CATALOG_MAX_FILE bytes, else -EFBIG) and parses path; the
 * error message starts with path. */
int catalog_load(const char *path, struct catalog **out_cat, struct seed_err *err);

/*
 * Cheap change check: stat(path) compared with *stamp (device, inode, size,
 * mtime, ctime). Returns 1 and updates *stamp when the file differs from
 * what stamp saw (or stamp saw nothing yet), 0 when it is the same, -errno
 * when stat fails (stamp untouched). Every write renames a new inode into
 * place, so a write is seen unless the same inode number is reused with the
 * same size within one file-system timestamp tick; writers that publish
 * faster than that should expect readers to skip to a later generation.
 */
int catalog_stat_changed(const char *path, struct catalog_stamp *stamp);

/*
 * One poll of the reader: when catalog_stat_changed() reports a change,
 * loads path. Returns 1 with *out_cat owning a generation newer than
 * current_generation (pass 0 when none is in use), 0 when nothing changed or
 * the file holds current_generation again (*out_cat NULL), -ESTALE when the
 * file went back to an older generation (keep the current one), or the
 * loader's error. The stamp is updated whenever a change is seen, so a bad
 * file is reported once, not at every poll; zero the stamp to retry.
 */
int catalog_reload(const char *path, struct catalog_stamp *stamp, uint64_t current_generation,
		   struct catalog **out_cat, struct seed_err *err);

/* Frees a catalog; NULL is a no-op. Every pointer into it dies with it. */
void catalog_free(struct catalog *c);

/* ---- lookups (any thread, on a loaded catalog) ---- */

uint64_t catalog_generation(const struct catalog *c);
int64_t catalog_written_at(const struct catalog *c);
uint32_t catalog_n_tenants(const struct catalog *c);
uint32_t catalog_n_releases(const struct catalog *c);
/* The i-th tenant or release in file order; NULL when out of range. */
const struct tenant *catalog_tenant_at(const struct catalog *c, uint32_t i);
const struct catalog_release *catalog_release_at(const struct catalog *c, uint32_t i);

/* Tenant by id, NULL when absent (linear: for the control plane). */
const struct tenant *catalog_tenant_find(const struct catalog *c, const char *id);

/*
 * Release by id through a hash index (expected O(1), seeded per catalog so
 * crafted ids cannot force collisions). NULL when absent or c is NULL. The
 * _n form takes an id that is not NUL-terminated (e.g. a URL path segment).
 * The result is valid while c lives.
 */
const struct catalog_release *catalog_release_find(const struct catalog *c, const char *id);
const struct catalog_release *catalog_release_findn(const struct catalog *c, const char *id,
						    size_t len);

/* The release's tenant (never NULL for a release of c). */
const struct tenant *catalog_tenant_of(const struct catalog *c, const struct catalog_release *r);

/*
 * Whether r may be served at now_s (unix seconds): LIVE, or EMBARGOED with
 * now_s >= embargo_until. Every other state, and NULL, is false.
 */
bool catalog_release_servable(const struct catalog_release *r, int64_t now_s);

/*
 * Whether a peer at addr may fetch t's releases: cidr_set_match_raw() on
 * t's allow-list (an empty list allows everyone; an IPv4-mapped IPv6
 * address is checked as the IPv4 address), false when t is NULL. family is
 * AF_INET (addr: 4 bytes) or AF_INET6 (16 bytes).
 */
bool catalog_tenant_allows(const struct tenant *t, int family, const uint8_t *addr);

#endif
