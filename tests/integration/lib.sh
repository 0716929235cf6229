# Shared helpers for the seedctl integration tests (sourced, never run).
#
# Every script opens with
#     # shellcheck source=lib.sh
#     source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
#     it_setup [dataplane] [control]
# and may register clean-up steps of its own with it_on_exit.
# Contract of the helpers: a failing check prints "FAIL: <what was expected,
# what was seen>" on stderr and exits 1; nothing here loops without a bound.
# Requires: SEEDCTL (the built seedctl) and SRCDIR (this directory) in the
# environment, as tests/integration/meson.build sets them.

# pid_running, poll_until and node_conf, shared with tools/demo.sh and bench/.
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Python with the Debian python3-libtorrent binding: never the python3 on PATH.
PY=/usr/bin/python3
# Names in the trees are UTF-8; make every tool agree on it.
export LC_ALL=C.UTF-8
export PYTHONUTF8=1
# Seconds one seedctl command may run before we call it hung.
SC_TIMEOUT=${SC_TIMEOUT:-300}
# Sizes in the scripts are written in these.
MiB=$((1024 * 1024))

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# it_setup [dataplane] [control]: what every script does first: strict mode
# (set -euo pipefail), a fresh temp dir in T, an EXIT trap (it_cleanup),
# require_env, and require_dataplane / require_control when named.
it_setup() {
	local need
	set -euo pipefail
	T=$(mktemp -d)
	trap it_cleanup EXIT
	require_env
	for need in "$@"; do
		case $need in
		dataplane) require_dataplane ;;
		control) require_control ;;
		*) fail "it_setup: unknown requirement '$need' (dataplane or control)" ;;
		esac
	done
}

# require_cmds NAME...: each command must be on PATH; the failure names the
# Debian package that has it (tools/debian-packages.txt lists them all).
require_cmds() {
	local c pkg
	for c in "$@"; do
		command -v "$c" >/dev/null && continue
		case $c in
		aria2c) pkg=aria2 ;;
		transmission-*) pkg=transmission-cli ;;
		promtool) pkg=prometheus ;;
		systemd-analyze) pkg=systemd ;;
		ip) pkg=iproute2 ;;
		*) pkg=$c ;;
		esac
		fail "$c not installed (package $pkg; see tools/debian-packages.txt)"
	done
}

# skip_unless_root WHY: exit 77 (skipped) with "SKIP: WHY" unless root.
skip_unless_root() {
	if ((EUID != 0)); then
		echo "SKIP: $1" >&2
		exit 77
	fi
}

# it_on_exit FUNC: run FUNC at exit, after dp_cleanup has ended the
# processes this script started and before T is removed; the last
# registered runs first. A failing FUNC does not change the exit status.
IT_ON_EXIT=()
it_on_exit() {
	IT_ON_EXIT=("$1" ${IT_ON_EXIT[@]+"${IT_ON_EXIT[@]}"})
}

# it_cleanup: the EXIT trap it_setup installs; keeps the script's exit
# status (77 stays a skip).
it_cleanup() {
	local rc=$? f
	# nothing here may change the status: a clean-up that fails (or a
	# registered function that calls fail) must not turn a skip (77) or a
	# pass into a failure, nor leave T behind
	set +e
	dp_cleanup
	for f in ${IT_ON_EXIT[@]+"${IT_ON_EXIT[@]}"}; do
		("$f") || true
	done
	# never into a file system mounted below T (a chroot's /dev, /proc)
	rm -rf --one-file-system "$T"
	exit "$rc"
}

note() {
	echo "--- $*"
}

require_env() {
	[[ -n ${SEEDCTL:-} ]] || fail "SEEDCTL is not set (expected the path of the built seedctl)"
	[[ -x $SEEDCTL ]] || fail "SEEDCTL=$SEEDCTL is not an executable file"
	[[ -n ${SRCDIR:-} && -d $SRCDIR ]] || fail "SRCDIR is not set to the tests/integration directory (seen '${SRCDIR:-}')"
	[[ -x $PY ]] || fail "$PY not found (needed for python3-libtorrent and JSON parsing)"
}

# sc OUT ERR ARGS...: run seedctl with a time limit, stdout to OUT, stderr to
# ERR; the exit status lands in SC_RC (124 = hung and killed by timeout).
sc() {
	local out=$1 err=$2
	shift 2
	SC_RC=0
	timeout --kill-after=10 "$SC_TIMEOUT" "$SEEDCTL" "$@" >"$out" 2>"$err" || SC_RC=$?
}

# sc_ok OUT ERR ARGS...: like sc, but the command must exit 0.
sc_ok() {
	local out=$1 err=$2
	sc "$@"
	if ((SC_RC != 0)); then
		shift 2
		echo "stdout:" >&2
		head -c 4000 "$out" >&2 || true
		echo "stderr:" >&2
		head -c 4000 "$err" >&2 || true
		fail "seedctl $* : expected exit 0, saw exit $SC_RC"
	fi
}

# describe_rc RC: words for an exit status, to make failures readable.
describe_rc() {
	case $1 in
	124 | 137) echo "$1 (hung: killed after ${SC_TIMEOUT}s)" ;;
	*) if (($1 > 128)); then echo "$1 (killed by signal $(($1 - 128)))"; else echo "$1"; fi ;;
	esac
}

# wait_line SECS PID WHAT FILE REGEX [ERRFILE]: waits until a line of FILE
# (the output of the process PID) matches the extended REGEX; fails, showing
# FILE and ERRFILE, when PID exits first or SECS pass.
wait_line() {
	local secs=$1 pid=$2 what=$3 file=$4 re=$5 errf=${6:-/dev/null}
	poll_until "$secs" "$pid" grep -Eq "$re" "$file" 2>/dev/null && return 0
	pid_running "$pid" || fail "$what: expected it to keep running, it exited: $(cat "$file" "$errf" 2>/dev/null | tail -20)"
	fail "$what: expected a line matching '$re' within ${secs}s, saw: $(cat "$file" "$errf" 2>/dev/null | tail -20)"
}

# one_line_stderr FILE WHAT: FILE must hold exactly one non-empty line ending
# in a newline, with no carriage return (no progress bar leaking into it).
one_line_stderr() {
	local f=$1 what=$2
	"$PY" - "$f" "$what" <<'EOF' || exit 1
import sys
data = open(sys.argv[1], 'rb').read()
what = sys.argv[2]
lines = data.split(b'\n')
problem = None
if not data:
    problem = 'stderr is empty'
elif not data.endswith(b'\n'):
    problem = 'stderr does not end with a newline'
elif len(lines) != 2:
    problem = '%d lines on stderr' % (len(lines) - 1)
elif b'\r' in data:
    problem = 'stderr contains a carriage return (progress output?)'
elif not data.strip():
    problem = 'stderr line is blank'
if problem:
    sys.stderr.write('FAIL: %s: expected exactly one error line on stderr, saw %s:\n%r\n'
                     % (what, problem, data[:2000]))
    sys.exit(1)
EOF
}

# json_get FILE KEY: print a top-level key of the JSON object in FILE:
# "null" for null, "__MISSING__" when absent, true/false for booleans.
json_get() {
	"$PY" - "$1" "$2" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1], encoding='utf-8'))
except Exception as e:
    sys.stderr.write('FAIL: expected JSON in %s, could not parse it (%s); content:\n%s\n'
                     % (sys.argv[1], e, open(sys.argv[1], 'rb').read()[:2000]))
    sys.exit(1)
if not isinstance(d, dict):
    sys.stderr.write('FAIL: expected a JSON object in %s, saw %s\n' % (sys.argv[1], type(d).__name__))
    sys.exit(1)
v = d.get(sys.argv[2], '__MISSING__')
if v is None:
    print('null')
elif isinstance(v, bool):
    print('true' if v else 'false')
elif isinstance(v, (dict, list)):
    print(json.dumps(v))
else:
    print(v)
EOF
}

# ls_json STORE OUT: `seedctl release ls --store STORE --json` into OUT,
# which must hold a JSON array of objects, each with id, tenant, name and
# version.
ls_json() {
	sc_ok "$2" "$2.err" release ls --store "$1" --json
	"$PY" - "$2" <<'EOF' || exit 1
import json, sys
try:
    d = json.load(open(sys.argv[1], encoding='utf-8'))
except Exception as e:
    sys.exit('FAIL: release ls --json: expected a JSON array, could not parse (%s): %r'
             % (e, open(sys.argv[1], 'rb').read()[:500]))
if not isinstance(d, list):
    sys.exit('FAIL: release ls --json: expected a JSON array, saw %s' % type(d).__name__)
for r in d:
    missing = [k for k in ('id', 'tenant', 'name', 'version') if not isinstance(r, dict) or k not in r]
    if missing:
        sys.exit('FAIL: release ls --json: expected keys id, tenant, name, version in every entry; %s lacks %s'
                 % (json.dumps(r), missing))
EOF
}

# gen_file PATH SIZE: a file of SIZE random bytes (parents created).
gen_file() {
	mkdir -p "$(dirname "$1")"
	head -c "$2" /dev/urandom >"$1"
	local got
	got=$(stat -c %s "$1")
	[[ $got == "$2" ]] || fail "gen_file: expected $1 to be $2 bytes, it is $got"
}

# gen_tree DIR PATH SIZE [PATH SIZE]...: gen_file DIR/PATH SIZE for each
# pair, so a tree is a few lines of (path, size) pairs.
gen_tree() {
	local dir=$1
	shift
	(($# % 2 == 0)) || fail "gen_tree: expected PATH SIZE pairs, saw '$*'"
	while (($#)); do
		gen_file "$dir/$1" "$2"
		shift 2
	done
}

# create_kinds STORE TREE KIND...: one `release create` of TREE per KIND (v1,
# v2 or hybrid: --v1-only, --v2-only, --also-v1), tenant acme, name game,
# version KIND, its --json in $T/create-KIND.json; fills the caller's
# associative arrays ID[KIND] and TORRENT[KIND] (each torrent must exist).
create_kinds() {
	local store=$1 tree=$2 kind
	local -a flags
	shift 2
	for kind in "$@"; do
		case $kind in
		v1) flags=(--v1-only) ;;
		v2) flags=(--v2-only) ;;
		hybrid) flags=(--also-v1) ;;
		*) fail "create_kinds: unknown kind '$kind' (v1, v2 or hybrid)" ;;
		esac
		sc_ok "$T/create-$kind.json" "$T/create-$kind.err" release create --store "$store" --tenant acme \
			--name game --version "$kind" "${flags[@]}" --json "$tree"
		# shellcheck disable=SC2034,SC2004 # the caller's associative arrays
		ID[$kind]=$(json_get "$T/create-$kind.json" id)
		# shellcheck disable=SC2004
		TORRENT[$kind]=$(json_get "$T/create-$kind.json" torrent)
		[[ -f ${TORRENT[$kind]} ]] || fail "$kind: expected create --json \"torrent\" to name a file, saw '${TORRENT[$kind]}'"
	done
}

# make_client_tree DIR: the tree test_create_clients.sh feeds every client.
# Piece size 65536 is assumed for the piece-boundary files. Sizes of the small
# files come from a fixed RANDOM seed; their content is random.
make_client_tree() {
	local d=$1 i n sub
	mkdir -p "$d"
	gen_file "$d/lvl1/lvl2/lvl3/deep.bin" 5000
	gen_file "$d/lvl1/lvl2/mid.bin" 777
	gen_file "$d/empty.bin" 0
	gen_file "$d/lvl1/one-byte.bin" 1
	gen_file "$d/pieces/exactly-one-piece.bin" 65536
	gen_file "$d/pieces/one-piece-plus-one.bin" 65537
	gen_file "$d/données/日本語.bin" 30000
	gen_file "$d/big/three-mib.bin" $((3 * 1024 * 1024))
	RANDOM=4242
	for ((i = 0; i < 120; i++)); do
		n=$(((RANDOM * 32768 + RANDOM) % 70001))
		sub=$((i % 4))
		printf -v name 'small/d%d/f%03d.bin' "$sub" "$i"
		gen_file "$d/$name" "$n"
	done
}

# tree_sums DIR: print the sha256 of every regular file in DIR, sorted by path.
tree_sums() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# store_snapshot STORE OUT: everything in the store that a failed command
# must not change: each entry's type and path, each non-directory's size,
# each regular file's sha256. Directory sizes are left out: ext4 never
# shrinks a directory after its entries are removed.
store_snapshot() {
	{
		(cd "$1" && find . -mindepth 1 \( -type d -printf 'd %P\n' \) -o -printf '%y %P %s\n' | sort)
		tree_sums "$1"
	} >"$2"
}

# same_snapshot BEFORE AFTER WHAT: the store must be unchanged.
same_snapshot() {
	if ! cmp -s "$1" "$2"; then
		echo "store differences (< before, > after):" >&2
		diff "$1" "$2" | head -40 >&2 || true
		local extra
		extra=$(diff "$1" "$2" | grep -E '^[<>] ' | grep -Ev '^> d ' || true)
		if [[ -z $extra ]]; then
			fail "$3: expected the store to be byte-identical after the failed command; it left new empty directories behind: $(diff "$1" "$2" | sed -n 's/^> d //p' | tr '\n' ' ')"
		fi
		fail "$3: expected the store to be byte-identical after the failed command, it changed"
	fi
}

# expect_refusal WHAT RC RCS ERR STORE [GREP ARGS...]: a seedctl run that
# exited RC must have exited with one of RCS (space separated), written one
# line to ERR that `grep -q GREP ARGS` finds (when given), and left STORE
# as `store_snapshot STORE $T/snap.before` recorded it before the run.
expect_refusal() {
	local what=$1 rc=$2 rcs=$3 err=$4 store=$5
	shift 5
	if [[ " $rcs " != *" $rc "* ]]; then
		echo "stderr:" >&2
		head -c 2000 "$err" >&2 || true
		fail "$what: expected exit ${rcs// / or }, saw exit $(describe_rc "$rc")"
	fi
	one_line_stderr "$err" "$what"
	if (($#)) && ! grep -q "$@" "$err"; then
		fail "$what: expected the error line to match '${*: -1}', saw: $(cat "$err")"
	fi
	store_snapshot "$store" "$T/snap.after"
	same_snapshot "$T/snap.before" "$T/snap.after" "$what"
}

# sc_verify PREFIX RC WHAT STORE ID: `seedctl release verify --store STORE
# ID`, its stdout in PREFIX.out, stderr in PREFIX.err, both in PREFIX.all;
# it must exit RC, else that output is shown and the test fails naming
# "release verify WHAT".
sc_verify() {
	local p=$1 rc=$2 what=$3
	sc "$p.out" "$p.err" release verify --store "$4" "$5"
	cat "$p.out" "$p.err" >"$p.all"
	((SC_RC == rc)) || { cat "$p.all" >&2; fail "release verify $what: expected exit $rc, saw exit $(describe_rc "$SC_RC")"; }
}

# invert_byte FILE OFF: the byte at OFF of FILE inverted in place (bit rot).
invert_byte() {
	"$PY" - "$1" "$2" <<'FLIPEOF'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    if not b:
        sys.exit('FAIL: %s has no byte %s' % (sys.argv[1], sys.argv[2]))
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0xff]))
FLIPEOF
}

# store_parity STORE: PK and PM, the parity K+M the store's FORMAT names
# on its second line (docs/store.md, "Parity").
store_parity() {
	[[ $(sed -n 2p "$1/FORMAT") =~ ^parity\ ([0-9]+)\+([0-9]+)$ ]] ||
		fail "expected $1/FORMAT to name the store's parity on its second line, it holds: $(cat "$1/FORMAT")"
	PK=${BASH_REMATCH[1]} PM=${BASH_REMATCH[2]}
}

# count_lines FILE FIXED [ERE...]: how many lines of FILE hold the fixed
# string FIXED and match every ERE.
count_lines() {
	local f=$1 fixed=$2 lines re
	shift 2
	lines=$(grep -F -- "$fixed" "$f") || true
	for re in "$@"; do
		lines=$(grep -E -- "$re" <<<"$lines") || true
	done
	[[ -n $lines ]] || { echo 0; return; }
	wc -l <<<"$lines"
}

# expect_line FILE MSG FIXED [ERE...]: some line of FILE holds FIXED and
# matches every ERE; else FILE is shown and the test fails with MSG.
expect_line() {
	local f=$1 msg=$2
	shift 2
	(($(count_lines "$f" "$@") > 0)) || { cat "$f" >&2; fail "$msg"; }
}

# expect_lines N FILE MSG FIXED [ERE...]: exactly N lines of FILE hold
# FIXED and match every ERE; else FILE is shown and the test fails with
# "MSG, saw COUNT".
expect_lines() {
	local want=$1 f=$2 msg=$3 n
	shift 3
	n=$(count_lines "$f" "$@")
	((n == want)) || { cat "$f" >&2; fail "$msg, saw $n"; }
}

# objects_in STORE: one line per object file name (<64hex>.obj) in the store.
objects_in() {
	if [[ -d $1/objects ]]; then
		find "$1/objects" -type f -name '*.obj' -printf '%f\n' | sort
	fi
}

# ---------------------------------------------------------------------------
# Data plane helpers (test_dataplane_*.sh). They need SEED_DATAPLANE, the
# built seed-dataplane, in the environment besides SEEDCTL and SRCDIR.
# A script calls dp_cleanup from its EXIT trap: it ends the data plane and
# every PID handed to dp_track, each by its own id, and nothing else.

DP_PID=
DP_TRACKED=()

require_dataplane() {
	[[ -n ${SEED_DATAPLANE:-} ]] || fail "SEED_DATAPLANE is not set (expected the path of the built seed-dataplane)"
	[[ -x $SEED_DATAPLANE ]] || fail "SEED_DATAPLANE=$SEED_DATAPLANE is not an executable file"
}

# dp_track PID...: remember background PIDs for dp_cleanup.
dp_track() {
	DP_TRACKED+=("$@")
}

# dp_untrack PID: forget a PID this script has waited for, so dp_cleanup
# never signals the process that may reuse its number.
dp_untrack() {
	local p kept=()
	for p in ${DP_TRACKED[@]+"${DP_TRACKED[@]}"}; do
		[[ $p == "$1" ]] || kept+=("$p")
	done
	DP_TRACKED=(${kept[@]+"${kept[@]}"})
}

# dp_cleanup: SIGTERM to the data plane and every tracked PID still running,
# then SIGKILL after 5 s to any that is left. For EXIT traps; never fails.
dp_cleanup() {
	local p i left
	for p in ${DP_PID:+"$DP_PID"} ${DP_TRACKED[@]+"${DP_TRACKED[@]}"}; do
		pid_running "$p" && kill -TERM "$p" 2>/dev/null || true
	done
	for ((i = 0; i < 50; i++)); do
		left=0
		for p in ${DP_PID:+"$DP_PID"} ${DP_TRACKED[@]+"${DP_TRACKED[@]}"}; do
			pid_running "$p" && left=1
		done
		((left)) || break
		sleep 0.1
	done
	for p in ${DP_PID:+"$DP_PID"} ${DP_TRACKED[@]+"${DP_TRACKED[@]}"}; do
		pid_running "$p" && kill -KILL "$p" 2>/dev/null || true
	done
	return 0
}

# dp_start DIR ARGS...: run "$SEED_DATAPLANE ARGS..." in the background,
# stdout to DIR/dp.out, stderr to DIR/dp.err, and wait (at most
# DP_START_TIMEOUT s, default 30) for its "http  http://HOST:PORT/" line.
# Sets DP_PID, DP_OUT, DP_ERR, DP_BT_PORT, DP_HTTP_PORT, DP_URL
# (http://127.0.0.1:PORT, no trailing slash). The ports are read from the
# listener lines for DP_BT_HOST and DP_HTTP_HOST (default 127.0.0.1; an IPv6
# host is written in brackets, e.g. DP_HTTP_HOST='[::1]'). DP_WRAP, an array,
# is a command that execs its arguments (e.g. DP_WRAP=(ip netns exec NS)):
# the data plane runs through it, and DP_PID is still the data plane's PID.
DP_WRAP=()
dp_start() {
	local dir=$1 i rc
	shift
	DP_OUT=$dir/dp.out
	DP_ERR=$dir/dp.err
	# the previous run's output must not answer the wait below before the
	# new process has truncated it
	rm -f "$DP_OUT" "$DP_ERR"
	# the tests run as root with no seed-dp user: stay root (a test that
	# wants the drop passes --allow-root no after this)
	${DP_WRAP[@]+"${DP_WRAP[@]}"} "$SEED_DATAPLANE" --allow-root yes "$@" >"$DP_OUT" 2>"$DP_ERR" &
	DP_PID=$!
	for ((i = 0; i < ${DP_START_TIMEOUT:-30} * 10; i++)); do
		grep -q '^http ' "$DP_OUT" 2>/dev/null && break
		if ! pid_running "$DP_PID"; then
			rc=0
			wait "$DP_PID" || rc=$?
			DP_PID=
			echo "stdout:" >&2; head -c 2000 "$DP_OUT" >&2 || true
			echo "stderr:" >&2; head -c 2000 "$DP_ERR" >&2 || true
			fail "seed-dataplane $*: expected it to keep running and print its listeners, it exited with $(describe_rc "$rc") first"
		fi
		sleep 0.1
	done
	grep -q '^http ' "$DP_OUT" || {
		cat "$DP_OUT" "$DP_ERR" >&2
		fail "seed-dataplane $*: expected an 'http  http://...' line on stdout within ${DP_START_TIMEOUT:-30}s, none came"
	}
	local bh hh
	bh=$(sed 's/[.[]/\\&/g' <<<"${DP_BT_HOST:-127.0.0.1}")
	hh=$(sed 's/[.[]/\\&/g' <<<"${DP_HTTP_HOST:-127.0.0.1}")
	DP_HTTP_PORT=$(sed -nE "s#^http +http://$hh:([0-9]+)/\$#\\1#p" "$DP_OUT" | head -1)
	DP_BT_PORT=$(sed -nE "s#^bittorrent +$bh:([0-9]+)\$#\\1#p" "$DP_OUT" | head -1)
	[[ $DP_HTTP_PORT =~ ^[0-9]+$ && $DP_HTTP_PORT != 0 ]] || {
		cat "$DP_OUT" >&2
		fail "seed-dataplane stdout: expected 'http        http://${DP_HTTP_HOST:-127.0.0.1}:PORT/' with a non-zero port, see above"
	}
	[[ $DP_BT_PORT =~ ^[0-9]+$ && $DP_BT_PORT != 0 ]] || {
		cat "$DP_OUT" >&2
		fail "seed-dataplane stdout: expected 'bittorrent  ${DP_BT_HOST:-127.0.0.1}:PORT' with a non-zero port, see above"
	}
	DP_URL=http://${DP_HTTP_HOST:-127.0.0.1}:$DP_HTTP_PORT
}

# dp_stop [SECS]: SIGTERM to the data plane, wait at most SECS (default 30)
# for it to exit. It must exit 0 and print exactly one
# "seed-dataplane: stopped ..." line on stderr. Sets DP_RC, DP_STOP_MS and
# DP_STOPPED (that line); clears DP_PID.
dp_stop() {
	local secs=${1:-30} i t0 t1
	[[ -n $DP_PID ]] || fail "dp_stop: no data plane running"
	pid_running "$DP_PID" || {
		DP_RC=0
		wait "$DP_PID" || DP_RC=$?
		cat "$DP_ERR" >&2
		fail "seed-dataplane (pid $DP_PID) was expected to be running before SIGTERM, it had already exited with $(describe_rc "$DP_RC")"
	}
	t0=$(date +%s%N)
	kill -TERM "$DP_PID"
	for ((i = 0; i < secs * 20; i++)); do
		pid_running "$DP_PID" || break
		sleep 0.05
	done
	t1=$(date +%s%N)
	DP_STOP_MS=$(((t1 - t0) / 1000000))
	if pid_running "$DP_PID"; then
		tail -c 2000 "$DP_ERR" >&2 || true
		fail "seed-dataplane (pid $DP_PID): expected it to exit within ${secs}s of SIGTERM, still running after ${DP_STOP_MS}ms"
	fi
	DP_RC=0
	wait "$DP_PID" || DP_RC=$?
	DP_PID=
	((DP_RC == 0)) || {
		tail -c 4000 "$DP_ERR" >&2 || true
		fail "seed-dataplane: expected exit status 0 after SIGTERM, saw $(describe_rc "$DP_RC")"
	}
	local n
	n=$(grep -c '^seed-dataplane: stopped ' "$DP_ERR" || true)
	((n == 1)) || {
		tail -c 4000 "$DP_ERR" >&2 || true
		fail "seed-dataplane stderr: expected exactly one 'seed-dataplane: stopped ...' line after SIGTERM, saw $n"
	}
	DP_STOPPED=$(grep '^seed-dataplane: stopped ' "$DP_ERR")
}

# dp_counter NAME: the value of NAME=... in DP_STOPPED ("" when absent).
dp_counter() {
	sed -nE "s/^.* $1=([0-9]+)( .*)?\$/\\1/p" <<<"$DP_STOPPED"
}

# dp_expect_counter NAME VALUE: the stopped line must say NAME=VALUE.
dp_expect_counter() {
	local v
	v=$(dp_counter "$1")
	[[ -n $v ]] || fail "seed-dataplane stopped line: expected a counter $1=N, it has none: $DP_STOPPED"
	[[ $v == "$2" ]] || fail "seed-dataplane stopped line: expected $1=$2, saw $1=$v ($DP_STOPPED)"
}

# wait_pids SECS WHAT PID...: wait at most SECS for every PID (children of
# this shell) to exit. Sets WAIT_RCS and WAIT_MS (associative arrays PID ->
# exit status, PID -> ms from the call, or from WAIT_T0 (date +%s%N) when
# set, until it was seen gone, 100 ms resolution). Fails naming the PIDs still running at the deadline.
declare -A WAIT_RCS=() WAIT_MS=()
wait_pids() {
	local secs=$1 what=$2 i p left t0 now
	shift 2
	t0=${WAIT_T0:-$(date +%s%N)}
	for ((i = 0; i < secs * 10; i++)); do
		left=()
		now=$(date +%s%N)
		for p in "$@"; do
			if pid_running "$p"; then
				left+=("$p")
			elif [[ -z ${WAIT_MS[$p]:-} ]]; then
				WAIT_MS[$p]=$(((now - t0) / 1000000))
			fi
		done
		((${#left[@]} == 0)) && break
		sleep 0.1
	done
	left=()
	for p in "$@"; do pid_running "$p" && left+=("$p"); done
	((${#left[@]} == 0)) || fail "$what: expected all $# processes to finish within ${secs}s, ${#left[@]} still running (pids ${left[*]})"
	for p in "$@"; do
		WAIT_RCS[$p]=0
		wait "$p" || WAIT_RCS[$p]=$?
		dp_untrack "$p"
	done
}

# same_bytes_as_source SRC OFFSET COUNT GOT WHAT: GOT must hold exactly the
# COUNT bytes of SRC at OFFSET (as dd reads them).
same_bytes_as_source() {
	local src=$1 off=$2 cnt=$3 got=$4 what=$5
	dd if="$src" of="$got.want" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$cnt" status=none
	if ! cmp -s "$got.want" "$got"; then
		fail "$what: expected the $cnt bytes of $src at offset $off, saw $(stat -c %s "$got") bytes that differ ($(cmp "$got.want" "$got" 2>&1 | head -1))"
	fi
}

# tree_sums_cmp WANT_DIR GOT_DIR WHAT: same files, same sha256.
tree_sums_cmp() {
	local w g
	w=$(mktemp) g=$(mktemp)
	tree_sums "$1" >"$w" 2>/dev/null
	tree_sums "$2" >"$g" 2>/dev/null || true
	if ! cmp -s "$w" "$g"; then
		diff "$w" "$g" | head -20 >&2 || true
		rm -f "$w" "$g"
		fail "$3: expected every file of $1 with the same sha256 under $2, they differ (< want, > got above)"
	fi
	rm -f "$w" "$g"
}

# url_path PATH: PATH percent-encoded for a URL, '/' kept (UTF-8 bytes, spaces).
url_path() {
	"$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="/"))' "$1"
}

# http_get URL OUT HDRS [CURL ARGS...]: curl URL (bounded: 120 s), body to
# OUT, response headers to HDRS (both removed first: curl leaves them
# alone when nothing comes); sets HTTP_CODE and CURL_RC.
http_get() {
	local url=$1 out=$2 hdrs=$3
	shift 3
	rm -f "$out" "$hdrs"
	CURL_RC=0
	HTTP_CODE=$(timeout --kill-after=5 130 curl -sS --max-time 120 -o "$out" -D "$hdrs" \
		-w '%{http_code}' "$@" "$url" 2>"$out.curlerr") || CURL_RC=$?
}

# serve_identical BASE TREE WHAT FILE...: each FILE (a path under TREE)
# fetched over HTTP from BASE/FILE must come whole and byte-identical with
# TREE/FILE; WHAT says when, in the failure and in the one line printed.
serve_identical() {
	local base=$1 tree=$2 what=$3 f url
	shift 3
	for f in "$@"; do
		url="$base/$(url_path "$f")"
		http_get "$url" "$T/got" "$T/got.hdr" -f
		((CURL_RC == 0)) || fail "GET $url ($what): expected exit 0, saw $CURL_RC, status $HTTP_CODE"
		cmp -s "$T/got" "$tree/$f" || fail "GET $url ($what): expected the bytes of $tree/$f, they differ"
	done
	echo "$# files served byte-identical ($what)"
}

# http_header HDRS NAME: the value of header NAME in the curl -D file HDRS
# (last response; case-insensitive name; CR and surrounding blanks removed).
http_header() {
	tr -d '\r' <"$1" | awk -v n="$(tr 'A-Z' 'a-z' <<<"$2")" '
		BEGIN { IGNORECASE = 1 }
		/^HTTP\// { v = "" }
		{ i = index($0, ":"); if (i > 0 && tolower(substr($0, 1, i - 1)) == n) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v) } }
		END { print v }'
}

# ---------------------------------------------------------------------------
# Control plane helpers (test_control*.sh). They need SEED_CONTROL, the built
# seed-control. ctl_start's process is ended by dp_cleanup like the others.

CTL_PID=

require_control() {
	[[ -n ${SEED_CONTROL:-} ]] || fail "SEED_CONTROL is not set (expected the path of the built seed-control)"
	[[ -x $SEED_CONTROL ]] || fail "SEED_CONTROL=$SEED_CONTROL is not an executable file"
}

# free_port: a TCP port on 127.0.0.1 nobody listens on now.
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ctl_dirs: S=$T/store (the first release create makes it) and RUN=$T/run
# (seed-control's run directory, made here), the two directories a
# control-plane script hands to ctl_config and dp_start.
ctl_dirs() {
	S=$T/store
	RUN=$T/run
	mkdir -p "$RUN"
}

# ctl_config FILE STORE RUN STATUS_PORT TENANTS [NODE_EXTRA]: a seed-control
# config with the given tenants block (libconfig text inside "tenants = (
# ... );"). The background scrub is off (scrub_interval "0": a test that
# damages the store or reads scrub.last sees only what it ran) unless
# NODE_EXTRA, more node settings, sets it.
ctl_config() {
	local extra=${6:-}
	[[ $extra == *scrub_interval* ]] || extra="scrub_interval = \"0\"; $extra"
	{
		node_conf seed-test "$2" "$3" "127.0.0.1:$4" 6881 "$extra"
		echo "tenants = ( $5 );"
	} >"$1"
}

# ctl_start DIR CONFIG: seed-control in the background (stdout DIR/ctl.out,
# stderr DIR/ctl.err), waiting at most 30 s for its "api unix:PATH" and
# "status http://..." lines. Sets CTL_PID, CTL_SOCK, CTL_URL.
ctl_start() {
	local dir=$1 conf=$2
	# a restart's first look must not find the last run's 'status' line
	# before the new process has truncated the file
	rm -f "$dir/ctl.out"
	"$SEED_CONTROL" --config "$conf" >"$dir/ctl.out" 2>>"$dir/ctl.err" &
	CTL_PID=$!
	dp_track "$CTL_PID"
	wait_line 30 "$CTL_PID" "seed-control --config $conf" "$dir/ctl.out" '^status ' "$dir/ctl.err"
	CTL_SOCK=$(sed -nE 's#^api +unix:(.*)$#\1#p' "$dir/ctl.out")
	CTL_URL=$(sed -nE 's#^status +(http://[^ ]+)/$#\1#p' "$dir/ctl.out")
	[[ -S $CTL_SOCK ]] || fail "seed-control: expected its API socket at '$CTL_SOCK' (from 'api unix:PATH')"
}

# ctl_stop: SIGTERM to seed-control; it must exit 0 within 10 s.
ctl_stop() {
	local i rc=0
	kill -TERM "$CTL_PID"
	for ((i = 0; i < 100; i++)); do
		pid_running "$CTL_PID" || break
		sleep 0.1
	done
	pid_running "$CTL_PID" && fail "seed-control: expected it to exit within 10 s of SIGTERM"
	wait "$CTL_PID" || rc=$?
	dp_untrack "$CTL_PID"
	((rc == 0)) || fail "seed-control: expected exit 0 after SIGTERM, saw $(describe_rc "$rc")"
	CTL_PID=
}

# ctl_metric NAME_ERE: the value of a sample in a fresh scrape of
# seed-control's /metrics (kept in $T/metrics.txt); "" when absent.
ctl_metric() {
	curl -sS --max-time 10 "$CTL_URL/metrics" >"$T/metrics.txt" || fail "GET $CTL_URL/metrics failed"
	sed -nE "s/^$1 ([0-9.e+]+)\$/\\1/p" "$T/metrics.txt"
}

# ctl_wait_metric NAME_ERE VALUE SECONDS WHAT: scrapes until the sample
# reads VALUE, at most SECONDS; else fails saying what was awaited (WHAT).
ctl_wait_metric() {
	local i
	for ((i = 0; i < $3 * 5; i++)); do
		[[ $(ctl_metric "$1") == "$2" ]] && return 0
		sleep 0.2
	done
	cat "$T/ctl.err" >&2
	fail "$4: expected $1 to reach $2 within $3 s, it is '$(ctl_metric "$1")'"
}

# api METHOD PATH [JSON]: a request on the API socket; body to $API_OUT,
# status code in API_CODE.
API_OUT=
api() {
	local m=$1 p=$2 body=${3:-}
	API_OUT=${T:?}/api.out
	local args=(-sS --max-time 20 --unix-socket "$CTL_SOCK" -X "$m" -o "$API_OUT" -w '%{http_code}')
	[[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
	API_CODE=$(curl "${args[@]}" "http://seed$p") || API_CODE=000
}

# api_ok METHOD PATH [JSON]: api, and the status must be 2xx.
api_ok() {
	api "$@"
	[[ $API_CODE == 2?? ]] || fail "$1 $2: expected a 2xx answer, saw $API_CODE: $(head -c 500 "$API_OUT")"
}

# jq_py EXPR: evaluate a python expression over the JSON in $API_OUT (as d).
jq_py() {
	"$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$API_OUT" "$1"
}

# wait_http_ok URL: polls URL (at most 50 times, 0.2 s apart) until it
# answers 200, as the data plane does once it has loaded a new catalog
# generation; returns either way: the caller's own GET says what went wrong.
wait_http_ok() {
	local i
	for ((i = 0; i < 50; i++)); do
		[[ $(http_code "$1") == 200 ]] && return 0
		sleep 0.2
	done
	return 0
}

# http_code URL [CURL ARGS...]: the status of a GET (body discarded), bounded.
http_code() {
	local u=$1
	shift
	curl -s -o /dev/null --max-time 20 -w '%{http_code}' "$@" "$u" || true
}

# ---------------------------------------------------------------------------
# Tracker helpers (Debian's opentracker: a whitelist, a chroot, drops to
# nobody; see shared/reference/clients.md).

# netns_pair NS VH VN HOST PEER: network namespace NS joined to this one by
# the veth pair VH (here, HOST/30) and VN (in NS, PEER/30), both up, with
# NS's loopback up. The caller removes NS and VH on exit (it_on_exit).
netns_pair() {
	local ns=$1 vh=$2 vn=$3 host=$4 peer=$5
	ip netns add "$ns"
	ip link add "$vh" type veth peer name "$vn"
	ip link set "$vn" netns "$ns"
	ip addr add "$host/30" dev "$vh"
	ip link set "$vh" up
	ip netns exec "$ns" ip addr add "$peer/30" dev "$vn"
	ip netns exec "$ns" ip link set "$vn" up
	ip netns exec "$ns" ip link set lo up
}

# netns_peer TAG: a namespace for peers that must not share this one's
# loopback (a client whose traffic nftables drops or shapes, one that would
# otherwise see the seed as a local peer), joined by one veth pair:
# sets NS (bs-TAG-PID), VH and VN (the veth ends, here and in NS), HOST
# (198.18.0.1, here) and PEER (198.18.0.2, in NS), and removes NS and VH
# on exit. Needs root: call skip_unless_root first.
netns_peer() {
	NS=bs-$1-$$
	VH=bsh$$
	VN=bsn$$
	HOST=198.18.0.1
	PEER=198.18.0.2
	it_on_exit netns_peer_remove
	note "network namespace $NS, veth $VH <-> $VN"
	netns_pair "$NS" "$VH" "$VN" "$HOST" "$PEER"
}

netns_peer_remove() {
	ip netns del "$NS" 2>/dev/null || true
	ip link del "$VH" 2>/dev/null || true
}

# ot_announce URL IH PORT FROM [NS]: announces a seed (left=0) on PORT for
# the 40-hex info-hash IH to the tracker at URL, sent from address FROM (in
# namespace NS when given), until the tracker takes it: opentracker reads
# its whitelist a moment after it listens. Fails after 10 s.
ot_announce() {
	local url=$1 ih=$2 port=$3 from=$4 ns=${5:-} i body
	local -a wrap=()
	[[ -z $ns ]] || wrap=(ip netns exec "$ns")
	for ((i = 0; i < 50; i++)); do
		body=$(${wrap[@]+"${wrap[@]}"} curl -sS --max-time 5 --interface "$from" \
			"$url?info_hash=$(pct "$ih")&peer_id=-BS0100-testseed0000&port=$port&uploaded=0&downloaded=0&left=0&event=started&compact=1" \
			2>&1 | tr -d '\0' || true)
		[[ $body == d*interval* && $body != *failure* ]] && return 0
		sleep 0.2
	done
	fail "opentracker at $url: expected it to accept the seed's announce for $ih within 10 s, last answer: ${body:0:300}"
}

# lt_seed_start TORRENT DATA_DIR [ARG...]: bench/lt_seed.py (a python3-
# libtorrent seed) of TORRENT over the files under DATA_DIR, port 0, more
# ARGs passed on (--host, --utp); waits until it seeds. Sets LT_PID (ended
# by dp_cleanup) and LT_PORT; its output in T/lts.out and T/lts.err.
lt_seed_start() {
	local torrent=$1 data=$2
	shift 2
	local seed=$SRCDIR/../../bench/lt_seed.py
	[[ -f $seed ]] || fail "expected the libtorrent seed script at $seed, no such file"
	"$PY" "$seed" --torrent "$torrent" --data-dir "$data" --port 0 "$@" >"$T/lts.out" 2>"$T/lts.err" &
	LT_PID=$!
	dp_track "$LT_PID"
	wait_line 60 "$LT_PID" "lt_seed.py" "$T/lts.out" '^seeding ' "$T/lts.err"
	LT_PORT=$(sed -nE 's/^listening [0-9a-f.:]+:([0-9]+)$/\1/p' "$T/lts.out")
	[[ $LT_PORT =~ ^[1-9][0-9]*$ ]] || fail "lt_seed.py: expected a 'listening HOST:PORT' line, saw: $(cat "$T/lts.out")"
}

# tr_fetch NS DIR TORRENT UTP WHAT: transmission-cli in the network namespace
# NS downloads TORRENT into DIR/dl (its config in DIR/cfg: no DHT, LPD, PEX
# or port forwarding; uTP when UTP is true, not when false) and is stopped;
# 180 s at most. Fails, showing its log, when it did not finish: WHAT says
# what was expected ("the v1 torrent over uTP"). Sets TR_MS, the time taken.
tr_fetch() {
	local ns=$1 d=$2 torrent=$3 utp=$4 what=$5 pid t0 t1
	mkdir -p "$d/cfg" "$d/dl"
	cat >"$d/cfg/settings.json" <<EOF
{
    "dht-enabled": false,
    "lpd-enabled": false,
    "pex-enabled": false,
    "utp-enabled": $utp,
    "port-forwarding-enabled": false,
    "ratio-limit-enabled": false
}
EOF
	printf '#!/bin/sh\ntouch "%s/finished"\n' "$d" >"$d/done.sh"
	chmod +x "$d/done.sh"
	t0=$(date +%s%N)
	ip netns exec "$ns" transmission-cli -g "$d/cfg" -w "$d/dl" -f "$d/done.sh" "$torrent" >"$d/out.log" 2>&1 &
	pid=$!
	dp_track "$pid"
	poll_until 180 "$pid" test -e "$d/finished" || true
	t1=$(date +%s%N)
	kill -TERM "$pid" 2>/dev/null || true
	wait_pids 30 "transmission-cli exit" "$pid" || true
	[[ -e $d/finished ]] || {
		tr '\r' '\n' <"$d/out.log" | tail -20 >&2
		fail "transmission-cli: expected $what within 180 s, it did not finish (log above)"
	}
	TR_MS=$(((t1 - t0) / 1000000))
}

# tr_sums_cmp WANT_DIR GOT_DIR WHAT: what Transmission downloaded to GOT_DIR
# is WANT_DIR: every non-empty file with the same sha256, each empty one
# empty or absent (Transmission creates no zero-length files); BEP 47 pad
# files, which it writes out as .pad/N (it does not know the 'p'
# attribute), left out.
tr_sums_cmp() {
	local want=$1 got=$2 what=$3 f g
	(cd "$want" && find . -type f -size +0 -print0 | sort -z | xargs -0 sha256sum) >"$T/tr_sums.want"
	(cd "$got" && find . -path ./.pad -prune -o -type f -size +0 -print0 | sort -z | xargs -0 sha256sum) >"$T/tr_sums.got"
	cmp -s "$T/tr_sums.want" "$T/tr_sums.got" || {
		diff "$T/tr_sums.want" "$T/tr_sums.got" | head >&2
		fail "$what: expected every non-empty file with the source's sha256, they differ (< want, > got)"
	}
	while IFS= read -r -d '' f; do
		g=$got/${f#./}
		[[ ! -e $g || ! -s $g ]] || fail "$what: expected $f to be empty like the source, it has $(stat -c %s "$g") bytes"
	done < <(cd "$want" && find . -type f -size 0 -print0)
}

# ot_start HOST PORT IH...: opentracker on HOST:PORT (HTTP and UDP) in the
# background, tracking only the 40-hex info-hashes IH (a v2 one truncated),
# chrooted into T/ot; log in T/ot.log. Sets OT_PID (ended by dp_cleanup).
# It reads the whitelist a moment after it listens: retry first announces.
ot_start() {
	local host=$1 port=$2
	shift 2
	mkdir -p "$T/ot"
	printf '%s\n' "$@" >"$T/ot/whitelist"
	# it drops to nobody and chroots here: every step of the path must be readable
	chmod 755 "$T" "$T/ot"
	chmod 644 "$T/ot/whitelist"
	opentracker -i "$host" -p "$port" -P "$port" -d "$T/ot" -w whitelist >"$T/ot.log" 2>&1 &
	OT_PID=$!
	dp_track "$OT_PID"
}

# pct HEX: every byte percent-encoded (opentracker does not decode '+').
pct() {
	sed -E 's/(..)/%\1/g' <<<"$1"
}

# ---------------------------------------------------------------------------
# DPDK backend helpers (test_dpdk_*.sh; root). The data plane runs with
# --backend dpdk in one network namespace, on one end of a veth pair through
# DPDK's net_af_xdp or net_af_packet PMD, and owns its address in its own
# stack (the kernel there has none); real clients run in another namespace
# with the kernel's TCP. Every namespace, and the EAL's run directory, is
# removed at exit.

DPDK_NETNS=()
DPDK_PREFIXES=()
DPDK_RUNS=0

dpdk_cleanup() {
	local ns p
	for ns in ${DPDK_NETNS[@]+"${DPDK_NETNS[@]}"}; do
		ip netns del "$ns" 2>/dev/null || true
	done
	for p in ${DPDK_PREFIXES[@]+"${DPDK_PREFIXES[@]}"}; do
		rm -rf "/var/run/dpdk/$p"
	done
}

# dpdk_ns NAME...: new network namespaces (loopback up), deleted at exit.
dpdk_ns() {
	local ns
	((${#DPDK_NETNS[@]})) || it_on_exit dpdk_cleanup
	for ns in "$@"; do
		ip netns add "$ns" || fail "ip netns add $ns: expected a new namespace"
		DPDK_NETNS+=("$ns")
		ip -n "$ns" link set lo up
	done
}

# dpdk_veth NS_A IF_A NS_B IF_B: a veth pair, IF_A in NS_A and IF_B in NS_B,
# both up, each with transmit checksum offload off: a veth otherwise hands
# TCP segments on with the checksum unfilled, the PMDs deliver them as they
# are, and our stack drops them as corrupt.
dpdk_veth() {
	ip link add "$2" type veth peer name "$4" || fail "ip link add $2 type veth peer name $4 failed"
	ip link set "$2" netns "$1"
	ip link set "$4" netns "$3"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
	ip netns exec "$1" ethtool -K "$2" tx off >/dev/null
	ip netns exec "$3" ethtool -K "$4" tx off >/dev/null
}

# dpdk_eal_mem: the EAL's memory arguments: --no-huge -m 512 unless 512 MiB
# of hugepages are free (then --in-memory: nothing left in hugetlbfs).
dpdk_eal_mem() {
	local free size
	free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
	size=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo)
	if ((${free:-0} * ${size:-0} >= 512 * 1024)); then
		echo "--in-memory"
	else
		echo "--no-huge -m 512"
	fi
}

# dpdk_start NS PMD IFACE ADDR ARGS...: seed-dataplane --backend dpdk in NS
# on IFACE through DPDK's net_PMD vdev (af_xdp or af_packet), one worker,
# BitTorrent on port 6881 and HTTP on 8080 of ADDR (the stack's address,
# given with --ip in ARGS besides --store etc.), through dp_start (sets
# DP_PID, DP_OUT, DP_ERR) and DPDK_STATS (its counters file). The worker
# sleeps 100 us after an idle pass: a busy-polling worker would starve the
# clients on a small machine.
dpdk_start() {
	local ns=$1 pmd=$2 ifc=$3 addr=$4 prefix
	shift 4
	DPDK_RUNS=$((DPDK_RUNS + 1))
	prefix=seedit$$-$DPDK_RUNS
	DPDK_PREFIXES+=("$prefix")
	mkdir -p "$T/dp$DPDK_RUNS"
	# DPDK's net_af_xdp leaves libxdp's umem (80 bytes from
	# xsk_umem__create) behind when the port is closed: a leak in those
	# libraries, which LeakSanitizer would turn into exit 1 at every stop
	if [[ ! -f $T/lsan.supp ]]; then
		echo "leak:xsk_umem__create" >"$T/lsan.supp"
		export LSAN_OPTIONS="suppressions=$T/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
	fi
	DP_WRAP=(ip netns exec "$ns")
	DP_BT_HOST=0.0.0.0
	DP_HTTP_HOST=0.0.0.0
	DPDK_STATS=$T/dp$DPDK_RUNS/stats
	dp_start "$T/dp$DPDK_RUNS" --stats-file "$DPDK_STATS" --backend dpdk --workers 1 --cache-size 64M --dpdk-idle-sleep 100 \
		--bt-listen '*:6881' --http-listen '*:8080' \
		--dpdk-args "$(dpdk_eal_mem) --no-pci --file-prefix $prefix --vdev net_${pmd}0,iface=$ifc" "$@"
	DP_WRAP=()
	DP_BT_HOST=
	DP_HTTP_HOST=
	[[ $DP_BT_PORT == 6881 && $DP_HTTP_PORT == 8080 ]] ||
		fail "seed-dataplane --backend dpdk on $addr: expected listeners on 6881 and 8080, saw $DP_BT_PORT and $DP_HTTP_PORT"
}

# dpdk_stats LABEL: the port and TCP counters of the running data plane
# (frames, drops, retransmits, timeouts, SYN cookies), printed.
dpdk_stats() {
	local line
	line=$(timeout 20 "$SEEDCTL" stats --file "$DPDK_STATS" 2>&1 | grep '^port:' || true)
	echo "$1: ${line:-no port line from seedctl stats --file $DPDK_STATS}"
	echo "$1: $line" >>"$T/figures"
}

# dpdk_expect WHAT NAME MIN: the data plane's counter NAME (seedctl stats
# --json, as the workers last published it, ten times a second) is at
# least MIN.
dpdk_expect() {
	local what=$1 name=$2 min=$3 v
	sleep 0.3
	timeout 20 "$SEEDCTL" stats --file "$DPDK_STATS" --json >"$T/stats.json" 2>&1 ||
		{ cat "$T/stats.json" >&2; fail "$what: seedctl stats --file $DPDK_STATS failed (see above)"; }
	v=$(json_get "$T/stats.json" "$name")
	[[ $v =~ ^[0-9]+$ ]] && ((v >= min)) ||
		fail "$what: expected the counter $name to be at least $min, saw '$v'"
}

# dpdk_stop WHAT MIN_BT MIN_HTTP: dp_stop; the stopped line must show
# verify_failures=0, storage_errors=0 and at least MIN_BT / MIN_HTTP
# payload bytes served over BitTorrent / HTTP.
dpdk_stop() {
	local what=$1 bt hb
	dp_stop 30
	echo "$what: $DP_STOPPED"
	dp_expect_counter verify_failures 0
	dp_expect_counter storage_errors 0
	bt=$(dp_counter payload_bytes_bt)
	hb=$(dp_counter payload_bytes_http)
	((bt >= $2)) || fail "$what: expected payload_bytes_bt >= $2 on the stopped line, saw '$bt'"
	((hb >= $3)) || fail "$what: expected payload_bytes_http >= $3 on the stopped line, saw '$hb'"
}

# dpdk_release TREE STORE TRACKER: the build the clients fetch (>= 64 MiB:
# one big file and a few small, odd ones) generated in TREE, published in
# STORE as v1 (announcing to TRACKER: aria2 learns peers only from one), v2
# and hybrid releases. Fills the caller's ID and TORRENT (as create_kinds)
# and sets DPDK_TOTAL (bytes), DPDK_BIG (the big file's path in TREE) and
# DPDK_IH_V1 (the v1 torrent's info-hash, for the tracker's whitelist).
dpdk_release() {
	local tree=$1 store=$2 tracker=$3
	gen_tree "$tree" big/sixty-four.bin $((64 * MiB + 4321)) data/three.bin $((3 * MiB - 1)) \
		one.bin 1 empty.bin 0 "docs/read me.txt" 1234 "données/niveau 1.bin" 16385
	DPDK_BIG=big/sixty-four.bin
	DPDK_TOTAL=$(find "$tree" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
	((DPDK_TOTAL >= 64 * MiB)) || fail "expected the generated tree to hold >= 64 MiB, it holds $DPDK_TOTAL bytes"
	sc_ok "$T/create-v1.json" "$T/create-v1.err" release create --store "$store" --tenant acme \
		--name game --version v1 --v1-only --tracker "$tracker" --json "$tree"
	# shellcheck disable=SC2034,SC2154 # the caller's associative arrays
	ID["v1"]=$(json_get "$T/create-v1.json" id)
	TORRENT["v1"]=$(json_get "$T/create-v1.json" torrent)
	DPDK_IH_V1=$(json_get "$T/create-v1.json" infohash_v1)
	[[ $DPDK_IH_V1 =~ ^[0-9a-f]{40}$ ]] || fail "v1: expected a 40-hex infohash_v1 in create --json, saw '$DPDK_IH_V1'"
	create_kinds "$store" "$tree" v2 hybrid
}

# dpdk_tracker NS CLIENT_NS SEED_ADDR IH: a tracker the clients in CLIENT_NS
# reach at 10.96.0.1:6969 (a namespace NS of its own, joined to CLIENT_NS by
# a veth pair, 10.96.0.2 on the client's side), opentracker whitelisting the
# 40-hex IH, and the seed announced on it as SEED_ADDR:6881. opentracker
# takes a peer's address from the announce's source, and the seed's address
# belongs to our stack: so NS holds SEED_ADDR on its loopback (NS has no route
# to the real seed) and announces from there. Sets DPDK_TRACKER (the URL).
dpdk_tracker() {
	local ns=$1 cns=$2 seed=$3 ih=$4
	local tif=tT${ns: -8} cif=cT${ns: -8}
	dpdk_ns "$ns"
	dpdk_veth "$ns" "$tif" "$cns" "$cif"
	ip -n "$ns" addr add 10.96.0.1/30 dev "$tif"
	ip -n "$cns" addr add 10.96.0.2/30 dev "$cif"
	ip -n "$ns" addr add "$seed/32" dev lo
	mkdir -p "$T/ot-$ns"
	echo "$ih" >"$T/ot-$ns/whitelist"
	# it drops to nobody and chroots here: every step of the path must be readable
	chmod 755 "$T" "$T/ot-$ns"
	chmod 644 "$T/ot-$ns/whitelist"
	ip netns exec "$ns" opentracker -i 10.96.0.1 -p 6969 -P 6969 -d "$T/ot-$ns" -w whitelist \
		>"$T/ot-$ns.log" 2>&1 &
	dp_track $!
	DPDK_TRACKER=http://10.96.0.1:6969/announce
	ot_announce "$DPDK_TRACKER" "$ih" 6881 "$seed" "$ns"
}

# dpdk_loss_on NS IFACE PCT / dpdk_loss_off NS: an nftables table in NS
# dropping PCT % of the IP packets at random in each direction on IFACE /
# its drop counters printed, then the table deleted.
dpdk_loss_on() {
	ip netns exec "$1" nft -f - <<EOF || fail "nft in $1: expected the loss table to load"
table inet seedit_loss {
	chain in {
		type filter hook input priority 0; policy accept;
		iifname "$2" numgen random mod 100 < $3 counter drop
	}
	chain out {
		type filter hook output priority 0; policy accept;
		oifname "$2" numgen random mod 100 < $3 counter drop
	}
}
EOF
}
dpdk_loss_off() {
	local d
	d=$(ip netns exec "$1" nft list table inet seedit_loss | sed -nE 's/.*(iifname|oifname) .* counter packets ([0-9]+) .*/\1 \2/p' | tr '\n' ' ')
	echo "nftables drops (iifname = toward the client, oifname = from it): $d"
	ip netns exec "$1" nft delete table inet seedit_loss
}

# dpdk_rate BYTES MS: "X.Y MiB/s".
dpdk_rate() {
	awk -v b="$1" -v ms="$2" 'BEGIN { printf "%.1f MiB/s", (ms > 0 ? b / 1048576 / (ms / 1000) : 0) }'
}

# dpdk_figure LABEL WHAT BYTES MS: one line of the run's figures (printed
# now and again by dpdk_figures at the end; never asserted).
dpdk_figure() {
	local line
	line=$(printf '%-22s %-34s %11d bytes %7d ms %s' "$1" "$2" "$3" "$4" "$(dpdk_rate "$3" "$4")")
	echo "$line"
	echo "$line" >>"$T/figures"
}
dpdk_figures() {
	echo "=== figures (information only, never asserted)"
	cat "$T/figures" 2>/dev/null || true
}

# dpdk_curl NS URL OUT HDRS [CURL ARGS...]: http_get from namespace NS.
dpdk_curl() {
	local ns=$1 url=$2 out=$3 hdrs=$4
	shift 4
	rm -f "$out" "$hdrs"
	CURL_RC=0
	HTTP_CODE=$(timeout --kill-after=5 130 ip netns exec "$ns" curl -sS --max-time 120 -o "$out" \
		-D "$hdrs" -w '%{http_code}' "$@" "$url" 2>"$out.curlerr") || CURL_RC=$?
}

# dpdk_range NS URL SRC RANGE OFFSET COUNT: curl -r RANGE from NS gives 206,
# Content-Range bytes OFFSET-(OFFSET+COUNT-1)/SIZE and the bytes dd reads.
dpdk_range() {
	local ns=$1 url=$2 src=$3 range=$4 off=$5 cnt=$6 size cr
	size=$(stat -c %s "$src")
	dpdk_curl "$ns" "$url" "$T/r.body" "$T/r.hdr" -r "$range"
	((CURL_RC == 0)) || fail "curl -r $range $url: expected exit 0, saw $CURL_RC ($(cat "$T/r.body.curlerr"))"
	[[ $HTTP_CODE == 206 ]] || fail "curl -r $range $url: expected status 206, saw $HTTP_CODE"
	cr=$(http_header "$T/r.hdr" Content-Range)
	[[ $cr == "bytes $off-$((off + cnt - 1))/$size" ]] ||
		fail "curl -r $range $url: expected Content-Range: bytes $off-$((off + cnt - 1))/$size, saw '$cr'"
	same_bytes_as_source "$src" "$off" "$cnt" "$T/r.body" "curl -r $range $url"
	DPDK_RANGE_BYTES=$((DPDK_RANGE_BYTES + cnt))
}

# dpdk_suite LABEL NS SEED TREE: what every client in NS gets from the seed
# at SEED (ID and TORRENT from dpdk_release; the tracker from dpdk_tracker
# already knows the seed):
#  - ping: at least 7 of 10 echo requests answered (the stack drops the
#    first reply while it resolves the client's address when the client
#    already knew ours, and a lossy link may take two more);
#  - curl range requests on the big file (206, Content-Range, the bytes dd
#    reads), and a range past the end gives 416;
#  - aria2c over HTTP: every file of the hybrid release, same sha256;
#  - aria2c over BitTorrent: the v1 torrent, the seed found through the
#    tracker, same sha256 (aria2 cannot join a hybrid swarm, has no v2);
#  - libtorrent: the hybrid and the v2 torrent at once, each its own
#    session connecting to SEED:6881, every had piece equal to the source,
#    same sha256.
# Timings and throughput go to dpdk_figure.
dpdk_suite() {
	local label=$1 ns=$2 seed=$3 tree=$4 url out t0 t1 n rc f size src
	local big=$tree/$DPDK_BIG
	out=$T/suite-$label
	rm -rf "$out"
	mkdir -p "$out"
	url=http://$seed:8080/${ID[hybrid]}/$(basename "$tree")

	note "$label: ping $seed from $ns"
	n=$(timeout 30 ip netns exec "$ns" ping -n -q -c 10 -i 0.2 -W 2 "$seed" 2>&1 |
		sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p') || true
	((${n:-0} >= 7)) || fail "$label: ping $seed from $ns: expected at least 7 of 10 echo replies, saw ${n:-none}"
	echo "$label: ping: $n/10 replies"

	note "$label: curl ranges on $DPDK_BIG vs dd"
	size=$(stat -c %s "$big")
	DPDK_RANGE_BYTES=0
	t0=$(date +%s%N)
	dpdk_range "$ns" "$url/$DPDK_BIG" "$big" 0-0 0 1
	dpdk_range "$ns" "$url/$DPDK_BIG" "$big" 0-16383 0 16384
	dpdk_range "$ns" "$url/$DPDK_BIG" "$big" 16383-16384 16383 2
	dpdk_range "$ns" "$url/$DPDK_BIG" "$big" 1000-3000000 1000 2999001
	dpdk_range "$ns" "$url/$DPDK_BIG" "$big" $((20 * MiB - 5))-$((20 * MiB + 70000)) $((20 * MiB - 5)) 70006
	dpdk_range "$ns" "$url/$DPDK_BIG" "$big" $((size - 1))-$((size - 1)) $((size - 1)) 1
	dpdk_range "$ns" "$url/$DPDK_BIG" "$big" $((size - 100))-$((size + 5000)) $((size - 100)) 100
	dpdk_range "$ns" "$url/$DPDK_BIG" "$big" -100000 $((size - 100000)) 100000
	dpdk_range "$ns" "$url/$DPDK_BIG" "$big" $((61 * MiB + 3))- $((61 * MiB + 3)) $((size - 61 * MiB - 3))
	t1=$(date +%s%N)
	dpdk_curl "$ns" "$url/$DPDK_BIG" "$T/r.body" "$T/r.hdr" -r "$size-"
	if ((CURL_RC != 0)) || [[ $HTTP_CODE != 416 ]]; then
		fail "$label: curl -r $size- $url/$DPDK_BIG: expected 416 (curl exit 0), saw $HTTP_CODE (curl exit $CURL_RC)"
	fi
	dpdk_figure "$label" "curl: 9 ranges" "$DPDK_RANGE_BYTES" $(((t1 - t0) / 1000000))

	note "$label: aria2c over HTTP, every file of ${ID[hybrid]}"
	: >"$out/aria-http.list"
	while IFS= read -r -d '' f; do
		printf '%s/%s\n  dir=%s\n  out=%s\n' "$url" "$(url_path "$f")" "$out/http/$(dirname "$f")" \
			"$(basename "$f")" >>"$out/aria-http.list"
	done < <(cd "$tree" && find . -type f -printf '%P\0' | sort -z)
	t0=$(date +%s%N)
	rc=0
	timeout --kill-after=5 240 ip netns exec "$ns" aria2c --no-conf --allow-overwrite=true \
		--auto-file-renaming=false --file-allocation=none --summary-interval=0 \
		--console-log-level=warn --max-tries=1 --timeout=60 -j 3 -i "$out/aria-http.list" \
		>"$out/aria-http.log" 2>&1 || rc=$?
	t1=$(date +%s%N)
	((rc == 0)) || { tail -20 "$out/aria-http.log" >&2; fail "$label: aria2c over HTTP from $ns: expected exit 0, saw $(describe_rc "$rc") (log above)"; }
	find "$out/http" -name '*.aria2' -delete
	tree_sums_cmp "$tree" "$out/http" "$label: aria2c over HTTP"
	dpdk_figure "$label" "aria2c HTTP: every file" "$DPDK_TOTAL" $(((t1 - t0) / 1000000))

	note "$label: aria2c over BitTorrent, the v1 torrent, the seed found through the tracker"
	t0=$(date +%s%N)
	rc=0
	timeout --kill-after=5 240 ip netns exec "$ns" aria2c --no-conf --seed-time=0 --enable-dht=false \
		--enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false \
		--bt-require-crypto=false --file-allocation=none --summary-interval=0 \
		--console-log-level=warn --dir "$out/bt" "${TORRENT[v1]}" >"$out/aria-bt.log" 2>&1 || rc=$?
	t1=$(date +%s%N)
	((rc == 0)) || { tail -30 "$out/aria-bt.log" >&2; fail "$label: aria2c over BitTorrent from $ns: expected exit 0 once the v1 torrent is complete, saw $(describe_rc "$rc") (log above)"; }
	# aria2 writes BEP 47 pad files out (./.pad/N): leave them out
	rm -rf "$out/bt/$(basename "$tree")/.pad"
	tree_sums_cmp "$tree" "$out/bt/$(basename "$tree")" "$label: aria2c over BitTorrent (v1)"
	dpdk_figure "$label" "aria2c BitTorrent v1" "$DPDK_TOTAL" $(((t1 - t0) / 1000000))

	note "$label: libtorrent, the hybrid and the v2 torrent at once"
	t0=$(date +%s%N)
	rc=0
	timeout --kill-after=5 300 ip netns exec "$ns" "$PY" "$SRCDIR/dp_download.py" --peer "$seed:6881" \
		--timeout 240 --stall 60 --check-had "$(dirname "$tree")" \
		--job "$out/lt-hybrid" "${TORRENT[hybrid]}" --job "$out/lt-v2" "${TORRENT[v2]}" \
		>"$out/lt.log" 2>&1 || rc=$?
	t1=$(date +%s%N)
	cat "$out/lt.log"
	((rc == 0)) || fail "$label: libtorrent from $ns: the hybrid and v2 downloads from $seed:6881 failed, saw $(describe_rc "$rc") (output above)"
	tree_sums_cmp "$tree" "$out/lt-hybrid/$(basename "$tree")" "$label: libtorrent hybrid"
	tree_sums_cmp "$tree" "$out/lt-v2/$(basename "$tree")" "$label: libtorrent v2"
	dpdk_figure "$label" "libtorrent hybrid+v2 at once" $((2 * DPDK_TOTAL)) $(((t1 - t0) / 1000000))
	rm -rf "$out"
}
