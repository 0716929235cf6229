#!/usr/bin/env bash
# User story: the data plane is the process peers on the internet talk to; if
# one of them ever takes it over, they must not get the catalog, the store or
# seed-control's API. With the users appliance/sysusers.d-seed.conf names and
# the modes and ACLs appliance/tmpfiles.d-seed.conf gives (both applied here
# by systemd-sysusers and systemd-tmpfiles, names prefixed and paths moved
# under T):
#  (a) seed-control runs as its user, seed-dataplane is started as root with
#      --user: it ends up with the data plane's uid and gid and no capability
#      in any thread (/proc), reads the catalog seed-control publishes, and
#      serves a download over HTTP;
#  (b) a process running as the data plane's user cannot connect to
#      control.sock, nor write the catalog, /run/seed or the store; it can
#      write its counters directory (and seed-control's user can connect, so
#      can a member of seed-ro, read-only: the /run/seed ACL lets it through
#      to seed-control's own check);
#      seed-control's user, who may not signal it, drains it by creating the
#      --drain-file when asked by seedctl drain (one older than the data
#      plane's start does nothing);
#  (c) started as root with --user naming no user: one line, exit 2;
#      with --allow-root yes: it runs as root and says so once on stderr;
#  (d) started as an unprivileged user with CAP_NET_BIND_SERVICE ambient (what
#      a unit's AmbientCapabilities= gives), in a network namespace of its
#      own: it binds port 80, then no thread keeps a capability, and it serves;
#  (e) no unit can be run here (PID 1 is not systemd), so each unit's system
#      call filter is checked against what its program calls (strace), run
#      as its user like the unit runs it: seed-control through (a) and (b)
#      (publish, status, the data plane's counters), seed-dataplane serving
#      a download and stopping. Every call must be one the filter allows
#      (groups expanded by systemd-analyze syscall-filter), and every file
#      opened in /proc one that ProcSubset=pid leaves visible;
#  (f) the DPDK backend (when built) started as root with --user: the EAL
#      and the port (net_af_packet on a veth between two namespaces) come up
#      as root, then every thread, the EAL's included, runs as the data
#      plane's user with no capability, and a client downloads a file.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane control
require_cmds systemd-sysusers systemd-tmpfiles systemd-analyze setpriv getfacl curl ip strace
skip_unless_root "creating users and switching to them needs root"

A=$SRCDIR/../../appliance
# Unique names for this run (at most 32 characters): removed at exit.
P=hp$$
U_CTL=${P}c U_DP=${P}d G_READ=${P}r G_RO=${P}o U_RO=${P}x
NS=${P}ns

privs_cleanup() {
	local u g
	ip netns del "$NS" 2>/dev/null || true
	for u in "$U_RO" "$U_DP" "$U_CTL"; do
		getent passwd "$u" >/dev/null && userdel "$u" 2>/dev/null
	done
	for g in "$G_READ" "$G_RO" "$U_DP" "$U_CTL"; do
		getent group "$g" >/dev/null && groupdel "$g" 2>/dev/null
	done
	return 0
}
it_on_exit privs_cleanup

# as USER CMD...: CMD as USER with its groups, no capabilities.
as() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups --inh-caps=-all --bounding-set=-all -- "$@"
}

# The shipped files with this run's names and paths (comments dropped: they
# name the real users in prose).
R=$T/root
mkdir -p "$R/run" "$R/var/lib"
chmod 0755 "$T" "$R" "$R/run" "$R/var" "$R/var/lib"
localize() {
	sed -E -e '/^#/d' -e "s/\bseed-dp\b/$U_DP/g" -e "s/\bseed-read\b/$G_READ/g" \
		-e "s/\bseed-ro\b/$G_RO/g" -e "s/\bseed\b/$U_CTL/g" \
		-e "s#(^| )/run/$U_CTL#\1$R/run/seed#g" -e "s#(^| )/var/lib/$U_CTL#\1$R/var/lib/seed#g" "$1"
}
localize "$A/sysusers.d-seed.conf" >"$T/sysusers.conf"
localize "$A/tmpfiles.d-seed.conf" >"$T/tmpfiles.conf"
grep -q "^u $U_DP " "$T/sysusers.conf" || fail "sysusers.d-seed.conf: expected a 'u seed-dp' line, saw: $(cat "$T/sysusers.conf")"
systemd-sysusers "$T/sysusers.conf" >"$T/sysusers.out" 2>&1 || fail "systemd-sysusers on the shipped file failed: $(cat "$T/sysusers.out")"
for u in "$U_CTL" "$U_DP"; do
	getent passwd "$u" >/dev/null || fail "systemd-sysusers: expected user $u to exist after it ran"
done
id -nG "$U_DP" | tr ' ' '\n' | grep -qx "$G_READ" || fail "expected the data plane's user in group seed-read, its groups: $(id -nG "$U_DP")"
id -nG "$U_DP" | tr ' ' '\n' | grep -qx "$U_CTL" && fail "expected the data plane's user not in group seed, its groups: $(id -nG "$U_DP")"
systemd-tmpfiles --create "$T/tmpfiles.conf" >"$T/tmpfiles.out" 2>&1 || fail "systemd-tmpfiles --create on the shipped file failed: $(cat "$T/tmpfiles.out")"
RUN=$R/run/seed
S=$R/var/lib/seed/store
[[ -d $RUN/dataplane && -d $S ]] || fail "systemd-tmpfiles: expected $RUN/dataplane and $S to exist"
getfacl -p "$RUN" 2>/dev/null | grep -q "^default:group:$G_READ:r--" || fail "tmpfiles.d: expected a default ACL entry for seed-read on /run/seed, saw: $(getfacl -p "$RUN" 2>&1)"

# filter_check UNIT TRACE BINARY: every call BINARY made in TRACE (strace -f,
# from its execve on: the filter applies from there) is allowed by UNIT's
# SystemCallFilter= lines, applied in order (the allow-list, ~ removing,
# later entries adding back); and with ProcSubset=pid, every file it opened
# in /proc is one of a process (the rest of /proc is hidden)
filter_check() {
	grep '^SystemCallFilter=\|^ProcSubset=pid$' "$A/systemd/$1.service" >"$T/$1.filter"
	"$PY" - "$T/$1.filter" "$2" "$3" "$1" <<'PYEOF' || fail "$1.service: its system call filter would refuse calls $1 makes (above)"
import re, subprocess, sys
def expand(name):
    if not name.startswith('@'):
        return {name}
    out = subprocess.run(['systemd-analyze', 'syscall-filter', name], capture_output=True,
                         text=True, check=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        line = line.strip()
        if line and not line.startswith('#'):
            names |= expand(line)
    return names
allowed, proc_subset = set(), False
for line in open(sys.argv[1]):
    if line.startswith('ProcSubset='):
        proc_subset = True
        continue
    v = line.split('=', 1)[1].strip()
    deny = v.startswith('~')
    items = set()
    for n in v.lstrip('~').split():
        items |= expand(n)
    allowed = allowed - items if deny else allowed | items
# every call after the program's execve, by any of its threads (setpriv,
# before it, has no other thread)
used, started, hidden = set(), False, set()
for line in open(sys.argv[2]):
    m = re.match(r'\d+ +([a-z0-9_]+)\((.*)', line)
    if not m:
        continue
    if not started:
        started = m.group(1) == 'execve' and sys.argv[3] in m.group(2)
        continue
    used.add(m.group(1))
    f = re.match(r'(?:AT_FDCWD, )?"(/proc/[^"]*)"', m.group(2)) if m.group(1) in ('open', 'openat') else None
    if f and not re.match(r'/proc/(self|thread-self|\d+)(/|$)', f.group(1)):
        hidden.add(f.group(1))
if proc_subset and hidden:
    sys.exit('FAIL: %s.service: ProcSubset=pid hides %s, which %s opens' % (sys.argv[4], ', '.join(sorted(hidden)), sys.argv[4]))
if not started or len(used) < 20:
    sys.exit('FAIL: expected the trace to show %s starting and running, saw %d calls' % (sys.argv[4], len(used)))
# AddressSanitizer's allocator sets a NUMA policy; the appliance's build has no sanitizer
sanitizer = {'set_mempolicy'} if b'__asan_init' in open(sys.argv[3], 'rb').read() else set()
refused = sorted(used - allowed - sanitizer)
if refused:
    sys.exit('FAIL: %s.service: its SystemCallFilter= refuses %s, which %s calls' % (sys.argv[4], ', '.join(refused), sys.argv[4]))
print('%s made %d distinct system calls, all allowed by its unit\'s filter%s' %
      (sys.argv[4], len(used), ' (but %s, the sanitizer\'s)' % ', '.join(sorted(used & sanitizer - allowed)) if used & sanitizer - allowed else ''))
PYEOF
}

# ------------------------------------------------------------ (a) drop
note "(a) seed-control as its user, seed-dataplane from root to its user"
mkdir -p "$T/src/game"
gen_file "$T/src/game/data.bin" $((2 * MiB + 3))
# the store's writer is seed-control's user (seedctl run as it)
as "$U_CTL" "$SEEDCTL" release create --store "$S" --tenant acme --name game --version 1 \
	--json "$T/src/game" >"$T/c.json" 2>"$T/c.err" || fail "seedctl release create as seed: $(cat "$T/c.err")"
PORT=$(free_port)
{
	node_conf seed-test "$S" "$RUN" "127.0.0.1:$PORT" 6881 "admin_group = \"$U_CTL\";
  readonly_group = \"$G_RO\";"
	echo 'tenants = ( { id = "acme"; } );'
} >"$T/seed.conf"
chmod 0644 "$T/seed.conf"
# as the unit runs it: its user, its umask; under strace for (e) (a traced
# process cannot be traced again by LeakSanitizer's exit check)
TRACED_ASAN=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
(
	umask 0027
	exec env ASAN_OPTIONS="$TRACED_ASAN" strace -f -qq -o "$T/ctl.trace" setpriv --reuid="$U_CTL" --regid="$U_CTL" --init-groups \
		--inh-caps=-all -- "$SEED_CONTROL" --config "$T/seed.conf"
) >"$T/ctl.out" 2>"$T/ctl.err" &
CTL_STRACE=$!
dp_track "$CTL_STRACE"
# seed-control is the child of strace whose program is seed-control (strace
# may have others for a moment)
CTL_PID=
for ((i = 0; i < 100; i++)); do
	for p in $(pgrep -P "$CTL_STRACE" || true); do
		[[ $(readlink "/proc/$p/exe" 2>/dev/null) == "$(readlink -f "$SEED_CONTROL")" ]] && CTL_PID=$p
	done
	[[ -n $CTL_PID ]] && break
	sleep 0.1
done
[[ -n $CTL_PID ]] || fail "seed-control under strace: expected strace to start it within 10 s"
dp_track "$CTL_PID"
wait_line 30 "$CTL_PID" "seed-control as its user" "$T/ctl.out" '^status ' "$T/ctl.err"
CTL_SOCK=$RUN/control.sock
[[ -S $CTL_SOCK ]] || fail "seed-control: expected its API socket at $CTL_SOCK: $(cat "$T/ctl.out" "$T/ctl.err")"
api_ok POST /api/v1/releases/acme.game.1/publish
[[ -f $RUN/catalog ]] || fail "seed-control: expected a catalog in $RUN after a publish"

# a drain file left by an earlier drain, an hour old
as "$U_CTL" touch -d '-1 hour' "$RUN/drain"
dp_start "$T" --user "$U_DP" --allow-root no --store "$S" --bt-listen 127.0.0.1:0 \
	--http-listen 127.0.0.1:0 --workers 2 --cache-size 16M --catalog "$RUN/catalog" \
	--stats-file "$RUN/dataplane/stats" --drain-file "$RUN/drain"
uid=$(id -u "$U_DP")
gid=$(id -g "$U_DP")
# status_of TASKDIR: its Uid, Gid and capability lines, for messages
status_of() { grep -E '^(Uid|Gid|Cap(Inh|Prm|Eff|Amb)):' "$1/status" | tr '\t' ' ' | tr '\n' ';'; }
# no_caps_in PID WHAT [UID GID]: every thread of PID (io_uring's kernel
# workers aside: privs.h) has all four capability sets empty, and UID/GID
# as real, effective, saved and filesystem ids when given, with the data
# plane's user's supplementary groups and no other.
no_caps_in() {
	local pid=$1 what=$2 want_uid=${3:-} want_gid=${4:-} t n=0 k want_groups
	want_groups=$(id -G "$U_DP" | tr ' ' '\n' | sort -n | tr '\n' ' ')
	for t in /proc/"$pid"/task/*; do
		[[ $(cat "$t/comm" 2>/dev/null) == iou-* ]] && continue
		[[ -r $t/status ]] || continue
		n=$((n + 1))
		for k in CapInh CapPrm CapEff CapAmb; do
			[[ $(awk -v k="$k:" '$1 == k { print $2 }' "$t/status") == 0000000000000000 ]] ||
				fail "$what: expected $k 0 in thread ${t##*/}, saw: $(status_of "$t")"
		done
		if [[ -n $want_uid ]]; then
			[[ $(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "$t/status") == "$want_uid $want_uid $want_uid $want_uid" ]] ||
				fail "$what: expected uid $want_uid in thread ${t##*/}, saw: $(status_of "$t")"
			[[ $(awk '$1 == "Gid:" { print $2, $3, $4, $5 }' "$t/status") == "$want_gid $want_gid $want_gid $want_gid" ]] ||
				fail "$what: expected gid $want_gid in thread ${t##*/}, saw: $(status_of "$t")"
			[[ $(awk '$1 == "Groups:" { $1 = ""; print }' "$t/status" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ') == "$want_groups" ]] ||
				fail "$what: expected groups $want_groups in thread ${t##*/}, saw: $(grep '^Groups:' "$t/status")"
		fi
	done
	((n >= 3)) || fail "$what: expected the main thread and two workers in /proc/$pid/task, saw $n threads"
	echo "$what: $n threads, $(status_of "/proc/$pid")"
}
no_caps_in "$DP_PID" "seed-dataplane started as root with --user" "$uid" "$gid"
# it read seed-control's catalog as its user: the published release is served
for ((i = 0; i < 50; i++)); do
	[[ $(http_code "$DP_URL/acme.game.1/game/data.bin") == 200 ]] && break
	sleep 0.2
done
curl -sf --max-time 30 -o "$T/got.bin" "$DP_URL/acme.game.1/game/data.bin" || fail "curl from the data plane running as its user: expected the published file, got $(http_code "$DP_URL/acme.game.1/game/data.bin")"
cmp -s "$T/got.bin" "$T/src/game/data.bin" || fail "curl: expected the bytes of data.bin, they differ"
grep -q "running as root" "$DP_ERR" && fail "seed-dataplane with --user: expected no 'running as root' line, saw: $(cat "$DP_ERR")"
# seed-control, as its user, reads the counters through RUN/dataplane.stats
# (the link tmpfiles.d makes to the data plane's own directory)
for ((i = 0; i < 50; i++)); do
	api_ok GET /api/v1/status
	[[ $(jq_py 'd["dataplane"].get("pid")') == "$DP_PID" ]] && break
	sleep 0.2
done
[[ $(jq_py 'd["dataplane"].get("pid")') == "$DP_PID" ]] ||
	fail "GET /api/v1/status: expected seed-control to see the data plane (pid $DP_PID) through $RUN/dataplane.stats, saw: $(head -c 400 "$API_OUT")"

# ------------------------------------------------------------ (b) reach
note "(b) what the data plane's user can and cannot reach"
connect_py='import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("refused: %s" % e.strerror)
    sys.exit(3)
print("connected")'
rc=0
as "$U_DP" "$PY" -c "$connect_py" "$CTL_SOCK" >"$T/conn.out" 2>&1 || rc=$?
((rc == 3)) || fail "connect to control.sock as the data plane's user: expected it refused, saw (exit $rc): $(cat "$T/conn.out")"
echo "control.sock as the data plane's user: $(cat "$T/conn.out")"
as "$U_CTL" "$PY" -c "$connect_py" "$CTL_SOCK" >"$T/conn2.out" 2>&1 ||
	fail "connect to control.sock as seed-control's user: expected it to connect (so the refusal above is about the user), saw: $(cat "$T/conn2.out")"
# an operator in seed-ro: through /run/seed (its ACL) to seed-control, which
# lets it read and refuses it changes
useradd --system -M -N -g "$G_RO" -s /usr/sbin/nologin "$U_RO" || fail "useradd $U_RO failed"
code=$(as "$U_RO" curl -s -o "$T/ro.json" -w '%{http_code}' --max-time 20 --unix-socket "$CTL_SOCK" http://seed/api/v1/status || true)
[[ $code == 200 ]] || fail "GET /api/v1/status as a member of seed-ro: expected 200, saw $code: $(head -c 300 "$T/ro.json" 2>/dev/null)"
code=$(as "$U_RO" curl -s -o "$T/ro2.json" -w '%{http_code}' --max-time 20 --unix-socket "$CTL_SOCK" -X POST http://seed/api/v1/releases/acme.game.1/pause || true)
[[ $code == 403 ]] || fail "POST pause as a member of seed-ro: expected 403, saw $code: $(head -c 300 "$T/ro2.json" 2>/dev/null)"
echo "control.sock as a member of seed-ro: GET 200, POST 403"
# tries CMD as the data plane's user; it must fail and leave no trace
must_fail() {
	local what=$1
	shift
	if as "$U_DP" bash -c "$1" >"$T/try.out" 2>&1; then
		fail "as the data plane's user: expected '$what' to be refused, it succeeded"
	fi
	echo "refused: $what ($(head -c 120 "$T/try.out" | tr '\n' ' '))"
}
CAT_SUM=$(sha256sum <"$RUN/catalog")
must_fail "append to the catalog" "echo x >>'$RUN/catalog'"
must_fail "replace the catalog" "echo x >'$RUN/new' && mv '$RUN/new' '$RUN/catalog'"
must_fail "create a file in /run/seed" "touch '$RUN/x'"
must_fail "create a file in the store" "touch '$S/x'"
data=$(find "$S" -type f -size +1M | head -1)
[[ -n $data ]] || fail "expected a data file over 1 MiB in the store"
must_fail "write a store file" "echo x >>'$data'"
must_fail "create a directory in the store" "mkdir '$S/x.d'"
[[ $(sha256sum <"$RUN/catalog") == "$CAT_SUM" && ! -e $RUN/x && ! -e $S/x && ! -e $S/x.d ]] ||
	fail "as the data plane's user: expected the catalog and the store untouched"
as "$U_DP" cat "$RUN/catalog" >/dev/null || fail "as the data plane's user: expected to read the catalog (ACL seed-read)"
as "$U_DP" cat "$data" >/dev/null || fail "as the data plane's user: expected to read a store file"
as "$U_DP" touch "$RUN/dataplane/probe" || fail "as the data plane's user: expected to write its counters directory"
rm -f "$RUN/dataplane/probe"
pid_running "$DP_PID" || fail "seed-dataplane: expected an hour-old drain file to leave it running, it exited: $(tail -3 "$DP_ERR")"
# seed-control's user may not signal the data plane: the file is how it asks
rc=0
as "$U_CTL" kill -TERM "$DP_PID" 2>/dev/null || rc=$?
((rc != 0)) || fail "kill -TERM as seed-control's user: expected it refused (another user), it was allowed"
# seedctl drain: seed-control's kill is refused, so it writes the drain file
SEED_API_SOCKET=$CTL_SOCK timeout 20 "$SEEDCTL" drain >"$T/drain.out" 2>&1 ||
	fail "seedctl drain (seed-control as its user, the data plane another): expected exit 0, saw: $(cat "$T/drain.out")"
[[ -f $RUN/drain ]] || fail "seedctl drain: expected seed-control to create $RUN/drain, it did not"
wait_pids 10 "seed-dataplane draining after $RUN/drain appeared" "$DP_PID"
((WAIT_RCS[$DP_PID] == 0)) || fail "seed-dataplane drained by its drain file: expected exit 0, saw $(describe_rc "${WAIT_RCS[$DP_PID]}"): $(tail -3 "$DP_ERR")"
grep -q "drain appeared, draining" "$DP_ERR" || fail "seed-dataplane: expected '$RUN/drain appeared, draining' on stderr, saw: $(tail -3 "$DP_ERR")"
grep -q '^seed-dataplane: stopped ' "$DP_ERR" || fail "seed-dataplane drained by its file: expected its 'stopped' line"
echo "drain file -> $(grep -o '[^ ]*drain appeared, draining' "$DP_ERR")"
DP_PID=
# seed-control is strace's child: SIGTERM to it, then strace exits with its
# status
kill -TERM "$CTL_PID"
wait_pids 10 "seed-control (under strace) exiting after SIGTERM" "$CTL_STRACE"
((WAIT_RCS[$CTL_STRACE] == 0)) || fail "seed-control: expected exit 0 after SIGTERM, saw $(describe_rc "${WAIT_RCS[$CTL_STRACE]}"): $(tail -3 "$T/ctl.err")"
dp_untrack "$CTL_PID"

# ------------------------------------------------------------ (c) root
note "(c) no such user; --allow-root yes"
NOUSER=${P}none
getent passwd "$NOUSER" >/dev/null && fail "expected no user $NOUSER"
rc=0
timeout 20 "$SEED_DATAPLANE" --user "$NOUSER" --allow-root no --store "$S" --http-listen 127.0.0.1:0 \
	>"$T/nouser.out" 2>"$T/nouser.err" || rc=$?
((rc == 2)) || fail "--user $NOUSER (no such user) as root: expected exit 2, saw $(describe_rc "$rc"): $(cat "$T/nouser.err")"
one_line_stderr "$T/nouser.err" "seed-dataplane --user $NOUSER"
grep -qF -- "--user $NOUSER" "$T/nouser.err" || fail "no such user: expected the line to name --user $NOUSER, saw: $(cat "$T/nouser.err")"
[[ ! -s $T/nouser.out ]] || fail "no such user: expected nothing on stdout, saw: $(cat "$T/nouser.out")"
echo "no such user -> $(cat "$T/nouser.err")"
# the same from a config file, which is how the appliance sets it
printf 'user = %s\nallow-root = no\n' "$NOUSER" >"$T/dp.conf"
rc=0
timeout 20 "$SEED_DATAPLANE" --config "$T/dp.conf" --store "$S" --http-listen 127.0.0.1:0 \
	>"$T/nouser2.out" 2>"$T/nouser2.err" || rc=$?
((rc == 2)) || fail "user = $NOUSER in a config file: expected exit 2, saw $(describe_rc "$rc"): $(cat "$T/nouser2.err")"
one_line_stderr "$T/nouser2.err" "seed-dataplane --config (user = $NOUSER)"

dp_start "$T" --user "$NOUSER" --allow-root yes --store "$S" --bt-listen 127.0.0.1:0 \
	--http-listen 127.0.0.1:0 --workers 1 --cache-size 8M
n=$(grep -c 'running as root' "$DP_ERR" || true)
((n == 1)) || fail "--allow-root yes: expected one 'running as root' line on stderr, saw $n: $(cat "$DP_ERR")"
[[ $(awk '$1 == "Uid:" { print $3 }' "/proc/$DP_PID/status") == 0 ]] || fail "--allow-root yes: expected it to run as root, saw: $(status_of "/proc/$DP_PID")"
echo "allow-root -> $(grep 'running as root' "$DP_ERR")"
dp_stop

# ------------------------------------------------------------ (d) ambient
note "(d) started as the user with CAP_NET_BIND_SERVICE ambient, port 80"
ip netns add "$NS"
ip -n "$NS" link set lo up
# shellcheck disable=SC2054 # the commas are setpriv's list syntax
DP_WRAP=(ip netns exec "$NS" setpriv --reuid="$U_DP" --regid="$U_DP" --init-groups
	--inh-caps=+net_bind_service --ambient-caps=+net_bind_service --bounding-set=-all,+net_bind_service)
dp_start "$T" --store "$S" --http-listen 127.0.0.1:80 --bt-listen 127.0.0.1:0 --workers 2 \
	--cache-size 16M
DP_WRAP=()
[[ $DP_HTTP_PORT == 80 ]] || fail "expected the data plane on port 80 in $NS, saw $DP_HTTP_PORT"
no_caps_in "$DP_PID" "seed-dataplane started as its user with an ambient capability" "$uid" "$gid"
code=$(ip netns exec "$NS" curl -s -o "$T/got80.bin" --max-time 20 -w '%{http_code}' "http://127.0.0.1:80/acme.game.1/game/data.bin" || true)
[[ $code == 200 ]] || fail "curl in $NS from port 80: expected 200, saw $code"
cmp -s "$T/got80.bin" "$T/src/game/data.bin" || fail "curl from port 80: expected the bytes of data.bin, they differ"
dp_stop

# ------------------------------------------------------------ (e) filter
note "(e) the unit's system call filter against the data plane's calls"
env ASAN_OPTIONS="$TRACED_ASAN" strace -f -qq -o "$T/trace" setpriv --reuid="$U_DP" --regid="$U_DP" --init-groups --inh-caps=-all -- \
	"$SEED_DATAPLANE" --store "$S" --http-listen 127.0.0.1:0 --bt-listen 127.0.0.1:0 --workers 2 \
	--cache-size 16M --catalog "$RUN/catalog" --stats-file "$RUN/dataplane/stats" \
	>"$T/st.out" 2>"$T/st.err" &
ST_PID=$!
dp_track "$ST_PID"
wait_line 30 "$ST_PID" "seed-dataplane under strace" "$T/st.out" '^http ' "$T/st.err"
port=$(sed -nE 's#^http +http://127\.0\.0\.1:([0-9]+)/$#\1#p' "$T/st.out")
[[ -n $port ]] || fail "seed-dataplane under strace: expected its http line, saw: $(cat "$T/st.out" "$T/st.err")"
curl -sf --max-time 30 -o "$T/got-st.bin" "http://127.0.0.1:$port/acme.game.1/game/data.bin" ||
	fail "curl from the data plane under strace: expected the published file"
cmp -s "$T/got-st.bin" "$T/src/game/data.bin" || fail "curl under strace: expected the bytes of data.bin, they differ"
dp=$(pgrep -P "$ST_PID" | head -1)
[[ -n $dp ]] || fail "expected seed-dataplane as strace's child"
kill -TERM "$dp"
for ((i = 0; i < 300; i++)); do
	pid_running "$ST_PID" || break
	sleep 0.1
done
pid_running "$ST_PID" && fail "seed-dataplane under strace: expected it to stop within 30 s of SIGTERM"
wait "$ST_PID" || true
dp_untrack "$ST_PID"
filter_check seed-dataplane "$T/trace" "$SEED_DATAPLANE"
filter_check seed-control "$T/ctl.trace" "$SEED_CONTROL"

# ------------------------------------------------------------ (f) dpdk
if grep -q rte_eal_init "$SEED_DATAPLANE"; then
	note "(f) the DPDK backend from root to its user"
	require_cmds ethtool
	SEED=10.98.0.1 CLIENT=10.98.0.2
	dpdk_ns "${P}s" "${P}k"
	dpdk_veth "${P}s" "${P}a" "${P}k" "${P}b"
	ip -n "${P}k" addr add "$CLIENT/24" dev "${P}b"
	dpdk_start "${P}s" af_packet "${P}a" "$SEED" --store "$S" --ip "$SEED/24" --user "$U_DP" --allow-root no
	no_caps_in "$DP_PID" "seed-dataplane --backend dpdk started as root with --user" "$uid" "$gid"
	code=$(ip netns exec "${P}k" curl -s -o "$T/got-dpdk.bin" --max-time 30 -w '%{http_code}' \
		"http://$SEED:8080/acme.game.1/game/data.bin" || true)
	[[ $code == 200 ]] || fail "curl from ${P}k to the DPDK backend running as its user: expected 200, saw $code"
	cmp -s "$T/got-dpdk.bin" "$T/src/game/data.bin" || fail "curl from the DPDK backend: expected the bytes of data.bin, they differ"
	dp_stop
else
	echo "(f) not run: this seed-dataplane has no DPDK backend"
fi
echo "PASS: test_privs"
