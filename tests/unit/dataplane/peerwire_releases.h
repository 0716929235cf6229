/*
 * peerwire_releases: the multi-file hybrid release that both the peer-wire
 * engine's unit tests (peerwire_fixture.h) and its fuzz harness
 * (tests/fuzz/fuzz_peerwire.c) serve, laid out in one place:
 *   piece_length 32 KiB, six pieces; files d/a (40000 B, pieces 0-1, a
 *   piece layer), d/b (5 B, piece 2), d/e (empty), d/c (70000 B, pieces
 *   3-5, a piece layer): pads after d/a and d/b, a short last piece of
 *   4464 B.
 * pwr_single() fills the single-file releases both also serve.
 * What differs between the two stays with each: the roots (computed or
 * made up), the info dict, the handle, id, object numbers, v2 info-hash.
 *
 * Header-only, with no criterion: the fuzz harness includes it too.
 */
#ifndef SEED_TEST_PEERWIRE_RELEASES_H
#define SEED_TEST_PEERWIRE_RELEASES_H

#include <stdint.h>
#include <string.h>

#include "proto_release.h"

#define PWR_HYB_LAYER_A (2 * 32) /* bytes of d/a's piece layer */
#define PWR_HYB_LAYER_C (3 * 32)

/* The piece layers of d/a and d/c: fixed patterns, not real hashes. */
static inline void pwr_hybrid_layers(uint8_t layer_a[PWR_HYB_LAYER_A],
				     uint8_t layer_c[PWR_HYB_LAYER_C])
{
	for (size_t i = 0; i < PWR_HYB_LAYER_A; i++)
		layer_a[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < PWR_HYB_LAYER_C; i++)
		layer_c[i] = (uint8_t)(i * 11 + 3);
}

/*
 * Fills r and its files f[4] as the hybrid release: handle and id as
 * given, roots[0..2] the pieces roots of d/a, d/b and d/c, the layers of
 * pwr_hybrid_layers(), info[0..info_len) its info dict, objects object0 to
 * object0 + 3, a v1 info-hash of twenty 0x11 bytes. r borrows all of them;
 * its v2 info-hash is the caller's to set.
 */
static inline void pwr_hybrid(struct proto_release *r, struct proto_file f[4], uint32_t handle,
			      const char *id, const uint8_t *const roots[3], const uint8_t *layer_a,
			      const uint8_t *layer_c, const uint8_t *info, size_t info_len,
			      uint32_t object0)
{
	f[0] = (struct proto_file){ "d/a", 40000, 0, object0, roots[0], layer_a };
	f[1] = (struct proto_file){ "d/b", 5, 2, object0 + 1, roots[1], NULL };
	f[2] = (struct proto_file){ "d/e", 0, 3, object0 + 2, NULL, NULL };
	f[3] = (struct proto_file){ "d/c", 70000, 3, object0 + 3, roots[2], layer_c };
	*r = (struct proto_release){ .handle = handle,
				     .id = id,
				     .torrent_name = "d",
				     .has_v1 = 1,
				     .has_v2 = 1,
				     .piece_length = 32768,
				     .n_pieces = 6,
				     .info = info,
				     .info_len = info_len,
				     .files = f,
				     .n_files = 4 };
	memset(r->ih_v1, 0x11, 20);
}

/*
 * Fills r as a single-file release of f[0] (torrent name: its path; as
 * many pieces as it has), v1 only (v1 set) or v2 only, with handle, id,
 * piece_length and info dict as given. r borrows f and info.
 */
static inline void pwr_single(struct proto_release *r, struct proto_file *f, uint32_t handle,
			      const char *id, int v1, uint32_t piece_length, const uint8_t *info,
			      size_t info_len)
{
	*r = (struct proto_release){ .handle = handle,
				     .id = id,
				     .torrent_name = f->path,
				     .single_file = 1,
				     .has_v1 = v1,
				     .has_v2 = !v1,
				     .piece_length = piece_length,
				     .n_pieces = (f->length + piece_length - 1) / piece_length,
				     .info = info,
				     .info_len = info_len,
				     .files = f,
				     .n_files = 1 };
}

#endif
