/*
 * bytesize: see bytesize.h. Digits are read by hand rather than with
 * strtoull, which skips leading white space and accepts a sign.
 */
#include "bytesize.h"

#include <errno.h>
#include <stdio.h>

static const struct {
	char upper, lower;
	unsigned shift;
} suffixes[] = {
	{ 'K', 'k', 10 },
	{ 'M', 'm', 20 },
	{ 'G', 'g', 30 },
	{ 'T', 't', 40 },
};
#define N_SUFFIXES (sizeof(suffixes) / sizeof(suffixes[0]))

#define GRAMMAR "digits, then optionally K, M, G or T"

int bytesize_parse(const char *s, uint64_t *out, struct seed_err *err)
{
	if (!s)
		s = "";
	const char *p = s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return seed_err_set_at(err, -EINVAL, 0, "\"%s\" is not a size (%s)", s, GRAMMAR);
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return seed_err_set(err, -ERANGE, "\"%s\" is too large a size (over 2^64)",
					    s);
		v = v * 10 + d;
	}
	unsigned shift = 0;
	for (size_t i = 0; i < N_SUFFIXES; i++) {
		if (*p == suffixes[i].upper || *p == suffixes[i].lower) {
			shift = suffixes[i].shift;
			p++;
			break;
		}
	}
	if (*p)
		return seed_err_set_at(err, -EINVAL, (uint64_t)(p - s),
				       "\"%s\" is not a size (%s): '%c' at offset %zu", s, GRAMMAR,
				       *p >= 0x20 && *p < 0x7f ? *p : '?', (size_t)(p - s));
	if (v > UINT64_MAX >> shift)
		return seed_err_set(err, -ERANGE, "\"%s\" is too large a size (over 2^64)", s);
	*out = v << shift;
	return 0;
}

int bytesize_parse_range(const char *s, uint64_t min, uint64_t max, uint64_t *out,
			 struct seed_err *err)
{
	uint64_t v;
	struct seed_err why;
	char lo[BYTESIZE_FMT_MAX], hi[BYTESIZE_FMT_MAX];
	seed_err_clear(&why);
	int rc = bytesize_parse(s, &v, &why);
	if (rc == 0 && v >= min && v <= max) {
		*out = v;
		return 0;
	}
	/* one message for every refusal: what the value may be is what helps */
	rc = rc ? rc : -ERANGE;
	bytesize_format(min, lo);
	bytesize_format(max, hi);
	if (why.has_offset)
		return seed_err_set_at(err, rc, why.offset,
				       "\"%s\" is not a size from %s to %s (%s)", s ? s : "", lo,
				       hi, GRAMMAR);
	return seed_err_set(err, rc, "\"%s\" is not a size from %s to %s (%s)", s ? s : "", lo, hi,
			    GRAMMAR);
}

char *bytesize_format(uint64_t n, char *out)
{
	for (size_t i = N_SUFFIXES; i-- > 0;) {
		uint64_t unit = (uint64_t)1 << suffixes[i].shift;
		if (n && n % unit == 0) {
			snprintf(out, BYTESIZE_FMT_MAX, "%llu%c", (unsigned long long)(n / unit),
				 suffixes[i].upper);
			return out;
		}
	}
	snprintf(out, BYTESIZE_FMT_MAX, "%llu", (unsigned long long)n);
	return out;
}
