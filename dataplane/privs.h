/*
 * privs: seed-dataplane gives up what it no longer needs once it holds its
 * sockets, rings and memory.
 *
 * The data plane is the process peers on the internet talk to; a flaw in a
 * protocol engine must not hand them the store, the catalog or seed-control's
 * API socket. So:
 *
 *  - started as root, it looks its user up once at start (privs_plan), binds,
 *    sets up its rings, registers and locks its memory, then switches to that
 *    user (setgroups, setresgid, setresuid) with no capability left in any
 *    thread (privs_drop);
 *  - started as another user (systemd's User=, possibly with
 *    AmbientCapabilities= for a port below 1024), it stays that user and
 *    clears every capability in every thread once the listeners are bound;
 *  - it runs on as root only when told so (--allow-root yes), and says so.
 *
 * Call order (main.c): privs_plan at start, with the other settings (a
 * missing user is a start-up error); privs_restrict before the first thread
 * exists (the backend's init starts the EAL's threads, worker_start the
 * workers), so every thread inherits no-new-privs and empty bounding,
 * inheritable and ambient sets; privs_drop after the last worker is set
 * up, before the listeners are announced and before worker_go lets the
 * workers read a peer's first byte.
 *
 * Capabilities are per thread in Linux; uid and gid changes are made
 * process-wide by the C library (it repeats them in every thread), and a
 * thread whose uids all leave 0 loses its permitted and effective sets with
 * them. A thread that keeps capabilities anyway (started as a user with
 * ambient capabilities: no uid change) is asked by a signal to clear its own
 * (privs_drop), and every thread is then checked in /proc/self/task: a
 * capability left anywhere is an error, never a warning. io_uring's kernel
 * workers (iou-wrk-*) are not checked: they cannot take signals, and the
 * kernel runs each request with the credentials of the thread that submitted
 * it, captured at submission.
 */
#ifndef SEED_DP_PRIVS_H
#define SEED_DP_PRIVS_H

#include <sys/types.h>

#include "seed_err.h"

/* Longest user name accepted (useradd's limit). */
#define PRIVS_NAME_MAX 32
/* Most groups the data plane's user may be in (its own and supplementary). */
#define PRIVS_MAX_GROUPS 64

enum privs_mode {
	PRIVS_KEEP = 1, /* started as a user: stays it, capabilities cleared */
	PRIVS_SWITCH,	/* started as root: becomes the configured user */
	PRIVS_ROOT,	/* started as root with --allow-root yes: stays root */
};

struct privs {
	enum privs_mode mode;
	char user[PRIVS_NAME_MAX + 1]; /* PRIVS_SWITCH: the user to become */
	uid_t uid;
	gid_t gid;
	gid_t groups[PRIVS_MAX_GROUPS];
	int n_groups;
};

/*
 * 0 when name is a user name the data plane accepts: 1 to PRIVS_NAME_MAX of
 * A-Z a-z 0-9 . _ - not starting with - (what useradd and sysusers.d
 * accept, without the rarer forms); -EINVAL otherwise, err saying why.
 */
int privs_check_name(const char *name, struct seed_err *err);

/*
 * Decides what the process will become, from the configured user, the
 * allow-root setting and the effective uid it started with (geteuid(),
 * passed in). For PRIVS_SWITCH it looks the user and its groups up now, once:
 * -ENOENT when there is no such user, -EPERM when it is root or in group
 * root, -E2BIG with more than PRIVS_MAX_GROUPS groups, another -errno when
 * the lookup itself failed; err names --user and the name.
 */
int privs_plan(const char *user, int allow_root, uid_t euid, struct privs *out,
	       struct seed_err *err);

/*
 * In the calling thread, before any other thread exists: sets no-new-privs
 * and clears the ambient and inheritable sets and, when the thread may
 * (CAP_SETPCAP), the bounding set. Leaves the effective and permitted sets
 * alone: binding a port below 1024, locking memory and the EAL still need
 * them. Does nothing under PRIVS_ROOT.
 */
int privs_restrict(const struct privs *p, struct seed_err *err);

/*
 * After the listeners are bound and the memory set up: switches user
 * (PRIVS_SWITCH), clears every capability in every thread and checks it.
 * Does nothing under PRIVS_ROOT (the caller says it runs as root).
 * Returns 0 or -errno with err naming the step or the thread that failed;
 * the caller must then stop (a half-dropped process must not serve).
 */
int privs_drop(const struct privs *p, struct seed_err *err);

#endif
