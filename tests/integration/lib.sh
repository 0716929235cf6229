# Shared helpers for the seedctl integration tests (sourced, never run).
#
# Every script sets `set -euo pipefail`, makes its own temp dir with
# `mktemp -d` and a trap that removes it, then sources this file.
# Contract of the helpers: a failing check prints "FAIL: <what was expected,
# what was seen>" on stderr and exits 1; nothing here loops without a bound.
# Requires: SEEDCTL (the built seedctl) and SRCDIR (this directory) in the
# environment, as tests/integration/meson.build sets them.

# Python with the Debian python3-libtorrent binding: never the python3 on PATH.
PY=/usr/bin/python3
# Names in the trees are UTF-8; make every tool agree on it.
export LC_ALL=C.UTF-8
export PYTHONUTF8=1
# Seconds one seedctl command may run before we call it hung.
SC_TIMEOUT=${SC_TIMEOUT:-300}

fail() {
	echo "FAIL: $*" >&2
	exit 1
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

# gen_file PATH SIZE: a file of SIZE random bytes (parents created).
gen_file() {
	mkdir -p "$(dirname "$1")"
	head -c "$2" /dev/urandom >"$1"
	local got
	got=$(stat -c %s "$1")
	[[ $got == "$2" ]] || fail "gen_file: expected $1 to be $2 bytes, it is $got"
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

# objects_in STORE: one line per object file name (<64hex>.obj) in the store.
objects_in() {
	if [[ -d $1/objects ]]; then
		find "$1/objects" -type f -name '*.obj' -printf '%f\n' | sort
	fi
}
