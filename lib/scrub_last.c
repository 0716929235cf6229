/*
 * scrub_last: the record of what the last scrub found (STORE/scrub.last),
 * for the whole store and per tenant: written by every scrub (scrub.c),
 * read back by `seedctl store status`, seed-control's status and metrics
 * and its keeper. Part of the scrub module (scrub.h, scrub_int.h).
 *
 * The file is a line per counter, then a line per tenant ("tenant NAME
 * finished N whole N COUNTER N ..."), written atomically (temp + fsync +
 * rename); a reader takes nothing it cannot parse whole: a line that is
 * not one of these, a tenant name store_check_id would refuse, a number
 * out of range or a file past 1 MiB is -EBADMSG naming the line.
 */
#include "scrub.h"
#include "scrub_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsutil.h"

/* The counters of struct scrub_stats as they are named in scrub.last. */
#define FIELD(f)                                    \
	{                                           \
#f, offsetof(struct scrub_stats, f) \
	}
static const struct {
	const char *name;
	size_t off;
} last_fields[] = {
	FIELD(releases),	 FIELD(objects),	FIELD(bytes),
	FIELD(copies_rewritten), FIELD(tables_rebuilt), FIELD(blocks_rebuilt),
	FIELD(parity_rebuilt),	 FIELD(blocks_lost),	FIELD(objects_lost),
	FIELD(repairs_failed),
};
#undef FIELD
#define N_LAST (sizeof(last_fields) / sizeof(last_fields[0]))
_Static_assert(N_LAST == SCRUB_NSTATS, "scrub.h: SCRUB_NSTATS counts last_fields");

static uint64_t *field_of(struct scrub_stats *st, size_t k)
{
	return (uint64_t *)(void *)((char *)st + last_fields[k].off);
}

uint64_t scrub_stat(const struct scrub_stats *st, size_t k)
{
	return *(const uint64_t *)(const void *)((const char *)st + last_fields[k].off);
}

const char *scrub_stat_name(size_t k)
{
	return k < N_LAST ? last_fields[k].name : NULL;
}

/* The largest scrub.last read back: a line per tenant of at most ~600
 * bytes (a 200-byte name and the counters), so thousands of tenants. */
#define LAST_MAX   (1u << 20)
#define TENANT_MAX (LAST_MAX / 64)

/* A new zeroed record at the end of tn, or NULL (memory). */
static struct scrub_tenant *tenant_new(struct scrub_tenants *tn)
{
	if (tn->n == tn->cap) {
		size_t cap = tn->cap ? 2 * tn->cap : 16;
		void *p = realloc(tn->v, cap * sizeof(*tn->v));
		if (!p)
			return NULL;
		tn->v = p;
		tn->cap = cap;
	}
	struct scrub_tenant *t = &tn->v[tn->n++];
	memset(t, 0, sizeof(*t));
	return t;
}

static int tenant_cmp(const void *a, const void *b)
{
	return strcmp(((const struct scrub_tenant *)a)->tenant,
		      ((const struct scrub_tenant *)b)->tenant);
}

int scrub_tenant_add(struct scrub_tenants *tn, const char *id, const struct scrub_stats *now,
		     const struct scrub_stats *before)
{
	size_t tl = strcspn(id, ".");
	if (tl > STORE_MAX_ID)
		tl = STORE_MAX_ID;
	struct scrub_tenant *t = tn->n ? &tn->v[tn->n - 1] : NULL;
	if (!t || strlen(t->tenant) != tl || memcmp(t->tenant, id, tl)) {
		if (!(t = tenant_new(tn)))
			return -ENOMEM;
		memcpy(t->tenant, id, tl);
	}
	for (size_t k = 0; k < N_LAST; k++)
		*field_of(&t->st, k) += scrub_stat(now, k) - scrub_stat(before, k);
	t->whole = !t->st.blocks_lost && !t->st.objects_lost && !t->st.repairs_failed;
	return 0;
}

int scrub_write_last(struct store *s, const char *only, int whole, const struct scrub_stats *st,
		     struct scrub_tenants *tn, struct seed_err *err)
{
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < tn->n; i++)
		tn->v[i].finished = now;
	/* a scrub of one release replaces its tenant's record only: the
	 * others stay as the last scrub that covered them left them */
	struct scrub_last prev = { 0 };
	struct seed_err pe;
	seed_err_clear(&pe);
	if (only && scrub_last(store_dir(s), &prev, &pe) == 0) {
		struct scrub_last cur = { .tenants = tn->v, .n_tenants = tn->n };
		for (size_t i = 0; i < prev.n_tenants; i++) {
			if (scrub_last_tenant(&cur, prev.tenants[i].tenant))
				continue;
			struct scrub_tenant *t = tenant_new(tn);
			if (!t) {
				scrub_last_free(&prev);
				return seed_err_set(err, -ENOMEM, "out of memory");
			}
			*t = prev.tenants[i];
			cur = (struct scrub_last){ .tenants = tn->v, .n_tenants = tn->n };
		}
	}
	scrub_last_free(&prev);
	if (tn->n > 1)
		qsort(tn->v, tn->n, sizeof(*tn->v), tenant_cmp);
	char *buf = NULL, *path = fsu_join(store_dir(s), "scrub.last");
	size_t len = 0;
	FILE *f = path ? open_memstream(&buf, &len) : NULL;
	if (!f) {
		free(path);
		return seed_err_set(err, -ENOMEM, "out of memory");
	}
	fprintf(f, "finished %lld\nonly %s\nwhole %d\n", (long long)now, only ? only : "", whole);
	for (size_t k = 0; k < N_LAST; k++)
		fprintf(f, "%s %llu\n", last_fields[k].name, (unsigned long long)scrub_stat(st, k));
	for (size_t i = 0; i < tn->n; i++) {
		const struct scrub_tenant *t = &tn->v[i];
		fprintf(f, "tenant %s finished %lld whole %d", t->tenant, (long long)t->finished,
			t->whole);
		for (size_t k = 0; k < N_LAST; k++)
			fprintf(f, " %s %llu", last_fields[k].name,
				(unsigned long long)scrub_stat(&t->st, k));
		fputc('\n', f);
	}
	int rc = fclose(f) == 0 ? 0 : seed_err_set(err, -ENOMEM, "out of memory");
	if (rc == 0 && (len > LAST_MAX || tn->n > TENANT_MAX))
		rc = seed_err_set(err, -EOVERFLOW, "scrub.last: record too long (%zu tenants)",
				  tn->n);
	else if (rc == 0)
		rc = fsu_write_atomic(path, buf, len, 0644, err);
	free(buf);
	free(path);
	return rc;
}

/* A tenant name as store_check_id allows it: A-Z a-z 0-9 - _. */
static int tenant_name_ok(const char *t)
{
	size_t n = strlen(t);
	if (!n || n > STORE_MAX_ID)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
		      (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_'))
			return 0;
	return 1;
}

/* A "tenant NAME finished N whole N COUNTER N ..." line into t (l is
 * changed). 0 or -EBADMSG. */
static int parse_tenant(char *l, struct scrub_tenant *t)
{
	char *save = NULL, *name = strtok_r(l + 7, " ", &save);
	memset(t, 0, sizeof(*t));
	if (!name || !tenant_name_ok(name))
		return -EBADMSG;
	snprintf(t->tenant, sizeof(t->tenant), "%s", name);
	unsigned seen = 0;
	for (char *k = strtok_r(NULL, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
		char *v = strtok_r(NULL, " ", &save), *end;
		if (!v || *v < '0' || *v > '9')
			return -EBADMSG;
		errno = 0;
		unsigned long long x = strtoull(v, &end, 10);
		if (*end || errno)
			return -EBADMSG;
		if (!strcmp(k, "finished") && x <= INT64_MAX) {
			t->finished = (int64_t)x;
			seen |= 1;
		} else if (!strcmp(k, "whole") && x <= 1) {
			t->whole = (int)x;
			seen |= 2;
		} else {
			size_t f = 0;
			while (f < N_LAST && strcmp(k, last_fields[f].name))
				f++;
			if (f == N_LAST)
				return -EBADMSG;
			*field_of(&t->st, f) = x;
		}
	}
	return seen == 3 ? 0 : -EBADMSG;
}

void scrub_last_free(struct scrub_last *l)
{
	free(l->tenants);
	l->tenants = NULL;
	l->n_tenants = 0;
}

const struct scrub_tenant *scrub_last_tenant(const struct scrub_last *l, const char *tenant)
{
	for (size_t i = 0; i < l->n_tenants; i++)
		if (!strcmp(l->tenants[i].tenant, tenant))
			return &l->tenants[i];
	return NULL;
}

int scrub_last(const char *store_dir, struct scrub_last *out, struct seed_err *err)
{
	char *path = fsu_join(store_dir, "scrub.last");
	uint8_t *buf = NULL;
	size_t len = 0;
	memset(out, 0, sizeof(*out));
	if (!path)
		return seed_err_set(err, -ENOMEM, "out of memory");
	int rc = fsu_read_file(path, LAST_MAX, &buf, &len, err);
	if (rc == -ENOENT)
		seed_err_clear(err);
	int line = 0;
	size_t cap = 0;
	for (char *save = NULL, *l = rc == 0 ? strtok_r((char *)buf, "\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\n", &save)) {
		char key[32];
		unsigned long long v;
		int used = 0;
		line++;
		if (!strncmp(l, "only ", 5)) {
			snprintf(out->only, sizeof(out->only), "%s", l + 5);
			continue;
		}
		if (!strncmp(l, "tenant ", 7)) {
			if (out->n_tenants == cap) {
				cap = cap ? 2 * cap : 16;
				void *p = cap <= TENANT_MAX ? realloc(out->tenants,
								      cap * sizeof(*out->tenants))
							    : NULL;
				if (!p) {
					rc = seed_err_set(err, -ENOMEM,
							  "%s: out of memory at line %d", path,
							  line);
					break;
				}
				out->tenants = p;
			}
			if (parse_tenant(l, &out->tenants[out->n_tenants]) < 0) {
				rc = seed_err_set(
					err, -EBADMSG,
					"%s: line %d is not \"tenant NAME finished N whole "
					"N COUNTER N ...\"",
					path, line);
				break;
			}
			out->n_tenants++;
			continue;
		}
		if (sscanf(l, "%31s %llu%n", key, &v, &used) != 2 || l[used]) {
			rc = seed_err_set(err, -EBADMSG, "%s: line %d is not \"NAME NUMBER\"", path,
					  line);
			break;
		}
		if (!strcmp(key, "finished"))
			out->finished = (int64_t)v;
		else if (!strcmp(key, "whole"))
			out->whole = v != 0;
		else
			for (size_t k = 0; k < N_LAST; k++)
				if (!strcmp(key, last_fields[k].name))
					*field_of(&out->st, k) = v;
	}
	free(buf);
	free(path);
	return rc;
}
