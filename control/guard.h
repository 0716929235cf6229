/*
 * guard: who may use seed-control's listeners (docs/api.md, "Who may
 * call").
 *
 *  - The TCP status listener answers only requests whose Host: names one
 *    of the config's status_hosts, so a page on another site that a DNS
 *    rebinding pointed at this box cannot read the status (the browser
 *    sends the attacker's name). The default, when status_hosts is empty:
 *    the listen address and "localhost", each with or without the
 *    listener's port; for a wildcard listener ("*:PORT", "[::]:PORT") any
 *    IP-address Host (a rebinding needs a name) and "localhost".
 *  - The API socket (control.sock) gives each caller a role from its
 *    credentials: uid 0 and seed-control's own uid are admins; then a
 *    member of admin_group is an admin, a member of readonly_group may
 *    only read, anyone else nothing. Membership is the caller's gid or one
 *    of its supplementary groups as the kernel recorded them when it
 *    connected (SO_PEERCRED, SO_PEERGROUPS): what the process really holds,
 *    with no race on its pid and no look-up of its name.
 *  - The socket file carries a POSIX ACL granting both groups read-write,
 *    so only its owner and members of those groups can connect at all
 *    (others get EACCES before seed-control sees them).
 *
 * A group name that does not exist gives its role no members (and a
 * warning line): a default group absent on a developer's machine must not
 * stop seed-control from starting.
 *
 * Call order: guard_hosts_init() and guard_ids_init() at start (after the
 * config is loaded); guard_host_ok() per request on the TCP listener;
 * guard_peer() per accepted API connection, then guard_role();
 * guard_socket_acl() once the socket file exists.
 */
#ifndef SEED_CTL_GUARD_H
#define SEED_CTL_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "seed_err.h"
#include "seedconf.h"

/* The Host names the status listener answers. */
struct guard_hosts {
	char v[SEEDCONF_MAX_HOSTS + 2][SEEDCONF_HOST_MAX + 1]; /* lowercased */
	unsigned n;
	uint16_t port; /* the listener's port: a name without one matches it */
	bool any_ip;   /* wildcard listener: any IP-address Host */
};

/* Fills h from nc's status_hosts, or the default above when it is empty. */
void guard_hosts_init(struct guard_hosts *h, const struct seedconf_node *nc);

/*
 * 1 when the Host field value host[0..len) (as sent: NAME[:PORT],
 * IPV4[:PORT] or [IPV6][:PORT], any case) is one h allows: an entry with
 * a port needs that port in the field; one without matches the field with
 * no port or the listener's. NULL (no Host field) is never allowed.
 */
bool guard_host_ok(const struct guard_hosts *h, const char *host, size_t len);

enum guard_role {
	GUARD_NONE,  /* may not use the API */
	GUARD_READ,  /* GET and HEAD */
	GUARD_ADMIN, /* everything */
};

/* The API socket's groups, resolved once at start. */
struct guard_ids {
	uid_t self; /* seed-control's own uid: always admin */
	gid_t admin, ro;
	bool has_admin, has_ro; /* false: the group is "" or does not exist */
	char admin_name[SEEDCONF_GROUP_MAX + 1], ro_name[SEEDCONF_GROUP_MAX + 1];
};

/*
 * Looks the groups up (getgrnam_r). Returns 0, or the number of groups
 * that do not exist (1 or 2) with warn holding one line naming the first
 * one's key ("node.admin_group: no group \"seed\" on this system: ..."),
 * for the caller to log; the role then has no members. -errno only when
 * the look-up itself failed (warn says why).
 */
int guard_ids_init(struct guard_ids *g, const struct seedconf_node *nc, struct seed_err *warn);

/* The role of a caller with these credentials (groups: its supplementary
 * groups, n of them; may be NULL when n is 0). */
enum guard_role guard_role(const struct guard_ids *g, uid_t uid, gid_t gid, const gid_t *groups,
			   size_t n);

/* A connected caller, as the kernel recorded it at connect(). */
struct guard_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	enum guard_role role;
};

/* SO_PEERCRED and SO_PEERGROUPS of the Unix socket fd, and the role g
 * gives them. 0 or -errno (the caller then refuses the connection). */
int guard_peer(int fd, const struct guard_ids *g, struct guard_peer *out);

/*
 * Writes into msg[0..cap) why a caller may not do what it asked (the body
 * of a 403): a read-only caller wanting a change names the admin group, a
 * caller with no role names both.
 */
void guard_refusal(const struct guard_ids *g, const struct guard_peer *p, char *msg, size_t cap);

/*
 * Gives the socket file at path the ACL user::rw group::--- group:ADMIN:rw
 * group:RO:rw mask::rw other::--- (the groups that exist): its owner and
 * the two groups' members may connect, nobody else (not the file's own
 * group as such). 0 or -errno with err naming the path (-EOPNOTSUPP: the
 * file system has no ACLs; the file stays 0660 and its group can connect).
 */
int guard_socket_acl(const char *path, const struct guard_ids *g, struct seed_err *err);

#endif
