/*
 * ingest: turns a directory (or one file) into a release in the store.
 *
 * Call order: ingest_scan() walks and validates the source tree without
 * touching the store (so bad input never changes it); ingest_create() hashes
 * every file on all cores (SHA-1 per v1 piece, SHA-256 per 16 KiB leaf,
 * XXH3-128 per 16 KiB block, in multi-buffer batches), writes the data and
 * its parity into store objects (O_DIRECT through io_uring where the store's
 * file system allows it), builds the torrents and commits the release
 * manifest last.
 * On any failure every object this run created is removed again.
 */
#ifndef SEED_INGEST_H
#define SEED_INGEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hash.h"
#include "metainfo.h"
#include "seed_err.h"
#include "store.h"

struct ingest_io_fault;

#define INGEST_MAX_FILES 1000000u
#define INGEST_MAX_NAME	 255u

struct ingest_entry {
	char *rel;   /* path inside the tree, '/'-joined (UTF-8) */
	char **comp; /* rel split into components */
	size_t n_comp;
	char *src; /* path to open */
	uint64_t length;
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
};

struct ingest_tree {
	char *name; /* the torrent's top-level name: basename of the source */
	int single_file;
	struct ingest_entry *e; /* canonical order */
	size_t n;
	uint64_t total;
};

/* Walks and validates path. Everything wrong is reported by name. */
int ingest_scan(const char *path, struct ingest_tree **out_tree, struct seed_err *err);
void ingest_tree_free(struct ingest_tree *t);

struct ingest_opts {
	const char *tenant, *name, *version;
	enum metainfo_kind kind;
	int also_v1;	       /* hybrid only: also write a v1 torrent */
	uint64_t piece_length; /* 0 = metainfo_pick_piece_length() */
	const char *const *trackers;
	size_t n_trackers;
	const char *const *web_seeds;
	size_t n_web_seeds;
	int private_flag;
	unsigned threads; /* 0 = one per online CPU */
	enum hash_impl impl;
	const char *torrent_out; /* NULL = DIR/torrents/<id>.torrent */
	int64_t now;		 /* creation date */
	/* Called from the calling thread about every 100 ms and once at the end. */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
	/* Tests only: faults injected into the store writes (ingest_io.h). */
	const struct ingest_io_fault *fault;
	/* Tests only (NULL otherwise): called by the worker that finished
	 * file i (of the tree), its object committed or found in the store,
	 * before it takes its next chunk. */
	void (*file_done)(void *arg, size_t i);
	void *file_done_arg;
};

struct ingest_result {
	char *id;
	struct metainfo_out main; /* the torrent of opts.kind */
	struct metainfo_out v1;	  /* with also_v1: the v1 torrent */
	char *magnet;
	char *torrent_path;
	char *torrent_v1_path; /* NULL without also_v1 */
	uint64_t piece_length;
	uint64_t bytes;	    /* payload hashed */
	uint64_t bytes_new; /* payload written to new objects */
	size_t objects_new, objects_shared;
	unsigned threads;
	double seconds;
	/* How the objects' data went to the store (static string): through
	 * io_uring or pwrite, with O_DIRECT or buffered where the store's
	 * file system refused O_DIRECT. */
	const char *write_path;
};

/* Validates tenant/name/version and forms the release id "tenant.name.version". */
int ingest_make_id(const char *tenant, const char *name, const char *version, char **out_id,
		   struct seed_err *err);

int ingest_create(struct store *s, const struct ingest_tree *t, const struct ingest_opts *o,
		  struct ingest_result *out, struct seed_err *err);
void ingest_result_free(struct ingest_result *r);

#endif
