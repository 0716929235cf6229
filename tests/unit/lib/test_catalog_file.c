/*
 * Unit tests for lib/catalog.c's files: every corruption the loader must
 * name (truncation at every length, every byte flipped, magic, version,
 * flags, length, checksum, forged payloads with a valid checksum, bad
 * records), load errors naming the path, the generation policy of writer
 * and reader, change polling, no temporary files left, and a reader racing
 * the writer. Building and round trips are in test_catalog.c.
 */
#include "catalog_fixture.h"

/* ---- corruption ---- */

Test(catalog, file_shorter_than_the_header)
{
	size_t len;
	uint8_t *f = small_image(&len);
	struct seed_err e = parse_fails(f, 47, -EBADMSG, "shorter than the 48-byte header");
	cr_assert(e.has_offset);
	parse_fails(f, 0, -EBADMSG, "truncated");
	parse_fails(NULL, 0, -EBADMSG, "empty file");
	free(f);
}

Test(catalog, truncation_at_every_length_fails)
{
	size_t len;
	uint8_t *f = small_image(&len);
	for (size_t n = 0; n < len; n++) {
		/* a copy of exactly n bytes, so ASan sees any read past it */
		uint8_t *t = malloc(n ? n : 1);
		memcpy(t, f, n);
		parse_fails(t, n, -EBADMSG, "truncated");
		free(t);
	}
	free(f);
}

/* small_image() with n bytes at byte at overwritten (and the checksum
 * redone, with reseal): refused with code, a message that contains what,
 * at byte offset (when not -1). */
struct header_patch {
	size_t at;
	const char *bytes;
	size_t n;
	int reseal, code;
	const char *what;
	int64_t offset;
};

static void expect_header_refusals(const struct header_patch *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t len;
		uint8_t *f = small_image(&len);

		memcpy(f + h[i].at, h[i].bytes, h[i].n);
		if (h[i].reseal)
			reseal(f, len);
		struct seed_err e = parse_fails(f, len, h[i].code, h[i].what);
		if (h[i].offset >= 0)
			cr_assert_eq(e.offset, (uint64_t)h[i].offset, "%s", h[i].what);
		free(f);
	}
}

Test(catalog, bad_magic)
{
	TU_TABLE(expect_header_refusals, struct header_patch,
		 { 7, "2", 1, 0, -EBADMSG, "bad magic", 0 },
		 { 0, "SEEDREL\0", 8, 0, -EBADMSG, "not a catalog", -1 });
}

Test(catalog, unknown_format_version)
{
	TU_TABLE(expect_header_refusals, struct header_patch,
		 { 8, "\x03\0\0\0", 4, 1, -EPROTO, "unsupported catalog format version 3", 8 });
}

Test(catalog, unknown_flags)
{
	TU_TABLE(expect_header_refusals, struct header_patch,
		 { 12, "\x10\0\0\0", 4, 1, -EBADMSG, "unknown catalog flags 0x10", -1 });
}

Test(catalog, payload_length_mismatch)
{
	size_t len;
	uint8_t *f = small_image(&len);
	/* trailing bytes after the payload */
	uint8_t *g = malloc(len + 3);
	memcpy(g, f, len);
	memcpy(g + len, "xyz", 3);
	struct seed_err e = parse_fails(g, len + 3, -EBADMSG, "payload length mismatch");
	cr_assert_eq(e.offset, len);
	/* the header claims less than follows, checksum redone over the claim */
	put_le(f + 24, len - 48 - 1, 8);
	reseal(f, len - 1);
	parse_fails(f, len, -EBADMSG, "payload length mismatch");
	/* and more than follows */
	put_le(f + 24, UINT64_MAX, 8);
	parse_fails(f, len, -EBADMSG, "header says 18446744073709551615 payload bytes");
	free(g);
	free(f);
}

Test(catalog, every_payload_byte_flip_fails_the_checksum)
{
	size_t len;
	uint8_t *f = small_image(&len);
	for (size_t i = 48; i < len; i++) {
		f[i] ^= 0x01;
		struct seed_err e = parse_fails(f, len, -EBADMSG, "checksum mismatch");
		cr_assert_eq(e.offset, 32);
		f[i] ^= 0x01;
	}
	struct catalog *l = NULL;
	cr_assert_eq(catalog_parse(f, len, &l, NULL), 0);
	catalog_free(l);
	free(f);
}

/* Every byte, several flips each: an error with a message, never a crash. */
Test(catalog, every_byte_flipped_anywhere_is_caught)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff, 0x20 };
	size_t len;
	uint8_t *f = small_image(&len);
	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			struct catalog *l = (struct catalog *)1;
			struct seed_err e;
			seed_err_clear(&e);
			f[i] ^= masks[m];
			int rc = catalog_parse(f, len, &l, &e);
			f[i] ^= masks[m];
			/* the checksum covers header and payload: nothing gets through */
			cr_assert_lt(rc, 0, "flip 0x%02x at byte %zu was accepted", masks[m], i);
			cr_assert_null(l);
			cr_assert_eq(e.code, rc);
			cr_assert_neq(e.msg[0], '\0');
		}
	}
	free(f);
}

Test(catalog, generation_zero_in_a_file)
{
	size_t len;
	uint8_t *f = seal(PAYLOAD("", "", "0"), 0, &len);
	struct seed_err e = parse_fails(f, len, -ERANGE, "generation 0");
	cr_assert_eq(e.offset, 16);
	free(f);
	f = seal(PAYLOAD("", "", "0"), UINT64_MAX, &len);
	struct catalog *c = NULL;
	cr_assert_eq(catalog_parse(f, len, &c, NULL), 0);
	cr_assert_eq(catalog_generation(c), UINT64_MAX);
	catalog_free(c);
	free(f);
}

Test(catalog, unknown_state_string)
{
	TU_TABLE(expect_forged, struct forged,
		 { PAYLOAD(REL("0", "11", "acme.game.1", "4", "LIVE", "0"), TENANT_ACME, "0"),
		   -EBADMSG, "release #0 \"acme.game.1\": unknown state \"LIVE\"" },
		 { PAYLOAD(REL("0", "11", "acme.game.1", "7", "deleted", "0"), TENANT_ACME, "0"),
		   -EBADMSG, "unknown state \"deleted\"" },
		 { PAYLOAD(REL("0", "11", "acme.game.1", "0", "", "0"), TENANT_ACME, "0"), -EBADMSG,
		   "unknown state \"\"" });
	/* the valid spelling passes */
	size_t len;
	uint8_t *f =
		seal(PAYLOAD(REL("0", "11", "acme.game.1", "4", "live", "0"), TENANT_ACME, "0"), 1,
		     &len);
	struct catalog *c = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_parse(f, len, &c, &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_release_find(c, "acme.game.1")->state, CATALOG_LIVE);
	catalog_free(c);
	free(f);
}

Test(catalog, out_of_range_numbers)
{
	TU_TABLE(expect_forged, struct forged,
		 { PAYLOAD("", "", "-1"), -ERANGE, "catalog: written_at -1 is out of range" },
		 { PAYLOAD(REL("-1", "11", "acme.game.1", "9", "embargoed", "0"), TENANT_ACME, "0"),
		   -ERANGE, "embargo_until -1 is out of range" },
		 { PAYLOAD("", "d5:allowle9:bandwidthi-1e2:id4:acme9:max_peersi0ee", "0"), -ERANGE,
		   "tenant #0 \"acme\": bandwidth -1 is out of range" },
		 { PAYLOAD("", "d5:allowle9:bandwidthi0e2:id4:acme9:max_peersi4294967296ee", "0"),
		   -ERANGE, "max_peers 4294967296 is out of range" },
		 { PAYLOAD("", "d5:allowle9:bandwidthi0e2:id4:acme9:max_peersi-1ee", "0"), -ERANGE,
		   "max_peers -1" },
		 { PAYLOAD(REL("0", "11", "acme.game.1", "4", "live", "9223372036854775807"),
			   TENANT_ACME, "0"),
		   -ERANGE, "tenant index 9223372036854775807" },
		 /* past int64 is a bencode error, not a wrap-around */
		 { PAYLOAD("", "", "9223372036854775808"), -E2BIG, "integer out of 64-bit range" });
	/* the largest values pass */
	size_t len;
	uint8_t *f = seal(PAYLOAD("",
				  "d5:allowle9:bandwidthi9223372036854775807e2:id4:acme"
				  "9:max_peersi4294967295ee",
				  "9223372036854775807"),
			  1, &len);
	struct catalog *c = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_parse(f, len, &c, &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_tenant_at(c, 0)->bandwidth, (uint64_t)INT64_MAX);
	cr_assert_eq(catalog_tenant_at(c, 0)->max_peers, UINT32_MAX);
	cr_assert_eq(catalog_written_at(c), INT64_MAX);
	catalog_free(c);
	free(f);
}

Test(catalog, unknown_missing_and_mistyped_keys)
{
	TU_TABLE(
		expect_forged, struct forged,
		{ "d8:releasesle7:tenantsle10:written_ati0e1:xi0ee", -EBADMSG,
		  "catalog: unknown key \"x\"" },
		{ "d8:releasesle7:tenantslee", -EBADMSG, "catalog: missing key \"written_at\"" },
		{ "d8:releasesle7:tenantsle10:written_at1:0e", -EBADMSG,
		  "\"written_at\" is a string, not an integer" },
		{ "le", -EBADMSG, "catalog: is a list, not a dictionary" },
		{ PAYLOAD("", "i0e", "0"), -EBADMSG, "tenant #0: is an integer" },
		{ PAYLOAD("", "d5:allowle9:bandwidthi0e5:extrai0e2:id4:acme9:max_peersi0ee", "0"),
		  -EBADMSG, "tenant #0: unknown key \"extra\"" },
		{ PAYLOAD("", "d5:allowle2:id4:acme9:max_peersi0ee", "0"), -EBADMSG,
		  "tenant #0: missing key \"bandwidth\"" },
		{ PAYLOAD("d2:id11:acme.game.15:state4:live6:tenanti0ee", TENANT_ACME, "0"),
		  -EBADMSG, "release #0: missing key \"embargo_until\"" },
		{ PAYLOAD("d13:embargo_untili0e2:idi5e5:state4:live6:tenanti0ee", TENANT_ACME, "0"),
		  -EBADMSG, "release #0: \"id\" is an integer, not a string" },
		{ PAYLOAD(REL("0", "0", "", "4", "live", "0"), TENANT_ACME, "0"), -EBADMSG,
		  "release #0: id is 0 bytes" });
	/* a NUL inside an id would cut it short as a C string */
	static const char nul[] =
		PAYLOAD("", "d5:allowle9:bandwidthi0e2:id4:a\0cm9:max_peersi0ee", "0");
	size_t len;
	uint8_t *f = seal_n(nul, sizeof(nul) - 1, 1, &len);
	parse_fails(f, len, -EBADMSG, "tenant #0: id contains a NUL byte");
	free(f);
}

Test(catalog, malformed_bencode_names_the_file_offset)
{
	/* "i01e" is not canonical: its leading zero is payload byte 38 */
	size_t len;
	uint8_t *f = seal("d8:releasesle7:tenantsle10:written_ati01ee", 1, &len);
	struct seed_err e = parse_fails(f, len, -EBADMSG, "catalog payload (from file byte 48)");
	cr_assert(e.has_offset);
	cr_assert_eq(e.offset, 48 + 38, "offset %llu", (unsigned long long)e.offset);
	cr_assert_lt(e.offset, len);
	free(f);
	/* keys out of order are refused by the strict parser */
	TU_TABLE(expect_forged, struct forged,
		 { "d7:tenantsle8:releasesle10:written_ati0ee", -EBADMSG, "catalog payload" },
		 /* nesting deeper than the format's is refused early */
		 { "d8:releasesllllleeeee7:tenantsle10:written_ati0ee", -E2BIG, "nesting" });
}

Test(catalog, bad_allow_entries_in_a_file)
{
	TU_TABLE(expect_forged, struct forged,
		 { PAYLOAD("", "d5:allowl6:abcdefe9:bandwidthi0e2:id4:acme9:max_peersi0ee", "0"),
		   -EBADMSG, "allow entry #0 is not a 5-byte (IPv4) or 17-byte (IPv6) string" },
		 { PAYLOAD("", "d5:allowli1ee9:bandwidthi0e2:id4:acme9:max_peersi0ee", "0"),
		   -EBADMSG, "allow entry #0" },
		 /* /8 with host bits set: \x08 then 10.0.0.1 */
		 { PAYLOAD("",
			   "d5:allowl5:\x08\x0a\x01\x01\x01"
			   "e9:bandwidthi0e2:id4:acme9:max_peersi0ee",
			   "0"),
		   -EBADMSG, "allow entry #0: address has bits set past /8" },
		 { PAYLOAD("",
			   "d5:allowl5:\x21\x0a\x01\x01\x01"
			   "e9:bandwidthi0e2:id4:acme9:max_peersi0ee",
			   "0"),
		   -EBADMSG, "prefix /33 is longer than 32 bits" });
}

Test(catalog, record_errors_point_at_the_record)
{
	static const char payload[] =
		PAYLOAD(REL("0", "11", "acme.game.1", "4", "live", "0")
				REL("0", "11", "beta.game.1", "4", "live", "0"),
			TENANT_ACME, "0");
	size_t len;
	uint8_t *f = seal(payload, 1, &len);
	struct seed_err e = parse_fails(f, len, -EBADMSG,
					"release #1 \"beta.game.1\": release id \"beta.game.1\"");
	const char *second = strstr(payload, "d13:embargo_untili0e2:id11:beta");
	cr_assert_not_null(second);
	cr_assert_eq(e.offset, 48 + (uint64_t)(second - payload));
	free(f);
}

/* ---- files and generations ---- */

/* The catalog's second copy (fsutil.h: files kept twice). */
static const char *copy2(void)
{
	static char p[TU_PATH_MAX + 4];
	snprintf(p, sizeof(p), "%s.2", path);
	return p;
}

/* Overwrites one byte of file p at off with a byte it does not hold. */
static void damage(const char *p, off_t off)
{
	int fd = open(p, O_RDWR);
	uint8_t b;
	cr_assert_geq(fd, 0, "%s", p);
	cr_assert_eq(pread(fd, &b, 1, off), 1);
	b ^= 0x58;
	cr_assert_eq(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

Test(catalog, load_errors_name_the_path)
{
	struct catalog *c = (struct catalog *)1;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_load(path, &c, &e), -ENOENT);
	cr_assert_null(c);
	cr_assert_not_null(strstr(e.msg, path), "%s", e.msg);

	cr_assert_eq(fsu_write_atomic(path, "SEEDCAT", 7, 0644, NULL), 0);
	seed_err_clear(&e);
	cr_assert_eq(catalog_load(path, &c, &e), -EBADMSG);
	cr_assert_not_null(strstr(e.msg, path), "%s", e.msg);
	cr_assert_not_null(strstr(e.msg, "truncated"), "%s", e.msg);

	/* larger than any catalog: refused before it is read */
	int fd = open(path, O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)CATALOG_MAX_FILE + 1), 0);
	close(fd);
	seed_err_clear(&e);
	cr_assert_eq(catalog_load(path, &c, &e), -EFBIG);
}

Test(catalog, generation_policy_of_the_writer)
{
	struct catalog *c5 = small(5), *c4 = small(4), *c6 = small(6);
	write_ok(c5);
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_write(path, c5, &e), -ESTALE);
	cr_assert_not_null(
		strstr(e.msg, "holds catalog generation 5; refusing to write generation 5"), "%s",
		e.msg);
	seed_err_clear(&e);
	cr_assert_eq(catalog_write(path, c4, &e), -ESTALE);
	uint64_t g = 0;
	cr_assert_eq(catalog_peek_generation(path, &g, NULL), 0);
	cr_assert_eq(g, 5, "a refused write changed the file");
	write_ok(c6);
	cr_assert_eq(catalog_peek_generation(path, &g, NULL), 0);
	cr_assert_eq(g, 6);
	catalog_free(c4);
	catalog_free(c5);
	catalog_free(c6);
}

Test(catalog, writer_replaces_a_damaged_file)
{
	struct catalog *c9 = small(9), *c2 = small(2);
	write_ok(c9);
	damage(path, 60);
	damage(copy2(), 60);
	uint64_t g;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_peek_generation(path, &g, &e), -EBADMSG);
	cr_assert_not_null(strstr(e.msg, "checksum mismatch"), "%s", e.msg);
	/* the damaged file's generation cannot be trusted, so it does not block */
	write_ok(c2);
	struct catalog *l = load_ok();
	cr_assert_eq(catalog_generation(l), 2);
	catalog_free(l);
	seed_err_clear(&e);
	cr_assert_eq(catalog_peek_generation("/nonexistent/catalog", &g, &e), -ENOENT);
	catalog_free(c9);
	catalog_free(c2);
}

Test(catalog, write_leaves_no_temporary_files)
{
	for (uint64_t g = 1; g <= 5; g++) {
		struct catalog *c = small(g);
		write_ok(c);
		catalog_free(c);
	}
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		cr_assert(!strcmp(de->d_name, "catalog") || !strcmp(de->d_name, "catalog.2"),
			  "left behind: %s", de->d_name);
		n++;
	}
	closedir(d);
	cr_assert_eq(n, 2);
}

Test(catalog, stat_changed_sees_each_write)
{
	struct catalog_stamp st = { 0 };
	cr_assert_eq(catalog_stat_changed(path, &st), -ENOENT);
	cr_assert_eq(st.seen, 0);
	struct catalog *c1 = small(1), *c2 = small(2);
	write_ok(c1);
	cr_assert_eq(catalog_stat_changed(path, &st), 1);
	cr_assert_eq(catalog_stat_changed(path, &st), 0);
	cr_assert_eq(catalog_stat_changed(path, &st), 0);
	write_ok(c2);
	cr_assert_eq(catalog_stat_changed(path, &st), 1);
	cr_assert_eq(catalog_stat_changed(path, &st), 0);
	/* a touch is a change too (the reader then finds the same generation) */
	struct timeval tv[2] = { { 1, 0 }, { 1, 0 } };
	cr_assert_eq(utimes(path, tv), 0);
	cr_assert_eq(catalog_stat_changed(path, &st), 1);
	catalog_free(c1);
	catalog_free(c2);
}

Test(catalog, either_copy_alone_is_enough)
{
	struct catalog *w = small(5), *c = NULL;
	struct seed_err e;
	write_ok(w);
	catalog_free(w);
	cr_assert_eq(access(copy2(), F_OK), 0, "catalog_write left no second copy");

	const char *one[] = { path, copy2() };
	for (int k = 0; k < 2; k++) {
		damage(one[k], 60);
		seed_err_clear(&e);
		cr_assert_eq(catalog_load(path, &c, &e), 0, "copy %d damaged: %s", k + 1, e.msg);
		cr_assert_eq(catalog_generation(c), 5);
		catalog_free(c);
		damage(one[k], 60); /* back as it was */
	}
	cr_assert_eq(unlink(path), 0);
	seed_err_clear(&e);
	cr_assert_eq(catalog_load(path, &c, &e), 0, "copy 1 missing: %s", e.msg);
	catalog_free(c);
	uint64_t g = 0;
	cr_assert_eq(catalog_peek_generation(path, &g, &e), 0, "%s", e.msg);
	cr_assert_eq(g, 5, "the writer's generation check must see copy 2");

	/* the next write may not go back below what copy 2 holds */
	w = small(4);
	seed_err_clear(&e);
	cr_assert_eq(catalog_write(path, w, &e), -ESTALE, "%s", e.msg);
	catalog_free(w);

	damage(copy2(), 60);
	seed_err_clear(&e);
	cr_assert_eq(catalog_load(path, &c, &e), -EBADMSG);
	cr_assert_not_null(strstr(e.msg, "checksum mismatch"), "%s", e.msg);
}

Test(catalog, reload_policy_of_the_reader)
{
	struct catalog_stamp st = { 0 };
	struct catalog *cur = NULL, *next = (struct catalog *)1;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_reload(path, &st, 0, &next, &e), -ENOENT);
	cr_assert_null(next);

	struct catalog *w = small(3);
	write_ok(w);
	catalog_free(w);
	seed_err_clear(&e);
	cr_assert_eq(catalog_reload(path, &st, 0, &cur, &e), 1, "%s", e.msg);
	cr_assert_eq(catalog_generation(cur), 3);
	cr_assert_eq(catalog_reload(path, &st, 3, &next, NULL), 0, "nothing changed");
	cr_assert_null(next);

	/* the same generation again (touched): nothing to switch to */
	struct timeval tv[2] = { { 1, 0 }, { 1, 0 } };
	cr_assert_eq(utimes(path, tv), 0);
	cr_assert_eq(catalog_reload(path, &st, 3, &next, NULL), 0);
	cr_assert_null(next);

	/* both copies damaged: reported once, then quiet until it changes */
	damage(path, 60);
	damage(copy2(), 60);
	cr_assert_eq(utimes(path, NULL), 0);
	seed_err_clear(&e);
	cr_assert_eq(catalog_reload(path, &st, 3, &next, &e), -EBADMSG);
	cr_assert_not_null(strstr(e.msg, "checksum mismatch"), "%s", e.msg);
	cr_assert_eq(catalog_reload(path, &st, 3, &next, NULL), 0);

	/* the writer repairs it with an older generation: the reader keeps its own */
	w = small(2);
	write_ok(w);
	catalog_free(w);
	seed_err_clear(&e);
	cr_assert_eq(catalog_reload(path, &st, 3, &next, &e), -ESTALE);
	cr_assert_null(next);
	cr_assert_not_null(strstr(e.msg, "went back to generation 2 from 3"), "%s", e.msg);

	w = small(4);
	write_ok(w);
	catalog_free(w);
	cr_assert_eq(catalog_reload(path, &st, 3, &next, NULL), 1);
	cr_assert_eq(catalog_generation(next), 4);
	catalog_free(cur);
	catalog_free(next);
}

/* ---- a reader racing the writer ---- */

#define RACE_GENERATIONS 150

struct race {
	atomic_uint_fast64_t started; /* highest generation whose write began */
	atomic_int done;
	atomic_int writer_errors;
};

static struct catalog *race_catalog(uint64_t g)
{
	struct catalog *c = NULL;
	if (catalog_create(g, (int64_t)g, &c, NULL) < 0)
		return NULL;
	uint32_t t;
	struct tenant d = { .id = "acme", .bandwidth = g };
	if (catalog_add_tenant(c, &d, &t, NULL) < 0)
		goto fail;
	for (uint64_t k = 0; k < g % 37 + 1; k++) {
		char id[64];
		snprintf(id, sizeof(id), "acme.r%llu.%llu", (unsigned long long)k,
			 (unsigned long long)g);
		if (catalog_add_release(c, id, t, CATALOG_LIVE, 0, NULL) < 0)
			goto fail;
	}
	return c;
fail:
	catalog_free(c);
	return NULL;
}

static void *race_writer(void *arg)
{
	struct race *r = arg;
	for (uint64_t g = 2; g <= RACE_GENERATIONS; g++) {
		struct catalog *c = race_catalog(g);
		atomic_store(&r->started, g);
		if (!c || catalog_write(path, c, NULL) < 0)
			atomic_fetch_add(&r->writer_errors, 1);
		catalog_free(c);
	}
	atomic_store(&r->done, 1);
	return NULL;
}

Test(catalog, concurrent_reader_never_sees_a_partial_file, .timeout = 240)
{
	struct race r;
	atomic_init(&r.started, 1);
	atomic_init(&r.done, 0);
	atomic_init(&r.writer_errors, 0);
	struct catalog *first = race_catalog(1);
	cr_assert_not_null(first);
	write_ok(first);
	catalog_free(first);

	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, race_writer, &r), 0);
	uint64_t last = 1;
	unsigned loads = 0, switches = 0;
	while (!atomic_load(&r.done) || loads == 0) {
		struct catalog *c = NULL;
		struct seed_err e;
		seed_err_clear(&e);
		int rc = catalog_load(path, &c, &e);
		cr_assert_eq(rc, 0, "load %u failed: %s", loads, e.msg);
		uint64_t g = catalog_generation(c);
		/* a generation that was written, never older than one seen */
		cr_assert_geq(g, last, "generation went back from %llu to %llu",
			      (unsigned long long)last, (unsigned long long)g);
		cr_assert_leq(g, atomic_load(&r.started));
		cr_assert_eq(catalog_written_at(c), (int64_t)g);
		cr_assert_eq(catalog_n_releases(c), g % 37 + 1);
		cr_assert_eq(catalog_tenant_at(c, 0)->bandwidth, g);
		switches += g != last;
		last = g;
		loads++;
		catalog_free(c);
	}
	pthread_join(th, NULL);
	cr_assert_eq(atomic_load(&r.writer_errors), 0);
	struct catalog *c = load_ok();
	cr_assert_eq(catalog_generation(c), RACE_GENERATIONS);
	catalog_free(c);
	cr_log_info("%u loads saw %u generation changes", loads, switches);
}
