/*
 * privs: see privs.h. No libcap: the four calls it needs (capget, capset,
 * prctl, the uid and gid setters) are system calls, and a thread's state is
 * read back from /proc/self/task, the same lines an operator reads.
 */
#include "privs.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Bounds on the user database's answer: a getpwnam_r buffer grows to this. */
#define PW_BUF_MAX (1u << 20)
/* How long the threads get to clear their capabilities (they answer in
 * microseconds; only a thread blocking the signal makes us wait it out). */
#define ACK_WAIT_MS 2000

int privs_check_name(const char *name, struct seed_err *err)
{
	size_t n = strnlen(name, PRIVS_NAME_MAX + 1);
	if (n == 0 || n > PRIVS_NAME_MAX)
		return seed_err_set(err, -EINVAL,
				    "user name \"%.40s\": expected 1 to %d characters", name,
				    PRIVS_NAME_MAX);
	if (name[0] == '-')
		return seed_err_set(err, -EINVAL, "user name \"%s\": must not start with -", name);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return seed_err_set(err, -EINVAL,
					    "user name \"%s\": only A-Z a-z 0-9 . _ - are allowed",
					    name);
	}
	return 0;
}

int privs_plan(const char *user, int allow_root, uid_t euid, struct privs *out,
	       struct seed_err *err)
{
	memset(out, 0, sizeof(*out));
	if (euid != 0) {
		out->mode = PRIVS_KEEP;
		return 0;
	}
	if (allow_root) {
		out->mode = PRIVS_ROOT;
		return 0;
	}
	int rc = privs_check_name(user, err);
	if (rc < 0) {
		seed_err_prefix(err, "--user: ");
		return rc;
	}
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t cap = hint > 0 && hint < (long)PW_BUF_MAX ? (size_t)hint : 16384;
	struct passwd pw, *res = NULL;
	char *buf = NULL;
	for (;;) {
		char *nb = realloc(buf, cap);
		if (!nb) {
			free(buf);
			return seed_err_set(err, -ENOMEM, "--user %s: out of memory", user);
		}
		buf = nb;
		errno = 0;
		rc = getpwnam_r(user, &pw, buf, cap, &res);
		if (rc != ERANGE || cap >= PW_BUF_MAX)
			break;
		cap *= 2;
	}
	if (rc == 0 && !res) {
		free(buf);
		return seed_err_set(err, -ENOENT,
				    "--user %s: no such user; create it (sysusers.d/seed.conf) "
				    "or give --allow-root yes to run on as root",
				    user);
	}
	if (rc != 0) {
		free(buf);
		return seed_err_set(err, -rc, "--user %s: looking the user up failed: %s", user,
				    strerror(rc));
	}
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	free(buf);
	if (out->uid == 0 || out->gid == 0)
		return seed_err_set(err, -EPERM,
				    "--user %s: has uid or gid 0, which keeps root's files open "
				    "to peers; name an unprivileged user or give --allow-root yes",
				    user);
	int n = PRIVS_MAX_GROUPS;
	if (getgrouplist(user, out->gid, out->groups, &n) < 0)
		return seed_err_set(err, -E2BIG, "--user %s: in more than %d groups", user,
				    PRIVS_MAX_GROUPS);
	for (int i = 0; i < n; i++)
		if (out->groups[i] == 0)
			return seed_err_set(err, -EPERM,
					    "--user %s: is in group root, which keeps root's files "
					    "open to peers",
					    user);
	out->n_groups = n;
	snprintf(out->user, sizeof(out->user), "%s", user);
	out->mode = PRIVS_SWITCH;
	return 0;
}

/* Sets the calling thread's three capability sets (no libcap: one call). */
static int set_caps(uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)eff, (uint32_t)prm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32) },
	};
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static int get_caps(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	*inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

int privs_restrict(const struct privs *p, struct seed_err *err)
{
	if (p->mode == PRIVS_ROOT)
		return 0;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return seed_err_set(err, -errno, "privileges: no-new-privs: %s", strerror(errno));
	/* EINVAL: a kernel without ambient capabilities has none to clear */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return seed_err_set(err, -errno, "privileges: clearing the ambient set: %s",
				    strerror(errno));
	/* Without CAP_SETPCAP (a user started with ambient capabilities) the
	 * bounding set stays as the unit set it; EINVAL: past the kernel's
	 * last capability. */
	for (unsigned long c = 0; c < 64; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			break;
	/* capset only when there is something to clear: a unit's system call
	 * filter may refuse it (SystemCallFilter=~@privileged) */
	/* zeroed: gcc -O3 does not see get_caps set them when it returns 0 */
	uint64_t eff = 0, prm = 0, inh = 0;
	int rc = get_caps(&eff, &prm, &inh);
	if (rc == 0 && inh)
		rc = set_caps(eff, prm, 0);
	if (rc < 0)
		return seed_err_set(err, rc, "privileges: clearing the inheritable set: %s",
				    strerror(-rc));
	return 0;
}

/* ---- every thread ---- */

static atomic_int g_acks, g_fails;

/* Async-signal-safe: two system calls and atomics. */
static void on_clear_signal(int sig)
{
	(void)sig;
	int e = errno;
	if (set_caps(0, 0, 0) < 0)
		atomic_fetch_add(&g_fails, 1);
	atomic_fetch_add(&g_acks, 1);
	errno = e;
}

struct task_state {
	int io_worker;	 /* io_uring's kernel thread: see privs.h */
	uint64_t cap[4]; /* CapInh, CapPrm, CapEff, CapAmb */
	long uid[4], gid[4];
};

static const char *const cap_keys[4] = { "CapInh:", "CapPrm:", "CapEff:", "CapAmb:" };

/* 0, -ESRCH when the thread is gone, another -errno when unreadable. */
static int read_task(long tid, struct task_state *t)
{
	char path[64], line[256];
	memset(t, 0, sizeof(*t));
	for (int k = 0; k < 4; k++)
		t->uid[k] = t->gid[k] = -1;
	snprintf(path, sizeof(path), "/proc/self/task/%ld/comm", tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	if (fgets(line, sizeof(line), f))
		t->io_worker = !strncmp(line, "iou-", 4);
	fclose(f);
	snprintf(path, sizeof(path), "/proc/self/task/%ld/status", tid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	int seen = 0;
	while (fgets(line, sizeof(line), f)) {
		for (int k = 0; k < 4; k++)
			if (!strncmp(line, cap_keys[k], strlen(cap_keys[k]))) {
				t->cap[k] = strtoull(line + strlen(cap_keys[k]), NULL, 16);
				seen |= 1 << k;
			}
		if (!strncmp(line, "Uid:", 4) && sscanf(line + 4, "%ld %ld %ld %ld", &t->uid[0],
							&t->uid[1], &t->uid[2], &t->uid[3]) == 4)
			seen |= 16;
		if (!strncmp(line, "Gid:", 4) && sscanf(line + 4, "%ld %ld %ld %ld", &t->gid[0],
							&t->gid[1], &t->gid[2], &t->gid[3]) == 4)
			seen |= 32;
	}
	fclose(f);
	return seen == 63 ? 0 : -EPROTO;
}

static int has_caps(const struct task_state *t)
{
	return (t->cap[0] | t->cap[1] | t->cap[2] | t->cap[3]) != 0;
}

/*
 * Walks the threads: with ask set, signals each one still holding a
 * capability (the count sent in *out_sent); without, checks that none
 * holds one and, under PRIVS_SWITCH, that all run as the user.
 */
static int walk(const struct privs *p, int ask, int sig, int *out_sent, struct seed_err *err)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return seed_err_set(err, -errno, "privileges: /proc/self/task: %s",
				    strerror(errno));
	long self = (long)syscall(SYS_gettid);
	pid_t pid = getpid();
	int rc = 0, sent = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		char *end;
		long tid = strtol(e->d_name, &end, 10);
		if (e->d_name[0] < '0' || e->d_name[0] > '9' || *end)
			continue;
		struct task_state t;
		int r = read_task(tid, &t);
		if (r == -ESRCH)
			continue;
		if (r < 0) {
			rc = seed_err_set(err, r,
					  "privileges: thread %ld: cannot read its status: %s", tid,
					  strerror(-r));
			break;
		}
		if (t.io_worker)
			continue;
		if (ask) {
			if (tid != self && has_caps(&t)) {
				if (syscall(SYS_tgkill, pid, tid, sig) == 0)
					sent++;
				else if (errno != ESRCH)
					rc = seed_err_set(
						err, -errno,
						"privileges: thread %ld: cannot signal it: %s", tid,
						strerror(errno));
			}
			continue;
		}
		if (has_caps(&t))
			rc = seed_err_set(
				err, -EPERM,
				"privileges: thread %ld still holds capabilities (CapInh "
				"%llx CapPrm %llx CapEff %llx CapAmb %llx)",
				tid, (unsigned long long)t.cap[0], (unsigned long long)t.cap[1],
				(unsigned long long)t.cap[2], (unsigned long long)t.cap[3]);
		else if (p->mode == PRIVS_SWITCH)
			for (int k = 0; k < 4 && rc == 0; k++)
				if (t.uid[k] != (long)p->uid || t.gid[k] != (long)p->gid)
					rc = seed_err_set(
						err, -EPERM,
						"privileges: thread %ld runs as uid %ld gid %ld, "
						"expected %s (%ld:%ld)",
						tid, t.uid[k], t.gid[k], p->user, (long)p->uid,
						(long)p->gid);
	}
	closedir(d);
	if (out_sent)
		*out_sent = sent;
	return rc;
}

/* Asks every thread still holding a capability to clear its own, and waits
 * (bounded) for the answers. */
static int clear_all_threads(const struct privs *p, struct seed_err *err)
{
	int sig = SIGRTMIN + 3;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_clear_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, &old) < 0)
		return seed_err_set(err, -errno, "privileges: signal %d: %s", sig, strerror(errno));
	if (old.sa_handler != SIG_DFL) {
		sigaction(sig, &old, NULL);
		return seed_err_set(err, -EBUSY, "privileges: signal %d is already in use", sig);
	}
	atomic_store(&g_acks, 0);
	atomic_store(&g_fails, 0);
	int sent = 0;
	int rc = walk(p, 1, sig, &sent, err);
	for (int i = 0; i < ACK_WAIT_MS && atomic_load(&g_acks) < sent; i++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	/* ignored from now on: a late one (a thread that had it blocked) must
	 * not take the default action, which ends the process */
	sa.sa_handler = SIG_IGN;
	sigaction(sig, &sa, NULL);
	if (rc == 0 && atomic_load(&g_fails))
		rc = seed_err_set(err, -EPERM,
				  "privileges: %d threads could not clear their "
				  "capabilities",
				  atomic_load(&g_fails));
	return rc;
}

int privs_drop(const struct privs *p, struct seed_err *err)
{
	if (p->mode == PRIVS_ROOT)
		return 0;
	if (p->mode == PRIVS_SWITCH) {
		/* groups first: they need root, which setresuid gives up */
		if (setgroups((size_t)p->n_groups, p->groups) < 0)
			return seed_err_set(err, -errno, "privileges: setgroups for %s: %s",
					    p->user, strerror(errno));
		if (setresgid(p->gid, p->gid, p->gid) < 0)
			return seed_err_set(err, -errno, "privileges: setresgid %ld: %s",
					    (long)p->gid, strerror(errno));
		if (setresuid(p->uid, p->uid, p->uid) < 0)
			return seed_err_set(err, -errno, "privileges: setresuid %ld (%s): %s",
					    (long)p->uid, p->user, strerror(errno));
	}
	if (p->mode == PRIVS_SWITCH) {
		/* The uid change made the process undumpable, which also bars
		 * the sanitizers' leak check (it ptraces the process at exit);
		 * started by systemd as the user it is dumpable too, and no
		 * other process runs as this user. */
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	}
	/* zeroed: gcc -O3 does not see get_caps set them when it returns 0 */
	uint64_t eff = 0, prm = 0, inh = 0;
	int rc = get_caps(&eff, &prm, &inh);
	if (rc == 0 && (eff | prm | inh))
		rc = set_caps(0, 0, 0);
	if (rc < 0)
		return seed_err_set(err, rc, "privileges: clearing capabilities: %s",
				    strerror(-rc));
	rc = clear_all_threads(p, err);
	if (rc < 0)
		return rc;
	return walk(p, 0, 0, NULL, err);
}
