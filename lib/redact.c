/*
 * redact: see redact.h. One left-to-right pass: at each byte either a URL
 * starts (handled whole), a secret-named NAME= / NAME: starts (its value
 * handled), or the byte is copied. The writer counts what it would have
 * written past cap, so the caller learns the size it needs.
 */
#include "redact.h"

#include <stdlib.h>
#include <string.h>

struct wr {
	char *out;
	size_t cap, n;
};

static void put(struct wr *w, const char *p, size_t len)
{
	if (w->n < w->cap) {
		size_t room = w->cap - w->n;

		memcpy(w->out + w->n, p, len < room ? len : room);
	}
	w->n += len;
}

static void put_mark(struct wr *w)
{
	put(w, REDACT_MARK, sizeof(REDACT_MARK) - 1);
}

static int is_alpha(unsigned char c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int is_word(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '_' || c == '-' || c == '.';
}

/* Where a URL ends in running text: whitespace, quotes, angle brackets. */
static int ends_url(unsigned char c)
{
	return c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`';
}

/* Where a NAME=value's value ends. */
static int ends_value(unsigned char c)
{
	return c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '&' || c == ',' || c == ';' ||
	       c == ')';
}

/* Length of "SCHEME://" at p[0..n), 0 when none starts there. */
static size_t scheme_len(const char *p, size_t n)
{
	size_t i = 0;

	if (!n || !is_alpha((unsigned char)p[0]))
		return 0;
	while (i < n && i < 32 &&
	       (is_alpha((unsigned char)p[i]) || is_digit((unsigned char)p[i]) || p[i] == '+' ||
		p[i] == '.' || p[i] == '-'))
		i++;
	if (n - i < 3 || memcmp(p + i, "://", 3))
		return 0;
	return i + 3;
}

static int ieq_at(const char *p, size_t n, const char *word)
{
	size_t l = strlen(word);

	if (n < l)
		return 0;
	for (size_t i = 0; i < l; i++)
		if (((unsigned char)p[i] | 0x20) != (unsigned char)word[i])
			return 0;
	return 1;
}

/* 1 when the name p[0..n) is named like a secret. */
static int secret_name(const char *p, size_t n)
{
	static const char *const stems[] = { "key", "token", "secret", "pass", "auth", "cred" };

	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof(stems) / sizeof(stems[0]); k++)
			if (ieq_at(p + i, n - i, stems[k]))
				return 1;
	return 0;
}

/* A path segment that looks like a passkey: >= 16 letters and digits,
 * with at least one of each. */
static int token_segment(const char *p, size_t n)
{
	int alpha = 0, digit = 0;

	if (n < 16)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (is_alpha(c))
			alpha = 1;
		else if (is_digit(c))
			digit = 1;
		else
			return 0;
	}
	return alpha && digit;
}

/* The URL p[0..n) (its scheme is sl bytes including "://"). */
static void url(struct wr *w, const char *p, size_t n, size_t sl)
{
	size_t i = sl, a, at = 0;

	put(w, p, sl);
	/* authority: up to '/', '?' or '#'; user-info is everything up to
	 * its last '@' */
	for (a = i; a < n && p[a] != '/' && p[a] != '?' && p[a] != '#'; a++)
		if (p[a] == '@')
			at = a + 1;
	if (at) {
		put_mark(w);
		put(w, "@", 1);
		i = at;
	}
	put(w, p + i, a - i);
	i = a;
	/* path: segment by segment */
	while (i < n && p[i] == '/') {
		size_t s = i + 1, e = s;

		while (e < n && p[e] != '/' && p[e] != '?' && p[e] != '#')
			e++;
		put(w, "/", 1);
		if (token_segment(p + s, e - s))
			put_mark(w);
		else
			put(w, p + s, e - s);
		i = e;
	}
	if (i < n && p[i] == '?') {
		put(w, "?", 1);
		i++;
		while (i < n && p[i] != '#') {
			size_t e = i, eq = 0;

			while (e < n && p[e] != '&' && p[e] != ';' && p[e] != '#') {
				if (!eq && p[e] == '=')
					eq = e + 1;
				e++;
			}
			if (eq) {
				put(w, p + i, eq - i);
				if (e > eq)
					put_mark(w);
			} else if (e > i) {
				put_mark(w);
			}
			i = e;
			if (i < n && p[i] != '#') {
				put(w, p + i, 1); /* the separator */
				i++;
			}
		}
	}
	if (i < n && p[i] == '#') {
		put(w, "#", 1);
		if (n - i > 1)
			put_mark(w);
	}
}

size_t redact_text(const char *text, size_t len, char *out, size_t cap)
{
	struct wr w = { out, cap ? cap - 1 : 0, 0 };
	size_t i = 0;

	while (i < len) {
		const char *p = text + i;
		size_t n = len - i, sl, k;
		int boundary = i == 0 || !is_word((unsigned char)text[i - 1]);

		if (boundary && (sl = scheme_len(p, n))) {
			size_t e = sl;

			while (e < n && !ends_url((unsigned char)p[e]))
				e++;
			url(&w, p, e, sl);
			i += e;
			continue;
		}
		for (k = 0; boundary && k < n && is_word((unsigned char)p[k]); k++)
			;
		if (k && k < n && (p[k] == '=' || p[k] == ':') && secret_name(p, k)) {
			size_t v = k + 1, e;

			while (v < n && p[v] == ' ')
				v++;
			if (v < n && (p[v] == '"' || p[v] == '\''))
				v++;
			for (e = v; e < n && !ends_value((unsigned char)p[e]); e++)
				;
			put(&w, p, v);
			if (e > v)
				put_mark(&w);
			i += e;
			continue;
		}
		/* a whole word (or one other byte) goes out as it is */
		k = k ? k : 1;
		put(&w, p, k);
		i += k;
	}
	if (cap)
		out[w.n < cap - 1 ? w.n : cap - 1] = '\0';
	return w.n;
}

char *redact_dup(const char *s)
{
	size_t len = strlen(s), need = redact_text(s, len, NULL, 0);
	char *out = malloc(need + 1);

	if (out)
		redact_text(s, len, out, need + 1);
	return out;
}

int redact_needed(const char *s)
{
	char *r = redact_dup(s);
	int changed = !r || strcmp(r, s) != 0;

	free(r);
	return changed;
}
