/*
 * cmd_release: see cmd_release.h. Each subcommand is a row of `subs` (or,
 * for `seedctl store`, of `store_subs`) with its option table; getopt_long's
 * table and --help both come from it.
 */
#include "cmd_release.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bytesize.h"
#include "cmd_api.h"
#include "cmdopt.h"
#include "hex.h"
#include "ingest.h"
#include "jsonw.h"
#include "metainfo.h"
#include "progress.h"
#include "scrub.h"
#include "store.h"
#include "verify.h"

enum {
	O_STORE = 1,
	O_TENANT,
	O_NAME,
	O_VERSION,
	O_TORRENT_OUT,
	O_PIECE_LEN,
	O_TRACKER,
	O_WEB_SEED,
	O_V1_ONLY,
	O_V2_ONLY,
	O_ALSO_V1,
	O_PRIVATE,
	O_JSON,
	O_THREADS,
	O_HASH_IMPL,
	O_RELEASE,
	O_NOW,
	O_RATE,
	O_HELP,
};

#define OPT_STORE CMDOPT("store", 1, O_STORE, "DIR", "the release store (required)")
#define OPT_JSON  CMDOPT("json", 0, O_JSON, NULL, "print JSON instead of text")
#define OPT_HELP  CMDOPT("help", 0, O_HELP, NULL, "show this help")

static const struct cmdopt create_opts[] = {
	OPT_STORE,
	{ "tenant", 1, O_TENANT, "NAME",
	  "tenant (studio) owning the release (required; A-Z a-z 0-9 - _)" },
	{ "name", 1, O_NAME, "NAME", "product name (required; A-Z a-z 0-9 - _)" },
	{ "version", 1, O_VERSION, "VER", "version (required; A-Z a-z 0-9 - _ . +)" },
	{ "torrent-out", 1, O_TORRENT_OUT, "FILE",
	  "write the torrent here (default DIR/torrents/ID.torrent)" },
	{ "piece-length", 1, O_PIECE_LEN, "N",
	  "piece length in bytes: a power of two >= 16384 (default: from the total size)" },
	{ "tracker", 1, O_TRACKER, "URL", "announce URL; repeat for more (each is its own tier)" },
	{ "web-seed", 1, O_WEB_SEED, "URL", "BEP 19 web seed URL; repeat for more" },
	{ "v1-only", 0, O_V1_ONLY, NULL, "write a v1 torrent (BEP 3 + BEP 47 pad files)" },
	{ "v2-only", 0, O_V2_ONLY, NULL, "write a v2 torrent (BEP 52)" },
	{ "also-v1", 0, O_ALSO_V1, NULL,
	  "hybrid plus a v1-only torrent beside it, for clients without v2 (Transmission 3, "
	  "aria2)" },
	{ "private", 0, O_PRIVATE, NULL, "set the private flag (BEP 27)" },
	OPT_JSON,
	{ "threads", 1, O_THREADS, "N", "hashing threads (default: one per CPU)" },
	{ "hash-impl", 1, O_HASH_IMPL, "IMPL",
	  "mb (multi-buffer, default) or openssl (for benchmarks)" },
	OPT_HELP,
	CMDOPT_END,
};

static const struct cmdopt ls_opts[] = { OPT_STORE, OPT_JSON, OPT_HELP, CMDOPT_END };
static const struct cmdopt show_opts[] = { OPT_STORE, OPT_JSON, OPT_HELP, CMDOPT_END };
static const struct cmdopt verify_opts[] = {
	OPT_STORE, OPT_JSON,   { "hash-impl", 1, O_HASH_IMPL, "IMPL", "mb (default) or openssl" },
	OPT_HELP,  CMDOPT_END,
};
static const struct cmdopt rm_opts[] = { OPT_STORE, OPT_HELP, CMDOPT_END };
static const struct cmdopt scrub_opts[] = {
	OPT_STORE,
	{ "release", 1, O_RELEASE, "ID", "scrub this release's objects only (default: all)" },
	{ "rate", 1, O_RATE, "BYTES",
	  "read at most this many bytes a second, K/M/G suffixes, 64K to 1T (default: as fast "
	  "as the disk goes); what it read leaves the page cache either way" },
	{ "now", 0, O_NOW, NULL,
	  "run the scrub here and now, at full speed (the only mode this build has: the paced "
	  "background scrub is seed-control's, to come)" },
	OPT_JSON,
	{ "hash-impl", 1, O_HASH_IMPL, "IMPL", "mb (default) or openssl" },
	OPT_HELP,
	CMDOPT_END,
};

struct cmdopt_args {
	const char *store;
	/* release create's options go straight into what ingest_create takes;
	 * verify reads o.impl */
	struct ingest_opts o;
	const char **trackers, **web_seeds; /* grown here, lent to o */
	int kind_set, json;
	const char *release; /* store scrub --release */
	int now;
	uint64_t rate; /* store scrub --rate, bytes a second; 0: unpaced */
	char **pos;
	int n_pos;
};

static cmdopt_run_fn run_create, run_ls, run_show, run_verify, run_rm, run_scrub, run_status;

static const struct cmdopt_sub subs[] = {
	{ "release create", "--store DIR --tenant NAME --name NAME --version VER [OPTIONS] PATH",
	  "turn a directory (or one file) into a release: hash it, store it, write its torrent",
	  NULL, create_opts, 1, 1, "PATH to the directory to release", run_create },
	{ "release ls", "--store DIR [--json]", "list the releases in a store", NULL, ls_opts, 0, 0,
	  NULL, run_ls },
	{ "release show", "--store DIR [--json] ID", "show one release and its files", NULL,
	  show_opts, 1, 1, "release ID", run_show },
	{ "release verify", "--store DIR ID",
	  "re-hash a release from the store; exit 1 naming every corrupt block", NULL, verify_opts,
	  1, 1, "release ID", run_verify },
	{ "release rm", "--store DIR ID", "remove a release; files another release shares are kept",
	  NULL, rm_opts, 1, 1, "release ID", run_rm },
};
#define N_SUBS (sizeof(subs) / sizeof(subs[0]))

static const struct cmdopt status_opts[] = { OPT_STORE, OPT_JSON, OPT_HELP, CMDOPT_END };

static const struct cmdopt_sub store_subs[] = {
	{ "store status", "--store DIR [--json]",
	  "what a store holds, per tenant: releases, files, bytes, objects and their size on "
	  "disk; its parity; what its last scrub found",
	  NULL, status_opts, 0, 0, NULL, run_status },
	{ "store scrub", "--store DIR --now [--release ID] [--rate BYTES] [--json]",
	  "check every object of the store and repair what its copies and parity can: exit 0 "
	  "when all is whole afterwards, 1 naming what is lost",
	  "Takes the store's writer lock: release create and rm wait for it, the data plane "
	  "keeps serving. Bad copies of headers, block tables and manifests are rewritten from "
	  "the good ones; a table whose two copies are both bad is rebuilt from the data when "
	  "the data matches its pieces root; bad data and parity blocks are rebuilt from their "
	  "stripe (docs/store.md, \"Parity\") and written back in place.",
	  scrub_opts, 0, 0, NULL, run_scrub },
};
#define N_STORE_SUBS (sizeof(store_subs) / sizeof(store_subs[0]))

static void list_verbs(FILE *f)
{
	cmdopt_sub_list(subs, N_SUBS, "release", f);
	/* publishing goes through seed-control's API (tools/cmd_api.c) */
	cmd_api_release_verbs_help(f);
}

static void list_store_verbs(FILE *f)
{
	cmdopt_sub_list(store_subs, N_STORE_SUBS, "store", f);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* Parses argv for s; returns -1 to continue, else an exit code. */
static int parse(const struct cmdopt_sub *s, int argc, char **argv, struct cmdopt_args *a)
{
	struct option lo[CMDOPT_MAX];
	cmdopt_longopts(s->opts, lo);

	opterr = 0;
	optind = 1;
	for (;;) {
		int c = getopt_long(argc, argv, "+", lo, NULL);
		if (c == -1)
			break;
		uint64_t v;
		switch (c) {
		case O_HELP: cmdopt_sub_usage(s, stdout); return 0;
		case O_STORE: a->store = optarg; break;
		case O_TENANT: a->o.tenant = optarg; break;
		case O_NAME: a->o.name = optarg; break;
		case O_VERSION: a->o.version = optarg; break;
		case O_TORRENT_OUT: a->o.torrent_out = optarg; break;
		case O_PIECE_LEN:
			if (parse_u64(optarg, &v) < 0)
				return cmdopt_usage_err(
					s->name, "--piece-length \"%s\" is not a number", optarg);
			a->o.piece_length = v;
			break;
		case O_TRACKER:
			if (cmdopt_push(&a->trackers, &a->o.n_trackers, optarg) < 0)
				return 1;
			break;
		case O_WEB_SEED:
			if (cmdopt_push(&a->web_seeds, &a->o.n_web_seeds, optarg) < 0)
				return 1;
			break;
		case O_V1_ONLY:
		case O_V2_ONLY:
			if (a->kind_set)
				return cmdopt_usage_err(
					s->name, "%s",
					"--v1-only and --v2-only exclude each other");
			a->kind_set = 1;
			a->o.kind = c == O_V1_ONLY ? METAINFO_V1 : METAINFO_V2;
			break;
		case O_ALSO_V1: a->o.also_v1 = 1; break;
		case O_PRIVATE: a->o.private_flag = 1; break;
		case O_JSON: a->json = 1; break;
		case O_RELEASE: a->release = optarg; break;
		case O_NOW: a->now = 1; break;
		case O_RATE: {
			struct seed_err be;
			seed_err_clear(&be);
			if (bytesize_parse_range(optarg, 64u << 10, 1ull << 40, &a->rate, &be) < 0)
				return cmdopt_usage_err(s->name, "--rate: %s", be.msg);
			break;
		}
		case O_THREADS:
			if (parse_u64(optarg, &v) < 0 || v == 0 || v > 256)
				return cmdopt_usage_err(
					s->name, "--threads \"%s\": expected 1 to 256", optarg);
			a->o.threads = (unsigned)v;
			break;
		case O_HASH_IMPL:
			if (!strcmp(optarg, "mb"))
				a->o.impl = HASH_IMPL_MB;
			else if (!strcmp(optarg, "openssl"))
				a->o.impl = HASH_IMPL_OPENSSL;
			else
				return cmdopt_usage_err(
					s->name, "--hash-impl \"%s\": expected mb or openssl",
					optarg);
			break;
		default: return cmdopt_sub_bad_option(s, c, argv[optind - 1]);
		}
	}
	a->pos = argv + optind;
	a->n_pos = argc - optind;
	int rc = cmdopt_sub_check_pos(s, a->n_pos, a->pos);
	if (rc >= 0)
		return rc;
	if (!a->store)
		return cmdopt_usage_err(s->name, "%s", "--store DIR is required");
	return -1;
}

int cmd_release(int argc, char **argv)
{
	if (argc < 2 || cmdopt_is_help(argv[1])) {
		cmdopt_group_usage(argc < 2 ? stderr : stdout, "release", list_verbs);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	const struct cmdopt_sub *s = cmdopt_sub_find(subs, N_SUBS, "release", argv[1]);
	if (s) {
		struct cmdopt_args a = { .o.impl = HASH_IMPL_MB, .o.kind = METAINFO_HYBRID };
		int rc = parse(s, argc - 1, argv + 1, &a);
		if (rc < 0)
			rc = s->run(&a);
		free(a.trackers);
		free(a.web_seeds);
		return rc;
	}
	if (cmd_api_is_release_verb(argv[1]))
		return cmd_api_release(argc - 1, argv + 1);
	return cmdopt_unknown("release", argv[1]);
}

int cmd_store(int argc, char **argv)
{
	if (argc < 2 || cmdopt_is_help(argv[1])) {
		cmdopt_group_usage(argc < 2 ? stderr : stdout, "store", list_store_verbs);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	const struct cmdopt_sub *s = cmdopt_sub_find(store_subs, N_STORE_SUBS, "store", argv[1]);
	if (!s)
		return cmdopt_unknown("store", argv[1]);
	struct cmdopt_args a = { .o.impl = HASH_IMPL_MB };
	int rc = parse(s, argc - 1, argv + 1, &a);
	return rc < 0 ? s->run(&a) : rc;
}

/* ---- create ---- */

static int run_create(struct cmdopt_args *a)
{
	const struct cmdopt_sub *s = &subs[0];
	struct seed_err err;
	struct ingest_tree *t = NULL;
	struct store *st = NULL;
	struct ingest_result res;
	char *id = NULL;
	int rc;

	if (!a->o.tenant)
		return cmdopt_usage_err(s->name, "%s", "--tenant NAME is required");
	if (!a->o.name)
		return cmdopt_usage_err(s->name, "%s", "--name NAME is required");
	if (!a->o.version)
		return cmdopt_usage_err(s->name, "%s", "--version VER is required");
	if (a->o.also_v1 && a->kind_set)
		return cmdopt_usage_err(
			s->name, "%s",
			"--also-v1 goes with hybrid torrents, not --v1-only/--v2-only");

	seed_err_clear(&err);
	memset(&res, 0, sizeof(res));
	/* Everything that can be checked without the store is checked first,
	 * so bad input never touches it. */
	if (ingest_make_id(a->o.tenant, a->o.name, a->o.version, &id, &err) < 0 ||
	    (a->o.piece_length && metainfo_check_piece_length(a->o.piece_length, &err) < 0))
		goto out;
	const size_t n_trackers = a->o.n_trackers;
	for (size_t i = 0; i < n_trackers + a->o.n_web_seeds; i++) {
		const char *u = i < n_trackers ? a->trackers[i] : a->web_seeds[i - n_trackers];
		int ok = !strncmp(u, "http://", 7) || !strncmp(u, "https://", 8) ||
			 (i < n_trackers && !strncmp(u, "udp://", 6));
		for (const char *c = u; ok && *c; c++)
			ok = (unsigned char)*c > 0x20 && *c != 0x7f;
		if (!ok) {
			seed_err_set(&err, -EINVAL, "%s \"%s\": not a valid %s URL",
				     i < n_trackers ? "--tracker" : "--web-seed", u,
				     i < n_trackers ? "http(s):// or udp://" : "http(s)://");
			goto out;
		}
	}
	if (ingest_scan(a->pos[0], &t, &err) < 0)
		goto out;
	if (store_open(a->store, STORE_CREATE, &st, &err) < 0)
		goto out;

	struct progress pr;
	progress_init(&pr, "hashing", t->total);
	a->o.trackers = a->trackers;
	a->o.web_seeds = a->web_seeds;
	a->o.now = (int64_t)time(NULL);
	a->o.progress = progress_update;
	a->o.progress_arg = &pr;
	rc = ingest_create(st, t, &a->o, &res, &err);
	progress_done(&pr);
	if (rc < 0)
		goto out;

	char h1[41], h2[65];
	hex_encode(res.main.ih_v1, 20, h1);
	hex_encode(res.main.ih_v2, 32, h2);
	if (a->json) {
		struct jsonw w;
		jsonw_init(&w, stdout);
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "id", res.id);
		jsonw_kstr(&w, "infohash_v1", res.main.has_v1 ? h1 : NULL);
		jsonw_kstr(&w, "infohash_v2", res.main.has_v2 ? h2 : NULL);
		jsonw_kstr(&w, "magnet", res.magnet);
		jsonw_kstr(&w, "torrent", res.torrent_path);
		if (res.torrent_v1_path) {
			char v1h[41];
			hex_encode(res.v1.ih_v1, 20, v1h);
			jsonw_kstr(&w, "torrent_v1", res.torrent_v1_path);
			jsonw_kstr(&w, "torrent_v1_infohash", v1h);
		}
		jsonw_ku64(&w, "piece_length", res.piece_length);
		jsonw_ku64(&w, "files", t->n);
		jsonw_ku64(&w, "bytes", res.bytes);
		jsonw_ku64(&w, "bytes_new", res.bytes_new);
		jsonw_ku64(&w, "objects_new", res.objects_new);
		jsonw_ku64(&w, "objects_shared", res.objects_shared);
		jsonw_key(&w, "seconds");
		jsonw_fixed(&w, res.seconds, 3);
		jsonw_ku64(&w, "threads", res.threads);
		jsonw_obj_end(&w);
		jsonw_finish(&w);
	} else {
		printf("release      %s\n", res.id);
		printf("infohash v1  %s\n", res.main.has_v1 ? h1 : "-");
		printf("infohash v2  %s\n", res.main.has_v2 ? h2 : "-");
		printf("magnet       %s\n", res.magnet);
		printf("torrent      %s\n", res.torrent_path);
		if (res.torrent_v1_path)
			printf("torrent v1   %s\n", res.torrent_v1_path);
		if (pr.enabled) {
			char b1[32], b2[32];
			fprintf(stderr,
				"%zu files, %s in %.1f s (%.0f MB/s, %u threads); %s new, %zu "
				"files shared with other releases\n",
				t->n, progress_size(res.bytes, b1, sizeof(b1)), res.seconds,
				res.seconds > 0 ? (double)res.bytes / res.seconds / 1e6 : 0.0,
				res.threads, progress_size(res.bytes_new, b2, sizeof(b2)),
				res.objects_shared);
		}
	}
out:
	ingest_result_free(&res);
	ingest_tree_free(t);
	store_close(st);
	free(id);
	return err.code ? cmdopt_fail(NULL, &err) : 0;
}

/* ---- ls / show ---- */

static const char *kind_name(int k)
{
	return k == METAINFO_V1 ? "v1" : k == METAINFO_V2 ? "v2" : "hybrid";
}

static void fmt_time(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void json_release(struct jsonw *w, const struct store_release *r, int with_files,
			 const char *store_dir)
{
	char h1[41], h2[65], ts[32];
	hex_encode(r->ih_v1, 20, h1);
	hex_encode(r->ih_v2, 32, h2);
	fmt_time(r->created, ts, sizeof(ts));
	jsonw_obj_begin(w);
	jsonw_kstr(w, "id", r->id);
	jsonw_kstr(w, "tenant", r->tenant);
	jsonw_kstr(w, "name", r->name);
	jsonw_kstr(w, "version", r->version);
	jsonw_kstr(w, "kind", kind_name(r->kind));
	jsonw_kstr(w, "created", ts);
	jsonw_kstr(w, "infohash_v1", r->has_v1 ? h1 : NULL);
	jsonw_kstr(w, "infohash_v2", r->has_v2 ? h2 : NULL);
	jsonw_ku64(w, "piece_length", r->piece_length);
	jsonw_ku64(w, "files_count", r->n_files);
	jsonw_ku64(w, "bytes", r->total_length);
	jsonw_kstr(w, "torrent_name", r->torrent_name);
	if (with_files) {
		char *tp = NULL;
		if (asprintf(&tp, "%s/torrents/%s.torrent", store_dir, r->id) < 0)
			tp = NULL;
		jsonw_kstr(w, "torrent", tp);
		free(tp);
		jsonw_key(w, "files");
		jsonw_arr_begin(w);
		for (size_t i = 0; i < r->n_files; i++) {
			char rh[65];
			hex_encode(r->files[i].root, 32, rh);
			jsonw_obj_begin(w);
			jsonw_kstr(w, "path", r->files[i].path);
			jsonw_ku64(w, "length", r->files[i].length);
			jsonw_kstr(w, "root", r->files[i].has_root ? rh : NULL);
			jsonw_obj_end(w);
		}
		jsonw_arr_end(w);
	}
	jsonw_obj_end(w);
}

static int run_ls(struct cmdopt_args *a)
{
	struct seed_err err;
	struct store *st = NULL;
	char **ids = NULL;
	size_t n = 0;
	struct jsonw w;

	seed_err_clear(&err);
	if (store_open(a->store, STORE_READ, &st, &err) < 0 ||
	    store_release_list(st, &ids, &n, &err) < 0)
		goto out;
	if (a->json) {
		jsonw_init(&w, stdout);
		jsonw_arr_begin(&w);
	} else if (n) {
		printf("%-40s %-7s %6s %10s  %s\n", "ID", "KIND", "FILES", "SIZE", "CREATED");
	}
	for (size_t i = 0; i < n; i++) {
		struct store_release *r;
		if (store_release_load(st, ids[i], &r, &err) < 0)
			goto out;
		if (a->json) {
			json_release(&w, r, 0, a->store);
		} else {
			char sz[32], ts[32];
			fmt_time(r->created, ts, sizeof(ts));
			printf("%-40s %-7s %6zu %10s  %s\n", r->id, kind_name(r->kind), r->n_files,
			       progress_size(r->total_length, sz, sizeof(sz)), ts);
		}
		store_release_free(r);
	}
	if (a->json) {
		jsonw_arr_end(&w);
		jsonw_finish(&w);
	} else if (!n) {
		printf("no releases in %s\n", a->store);
	}
out:
	store_free_list(ids, n);
	store_close(st);
	return err.code ? cmdopt_fail(NULL, &err) : 0;
}

static int run_show(struct cmdopt_args *a)
{
	struct seed_err err;
	struct store *st = NULL;
	struct store_release *r = NULL;

	seed_err_clear(&err);
	if (store_open(a->store, STORE_READ, &st, &err) < 0 ||
	    store_release_load(st, a->pos[0], &r, &err) < 0)
		goto out;
	if (a->json) {
		struct jsonw w;
		jsonw_init(&w, stdout);
		json_release(&w, r, 1, a->store);
		jsonw_finish(&w);
	} else {
		char h1[41], h2[65], ts[32], sz[32];
		hex_encode(r->ih_v1, 20, h1);
		hex_encode(r->ih_v2, 32, h2);
		fmt_time(r->created, ts, sizeof(ts));
		printf("release       %s\ntenant        %s\nname          %s\nversion       %s\n"
		       "kind          %s\ncreated       %s\ninfohash v1   %s\ninfohash v2   %s\n"
		       "piece length  %" PRIu64 "\nsize          %s (%" PRIu64 " bytes)\n"
		       "torrent       %s/torrents/%s.torrent\nfiles         %zu\n",
		       r->id, r->tenant, r->name, r->version, kind_name(r->kind), ts,
		       r->has_v1 ? h1 : "-", r->has_v2 ? h2 : "-", r->piece_length,
		       progress_size(r->total_length, sz, sizeof(sz)), r->total_length, a->store,
		       r->id, r->n_files);
		for (size_t i = 0; i < r->n_files; i++)
			printf("  %14" PRIu64 "  %s\n", r->files[i].length, r->files[i].path);
	}
out:
	store_release_free(r);
	store_close(st);
	return err.code ? cmdopt_fail(NULL, &err) : 0;
}

/* ---- verify / rm ---- */

struct vreport {
	struct jsonw *w;
};

static void on_bad(void *arg, const struct verify_bad *b)
{
	struct vreport *vr = arg;
	if (vr->w) {
		jsonw_obj_begin(vr->w);
		jsonw_kstr(vr->w, "file", b->file);
		jsonw_ku64(vr->w, "offset", b->offset);
		jsonw_ku64(vr->w, "length", b->length);
		jsonw_kstr(vr->w, "check", b->what);
		jsonw_obj_end(vr->w);
	} else {
		printf("corrupt: %s offset %" PRIu64 " length %" PRIu64 ": %s\n", b->file,
		       b->offset, b->length, b->what);
	}
}

static int run_verify(struct cmdopt_args *a)
{
	struct seed_err err;
	struct store *st = NULL;
	struct store_release *r = NULL;
	struct verify_stats vs;
	struct jsonw w;
	struct vreport vr = { NULL };
	int bad = 0;

	seed_err_clear(&err);
	if (store_open(a->store, STORE_READ, &st, &err) < 0)
		goto out;
	store_check_copies(st);
	if (store_release_load(st, a->pos[0], &r, &err) < 0)
		goto out;
	if (a->json) {
		jsonw_init(&w, stdout);
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "id", r->id);
		jsonw_key(&w, "corrupt");
		jsonw_arr_begin(&w);
		vr.w = &w;
	}
	bad = verify_release(st, r, a->o.impl, on_bad, &vr, &vs, &err);
	if (bad < 0)
		goto out;
	if (a->json) {
		jsonw_arr_end(&w);
		jsonw_ku64(&w, "files", vs.files);
		jsonw_ku64(&w, "bytes", vs.bytes);
		jsonw_ku64(&w, "parity_bad", vs.parity_bad);
		jsonw_ku64(&w, "blocks_repairable", vs.blocks_repairable);
		jsonw_ku64(&w, "stripes_lost", vs.stripes_lost);
		jsonw_key(&w, "intact");
		jsonw_bool(&w, bad == 0);
		jsonw_obj_end(&w);
		jsonw_finish(&w);
	} else if (bad) {
		printf("release %s: %d corrupt region%s; %" PRIu64
		       " bad data block%s the parity can rebuild, %" PRIu64
		       " stripe%s beyond it, %" PRIu64 " bad parity block%s\n",
		       r->id, bad, bad == 1 ? "" : "s", vs.blocks_repairable,
		       vs.blocks_repairable == 1 ? "" : "s", vs.stripes_lost,
		       vs.stripes_lost == 1 ? "" : "s", vs.parity_bad,
		       vs.parity_bad == 1 ? "" : "s");
	} else {
		printf("release %s: intact (%" PRIu64 " files, %" PRIu64 " bytes)\n", r->id,
		       vs.files, vs.bytes);
	}
out:
	store_release_free(r);
	store_close(st);
	if (err.code) {
		if (a->json && vr.w)
			fputc('\n', stdout);
		return cmdopt_fail(NULL, &err);
	}
	return bad ? 1 : 0;
}

/* A writer's open that could not collect garbage (a damaged manifest) goes
 * on; the operator hears why files of removed releases are still there. */
static void warn_gc(const struct store *st)
{
	const char *why = st ? store_gc_refusal(st) : NULL;
	if (why)
		fprintf(stderr,
			"seedctl: warning: %s; files no release uses are kept until that release "
			"is removed (seedctl release rm ID) or created again\n",
			why);
}

static int run_rm(struct cmdopt_args *a)
{
	struct seed_err err;
	struct store *st = NULL;

	seed_err_clear(&err);
	if (store_open(a->store, STORE_WRITE, &st, &err) == 0 &&
	    store_release_remove(st, a->pos[0], &err) == 0)
		printf("removed release %s\n", a->pos[0]);
	warn_gc(st);
	store_close(st);
	return err.code ? cmdopt_fail(NULL, &err) : 0;
}

/* ---- store scrub ---- */

/* Every counter of a scrub, as keys of the open JSON object. */
static void json_scrub_stats(struct jsonw *w, const struct scrub_stats *st)
{
	for (size_t k = 0; k < SCRUB_NSTATS; k++)
		jsonw_ku64(w, scrub_stat_name(k), scrub_stat(st, k));
}

static void on_scrub(void *arg, const char *release, const char *file, const char *what)
{
	struct jsonw *w = arg;
	if (w) {
		jsonw_obj_begin(w);
		jsonw_kstr(w, "release", release);
		jsonw_kstr(w, "file", file);
		jsonw_kstr(w, "found", what);
		jsonw_obj_end(w);
	} else {
		printf("scrub: %s: %s: %s\n", release, file, what);
	}
}

static int run_scrub(struct cmdopt_args *a)
{
	struct seed_err err;
	struct store *st = NULL;
	struct scrub_stats ss;
	struct jsonw w;
	int rc = 0, started = 0;

	seed_err_clear(&err);
	if (!a->now)
		return cmdopt_usage_err("store scrub", "%s",
					"--now is required: seed-control scrubs the store in the "
					"background (scrub_interval, scrub_rate); --now runs one "
					"scrub here, now");
	if (store_open(a->store, STORE_WRITE, &st, &err) < 0)
		goto out;
	if (a->json) {
		jsonw_init(&w, stdout);
		jsonw_obj_begin(&w);
		jsonw_key(&w, "found");
		jsonw_arr_begin(&w);
		started = 1;
	}
	rc = scrub_store_paced(st, a->release, a->o.impl, a->rate, on_scrub, a->json ? &w : NULL,
			       &ss, &err);
	if (rc < 0)
		goto out;
	if (a->json) {
		jsonw_arr_end(&w);
		json_scrub_stats(&w, &ss);
		jsonw_key(&w, "whole");
		jsonw_bool(&w, rc == 0);
		jsonw_obj_end(&w);
		jsonw_finish(&w);
	} else {
		printf("scrub of %s: %" PRIu64 " releases, %" PRIu64 " objects, %" PRIu64
		       " bytes; repaired: %" PRIu64 " metadata copies, %" PRIu64 " tables, %" PRIu64
		       " data blocks, %" PRIu64 " parity blocks; lost: %" PRIu64
		       " data blocks, %" PRIu64 " objects; could not rewrite: %" PRIu64 "\n",
		       a->store, ss.releases, ss.objects, ss.bytes, ss.copies_rewritten,
		       ss.tables_rebuilt, ss.blocks_rebuilt, ss.parity_rebuilt, ss.blocks_lost,
		       ss.objects_lost, ss.repairs_failed);
	}
out:
	store_close(st);
	if (err.code) {
		if (started)
			fputc('\n', stdout);
		return cmdopt_fail(NULL, &err);
	}
	return rc ? 1 : 0;
}

/* ---- store status ---- */

struct troot {
	uint32_t tenant; /* index into the tenant sums */
	uint8_t root[32];
};

struct tsum {
	char name[64];
	uint64_t releases, files, bytes, objects, disk;
};

static int troot_cmp(const void *a, const void *b)
{
	const struct troot *x = a, *y = b;
	if (x->tenant != y->tenant)
		return x->tenant < y->tenant ? -1 : 1;
	return memcmp(x->root, y->root, 32);
}

static int root_cmp(const void *a, const void *b)
{
	return memcmp(((const struct troot *)a)->root, ((const struct troot *)b)->root, 32);
}

/* The bytes of the object for root on disk (0 when it is missing). */
static uint64_t obj_disk(struct store *st, const uint8_t root[32])
{
	char *p = store_obj_path(st, root);
	struct stat sb;
	uint64_t n = p && stat(p, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	free(p);
	return n;
}

static int run_status(struct cmdopt_args *a)
{
	struct seed_err err;
	struct store *st = NULL;
	char **ids = NULL;
	size_t n = 0, nt = 0, nr = 0, cap = 0;
	struct tsum *t = NULL;
	struct troot *roots = NULL;
	uint64_t unreadable = 0, objects = 0, disk = 0;
	int rc = 1;

	seed_err_clear(&err);
	if (store_open(a->store, STORE_READ, &st, &err) < 0 ||
	    store_release_list(st, &ids, &n, &err) < 0)
		goto out;
	if (!(t = calloc(n ? n : 1, sizeof(*t)))) {
		seed_err_set(&err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_release *r = NULL;
		struct seed_err le;
		seed_err_clear(&le);
		if (store_release_load(st, ids[i], &r, &le) < 0) {
			unreadable++;
			continue;
		}
		size_t k = 0;
		while (k < nt && strcmp(t[k].name, r->tenant))
			k++;
		if (k == nt)
			snprintf(t[nt++].name, sizeof(t[0].name), "%s", r->tenant);
		t[k].releases++;
		for (size_t f = 0; f < r->n_files; f++) {
			t[k].files++;
			t[k].bytes += r->files[f].length;
			if (!r->files[f].has_root)
				continue;
			if (nr == cap) {
				cap = cap ? 2 * cap : 256;
				struct troot *g = realloc(roots, cap * sizeof(*roots));
				if (!g) {
					store_release_free(r);
					seed_err_set(&err, -ENOMEM, "out of memory");
					goto out;
				}
				roots = g;
			}
			roots[nr].tenant = (uint32_t)k;
			memcpy(roots[nr++].root, r->files[f].root, 32);
		}
		store_release_free(r);
	}
	/* objects per tenant (a file shared by two of its releases once) ... */
	qsort(roots, nr, sizeof(*roots), troot_cmp);
	for (size_t i = 0; i < nr; i++)
		if (!i || troot_cmp(&roots[i], &roots[i - 1])) {
			t[roots[i].tenant].objects++;
			t[roots[i].tenant].disk += obj_disk(st, roots[i].root);
		}
	/* ... and in the store (shared between tenants once) */
	qsort(roots, nr, sizeof(*roots), root_cmp);
	for (size_t i = 0; i < nr; i++)
		if (!i || root_cmp(&roots[i], &roots[i - 1])) {
			objects++;
			disk += obj_disk(st, roots[i].root);
		}
	uint32_t pk, pm;
	store_parity(st, &pk, &pm);
	struct scrub_last last;
	int have_last = scrub_last(a->store, &last, &err);
	if (have_last < 0 && have_last != -ENOENT)
		goto out;
	if (a->json) {
		struct jsonw w;
		jsonw_init(&w, stdout);
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "store", a->store);
		jsonw_ku64(&w, "parity_k", pk);
		jsonw_ku64(&w, "parity_m", pm);
		jsonw_ku64(&w, "releases", n - unreadable);
		jsonw_ku64(&w, "unreadable_releases", unreadable);
		jsonw_ku64(&w, "objects", objects);
		jsonw_ku64(&w, "disk_bytes", disk);
		jsonw_key(&w, "tenants");
		jsonw_arr_begin(&w);
		for (size_t k = 0; k < nt; k++) {
			jsonw_obj_begin(&w);
			jsonw_kstr(&w, "tenant", t[k].name);
			jsonw_ku64(&w, "releases", t[k].releases);
			jsonw_ku64(&w, "files", t[k].files);
			jsonw_ku64(&w, "bytes", t[k].bytes);
			jsonw_ku64(&w, "objects", t[k].objects);
			jsonw_ku64(&w, "disk_bytes", t[k].disk);
			/* the last scrub that covered its releases */
			const struct scrub_tenant *ts =
				have_last < 0 ? NULL : scrub_last_tenant(&last, t[k].name);
			jsonw_key(&w, "scrub");
			if (ts) {
				jsonw_obj_begin(&w);
				jsonw_ku64(&w, "finished", (uint64_t)ts->finished);
				jsonw_key(&w, "whole");
				jsonw_bool(&w, ts->whole);
				json_scrub_stats(&w, &ts->st);
				jsonw_obj_end(&w);
			} else {
				jsonw_null(&w);
			}
			jsonw_obj_end(&w);
		}
		jsonw_arr_end(&w);
		jsonw_key(&w, "last_scrub");
		if (have_last < 0) {
			jsonw_null(&w);
		} else {
			jsonw_obj_begin(&w);
			jsonw_ku64(&w, "finished", (uint64_t)last.finished);
			jsonw_kstr(&w, "release", last.only);
			jsonw_key(&w, "whole");
			jsonw_bool(&w, last.whole);
			json_scrub_stats(&w, &last.st);
			jsonw_obj_end(&w);
		}
		jsonw_obj_end(&w);
		jsonw_finish(&w);
	} else {
		printf("store %s: parity %u+%u; %zu releases (%" PRIu64 " unreadable), %" PRIu64
		       " objects, %" PRIu64 " bytes on disk\n",
		       a->store, pk, pm, n - (size_t)unreadable, unreadable, objects, disk);
		for (size_t k = 0; k < nt; k++) {
			printf("  tenant %s: %" PRIu64 " releases, %" PRIu64 " files, %" PRIu64
			       " bytes; %" PRIu64 " objects, %" PRIu64 " bytes on disk\n",
			       t[k].name, t[k].releases, t[k].files, t[k].bytes, t[k].objects,
			       t[k].disk);
			const struct scrub_tenant *ts =
				have_last < 0 ? NULL : scrub_last_tenant(&last, t[k].name);
			if (!ts) {
				printf("    last scrub: never\n");
				continue;
			}
			char when[32];
			time_t tf = (time_t)ts->finished;
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&tf));
			printf("    last scrub: %s, %s; %" PRIu64 " objects, %" PRIu64
			       " bytes; blocks repaired %" PRIu64 ", beyond repair %" PRIu64 "\n",
			       when, ts->whole ? "whole afterwards" : "NOT whole afterwards",
			       ts->st.objects, ts->st.bytes, ts->st.blocks_rebuilt,
			       ts->st.blocks_lost);
		}
		if (have_last < 0) {
			printf("last scrub: never\n");
		} else {
			char when[32];
			time_t f = (time_t)last.finished;
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&f));
			printf("last scrub: %s%s%s, %s; rebuilt %" PRIu64 " data and %" PRIu64
			       " parity blocks, %" PRIu64 " metadata copies, %" PRIu64
			       " tables; lost %" PRIu64 " data blocks, %" PRIu64 " objects\n",
			       when, last.only[0] ? " of " : "", last.only,
			       last.whole ? "whole afterwards" : "NOT whole afterwards",
			       last.st.blocks_rebuilt, last.st.parity_rebuilt,
			       last.st.copies_rewritten, last.st.tables_rebuilt,
			       last.st.blocks_lost, last.st.objects_lost);
		}
	}
	scrub_last_free(&last);
	seed_err_clear(&err);
	rc = unreadable ? 1 : 0;
out:
	free(roots);
	free(t);
	store_free_list(ids, n);
	store_close(st);
	if (err.code)
		return cmdopt_fail(NULL, &err);
	return rc;
}
