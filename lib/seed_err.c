/*
 * seed_err: see seed_err.h. Messages are truncated only at SEED_ERR_MSG_MAX,
 * and then end in "..." so a cut is visible.
 */
#include "seed_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void seed_err_clear(struct seed_err *e)
{
	if (e)
		memset(e, 0, sizeof(*e));
}

static void mark_cut(struct seed_err *e, int n)
{
	if (n >= (int)sizeof(e->msg))
		memcpy(e->msg + sizeof(e->msg) - 4, "...", 4);
}

static int vset(struct seed_err *e, int code, int has_off, uint64_t off, const char *fmt,
		va_list ap) __attribute__((format(printf, 5, 0)));

static int vset(struct seed_err *e, int code, int has_off, uint64_t off, const char *fmt,
		va_list ap)
{
	if (!e || e->code)
		return code;
	e->code = code;
	e->has_offset = has_off;
	e->offset = off;
	mark_cut(e, vsnprintf(e->msg, sizeof(e->msg), fmt, ap));
	return code;
}

int seed_err_set(struct seed_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	code = vset(e, code, 0, 0, fmt, ap);
	va_end(ap);
	return code;
}

int seed_err_set_at(struct seed_err *e, int code, uint64_t offset, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	code = vset(e, code, 1, offset, fmt, ap);
	va_end(ap);
	return code;
}

void seed_err_prefix(struct seed_err *e, const char *fmt, ...)
{
	char pre[SEED_ERR_MSG_MAX], old[SEED_ERR_MSG_MAX];
	va_list ap;

	if (!e || !e->code)
		return;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	mark_cut(e, snprintf(e->msg, sizeof(e->msg), "%s%s", pre, old));
}
