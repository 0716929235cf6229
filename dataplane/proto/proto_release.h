/*
 * proto_release: the read-only view of a served release that the sans-I/O
 * protocol engines (peerwire, http) work from, and the catalog they look
 * releases up in. The worker builds these from the store's manifests at
 * start-up (and per catalog generation); engines only read them, never
 * copy or free them, and never touch the store or any file themselves.
 *
 * Piece numbering: every file starts on a piece boundary (BEP 47 pads in
 * the v1 view, BEP 52 in v2), so one index space serves v1, v2 and hybrid
 * peers. Piece p covers bytes [p * piece_length, (p + 1) * piece_length) of
 * the padded stream; the part of a piece past its file's end (the pad) reads
 * as zeros, and the last piece of the last file is short.
 */
#ifndef SEED_PROTO_RELEASE_H
#define SEED_PROTO_RELEASE_H

#include <stddef.h>
#include <stdint.h>

/* One per file of every served release, so kept to 40 bytes: a store may
 * hold millions (docs/dataplane.md, "Memory and time per object"). */
struct proto_file {
	const char *path; /* '/'-joined path inside the torrent (UTF-8) */
	uint64_t length;
	uint32_t first_piece; /* index of the piece the file starts in (a
	                       * release has fewer than 2^32 pieces) */
	uint32_t object;      /* worker's handle of the store object */
	const uint8_t *root;  /* v2 pieces root (32 bytes); NULL when empty */
	const uint8_t *layer; /* v2 piece layer, proto_file_pieces * 32 bytes;
	                       * NULL when length <= piece_length (BEP 52) */
};

struct proto_release {
	uint32_t handle;	  /* worker-local id, used in block actions */
	const char *id;		  /* release id ("tenant.name.version"): the first
	                             * path segment of BEP 19 / HTTP URLs */
	const char *torrent_name; /* the info dict's "name" */
	int single_file;	  /* torrent in single-file form */
	int has_v1, has_v2;
	uint8_t ih_v1[20];
	uint8_t ih_v2[32];	 /* full SHA-256; v2 handshakes carry its first 20 bytes */
	uint8_t mse_req2_v1[20]; /* SHA1("req2" ih_v1), when has_v1 (MSE lookups) */
	uint8_t mse_req2_v2[20]; /* SHA1("req2" ih_v2[0..20)), when has_v2 */
	uint64_t piece_length;	 /* power of two >= 16 KiB */
	uint64_t n_pieces;	 /* over all files */
	/* the bencoded info dict (for BEP 9 ut_metadata); NULL: not held in
	 * the view, proto_catalog.info reads it */
	const uint8_t *info;
	size_t info_len;
	const struct proto_file *files; /* in torrent order */
	size_t n_files;
	/* files' indexes in the byte order of their paths (strcmp), so an HTTP
	 * request finds its file in log n; NULL: looked up one by one */
	const uint32_t *by_path;
};

/* The pieces file f of release r spans: ceil(length / piece_length), 0 when
 * empty. */
static inline uint64_t proto_file_pieces(const struct proto_release *r, const struct proto_file *f)
{
	return f->length ? (f->length - 1) / r->piece_length + 1 : 0;
}

/*
 * Lookups the worker provides. Each returns NULL when the release is not
 * served (unknown, not live, or not to this peer). Pointers stay valid
 * until the engine's next call returns (a catalog switch happens between
 * batches).
 *
 * peer is the asking connection's `user` pointer (peerwire_conn.user,
 * http_conn.user), passed back untouched: what may be served depends on
 * who asks (a tenant's allow-list, its peer limit), and the answer must be
 * about that connection, never about whichever one the worker last fed.
 */
struct proto_catalog {
	void *ctx;
	const struct proto_release *(*by_ih_v1)(void *ctx, void *peer, const uint8_t ih[20]);
	/* v2 info-hash truncated to 20 bytes, as in handshakes */
	const struct proto_release *(*by_ih_v2_20)(void *ctx, void *peer, const uint8_t ih[20]);
	const struct proto_release *(*by_id)(void *ctx, void *peer, const char *id, size_t len);
	/* MSE (mse.h): the release with an info-hash ih (v1, or v2 truncated
	 * to 20 bytes) such that SHA1("req2" ih) == h; may be NULL */
	const struct proto_release *(*by_mse_req2)(void *ctx, void *peer, const uint8_t h[20]);
	/* A peer's first bytes are an MSE key: 1 lets the key exchange (a
	 * modular exponentiation, the costliest step a peer can ask for)
	 * go ahead, 0 refuses it (the engine closes, PROTO_CLOSE_REFUSED).
	 * NULL: always allowed. */
	int (*admit_mse)(void *ctx, void *peer);
	/* The info dict of r (r->info_len bytes) when r->info is NULL: a view
	 * of a store of many files does not keep it in memory, as only
	 * magnet-link peers ask for it (BEP 9). NULL while it is being read:
	 * the engine asks again at its next call (peerwire_next_deadline).
	 * The bytes are valid until the call that got them returns. */
	const uint8_t *(*info)(void *ctx, void *peer, const struct proto_release *r);
};

#endif
