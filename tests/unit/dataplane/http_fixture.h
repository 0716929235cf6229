/*
 * http_fixture: the fake catalog the HTTP engine is tested against, shared
 * by its unit tests (test_http.c) and its fuzz harness (tests/fuzz/
 * fuzz_http.c), so that both speak of the same releases:
 *   acme.game.1  handle 7, torrent "Game", five files: data/level1.pak
 *                (1000 B), data/empty.txt (0 B), big/video.bin (3 MiB + 5),
 *                "docs/read me ü.txt" (10 B), noroot.bin (70000 B, no root:
 *                no ETag);
 *   acme.patch.2 handle 9, single file patch.bin (500 B);
 *   acme.flat.1  handle 11, acme.game.1's files without its path index
 *                (by_path), so the engine's linear lookup is tested too.
 * Each root is 32 bytes of one value (0x11, 0x22, 0x33, 0x44): the ETags
 * the unit tests expect are those bytes in hex.
 *
 * Header-only, with no criterion: the fuzz harness includes it too. Call
 * httpfx_init() before the first lookup; the catalog is httpfx_catalog().
 */
#ifndef SEED_TEST_HTTP_FIXTURE_H
#define SEED_TEST_HTTP_FIXTURE_H

#include <stdint.h>
#include <string.h>

#include "http.h"

static uint8_t root11[32], root22[32], root33[32], root44[32];

static const struct proto_file game_files[] = {
	{ .path = "data/level1.pak", .length = 1000, .root = root11 },
	{ .path = "data/empty.txt", .length = 0, .root = NULL },
	{ .path = "big/video.bin", .length = 3 * 1048576 + 5, .root = root22 },
	{ .path = "docs/read me \xc3\xbc.txt", .length = 10, .root = root33 },
	{ .path = "noroot.bin", .length = 70000, .root = NULL },
};

static const struct proto_file patch_files[] = {
	{ .path = "", .length = 500, .root = root44 },
};

/* game_files' indexes in the byte order of their paths */
static const uint32_t game_by_path[] = { 2, 1, 0, 3, 4 };

#define HTTPFX_N_RELEASES 3

/* A release of 16 KiB pieces whose files are the array files. */
#define HTTPFX_RELEASE(handle_, id_, name, single, files_)                                         \
	{                                                                                          \
		.handle = (handle_), .id = (id_), .torrent_name = (name), .single_file = (single), \
		.piece_length = 16384, .files = (files_),                                          \
		.n_files = sizeof(files_) / sizeof((files_)[0])                                    \
	}

static const struct proto_release releases[HTTPFX_N_RELEASES] = {
	{ .handle = 7,
	  .id = "acme.game.1",
	  .torrent_name = "Game",
	  .piece_length = 16384,
	  .files = game_files,
	  .n_files = sizeof(game_files) / sizeof(game_files[0]),
	  .by_path = game_by_path },
	HTTPFX_RELEASE(9, "acme.patch.2", "patch.bin", 1, patch_files),
	HTTPFX_RELEASE(11, "acme.flat.1", "Game", 0, game_files),
};

/* The peer pointer of the last lookup by id (the asking connection's user). */
static void *last_peer;

static const struct proto_release *by_id(void *ctx, void *peer, const char *id, size_t len)
{
	last_peer = peer;
	(void)ctx;
	for (size_t i = 0; i < HTTPFX_N_RELEASES; i++)
		if (strlen(releases[i].id) == len && !memcmp(releases[i].id, id, len))
			return &releases[i];
	return NULL;
}

/* The HTTP engine names releases by id only: an info-hash finds nothing. */
static const struct proto_release *by_ih(void *ctx, void *peer, const uint8_t ih[20])
{
	(void)peer;
	(void)ctx;
	(void)ih;
	return NULL;
}

static inline void httpfx_init(void)
{
	memset(root11, 0x11, 32);
	memset(root22, 0x22, 32);
	memset(root33, 0x33, 32);
	memset(root44, 0x44, 32);
}

static inline struct proto_catalog httpfx_catalog(void)
{
	return (struct proto_catalog){ NULL, by_ih, by_ih, by_id };
}

/* The file a SEND_DATA names, or NULL when there is none. */
static inline const struct proto_file *httpfx_file(uint32_t release, uint32_t file)
{
	for (size_t i = 0; i < HTTPFX_N_RELEASES; i++)
		if (releases[i].handle == release)
			return file < releases[i].n_files ? &releases[i].files[file] : NULL;
	return NULL;
}

#endif
