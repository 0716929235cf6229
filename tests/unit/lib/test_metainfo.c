/*
 * Unit tests for lib/metainfo.c: torrent structure for every kind, BEP 47
 * pad placement, info-hashes recomputed with OpenSSL over the raw info
 * span, piece layers, magnet links, piece-length rules, bad inputs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"
#include "bencode.h"
#include "hex.h"
#include "metainfo.h"

static struct hash_ctx *h;

static void setup(void)
{
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(hash_ctx_create(HASH_IMPL_MB, &h, &e), 0, "%s", e.msg);
}

static void teardown(void)
{
	hash_ctx_destroy(h);
}

TestSuite(metainfo, .init = setup, .fini = teardown);

/* Three files as libtorrent lays them out for piece 64 KiB: a/x of 70000
 * bytes (2 pieces, has a piece layer), b of 5 bytes, c empty. */
static const char *px[] = { "a", "x" }, *pb[] = { "b" }, *pc[] = { "c" };
static uint8_t sha1_x[40], sha1_b[20], layer_x[64];
static struct metainfo_file files3[3];

static void fill_files(void)
{
	memset(sha1_x, 0x11, sizeof(sha1_x));
	memset(sha1_b, 0x22, sizeof(sha1_b));
	memset(layer_x, 0x33, sizeof(layer_x));
	files3[0] = (struct metainfo_file){ px, 2, 70000, { 0xaa }, layer_x, sha1_x };
	files3[1] = (struct metainfo_file){ pb, 1, 5, { 0xbb }, NULL, sha1_b };
	files3[2] = (struct metainfo_file){ pc, 1, 0, { 0 }, NULL, NULL };
}

static struct metainfo_params params(enum metainfo_kind k)
{
	fill_files();
	return (struct metainfo_params){
		.kind = k,
		.name = "game",
		.piece_length = 65536,
		.files = files3,
		.n_files = 3,
		.creation_date = 1700000000,
	};
}

static struct bencode_doc *parse(const struct metainfo_out *o)
{
	struct bencode_doc *d = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(bencode_parse(o->torrent, o->torrent + o->torrent_len, NULL, &d, &e), 0,
		     "our torrent must parse strictly: %s", e.msg);
	return d;
}

/* Builds the torrent of p into *o (the caller frees o->torrent) and parses
 * it strictly. */
static struct bencode_doc *build(const struct metainfo_params *p, struct metainfo_out *o)
{
	cr_assert_eq(metainfo_build(h, p, o, NULL), 0);
	return parse(o);
}

static void built_free(struct bencode_doc *d, struct metainfo_out *o)
{
	bencode_free(d);
	free(o->torrent);
}

/* build() of params(kind), which must say it has v1 and v2 as given. */
static struct bencode_doc *build_kind(enum metainfo_kind kind, bool v1, bool v2,
				      struct metainfo_out *o)
{
	struct metainfo_params p = params(kind);
	struct bencode_doc *d = build(&p, o);

	cr_assert_eq(o->has_v1, v1);
	cr_assert_eq(o->has_v2, v2);
	return d;
}

static const struct bencode_node *info_of(struct bencode_doc *d)
{
	return bencode_dict_get(bencode_root(d), "info");
}

static int str_eq(const struct bencode_node *n, const char *s)
{
	return n && n->type == BENCODE_STR && n->u.s.len == strlen(s) &&
	       !memcmp(n->u.s.p, s, n->u.s.len);
}

static int64_t int_of(const struct bencode_node *n)
{
	cr_assert(n && n->type == BENCODE_INT);
	return n->u.i;
}

Test(metainfo, hybrid_layout_and_hashes)
{
	struct metainfo_params p = params(METAINFO_HYBRID);
	struct metainfo_out o;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(metainfo_build(h, &p, &o, &e), 0, "%s", e.msg);
	cr_assert(o.has_v1 && o.has_v2);

	struct bencode_doc *d = parse(&o);
	const struct bencode_node *t = bencode_root(d);
	const struct bencode_node *info = bencode_dict_get(t, "info");
	cr_assert(info && info->type == BENCODE_DICT);

	uint8_t want1[20], want2[32];
	tu_ref_sha1(info->raw, info->raw_len, want1);
	tu_ref_sha256(info->raw, info->raw_len, want2);
	cr_assert_arr_eq(o.ih_v1, want1, 20);
	cr_assert_arr_eq(o.ih_v2, want2, 32);

	cr_assert_eq(int_of(bencode_dict_get(info, "meta version")), 2);
	cr_assert_eq(int_of(bencode_dict_get(info, "piece length")), 65536);
	cr_assert(str_eq(bencode_dict_get(info, "name"), "game"));
	cr_assert_null(bencode_dict_get(info, "private"));

	/* v1 view: x, pad to 131072, b, pad to 196608, c (no pad: empty) */
	const struct bencode_node *fl = bencode_dict_get(info, "files");
	cr_assert(fl && fl->type == BENCODE_LIST);
	cr_assert_eq(fl->u.list.n, 5);
	static const int64_t lens[] = { 70000, 61072, 5, 65531, 0 };
	static const char *const pads[] = { NULL, "61072", NULL, "65531", NULL };
	for (size_t i = 0; i < 5; i++) {
		const struct bencode_node *f = fl->u.list.items[i];
		cr_assert_eq(int_of(bencode_dict_get(f, "length")), lens[i], "file %zu", i);
		const struct bencode_node *path = bencode_dict_get(f, "path");
		if (pads[i]) {
			cr_assert(str_eq(bencode_dict_get(f, "attr"), "p"));
			cr_assert_eq(path->u.list.n, 2);
			cr_assert(str_eq(path->u.list.items[0], ".pad"));
			cr_assert(str_eq(path->u.list.items[1], pads[i]));
		} else {
			cr_assert_null(bencode_dict_get(f, "attr"));
		}
	}
	const struct bencode_node *pieces = bencode_dict_get(info, "pieces");
	cr_assert_eq(pieces->u.s.len, 3 * 20);
	cr_assert_arr_eq(pieces->u.s.p, sha1_x, 40);
	cr_assert_arr_eq(pieces->u.s.p + 40, sha1_b, 20);

	/* v2 view: file tree a/x, b, c with roots; c has no pieces root */
	const struct bencode_node *ft = bencode_dict_get(info, "file tree");
	const struct bencode_node *x =
		bencode_dict_get(bencode_dict_get(bencode_dict_get(ft, "a"), "x"), "");
	cr_assert_eq(int_of(bencode_dict_get(x, "length")), 70000);
	cr_assert_eq(bencode_dict_get(x, "pieces root")->u.s.len, 32);
	cr_assert_eq(bencode_dict_get(x, "pieces root")->u.s.p[0], 0xaa);
	const struct bencode_node *c = bencode_dict_get(bencode_dict_get(ft, "c"), "");
	cr_assert_eq(int_of(bencode_dict_get(c, "length")), 0);
	cr_assert_null(bencode_dict_get(c, "pieces root"));

	/* piece layers: only x is longer than a piece */
	const struct bencode_node *pl = bencode_dict_get(t, "piece layers");
	cr_assert(pl && pl->type == BENCODE_DICT);
	cr_assert_eq(pl->u.dict.n, 1);
	cr_assert_eq(pl->u.dict.items[0].key_len, 32);
	cr_assert_eq(pl->u.dict.items[0].key[0], 0xaa);
	cr_assert_eq(pl->u.dict.items[0].val->u.s.len, 64);
	cr_assert_eq(int_of(bencode_dict_get(t, "creation date")), 1700000000);
	built_free(d, &o);
}

/*
 * A single-version torrent of kind: its info dictionary has none of the
 * other version's keys (absent, NULL-ended) and has its own (present), and
 * the root has piece layers only for v2.
 */
struct single_kind {
	enum metainfo_kind kind;
	bool v1, v2;
	const char *absent[3], *present;
};

static void expect_single_kinds(const struct single_kind *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct metainfo_out o;
		struct bencode_doc *d = build_kind(c[i].kind, c[i].v1, c[i].v2, &o);
		const struct bencode_node *info = info_of(d);

		for (const char *const *k = c[i].absent; *k; k++)
			cr_assert_null(bencode_dict_get(info, *k), "kind %d: %s", c[i].kind, *k);
		cr_assert_not_null(bencode_dict_get(info, c[i].present), "kind %d", c[i].kind);
		cr_assert_eq(bencode_dict_get(bencode_root(d), "piece layers") != NULL, c[i].v2);
		if (c[i].v1) {
			cr_assert_eq(bencode_dict_get(info, "files")->u.list.n, 5);
		} else {
			uint8_t want2[32];

			tu_ref_sha256(info->raw, info->raw_len, want2);
			cr_assert_arr_eq(o.ih_v2, want2, 32);
		}
		built_free(d, &o);
	}
}

Test(metainfo, single_version_has_only_its_keys)
{
	TU_TABLE(expect_single_kinds, struct single_kind,
		 { METAINFO_V1, true, false, { "file tree", "meta version", NULL }, "files" },
		 { METAINFO_V2, false, true, { "files", "pieces", NULL }, "file tree" });
}

Test(metainfo, trackers_web_seeds_private)
{
	struct metainfo_params p = params(METAINFO_HYBRID);
	const char *tr[] = { "http://t1.example/announce", "udp://t2.example:6969" };
	const char *ws[] = { "http://seed.example/r/" };
	p.trackers = tr;
	p.n_trackers = 2;
	p.web_seeds = ws;
	p.n_web_seeds = 1;
	p.private_flag = 1;
	p.created_by = "test";
	struct metainfo_out o;
	struct bencode_doc *d = build(&p, &o);
	const struct bencode_node *t = bencode_root(d);
	cr_assert(str_eq(bencode_dict_get(t, "announce"), tr[0]));
	const struct bencode_node *al = bencode_dict_get(t, "announce-list");
	cr_assert_eq(al->u.list.n, 2);
	cr_assert(str_eq(al->u.list.items[1]->u.list.items[0], tr[1]));
	cr_assert(str_eq(bencode_dict_get(t, "url-list")->u.list.items[0], ws[0]));
	cr_assert(str_eq(bencode_dict_get(t, "created by"), "test"));
	cr_assert_eq(int_of(bencode_dict_get(bencode_dict_get(t, "info"), "private")), 1);

	char *m = metainfo_magnet(&o, "my game", tr, 2, ws, 1);
	char h1[41], h2[65], want[200];
	hex_encode(o.ih_v1, 20, h1);
	hex_encode(o.ih_v2, 32, h2);
	snprintf(want, sizeof(want), "magnet:?xt=urn:btih:%s&xt=urn:btmh:1220%s&dn=my%%20game", h1,
		 h2);
	cr_assert_eq(strncmp(m, want, strlen(want)), 0, "%s", m);
	cr_assert_not_null(strstr(m, "&tr=http%3A%2F%2Ft1.example%2Fannounce"));
	cr_assert_not_null(strstr(m, "&tr=udp%3A%2F%2Ft2.example%3A6969"));
	cr_assert_not_null(strstr(m, "&ws=http%3A%2F%2Fseed.example%2Fr%2F"));
	free(m);
	built_free(d, &o);
}

Test(metainfo, single_file_form)
{
	uint8_t s1[20] = { 1 };
	struct metainfo_file f = { NULL, 0, 100, { 0xcc }, NULL, s1 };
	struct metainfo_params p = { .kind = METAINFO_HYBRID,
				     .name = "patch.bin",
				     .single_file = 1,
				     .piece_length = 16384,
				     .files = &f,
				     .n_files = 1 };
	struct metainfo_out o;
	struct bencode_doc *d = build(&p, &o);
	const struct bencode_node *info = info_of(d);
	cr_assert_eq(int_of(bencode_dict_get(info, "length")), 100);
	cr_assert_null(bencode_dict_get(info, "files"));
	const struct bencode_node *leaf = bencode_dict_get(
		bencode_dict_get(bencode_dict_get(info, "file tree"), "patch.bin"), "");
	cr_assert_eq(int_of(bencode_dict_get(leaf, "length")), 100);
	built_free(d, &o);
}

Test(metainfo, rejects_bad_input)
{
	struct metainfo_out o;
	struct seed_err e;
	struct metainfo_params p = params(METAINFO_HYBRID);

	/* out of order */
	struct metainfo_file swapped[2] = { files3[1], files3[0] };
	p.files = swapped;
	p.n_files = 2;
	seed_err_clear(&e);
	cr_assert_eq(metainfo_build(h, &p, &o, &e), -EINVAL);
	cr_assert_not_null(strstr(e.msg, "order"), "%s", e.msg);

	/* duplicate */
	struct metainfo_file dup[2] = { files3[1], files3[1] };
	p.files = dup;
	cr_assert_eq(metainfo_build(h, &p, &o, NULL), -EINVAL);

	/* "a" as a file and as a directory */
	const char *pa[] = { "a" };
	struct metainfo_file clash[2] = { files3[0], files3[0] };
	clash[0].path = pa;
	clash[0].n_path = 1;
	p.files = clash;
	seed_err_clear(&e);
	cr_assert_eq(metainfo_build(h, &p, &o, &e), -EINVAL);
	cr_assert_not_null(strstr(e.msg, "both a file and a directory"), "%s", e.msg);

	/* only empty files */
	p = params(METAINFO_HYBRID);
	p.files = &files3[2];
	p.n_files = 1;
	cr_assert_eq(metainfo_build(h, &p, &o, NULL), -EINVAL);

	/* bad piece lengths */
	p = params(METAINFO_HYBRID);
	p.piece_length = 8192;
	cr_assert_eq(metainfo_build(h, &p, &o, NULL), -EINVAL);
	p.piece_length = 65537;
	cr_assert_eq(metainfo_build(h, &p, &o, NULL), -EINVAL);
	cr_assert_null(o.torrent);
}

Test(metainfo, piece_length_rules)
{
	cr_assert_eq(metainfo_pick_piece_length(1), 16384);
	cr_assert_eq(metainfo_pick_piece_length(1500ull * 16384), 16384);
	cr_assert_eq(metainfo_pick_piece_length(1500ull * 16384 + 16384), 32768);
	cr_assert_eq(metainfo_pick_piece_length(1ull << 30), 1u << 20);
	cr_assert_eq(metainfo_pick_piece_length(2ull << 30), 2u << 20);
	cr_assert_eq(metainfo_pick_piece_length(1ull << 50), 16u << 20);
	cr_assert_eq(metainfo_check_piece_length(16384, NULL), 0);
	cr_assert_eq(metainfo_check_piece_length(64u << 20, NULL), 0);
	cr_assert_eq(metainfo_check_piece_length(128u << 20, NULL), -EINVAL);
	cr_assert_eq(metainfo_check_piece_length(1000, NULL), -EINVAL);
	cr_assert_eq(metainfo_piece_count(0, 16384), 0);
	cr_assert_eq(metainfo_piece_count(16384, 16384), 1);
	cr_assert_eq(metainfo_piece_count(16385, 16384), 2);
}

Test(metainfo, path_order_is_bytewise)
{
	const char *a[] = { "a" }, *ab[] = { "a", "b" }, *a_txt[] = { "a.txt" }, *B[] = { "B" };
	cr_assert_lt(metainfo_path_cmp(a, 1, ab, 2), 0);
	cr_assert_lt(metainfo_path_cmp(ab, 2, a_txt, 1), 0);
	cr_assert_lt(metainfo_path_cmp(B, 1, a, 1), 0);
	cr_assert_eq(metainfo_path_cmp(ab, 2, ab, 2), 0);
}

/* metainfo_info_hash is the one place an info-hash is computed: it must be
 * OpenSSL's SHA-1 and SHA-256 of exactly the bytes given, with either hash
 * implementation, for lengths on both sides of libipsec-mb's lane limit. */
Test(metainfo, info_hash_is_sha1_and_sha256_of_the_info_bytes)
{
	static const size_t lens[] = { 0, 1, 55, 56, 64, 1000, 65534, 65535, 300001 };
	uint8_t *buf = malloc(300001);
	cr_assert_not_null(buf);
	for (size_t i = 0; i < 300001; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (int impl = HASH_IMPL_MB; impl <= HASH_IMPL_OPENSSL; impl++) {
		struct hash_ctx *hc = NULL;
		cr_assert_eq(hash_ctx_create((enum hash_impl)impl, &hc, NULL), 0);
		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
			uint8_t v1[20], v2[32], r1[20], r2[32];
			cr_assert_eq(metainfo_info_hash(hc, buf, lens[k], v1, v2), 0);
			tu_ref_sha1(buf, lens[k], r1);
			tu_ref_sha256(buf, lens[k], r2);
			cr_expect_eq(memcmp(v1, r1, 20), 0, "SHA-1, impl %d, %zu bytes", impl,
				     lens[k]);
			cr_expect_eq(memcmp(v2, r2, 32), 0, "SHA-256, impl %d, %zu bytes", impl,
				     lens[k]);
			/* one output alone */
			memset(v1, 0, 20);
			memset(v2, 0, 32);
			cr_assert_eq(metainfo_info_hash(hc, buf, lens[k], v1, NULL), 0);
			cr_expect_eq(memcmp(v1, r1, 20), 0);
			cr_assert_eq(metainfo_info_hash(hc, buf, lens[k], NULL, v2), 0);
			cr_expect_eq(memcmp(v2, r2, 32), 0);
		}
		hash_ctx_destroy(hc);
	}
	free(buf);
}

/* What metainfo_build announces is metainfo_info_hash of its info dict. */
Test(metainfo, built_torrents_use_the_info_hash_function)
{
	struct metainfo_params p = params(METAINFO_HYBRID);
	struct metainfo_out o = { 0 };
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(metainfo_build(h, &p, &o, &e), 0, "%s", e.msg);
	struct bencode_doc *doc = NULL;
	cr_assert_eq(bencode_parse(o.torrent, o.torrent + o.torrent_len, NULL, &doc, NULL), 0);
	const struct bencode_node *info = bencode_dict_get(bencode_root(doc), "info");
	cr_assert_not_null(info);
	uint8_t v1[20], v2[32];
	cr_assert_eq(metainfo_info_hash(h, info->raw, info->raw_len, v1, v2), 0);
	cr_expect(o.has_v1 && o.has_v2);
	cr_expect_eq(memcmp(v1, o.ih_v1, 20), 0);
	cr_expect_eq(memcmp(v2, o.ih_v2, 32), 0);
	bencode_free(doc);
	free(o.torrent);
}
