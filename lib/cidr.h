/*
 * cidr: IPv4 and IPv6 address prefixes ("10.0.0.0/8", "2001:db8::/32") and
 * small allow-lists of them, for a tenant's peer access rules.
 *
 * Invariants: a struct cidr filled by cidr_parse() has family AF_INET with
 * prefix 0..32 and the address in addr[0..3] (network byte order), or
 * AF_INET6 with prefix 0..128 and the address in addr[0..15]; every bit
 * past the prefix is zero (a string with host bits set is refused, not
 * silently masked, because "10.0.0.1/8" is usually a typo for something).
 *
 * IPv4 peers match only IPv4 entries, whatever socket they came in on: an
 * IPv4-mapped IPv6 peer address (::ffff:a.b.c.d, what a dual-stack socket
 * reports for an IPv4 client) is matched as the IPv4 address a.b.c.d. So
 * "::/0" means "every IPv6 peer", never "every peer", and an entry written
 * inside ::ffff:0:0/96 is refused by cidr_parse() with a hint to write the
 * IPv4 form, since it could never match.
 *
 * Call order: cidr_parse() (or cidr_set_add_str()) at configuration time;
 * cidr_match()/cidr_set_match() per accepted peer. Matching reads only its
 * arguments, allocates nothing and is safe from any thread.
 */
#ifndef SEED_CIDR_H
#define SEED_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "seed_err.h"

/* Longest cidr_format() output, NUL included: a full IPv6 address + "/128". */
#define CIDR_STR_MAX 50
/* Longest string cidr_parse() considers (anything longer is refused). */
#define CIDR_INPUT_MAX 64
/* Entries in one cidr_set. */
#define CIDR_SET_MAX 256

struct cidr {
	uint8_t family;	  /* AF_INET or AF_INET6 */
	uint8_t prefix;	  /* 0..32 or 0..128 */
	uint8_t addr[16]; /* network byte order; IPv4 uses the first 4 bytes */
};

/*
 * Parses "A.B.C.D/N", "A.B.C.D" (= /32), "IPV6/N" or "IPV6" (= /128).
 * Refuses (-EINVAL, err naming the string): empty input, anything
 * inet_pton() does not accept, a prefix that is not 0..32 / 0..128 in
 * decimal, trailing characters, host bits set past the prefix, and
 * IPv4-mapped IPv6 ranges. *out is written only on success.
 */
int cidr_parse(const char *s, struct cidr *out, struct seed_err *err);

/*
 * Checks a struct cidr that did not come from cidr_parse() (one decoded
 * from a file): 0 when cidr_parse() could have produced it, else -EINVAL
 * naming the fault (family, prefix length, host bits set, IPv4-mapped
 * range). Bytes of addr past the family's length must be zero too.
 */
int cidr_check(const struct cidr *c, struct seed_err *err);

/*
 * 1 when sa (AF_INET: a struct sockaddr_in, AF_INET6: a struct
 * sockaddr_in6; the caller guarantees the size) lies inside c, else 0.
 * Other families and NULL never match.
 */
int cidr_match(const struct cidr *c, const struct sockaddr *sa);

/*
 * As cidr_match() for a raw address: family AF_INET with 4 bytes or
 * AF_INET6 with 16 bytes at addr (network byte order), for callers that
 * have no sockaddr (the userspace network stack).
 */
int cidr_match_raw(const struct cidr *c, int family, const uint8_t *addr);

/*
 * Writes the canonical text ("10.0.0.0/8", "2001:db8::/32"; the prefix is
 * always shown) into buf. 0, or -ENOSPC when cap is too small (buf then
 * holds a truncated, NUL-terminated string when cap > 0), or -EINVAL for
 * a struct cidr no parser could have produced. CIDR_STR_MAX always fits.
 */
int cidr_format(const struct cidr *c, char *buf, size_t cap);

/*
 * A bounded allow-list. An EMPTY set MATCHES EVERY PEER: "no rules" means
 * "no restriction", which is what an absent `allow` setting says. Plain
 * data: it may be copied by value and shared read-only between threads.
 * Matching is a linear scan (at most CIDR_SET_MAX entries, done once per
 * accepted connection, not per request).
 */
struct cidr_set {
	uint32_t n;
	struct cidr v[CIDR_SET_MAX];
};

/* Empties a set (which then matches everyone). */
void cidr_set_init(struct cidr_set *s);

/* Appends c; -ENOSPC when the set already holds CIDR_SET_MAX entries. */
int cidr_set_add(struct cidr_set *s, const struct cidr *c, struct seed_err *err);

/* cidr_parse() then cidr_set_add(); the set is unchanged on failure. */
int cidr_set_add_str(struct cidr_set *s, const char *str, struct seed_err *err);

/* 1 when the set is empty or any entry matches sa (see cidr_match()). */
int cidr_set_match(const struct cidr_set *s, const struct sockaddr *sa);

/* As cidr_set_match() for a raw address (see cidr_match_raw()). */
int cidr_set_match_raw(const struct cidr_set *s, int family, const uint8_t *addr);

#endif
