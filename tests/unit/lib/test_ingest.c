/*
 * Unit tests for lib/ingest.c: the hashes it computes are checked against
 * OpenSSL and an independent merkle computation written here from BEP 52,
 * and the tree scanner's refusals are checked one by one.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../storeutil.h"
#include "bencode.h"

static char base[TU_PATH_MAX], tree[TU_PATH_MAX + 16], storedir[TU_PATH_MAX + 16];

static void sh(const char *fmt, const char *arg)
{
	char cmd[1024];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(cmd, sizeof(cmd), fmt, arg);
#pragma GCC diagnostic pop
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void write_file(const char *rel, const void *data, size_t len)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	su_write_file(p, data, len);
}

static void setup(void)
{
	tu_tmpdir(base, "test_ingest");
	snprintf(tree, sizeof(tree), "%s/game", base);
	snprintf(storedir, sizeof(storedir), "%s/store", base);
	cr_assert_eq(mkdir(tree, 0755), 0);
}

static void teardown(void)
{
	tu_rmtree(base);
}

TestSuite(ingest, .init = setup, .fini = teardown);

/* Independent BEP 52 root: pad leaves to a power of two with zeros, hash pairs. */
static void ref_root(const uint8_t *data, size_t len, uint8_t out[32])
{
	size_t n = (len + 16383) / 16384, m = 1;
	while (m < n)
		m *= 2;
	uint8_t *l = calloc(m, 32);
	for (size_t i = 0; i < n; i++) {
		size_t bl = len - i * 16384 < 16384 ? len - i * 16384 : 16384;
		tu_ref_sha256(data + i * 16384, bl, l + i * 32);
	}
	for (; m > 1; m /= 2)
		for (size_t i = 0; i < m / 2; i++)
			tu_ref_sha256(l + i * 64, 64, l + i * 32);
	memcpy(out, l, 32);
	free(l);
}

/* The scan of the tree, which must succeed and find the files want[0..n)
 * in this order. */
static struct ingest_tree *scan_ok(const char *const *want, size_t n)
{
	struct ingest_tree *t;
	struct seed_err e;

	seed_err_clear(&e);
	cr_assert_eq(ingest_scan(tree, &t, &e), 0, "%s", e.msg);
	cr_assert_eq(t->n, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(t->e[i].rel, want[i]);
	return t;
}

static const struct bencode_node *info_of(struct bencode_doc *d)
{
	return bencode_dict_get(bencode_root(d), "info");
}

Test(ingest, hashes_match_independent_computation)
{
	static uint8_t one[70000], c[5] = "hello";
	for (size_t i = 0; i < sizeof(one); i++)
		one[i] = (uint8_t)(i * 7 + (i >> 9));
	sh("mkdir -p '%s/game/b'", base);
	write_file("b/one", one, sizeof(one));
	write_file("c", c, sizeof(c));
	write_file("z", "", 0);

	static const char *const names[] = { "b/one", "c", "z" };
	struct ingest_tree *t = scan_ok(names, TU_N(names));
	struct store *s;
	struct ingest_result r;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_str_eq(t->name, "game");
	cr_assert_eq(store_open(storedir, STORE_CREATE, &s, &e), 0, "%s", e.msg);
	struct ingest_opts o = su_opts("acme", "game", "1", METAINFO_HYBRID, 65536);
	o.also_v1 = 1;
	o.threads = 2;
	cr_assert_eq(ingest_create(s, t, &o, &r, &e), 0, "%s", e.msg);
	cr_assert_str_eq(r.id, "acme.game.1");
	cr_assert_eq(r.objects_new, 2);

	struct bencode_doc *d;
	cr_assert_eq(
		bencode_parse(r.main.torrent, r.main.torrent + r.main.torrent_len, NULL, &d, &e), 0,
		"%s", e.msg);
	const struct bencode_node *info = info_of(d);
	const struct bencode_node *pieces = bencode_dict_get(info, "pieces");
	cr_assert_eq(pieces->u.s.len, 3 * 20);
	uint8_t want[20], padded[65536];
	tu_ref_sha1(one, 65536, want);
	cr_assert_arr_eq(pieces->u.s.p, want, 20);
	memset(padded, 0, sizeof(padded));
	memcpy(padded, one + 65536, 70000 - 65536);
	tu_ref_sha1(padded, 65536, want);
	cr_assert_arr_eq(pieces->u.s.p + 20, want, 20, "tail piece must include the pad zeros");
	memset(padded, 0, sizeof(padded));
	memcpy(padded, c, 5);
	tu_ref_sha1(padded, 65536, want);
	cr_assert_arr_eq(pieces->u.s.p + 40, want, 20, "c is followed by a pad (z comes after)");

	uint8_t root[32];
	ref_root(one, sizeof(one), root);
	const struct bencode_node *leaf = bencode_dict_get(
		bencode_dict_get(bencode_dict_get(bencode_dict_get(info, "file tree"), "b"), "one"),
		"");
	cr_assert_arr_eq(bencode_dict_get(leaf, "pieces root")->u.s.p, root, 32);
	ref_root(c, 5, root);
	leaf = bencode_dict_get(bencode_dict_get(bencode_dict_get(info, "file tree"), "c"), "");
	cr_assert_arr_eq(bencode_dict_get(leaf, "pieces root")->u.s.p, root, 32);

	/* piece layer of b/one: two 64 KiB subtrees (4 leaves each, zero-padded) */
	uint8_t l[8 * 32] = { 0 };
	for (int i = 0; i < 5; i++)
		tu_ref_sha256(one + i * 16384, i < 4 ? 16384 : 70000 - 65536, l + i * 32);
	for (int i = 0; i < 4; i++)
		tu_ref_sha256(l + i * 64, 64, l + i * 32);
	for (int i = 0; i < 2; i++)
		tu_ref_sha256(l + i * 64, 64, l + i * 32);
	const struct bencode_node *layers = bencode_dict_get(bencode_root(d), "piece layers");
	ref_root(one, sizeof(one), root);
	const struct bencode_node *layer = bencode_dict_getn(layers, root, 32);
	cr_assert_not_null(layer);
	cr_assert_eq(layer->u.s.len, 64);
	cr_assert_arr_eq(layer->u.s.p, l, 64);

	/* the object holds the data at 4 KiB */
	struct store_obj obj;
	cr_assert_eq(store_obj_open(s, root, &obj, &e), 0, "%s", e.msg);
	uint8_t back[100];
	cr_assert_eq(pread(obj.fd, back, 100, 4096 + 60000), 100);
	cr_assert_arr_eq(back, one + 60000, 100);
	store_obj_close(&obj);

	/* the v1 torrent has the same pieces */
	struct bencode_doc *d1;
	cr_assert_eq(bencode_parse(r.v1.torrent, r.v1.torrent + r.v1.torrent_len, NULL, &d1, &e),
		     0);
	const struct bencode_node *p1 = bencode_dict_get(info_of(d1), "pieces");
	cr_assert_eq(p1->u.s.len, pieces->u.s.len);
	cr_assert_arr_eq(p1->u.s.p, pieces->u.s.p, pieces->u.s.len);
	cr_assert_null(bencode_dict_get(info_of(d1), "file tree"));
	bencode_free(d1);
	bencode_free(d);

	/* a second create of the same id is refused and leaves nothing behind */
	struct ingest_result r2;
	seed_err_clear(&e);
	cr_assert_eq(ingest_create(s, t, &o, &r2, &e), -EEXIST);
	cr_assert_not_null(strstr(e.msg, "already exists"), "%s", e.msg);

	/* one thread gives the same torrent as two */
	o.version = "2";
	o.threads = 1;
	cr_assert_eq(ingest_create(s, t, &o, &r2, &e), 0, "%s", e.msg);
	cr_assert_eq(r2.main.torrent_len, r.main.torrent_len);
	cr_assert_arr_eq(r2.main.ih_v2, r.main.ih_v2, 32);
	cr_assert_eq(r2.objects_new, 0);
	cr_assert_eq(r2.objects_shared, 2);
	ingest_result_free(&r2);
	ingest_result_free(&r);
	ingest_tree_free(t);
	store_close(s);
}

static void expect_scan_error(int code, const char *needle)
{
	struct ingest_tree *t = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(ingest_scan(tree, &t, &e), code, "got %d: %s", e.code, e.msg);
	cr_assert_not_null(strstr(e.msg, needle), "message \"%s\" lacks \"%s\"", e.msg, needle);
	cr_assert_null(t);
}

Test(ingest, scan_refuses_empty_trees)
{
	expect_scan_error(-ENODATA, "empty directory");
	sh("mkdir -p '%s/game/a/b'", base);
	expect_scan_error(-ENODATA, "empty directory");
	write_file("a/b/e", "", 0);
	expect_scan_error(-ENODATA, "every file is empty");
}

/* A tree of one good file and the entry a shell command adds (%1$s: the
 * base directory), refused by the scan with code and a message that holds
 * needle. */
struct bad_entry {
	const char *make;
	int code;
	const char *needle;
};

static void expect_bad_entries(const struct bad_entry *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sh("rm -rf '%1$s/game' && mkdir '%1$s/game'", base);
		write_file("ok", "x", 1);
		sh(b[i].make, base);
		expect_scan_error(b[i].code, b[i].needle);
	}
}

Test(ingest, scan_refuses_escaping_symlink)
{
	TU_TABLE(expect_bad_entries, struct bad_entry,
		 { "ln -s /etc/hostname '%1$s/game/link'", -EXDEV, "outside the tree" });
}

Test(ingest, scan_follows_symlink_inside_tree)
{
	write_file("ok", "x", 1);
	sh("ln -s ok '%s/game/link'", base);
	struct ingest_tree *t;
	cr_assert_eq(ingest_scan(tree, &t, NULL), 0);
	cr_assert_eq(t->n, 2);
	ingest_tree_free(t);
}

Test(ingest, scan_refuses_control_characters_and_bad_utf8)
{
	write_file("bad\001name", "x", 1);
	expect_scan_error(-EINVAL, "control character 0x01");
	sh("rm -f '%s/game/bad'*", base);
	write_file("bad\xff", "x", 1);
	expect_scan_error(-EILSEQ, "not valid UTF-8");
}

Test(ingest, scan_refuses_special_files_and_pad_dir)
{
	TU_TABLE(expect_bad_entries, struct bad_entry,
		 { "mkfifo '%1$s/game/fifo'", -EINVAL, "not a regular file" },
		 { "mkdir '%1$s/game/.pad'", -EINVAL, "BEP 47" });
}

Test(ingest, scan_accepts_utf8_and_orders_bytewise)
{
	sh("mkdir -p '%s/game/a'", base);
	write_file("a.txt", "1", 1);
	write_file("a/z", "2", 1);
	write_file("B", "3", 1);
	write_file("\xc3\xa9t\xc3\xa9", "4", 1);
	static const char *const names[] = { "B", "a/z", "a.txt", "\xc3\xa9t\xc3\xa9" };
	struct ingest_tree *t = scan_ok(names, TU_N(names));
	ingest_tree_free(t);
}

Test(ingest, id_rules)
{
	char *id;
	cr_assert_eq(ingest_make_id("acme", "game", "1.2.3+b4", &id, NULL), 0);
	cr_assert_str_eq(id, "acme.game.1.2.3+b4");
	free(id);
	cr_assert_eq(ingest_make_id("ac.me", "game", "1", &id, NULL), -EINVAL);
	cr_assert_eq(ingest_make_id("acme", "ga/me", "1", &id, NULL), -EINVAL);
	cr_assert_eq(ingest_make_id("acme", "game", "", &id, NULL), -EINVAL);
	cr_assert_eq(ingest_make_id("acme", "game", "../x", &id, NULL), -EINVAL);
	cr_assert_eq(ingest_make_id("-x", "game", "1", &id, NULL), -EINVAL);
}
