/*
 * Unit tests for lib/ingest.c: the hashes it computes are checked against
 * OpenSSL and an independent merkle computation written here from BEP 52,
 * and the tree scanner's refusals are checked one by one. The store writes
 * (ingest_io: io_uring, O_DIRECT, its buffered fallback) are checked byte
 * for byte against the source, with faults injected.
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
#include "ingest_io.h"
#include "store_int.h"
#include "verify.h"

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

/* ---- the store writes ---- */

/* Files whose sizes are no multiple of 4 KiB, one over three chunks, many
 * small ones (gathered into one hashing group) and an empty one. */
static void write_mixed_tree(void)
{
	char p[600];
	sh("mkdir -p '%s/game/small'", base);
	snprintf(p, sizeof(p), "%s/big", tree);
	su_write_pattern(p, (9u << 20) + 1234, 131, 7, 11);
	for (int i = 0; i < 40; i++) {
		snprintf(p, sizeof(p), "%s/small/f%02d", tree, i);
		su_write_pattern(p, (size_t)(i * 997 + 1), 17 + (unsigned)i, (unsigned)i, 5);
	}
	write_file("zero", "", 0);
}

/* Every object byte for byte against its source, zeros up to 4 KiB after
 * it, and release verify (SHA-1, SHA-256, XXH3, parity) clean. */
static void check_release(struct store *s, const char *id)
{
	struct store_release *rel;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(store_release_load(s, id, &rel, &e), 0, "%s", e.msg);
	for (size_t i = 0; i < rel->n_files; i++) {
		const struct store_release_file *f = &rel->files[i];
		if (!f->has_root)
			continue;
		char src[700];
		snprintf(src, sizeof(src), "%s/%s", tree, f->path);
		size_t padded = (size_t)((f->length + 4095) / 4096 * 4096);
		uint8_t *want = calloc(1, padded), *got = malloc(padded);
		int fd = open(src, O_RDONLY);
		cr_assert_geq(fd, 0);
		cr_assert_eq(pread(fd, want, f->length, 0), (ssize_t)f->length);
		close(fd);
		struct store_obj o;
		cr_assert_eq(store_obj_open(s, f->root, &o, &e), 0, "%s", e.msg);
		cr_assert_eq(pread(o.fd, got, padded, STORE_OBJ_HEADER), (ssize_t)padded);
		cr_assert_arr_eq(got, want, padded, "%s", f->path);
		store_obj_close(&o);
		free(want);
		free(got);
	}
	struct verify_stats vs;
	cr_assert_eq(verify_release(s, rel, HASH_IMPL_MB, NULL, NULL, &vs, &e), 0, "%s", e.msg);
	cr_assert_eq(vs.parity_bad, 0);
	store_release_free(rel);
}

static size_t count_entries(const char *dir)
{
	char cmd[700], line[64] = "";
	snprintf(cmd, sizeof(cmd), "find '%s' -type f | wc -l", dir);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f));
	pclose(f);
	return (size_t)strtoul(line, NULL, 10);
}

/* Creates acme.game.VERSION from the tree with fault (NULL: none) and
 * returns ingest_create's result (e says why); a success is checked byte
 * for byte, with its write path when want_path. */
static int ingest_run(const struct ingest_io_fault *fault, const char *version,
		      const char *want_path, struct seed_err *e)
{
	struct ingest_tree *t = NULL;
	struct store *s;
	struct ingest_result r;
	seed_err_clear(e);
	cr_assert_eq(ingest_scan(tree, &t, e), 0, "%s", e->msg);
	cr_assert_eq(store_open(storedir, STORE_CREATE, &s, e), 0, "%s", e->msg);
	struct ingest_opts o = su_opts("acme", "game", version, METAINFO_HYBRID, 65536);
	o.threads = 2;
	o.fault = fault;
	int rc = ingest_create(s, t, &o, &r, e);
	if (rc == 0) {
		if (want_path)
			cr_assert_str_eq(r.write_path, want_path);
		check_release(s, r.id);
		ingest_result_free(&r);
	}
	ingest_tree_free(t);
	store_close(s);
	return rc;
}

static void ingest_with(const struct ingest_io_fault *fault, const char *version,
			const char *want_path)
{
	struct seed_err e;
	cr_assert_eq(ingest_run(fault, version, want_path, &e), 0, "%s", e.msg);
}

Test(ingest, writes_every_byte_with_o_direct)
{
	write_mixed_tree();
	ingest_with(NULL, "1", "io_uring, O_DIRECT");
}

/* A file system without O_DIRECT (EINVAL at open): buffered writes, said
 * in the result. */
Test(ingest, falls_back_when_o_direct_is_refused_at_open)
{
	static const struct ingest_io_fault f = { .refuse_direct = 1 };
	write_mixed_tree();
	ingest_with(&f, "1", "io_uring, buffered (the store's file system refused O_DIRECT)");
}

/* One that opens with O_DIRECT and refuses the writes: each is redone
 * buffered. */
Test(ingest, falls_back_when_o_direct_writes_are_refused)
{
	static const struct ingest_io_fault f = { .direct_write_einval = 1 };
	write_mixed_tree();
	ingest_with(&f, "1", "io_uring, buffered (the store's file system refused O_DIRECT)");
}

/* Without io_uring (seccomp, io_uring_disabled): synchronous writes, the
 * same bytes; and with O_DIRECT refused as well. */
Test(ingest, writes_without_io_uring)
{
	static const struct ingest_io_fault f = { .no_ring = 1 },
					    g = { .no_ring = 1, .refuse_direct = 1 };
	write_mixed_tree();
	ingest_with(&f, "1", "pwrite, O_DIRECT (io_uring unavailable)");
	ingest_with(&g, "2",
		    "pwrite, buffered (io_uring unavailable; the store's file system refused "
		    "O_DIRECT)");
}

/* A write failing halfway through the release (EIO, then a full disk):
 * the create fails naming the store, and no object, temporary file or
 * manifest is left behind. */
Test(ingest, failing_write_leaves_nothing)
{
	static const struct {
		int err;
		uint64_t after;
		const char *needle;
	} cases[] = {
		{ EIO, 0, "write failed" },
		{ EIO, 5, "write failed" },
		{ ENOSPC, 7, "disk full" },
	};
	write_mixed_tree();
	for (size_t i = 0; i < TU_N(cases); i++) {
		struct ingest_io_fault f = { .write_errno = cases[i].err,
					     .fail_after = cases[i].after };
		struct store *s;
		struct seed_err e;
		char dir[700];
		cr_assert_eq(ingest_run(&f, "1", NULL, &e), -cases[i].err, "case %zu: %s", i,
			     e.msg);
		cr_assert_not_null(strstr(e.msg, cases[i].needle), "%s", e.msg);
		cr_assert_eq(store_open(storedir, STORE_READ, &s, &e), 0, "%s", e.msg);
		cr_assert_eq(store_release_exists(s, "acme.game.1"), 0);
		store_close(s);
		snprintf(dir, sizeof(dir), "%s/objects", storedir);
		cr_assert_eq(count_entries(dir), 0, "case %zu: objects left", i);
		snprintf(dir, sizeof(dir), "%s/tmp", storedir);
		cr_assert_eq(count_entries(dir), 0, "case %zu: temporary files left", i);
		snprintf(dir, sizeof(dir), "%s/torrents", storedir);
		cr_assert_eq(count_entries(dir), 0, "case %zu: torrents left", i);
	}
	/* and the same store takes the release once the writes work */
	ingest_with(NULL, "1", "io_uring, O_DIRECT");
}

/* A new version whose small files the store holds already: they are hashed
 * but never written (a write that would fail fails nothing), the changed
 * file is written, and the release is whole. */
Test(ingest, files_the_store_holds_are_not_written_again)
{
	write_mixed_tree();
	ingest_with(NULL, "1", "io_uring, O_DIRECT");
	/* the big file (three chunks) is written again and dropped at the
	 * rename: take it out, so that version 2 has only small files */
	char p[600];
	snprintf(p, sizeof(p), "%s/big", tree);
	cr_assert_eq(unlink(p), 0);
	static const struct ingest_io_fault fail_all = { .write_errno = EIO, .fail_after = 0 };
	ingest_with(&fail_all, "2", "io_uring, O_DIRECT");

	/* one file changed: its write is the first, and it fails */
	snprintf(p, sizeof(p), "%s/small/f07", tree);
	su_write_pattern(p, 5000, 3, 1, 2);
	struct seed_err e;
	cr_assert_eq(ingest_run(&fail_all, "3", NULL, &e), -EIO, "%s", e.msg);
	ingest_with(NULL, "3", "io_uring, O_DIRECT");
}

/*
 * The objects ingest writes have the exact sizes of docs/store.md
 * ("Objects", the size table; 16 + 2), in version 4 and, through the
 * tests' hook, in version 3: files of one block (4 KiB parity shards), of
 * whole blocks, of a last stripe of one byte, and one of three chunks whose
 * last stripe is one block (its short parity written with O_DIRECT from a
 * chunk after the others, its table streamed). Then release verify
 * (parity included) and each object's own version.
 */
Test(ingest, objects_have_the_sizes_of_their_layout)
{
	static const struct {
		const char *name;
		size_t len;
		uint64_t v4, v3;
	} f[] = {
		{ "one", 1, 20480, 53248 },
		{ "small", 3500, 20480, 53248 },
		{ "block", 16384, 57344, 65536 },
		{ "block1", 16385, 61440, 69632 },
		{ "stripe1", 262145, 315392, 348160 },
		{ "chunks", (9u << 20) + 1234, 10661888, 10686464 },
	};
	for (uint32_t v = 3; v <= 4; v++) {
		char p[700];
		for (size_t i = 0; i < TU_N(f); i++) {
			snprintf(p, sizeof(p), "%s/%s", tree, f[i].name);
			/* different bytes per version: two sets of objects */
			su_write_pattern(p, f[i].len, 29 + v, (unsigned)i + 100 * v, 7);
		}
		struct ingest_tree *t = NULL;
		struct store *s;
		struct ingest_result r;
		struct seed_err e;
		seed_err_clear(&e);
		cr_assert_eq(ingest_scan(tree, &t, &e), 0, "%s", e.msg);
		cr_assert_eq(store_open(storedir, STORE_CREATE, &s, &e), 0, "%s", e.msg);
		cr_assert_eq(store_set_obj_version(s, v), 0);
		char version[8];
		snprintf(version, sizeof(version), "%u", v);
		struct ingest_opts o = su_opts("acme", "game", version, METAINFO_HYBRID, 65536);
		o.threads = 2;
		cr_assert_eq(ingest_create(s, t, &o, &r, &e), 0, "%s", e.msg);
		check_release(s, r.id);
		struct store_release *rel;
		cr_assert_eq(store_release_load(s, r.id, &rel, &e), 0, "%s", e.msg);
		for (size_t i = 0; i < TU_N(f); i++) {
			const struct store_release_file *rf = NULL;
			for (size_t j = 0; j < rel->n_files; j++)
				if (!strcmp(rel->files[j].path, f[i].name))
					rf = &rel->files[j];
			cr_assert_not_null(rf, "%s", f[i].name);
			char *op = store_obj_path(s, rf->root);
			struct stat st;
			cr_assert_eq(stat(op, &st), 0, "%s", op);
			uint64_t want = v == 4 ? f[i].v4 : f[i].v3;
			cr_assert_eq((uint64_t)st.st_size, want,
				     "%s (%zu bytes), version %u: object of %lld bytes, want %llu",
				     f[i].name, f[i].len, v, (long long)st.st_size,
				     (unsigned long long)want);
			struct store_obj ob;
			cr_assert_eq(store_obj_open(s, rf->root, &ob, &e), 0, "%s", e.msg);
			cr_assert_eq(ob.g.version, v);
			cr_assert_eq(store_obj_check_copy(&ob, 2, NULL, 0), 0);
			store_obj_close(&ob);
			free(op);
		}
		store_release_free(rel);
		ingest_result_free(&r);
		ingest_tree_free(t);
		store_close(s);
	}
}

/* Independent BEP 52 piece layer: per piece, the root of its pb leaves,
 * those past the end of the file zero. */
static void ref_layer(const uint8_t *data, size_t len, size_t piece, uint8_t *out)
{
	size_t pb = piece / 16384;
	uint8_t *l = malloc(pb * 32);
	for (size_t p = 0; p * piece < len; p++) {
		memset(l, 0, pb * 32);
		for (size_t i = 0; i < pb && p * piece + i * 16384 < len; i++) {
			size_t at = p * piece + i * 16384;
			tu_ref_sha256(data + at, len - at < 16384 ? len - at : 16384, l + i * 32);
		}
		for (size_t m = pb; m > 1; m /= 2)
			for (size_t i = 0; i < m / 2; i++)
				tu_ref_sha256(l + i * 64, 64, l + i * 32);
		memcpy(out + p * 32, l, 32);
	}
	free(l);
}

/*
 * Files of several chunks (4 MiB, or one piece when pieces are larger),
 * whose leaves ingest folds into the piece layer chunk by chunk and whose
 * root it takes from the layer: root and layer against the independent
 * computation, for lengths that end mid-piece, on a piece, on a chunk, and
 * piece lengths smaller than, equal to and larger than 4 MiB; two workers
 * (chunks of one file on both) and one give the same torrent.
 */
Test(ingest, roots_and_layers_of_files_of_several_chunks)
{
	static const struct {
		uint64_t piece;
		size_t len[3];
	} cases[] = {
		{ 16384, { (8u << 20) + 1, (4u << 20) + 16383, (12u << 20) } },
		{ 1u << 20, { (9u << 20) + 1234, (5u << 20), (4u << 20) + (1u << 20) - 1 } },
		{ 8u << 20, { (17u << 20) + 3, (16u << 20), (8u << 20) + 16385 } },
	};
	static const char *const names[] = { "a", "b", "c" };
	uint8_t *data[3];
	for (size_t f = 0; f < 3; f++)
		data[f] = malloc(18u << 20);
	tu_seed(40);
	for (size_t c = 0; c < TU_N(cases); c++) {
		for (size_t f = 0; f < 3; f++) {
			for (size_t i = 0; i < cases[c].len[f]; i++)
				data[f][i] = (uint8_t)(tu_rnd() >> 13);
			write_file(names[f], data[f], cases[c].len[f]);
		}
		struct ingest_tree *t = scan_ok(names, 3);
		struct store *s;
		struct ingest_result r, r1;
		struct seed_err e;
		seed_err_clear(&e);
		cr_assert_eq(store_open(storedir, STORE_CREATE, &s, &e), 0, "%s", e.msg);
		char v[16];
		snprintf(v, sizeof(v), "%zu", c);
		struct ingest_opts o = su_opts("acme", "game", v, METAINFO_HYBRID, cases[c].piece);
		o.threads = 2;
		cr_assert_eq(ingest_create(s, t, &o, &r, &e), 0, "%s", e.msg);
		struct bencode_doc *d;
		cr_assert_eq(bencode_parse(r.main.torrent, r.main.torrent + r.main.torrent_len,
					   NULL, &d, &e),
			     0);
		const struct bencode_node *ft = bencode_dict_get(info_of(d), "file tree");
		const struct bencode_node *layers =
			bencode_dict_get(bencode_root(d), "piece layers");
		for (size_t f = 0; f < 3; f++) {
			size_t len = cases[c].len[f],
			       np = (len + cases[c].piece - 1) / cases[c].piece;
			uint8_t root[32], *want = malloc(np * 32);
			ref_root(data[f], len, root);
			const struct bencode_node *leaf =
				bencode_dict_get(bencode_dict_get(ft, names[f]), "");
			cr_assert_arr_eq(bencode_dict_get(leaf, "pieces root")->u.s.p, root, 32,
					 "case %zu file %s", c, names[f]);
			ref_layer(data[f], len, (size_t)cases[c].piece, want);
			const struct bencode_node *layer = bencode_dict_getn(layers, root, 32);
			cr_assert_not_null(layer);
			cr_assert_eq(layer->u.s.len, np * 32);
			cr_assert_arr_eq(layer->u.s.p, want, np * 32, "case %zu file %s", c,
					 names[f]);
			free(want);
		}
		bencode_free(d);
		check_release(s, r.id);
		snprintf(v, sizeof(v), "%zu.1", c);
		o.threads = 1;
		cr_assert_eq(ingest_create(s, t, &o, &r1, &e), 0, "%s", e.msg);
		cr_assert_arr_eq(r1.main.ih_v2, r.main.ih_v2, 32);
		cr_assert_arr_eq(r1.main.ih_v1, r.main.ih_v1, 20);
		ingest_result_free(&r1);
		ingest_result_free(&r);
		ingest_tree_free(t);
		store_close(s);
	}
	for (size_t f = 0; f < 3; f++)
		free(data[f]);
}

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#ifdef HAVE_ASAN
/* From the sanitizer runtime (sanitizer/allocator_interface.h, which gcc
 * does not always install): bytes the program has allocated and not freed. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

struct heap_watch {
	size_t before; /* heap in use when ingest_create was called */
	size_t n_done; /* files finished so far */
	size_t first;  /* heap beyond `before` when the first file was done */
	size_t last;   /* and when the last one was */
};

static void on_file_done(void *arg, size_t i)
{
	(void)i;
#ifdef HAVE_ASAN
	struct heap_watch *hw = arg;
	size_t now = __sanitizer_get_current_allocated_bytes() - hw->before;
	if (hw->n_done++ == 0)
		hw->first = now;
	hw->last = now;
#else
	(void)arg;
#endif
}

/* Ingests n files of 256 KiB (16 pieces of 16 KiB each) with one worker,
 * watching the heap (ASan's count of bytes allocated) as each file is done. */
static struct heap_watch watch_ingest(size_t n, const char *version)
{
	char p[600];
	tu_rmtree(tree);
	if (access(storedir, F_OK) == 0)
		tu_rmtree(storedir);
	cr_assert_eq(mkdir(tree, 0755), 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/f%04zu", tree, i);
		su_write_pattern(p, 256u << 10, 7 + (unsigned)i, (unsigned)i, 9);
	}
	struct ingest_tree *t = NULL;
	struct store *s;
	struct ingest_result r;
	struct seed_err e;
	struct heap_watch hw = { 0 };
	seed_err_clear(&e);
	cr_assert_eq(ingest_scan(tree, &t, &e), 0, "%s", e.msg);
	cr_assert_eq(store_open(storedir, STORE_CREATE, &s, &e), 0, "%s", e.msg);
	struct ingest_opts o = su_opts("acme", "game", version, METAINFO_HYBRID, 16384);
	o.file_done = on_file_done;
	o.file_done_arg = &hw;
#ifdef HAVE_ASAN
	hw.before = __sanitizer_get_current_allocated_bytes();
#endif
	cr_assert_eq(ingest_create(s, t, &o, &r, &e), 0, "%s", e.msg);
	cr_assert_eq(hw.n_done, n);
	ingest_result_free(&r);
	ingest_tree_free(t);
	store_close(s);
	return hw;
}

/*
 * Ingest's memory follows the files in flight, not the release: a file not
 * yet started holds no hashes (they were all allocated before hashing, 48
 * bytes a 16 KiB block and a 4 KiB object writer per file: 6 KB per file
 * here), and a file done keeps only what the torrent carries (SHA-1 and
 * layer hash, 52 bytes a piece) and the store's note of its object to
 * rename. So the heap when the first file is done grows with the release
 * by its bookkeeping only (its state: under 512 bytes a file), and grows
 * per file done by at most a file's torrent hashes and note.
 */
Test(ingest, memory_follows_the_files_in_flight_not_the_release)
{
#ifndef HAVE_ASAN
	cr_skip_test("needs AddressSanitizer's count of allocated bytes");
#endif
	struct heap_watch small = watch_ingest(50, "1");
	struct heap_watch big = watch_ingest(400, "2");
	long per_file = ((long)big.first - (long)small.first) / 350;
	long per_done = ((long)big.last - (long)big.first) / 399;
	cr_log_info("heap when the first file is done: %zu bytes (50 files), %zu (400); "
		    "per file done: %ld",
		    small.first, big.first, per_done);
	/* its state in the job (no buffer): eager SHA-1 and layer alone would
	 * be 832 more */
	cr_assert_lt(per_file, 512, "%ld bytes held per file not yet started", per_file);
	/* 16 pieces * (20 + 32) bytes = 832, and the store's note of the
	 * object: its temporary path (under the store's) and a 48-byte slot
	 * in an array that doubles */
	cr_assert_lt(per_done, 832 + (long)strlen(storedir) + 64 + 2 * 48,
		     "%ld bytes kept per file done", per_done);
}
