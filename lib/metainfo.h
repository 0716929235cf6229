/*
 * metainfo: builds .torrent files (BEP 3 v1, BEP 52 v2, and hybrids) and
 * magnet links from per-file hashes computed elsewhere (see ingest.h).
 *
 * Layout rule shared by every kind we emit: files are in canonical order
 * (path components compared as raw bytes, the order of the v2 "file tree"
 * dictionary), and in the v1 view every file except the last is followed by
 * a BEP 47 pad file ("attr": "p", path ".pad/<length>") up to the next piece
 * boundary, so no v1 piece spans two files. This is exactly the layout
 * libtorrent 2.0 derives for hybrids, and it is what lets the v1 torrent of
 * --also-v1 be served from the same stored data as the hybrid.
 *
 * Consequence for v1 piece hashes: the last piece of a file that is not the
 * last in the list is hashed with the pad's zeros appended (to a full piece);
 * the last piece of the last file is hashed as it is.
 */
#ifndef SEED_METAINFO_H
#define SEED_METAINFO_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "seed_err.h"

#define METAINFO_MIN_PIECE	(16u * 1024)
#define METAINFO_MAX_PIECE	(64u * 1024 * 1024)
#define METAINFO_MAX_PATH_DEPTH 64

enum metainfo_kind {
	METAINFO_HYBRID = 0,
	METAINFO_V1,
	METAINFO_V2,
};

struct metainfo_file {
	const char *const *path; /* components, borrowed; 0 for single-file form */
	size_t n_path;
	uint64_t length;
	uint8_t root[32];     /* v2 pieces root; unused when length == 0 */
	const uint8_t *layer; /* v2 piece layer, n_pieces * 32; used only
	                           * when length > piece_length */
	const uint8_t *sha1;  /* v1 piece hashes, n_pieces * 20 */
};

struct metainfo_params {
	enum metainfo_kind kind;
	const char *name;      /* the torrent's top-level name (UTF-8) */
	int single_file;       /* one file named `name`, no directory */
	uint64_t piece_length; /* power of two in [MIN, MAX] */
	const struct metainfo_file *files;
	size_t n_files;
	const char *const *trackers; /* each becomes its own announce tier */
	size_t n_trackers;
	const char *const *web_seeds; /* BEP 19 url-list */
	size_t n_web_seeds;
	int private_flag;
	int64_t creation_date; /* seconds since the epoch */
	const char *created_by;
};

struct metainfo_out {
	uint8_t *torrent; /* malloc'd, caller frees */
	size_t torrent_len;
	int has_v1, has_v2;
	uint8_t ih_v1[HASH_SHA1_LEN];
	uint8_t ih_v2[HASH_SHA256_LEN];
};

/* Pieces of a file of len bytes: ceil(len / piece_length). */
uint64_t metainfo_piece_count(uint64_t len, uint64_t piece_length);

/* A power-of-two piece length for total bytes: the smallest that keeps the
 * piece count at or under 1500, within [16 KiB, 16 MiB]. Fewer, larger pieces
 * keep the torrent small; 1500 keeps v1 piece-hash lists near 30 KiB. */
uint64_t metainfo_pick_piece_length(uint64_t total);

/* Checks that n is a power of two within [MIN, MAX]. */
int metainfo_check_piece_length(uint64_t n, struct seed_err *err);

/*
 * Builds the torrent. Files must already be in canonical order with valid
 * UTF-8 names (the caller validated the tree); out-of-order or duplicate
 * paths give -EINVAL. On success out owns a malloc'd torrent.
 */
int metainfo_build(struct hash_ctx *h, const struct metainfo_params *p, struct metainfo_out *out,
		   struct seed_err *err);

/* Compares two path component lists in canonical order (<0, 0, >0). */
int metainfo_path_cmp(const char *const *a, size_t na, const char *const *b, size_t nb);

/*
 * The magnet link carrying every info-hash present (xt=urn:btih for v1,
 * xt=urn:btmh:1220... for v2), dn, tr and ws; malloc'd, NULL on ENOMEM.
 */
char *metainfo_magnet(const struct metainfo_out *m, const char *name, const char *const *trackers,
		      size_t n_trackers, const char *const *web_seeds, size_t n_web_seeds);

/*
 * The info-hashes of a torrent whose bencoded info dictionary is
 * info[0..len) (borrowed), the one place they are computed: SHA-1 over
 * exactly those bytes into out_v1 (the v1 info-hash of a v1 or hybrid
 * torrent) and SHA-256 into out_v2 (the v2 info-hash of a v2 or hybrid
 * torrent), through h (lib/hash, either implementation). Either output may
 * be NULL when it is not wanted. 0 or -errno from the hash.
 */
int metainfo_info_hash(struct hash_ctx *h, const void *info, size_t len,
		       uint8_t out_v1[HASH_SHA1_LEN], uint8_t out_v2[HASH_SHA256_LEN]);

#endif
