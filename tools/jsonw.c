/* jsonw: see jsonw.h. */
#include "jsonw.h"

#include <inttypes.h>
#include <string.h>

void jsonw_init(struct jsonw *w, FILE *f)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->first[0] = 1;
}

static void sep(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = 0;
		return;
	}
	if (!w->first[w->depth])
		fputc(',', w->f);
	w->first[w->depth] = 0;
}

static void open_(struct jsonw *w, char c)
{
	sep(w);
	fputc(c, w->f);
	if (w->depth < 31)
		w->depth++;
	w->first[w->depth] = 1;
}

static void close_(struct jsonw *w, char c)
{
	if (w->depth > 0)
		w->depth--;
	fputc(c, w->f);
}

void jsonw_obj_begin(struct jsonw *w)
{
	open_(w, '{');
}
void jsonw_obj_end(struct jsonw *w)
{
	close_(w, '}');
}
void jsonw_arr_begin(struct jsonw *w)
{
	open_(w, '[');
}
void jsonw_arr_end(struct jsonw *w)
{
	close_(w, ']');
}

static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		unsigned c = *p;
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc((int)c, f);
			p++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			p++;
		} else if (c < 0x80) {
			fputc((int)c, f);
			p++;
		} else {
			size_t n = utf8_len(p);
			if (n) {
				fwrite(p, 1, n, f);
				p += n;
			} else {
				fprintf(f, "\\u%04x", c);
				p++;
			}
		}
	}
	fputc('"', f);
}

void jsonw_key(struct jsonw *w, const char *k)
{
	sep(w);
	put_string(w->f, k);
	fputc(':', w->f);
	w->after_key = 1;
}

void jsonw_str(struct jsonw *w, const char *s)
{
	sep(w);
	put_string(w->f, s);
}

void jsonw_u64(struct jsonw *w, uint64_t v)
{
	sep(w);
	fprintf(w->f, "%" PRIu64, v);
}

void jsonw_i64(struct jsonw *w, int64_t v)
{
	sep(w);
	fprintf(w->f, "%" PRId64, v);
}

void jsonw_bool(struct jsonw *w, int v)
{
	sep(w);
	fputs(v ? "true" : "false", w->f);
}

void jsonw_fixed(struct jsonw *w, double v, int decimals)
{
	sep(w);
	fprintf(w->f, "%.*f", decimals, v);
}

void jsonw_null(struct jsonw *w)
{
	sep(w);
	fputs("null", w->f);
}

void jsonw_finish(struct jsonw *w)
{
	fputc('\n', w->f);
	fflush(w->f);
}

void jsonw_kstr(struct jsonw *w, const char *k, const char *v)
{
	jsonw_key(w, k);
	if (v)
		jsonw_str(w, v);
	else
		jsonw_null(w);
}

void jsonw_ku64(struct jsonw *w, const char *k, uint64_t v)
{
	jsonw_key(w, k);
	jsonw_u64(w, v);
}
