/*
 * cidr: see cidr.h. Parsing leans on inet_pton(), which is strict (no
 * leading zeros in IPv4 octets, no zone ids, no trailing junk), and adds
 * only the prefix and the checks around it. Matching compares whole bytes
 * and then the leading bits of one byte, so no mask is ever stored.
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/*
 * Copies at most 64 characters of untrusted input into buf for a message,
 * replacing anything unprintable with '?' (a config value may hold control
 * characters that would garble a terminal) and marking a cut with "...".
 */
static const char *show(const char *s, char *buf, size_t cap)
{
	size_t i = 0, j = 0;
	for (; s[i] && i < 64 && j + 4 < cap; i++)
		buf[j++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i] && j + 4 <= cap) {
		memcpy(buf + j, "...", 3);
		j += 3;
	}
	buf[j] = 0;
	return buf;
}

static unsigned addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* 1 when the first `prefix` bits of a and b agree. */
static int prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;
	if (memcmp(a, b, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return ((a[whole] ^ b[whole]) & mask) == 0;
}

/* Clears every bit of addr (16 bytes) past prefix. */
static void mask_host_bits(uint8_t *addr, unsigned prefix)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = prefix > i * 8 ? prefix - i * 8 : 0;
		if (keep >= 8)
			continue;
		addr[i] &= (uint8_t)(0xff << (8 - keep));
	}
}

/* 1 when c has a bit set past its prefix; *masked gets c without them. */
static int has_host_bits(const struct cidr *c, struct cidr *masked)
{
	*masked = *c;
	mask_host_bits(masked->addr, c->prefix);
	return memcmp(masked->addr, c->addr, sizeof(c->addr)) != 0;
}

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* 1 when c lies inside ::ffff:0:0/96; *v4 gets the IPv4 range it means. */
static int is_v4mapped(const struct cidr *c, struct cidr *v4)
{
	if (c->family != AF_INET6 || c->prefix < 96 ||
	    memcmp(c->addr, v4mapped_prefix, sizeof(v4mapped_prefix)) != 0)
		return 0;
	*v4 = (struct cidr){ .family = AF_INET, .prefix = (uint8_t)(c->prefix - 96) };
	memcpy(v4->addr, c->addr + 12, 4);
	return 1;
}

int cidr_check(const struct cidr *c, struct seed_err *err)
{
	struct cidr other;

	if (c->family != AF_INET && c->family != AF_INET6)
		return seed_err_set(err, -EINVAL,
				    "address family %u is neither AF_INET nor AF_INET6", c->family);
	unsigned bits = addr_len(c->family) * 8;
	if (c->prefix > bits)
		return seed_err_set(err, -EINVAL, "prefix /%u is longer than %u bits", c->prefix,
				    bits);
	if (has_host_bits(c, &other))
		return seed_err_set(err, -EINVAL, "address has bits set past /%u", c->prefix);
	if (is_v4mapped(c, &other))
		return seed_err_set(err, -EINVAL, "an IPv4-mapped IPv6 range never matches");
	return 0;
}

int cidr_format(const struct cidr *c, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN];
	if (cap > 0)
		buf[0] = 0;
	if (!c || (c->family != AF_INET && c->family != AF_INET6) ||
	    c->prefix > addr_len(c->family) * 8)
		return -EINVAL;
	if (!inet_ntop(c->family, c->addr, a, sizeof(a)))
		return -EINVAL;
	int n = snprintf(buf, cap, "%s/%u", a, (unsigned)c->prefix);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return 0;
}

int cidr_parse(const char *s, struct cidr *out, struct seed_err *err)
{
	char shown[80], text[CIDR_INPUT_MAX + 1];
	struct cidr c;

	if (!s || !*s)
		return seed_err_set(err, -EINVAL, "empty address (expected e.g. 10.0.0.0/8)");
	size_t len = strnlen(s, CIDR_INPUT_MAX + 1);
	if (len > CIDR_INPUT_MAX)
		return seed_err_set(err, -EINVAL, "\"%s\" is too long for an address",
				    show(s, shown, sizeof(shown)));
	memcpy(text, s, len + 1);

	memset(&c, 0, sizeof(c));
	char *slash = strchr(text, '/');
	if (slash)
		*slash = 0;
	/* inet_pton() picks the family from the text: a colon means IPv6. */
	c.family = strchr(text, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(c.family, text, c.addr) != 1)
		return seed_err_set(err, -EINVAL, "\"%s\" is not an IPv4 or IPv6 address%s",
				    show(s, shown, sizeof(shown)),
				    c.family == AF_INET ? " (expected e.g. 10.0.0.0/8)"
							: " (expected e.g. 2001:db8::/32)");
	unsigned max = addr_len(c.family) * 8;
	if (slash) {
		const char *p = slash + 1;
		unsigned n = 0, digits = 0;
		for (; *p >= '0' && *p <= '9' && digits < 3; p++, digits++)
			n = n * 10 + (unsigned)(*p - '0');
		if (digits == 0 || *p)
			return seed_err_set(err, -EINVAL,
					    "\"%s\": the prefix length after '/' must be a "
					    "number from 0 to %u",
					    show(s, shown, sizeof(shown)), max);
		if (n > max)
			return seed_err_set(err, -EINVAL,
					    "\"%s\": prefix /%u is out of range for %s (0 to %u)",
					    show(s, shown, sizeof(shown)), n,
					    c.family == AF_INET ? "IPv4" : "IPv6", max);
		c.prefix = (uint8_t)n;
	} else {
		c.prefix = (uint8_t)max;
	}

	struct cidr other;
	char hint[CIDR_STR_MAX];
	if (has_host_bits(&c, &other)) {
		cidr_format(&other, hint, sizeof(hint));
		return seed_err_set(err, -EINVAL, "\"%s\" has host bits set; did you mean %s?",
				    show(s, shown, sizeof(shown)), hint);
	}
	/*
	 * IPv4 peers are always matched as IPv4 (see cidr.h), so a range
	 * inside ::ffff:0:0/96 would be dead: say how to write it instead.
	 */
	if (is_v4mapped(&c, &other)) {
		cidr_format(&other, hint, sizeof(hint));
		return seed_err_set(err, -EINVAL,
				    "\"%s\" is an IPv4-mapped IPv6 range; write it as IPv4 (%s)",
				    show(s, shown, sizeof(shown)), hint);
	}
	*out = c;
	return 0;
}

int cidr_match_raw(const struct cidr *c, int family, const uint8_t *addr)
{
	if (!c || !addr)
		return 0;
	if (family == AF_INET6 && memcmp(addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
		family = AF_INET;
		addr += 12;
	}
	if (family != c->family || (family != AF_INET && family != AF_INET6))
		return 0;
	if (c->prefix > addr_len(family) * 8)
		return 0;
	return prefix_equal(c->addr, addr, c->prefix);
}

int cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		return cidr_match_raw(c, AF_INET, (const uint8_t *)&in->sin_addr);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		return cidr_match_raw(c, AF_INET6, in6->sin6_addr.s6_addr);
	}
	return 0;
}

void cidr_set_init(struct cidr_set *s)
{
	s->n = 0;
}

int cidr_set_add(struct cidr_set *s, const struct cidr *c, struct seed_err *err)
{
	if (s->n >= CIDR_SET_MAX)
		return seed_err_set(err, -ENOSPC, "more than %d address ranges", CIDR_SET_MAX);
	s->v[s->n++] = *c;
	return 0;
}

int cidr_set_add_str(struct cidr_set *s, const char *str, struct seed_err *err)
{
	struct cidr c;
	int rc = cidr_parse(str, &c, err);
	if (rc < 0)
		return rc;
	return cidr_set_add(s, &c, err);
}

int cidr_set_match_raw(const struct cidr_set *s, int family, const uint8_t *addr)
{
	if (s->n == 0)
		return 1;
	for (uint32_t i = 0; i < s->n && i < CIDR_SET_MAX; i++)
		if (cidr_match_raw(&s->v[i], family, addr))
			return 1;
	return 0;
}

int cidr_set_match(const struct cidr_set *s, const struct sockaddr *sa)
{
	if (s->n == 0)
		return 1;
	for (uint32_t i = 0; i < s->n && i < CIDR_SET_MAX; i++)
		if (cidr_match(&s->v[i], sa))
			return 1;
	return 0;
}
