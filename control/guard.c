/*
 * guard: see guard.h. Host matching and roles are pure; guard_peer(),
 * guard_ids_init() and guard_socket_acl() are the only system calls.
 */
#include "guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13; asm-generic/socket.h */
#endif

/* ---- Host ---- */

static void add_host(struct guard_hosts *h, const char *s)
{
	size_t k = 0;

	if (h->n == sizeof(h->v) / sizeof(h->v[0]))
		return;
	for (; s[k] && k < SEEDCONF_HOST_MAX; k++)
		h->v[h->n][k] = (char)(s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k]);
	h->v[h->n][k] = '\0';
	h->n++;
}

void guard_hosts_init(struct guard_hosts *h, const struct seedconf_node *nc)
{
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)&nc->status_addr;
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&nc->status_addr;
	char a[INET6_ADDRSTRLEN + 2];

	memset(h, 0, sizeof(*h));
	if (nc->status_addr_len && nc->status_addr.ss_family == AF_INET)
		h->port = ntohs(v4->sin_port);
	else if (nc->status_addr_len)
		h->port = ntohs(v6->sin6_port);
	if (nc->n_status_hosts) {
		for (unsigned i = 0; i < nc->n_status_hosts; i++)
			add_host(h, nc->status_hosts[i]);
		return;
	}
	add_host(h, "localhost");
	if (!nc->status_addr_len)
		return;
	if (nc->status_addr.ss_family == AF_INET) {
		if (v4->sin_addr.s_addr == htonl(INADDR_ANY)) {
			h->any_ip = true;
			return;
		}
		inet_ntop(AF_INET, &v4->sin_addr, a, sizeof(a));
		add_host(h, a);
	} else {
		if (IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr)) {
			h->any_ip = true;
			return;
		}
		a[0] = '[';
		inet_ntop(AF_INET6, &v6->sin6_addr, a + 1, sizeof(a) - 2);
		strcat(a, "]");
		add_host(h, a);
	}
}

/* Splits NAME[:PORT] or [V6][:PORT] at the port's ':'; *port_len 0 when
 * there is none. False when the shape is wrong (an empty port, a ']' not
 * followed by ':' or the end). */
static bool split_host(const char *s, size_t len, size_t *host_len, const char **port,
		       size_t *port_len)
{
	const char *colon = NULL;

	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close)
			return false;
		*host_len = (size_t)(close - s) + 1;
		if (*host_len < len && s[*host_len] != ':')
			return false;
		colon = *host_len < len ? s + *host_len : NULL;
	} else {
		colon = memchr(s, ':', len);
		*host_len = colon ? (size_t)(colon - s) : len;
	}
	*port = colon ? colon + 1 : NULL;
	*port_len = colon ? len - *host_len - 1 : 0;
	return !colon || *port_len;
}

static bool ieq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		char x = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] + 32) : a[i];
		if (x != b[i])
			return false;
	}
	return true;
}

/* The port p[0..n) as a number, 0 when it is not 1..65535 in decimal. */
static unsigned port_num(const char *p, size_t n)
{
	unsigned v = 0;

	if (!n || n > 5)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	return v <= 65535 ? v : 0;
}

static bool ip_literal(const char *s, size_t n)
{
	char buf[INET6_ADDRSTRLEN + 2];
	uint8_t tmp[16];

	if (n < 2 || n >= sizeof(buf))
		return false;
	if (s[0] == '[') {
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = '\0';
		return inet_pton(AF_INET6, buf, tmp) == 1;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, tmp) == 1;
}

bool guard_host_ok(const struct guard_hosts *h, const char *host, size_t len)
{
	size_t hl, pl;
	const char *port;
	unsigned pn = 0;

	if (!host || !len || !split_host(host, len, &hl, &port, &pl) || !hl)
		return false;
	if (pl && !(pn = port_num(port, pl)))
		return false;
	for (unsigned i = 0; i < h->n; i++) {
		const char *e = h->v[i], *ep;
		size_t el, epl;

		if (!split_host(e, strlen(e), &el, &ep, &epl) || !ieq(host, hl, e, el))
			continue;
		if (epl ? pn == port_num(ep, epl) : !pl || pn == h->port)
			return true;
	}
	return h->any_ip && ip_literal(host, hl) && (!pl || pn == h->port);
}

/* ---- roles ---- */

static int lookup(const char *name, gid_t *out, bool *found)
{
	struct group gr, *res = NULL;
	size_t cap = 16384;
	char *buf = NULL;
	int rc;

	*found = false;
	if (!*name)
		return 0;
	/* a group with many members needs a bigger buffer: grow to 1 MiB */
	do {
		char *nb = realloc(buf, cap);
		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		rc = getgrnam_r(name, &gr, buf, cap, &res);
		cap *= 2;
	} while (rc == ERANGE && cap <= (1u << 20));
	if (!rc && res) {
		*out = res->gr_gid;
		*found = true;
	}
	free(buf);
	/* "not found" comes back as 0 with no result, or as one of these */
	if (rc && rc != ENOENT && rc != ESRCH && rc != EBADF && rc != EPERM)
		return -rc;
	return 0;
}

int guard_ids_init(struct guard_ids *g, const struct seedconf_node *nc, struct seed_err *warn)
{
	int rc, missing = 0;

	memset(g, 0, sizeof(*g));
	g->self = geteuid();
	snprintf(g->admin_name, sizeof(g->admin_name), "%s", nc->admin_group);
	snprintf(g->ro_name, sizeof(g->ro_name), "%s", nc->readonly_group);
	if ((rc = lookup(g->admin_name, &g->admin, &g->has_admin)) < 0)
		return seed_err_set(warn, rc, "node.admin_group: looking up group \"%s\": %s",
				    g->admin_name, strerror(-rc));
	if ((rc = lookup(g->ro_name, &g->ro, &g->has_ro)) < 0)
		return seed_err_set(warn, rc, "node.readonly_group: looking up group \"%s\": %s",
				    g->ro_name, strerror(-rc));
	bool no_ro = *g->ro_name && !g->has_ro, no_admin = *g->admin_name && !g->has_admin;
	missing = no_ro + no_admin;
	if (no_ro && no_admin)
		seed_err_set(warn, 0,
			     "node.admin_group, node.readonly_group: no groups \"%s\", \"%s\" on "
			     "this system: only uid 0 and seed-control's own uid may use the API "
			     "socket",
			     g->admin_name, g->ro_name);
	else if (no_admin)
		seed_err_set(warn, 0,
			     "node.admin_group: no group \"%s\" on this system: only uid 0 and "
			     "seed-control's own uid may change things over the API socket",
			     g->admin_name);
	else if (no_ro)
		seed_err_set(warn, 0,
			     "node.readonly_group: no group \"%s\" on this system: nobody is "
			     "read-only on the API socket",
			     g->ro_name);
	return missing;
}

static bool member(gid_t want, gid_t gid, const gid_t *groups, size_t n)
{
	if (gid == want)
		return true;
	for (size_t i = 0; i < n; i++)
		if (groups[i] == want)
			return true;
	return false;
}

enum guard_role guard_role(const struct guard_ids *g, uid_t uid, gid_t gid, const gid_t *groups,
			   size_t n)
{
	if (uid == 0 || uid == g->self)
		return GUARD_ADMIN;
	if (g->has_admin && member(g->admin, gid, groups, n))
		return GUARD_ADMIN;
	if (g->has_ro && member(g->ro, gid, groups, n))
		return GUARD_READ;
	return GUARD_NONE;
}

int guard_peer(int fd, const struct guard_ids *g, struct guard_peer *out)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	gid_t small[64], *groups = small;
	socklen_t glen = sizeof(small);
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) < 0) {
		if (errno != ERANGE)
			return -errno;
		/* glen now holds the size the list needs */
		groups = malloc(glen ? glen : 1);
		if (!groups)
			return -ENOMEM;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) < 0)
			rc = -errno;
	}
	if (!rc) {
		out->pid = cr.pid;
		out->uid = cr.uid;
		out->gid = cr.gid;
		out->role = guard_role(g, cr.uid, cr.gid, groups, glen / sizeof(gid_t));
	}
	if (groups != small)
		free(groups);
	return rc;
}

void guard_refusal(const struct guard_ids *g, const struct guard_peer *p, char *msg, size_t cap)
{
	if (p->role == GUARD_READ)
		snprintf(msg, cap,
			 "uid %u may only read (group %s): changes need membership of group %s",
			 (unsigned)p->uid, g->ro_name, *g->admin_name ? g->admin_name : "(none)");
	else
		snprintf(msg, cap,
			 "uid %u is in neither group %s (admin) nor %s (read-only): ask an "
			 "operator to add it to one",
			 (unsigned)p->uid, *g->admin_name ? g->admin_name : "(none)",
			 *g->ro_name ? g->ro_name : "(none)");
}

/* ---- the socket file's ACL ---- */

/* The kernel's POSIX ACL xattr layout (linux/posix_acl_xattr.h): a version
 * word then entries, little-endian, sorted by tag then id. */
#define ACL_XATTR_VERSION 2
#define TAG_USER_OBJ	  0x01
#define TAG_GROUP_OBJ	  0x04
#define TAG_GROUP	  0x08
#define TAG_MASK	  0x10
#define TAG_OTHER	  0x20
#define PERM_RW		  6
#define ID_NONE		  0xffffffffu

static size_t put_entry(uint8_t *p, uint16_t tag, uint16_t perm, uint32_t id)
{
	p[0] = (uint8_t)tag;
	p[1] = (uint8_t)(tag >> 8);
	p[2] = (uint8_t)perm;
	p[3] = (uint8_t)(perm >> 8);
	for (int i = 0; i < 4; i++)
		p[4 + i] = (uint8_t)(id >> (8 * i));
	return 8;
}

int guard_socket_acl(const char *path, const struct guard_ids *g, struct seed_err *err)
{
	uint8_t buf[4 + 6 * 8];
	size_t n = 0;
	uint32_t ids[2];
	size_t nid = 0;

	buf[n++] = ACL_XATTR_VERSION;
	buf[n++] = 0;
	buf[n++] = 0;
	buf[n++] = 0;
	if (g->has_admin)
		ids[nid++] = (uint32_t)g->admin;
	if (g->has_ro && !(g->has_admin && g->ro == g->admin))
		ids[nid++] = (uint32_t)g->ro;
	if (nid == 2 && ids[0] > ids[1]) {
		uint32_t t = ids[0];
		ids[0] = ids[1];
		ids[1] = t;
	}
	n += put_entry(buf + n, TAG_USER_OBJ, PERM_RW, ID_NONE);
	/* the file's own group (seed-control's) gets nothing by being it:
	 * only the two configured groups' members connect */
	n += put_entry(buf + n, TAG_GROUP_OBJ, 0, ID_NONE);
	for (size_t i = 0; i < nid; i++)
		n += put_entry(buf + n, TAG_GROUP, PERM_RW, ids[i]);
	n += put_entry(buf + n, TAG_MASK, PERM_RW, ID_NONE);
	n += put_entry(buf + n, TAG_OTHER, 0, ID_NONE);
	if (setxattr(path, "system.posix_acl_access", buf, n, 0) < 0)
		return seed_err_set(err, -errno, "api socket %s: setting its ACL: %s", path,
				    strerror(errno));
	return 0;
}
