#!/usr/bin/env bash
# User story: an operator feeds seedctl something wrong; each time it refuses
# with one line on stderr (exit 2 for a usage error, 1 otherwise), names what
# is wrong, and leaves the store exactly as it was (no tmp files, no objects,
# no release). Cases: missing/empty/only-empty-subdirs directory, a FIFO, an
# unreadable file (as user nobody: root reads anything), a symlink out of the
# tree, a control character in a name, a missing --tenant, bad piece lengths,
# unknown ids for show/verify/rm, a duplicate tenant/name/version, and a file
# that grows while it is hashed.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup

# stop_appender: end the background writer of the growing-file case, if any.
APPENDER=
stop_appender() {
	if [[ -n $APPENDER ]]; then
		kill "$APPENDER" 2>/dev/null || true
		wait "$APPENDER" 2>/dev/null || true
		APPENDER=
	fi
}
it_on_exit stop_appender

S=$T/store
GOOD=$T/good/tree
gen_file "$GOOD/a.bin" 100000
gen_file "$GOOD/sub/b.bin" 5000
sc_ok "$T/first.json" "$T/first.err" release create --store "$S" --tenant acme --name game --version 1.0 --json "$GOOD"
ID=$(json_get "$T/first.json" id)
[[ -d $S ]] || fail "expected the first create to make the store $S, it does not exist"

# expect_fail WHAT RCS MENTION STORE ARGS...: seedctl ARGS must exit with one
# of RCS (space separated), print one stderr line containing MENTION (when
# not empty), and leave STORE byte-identical.
expect_fail() {
	local what=$1 rcs=$2 mention=$3 store=$4
	shift 4
	note "$what"
	store_snapshot "$store" "$T/snap.before"
	sc "$T/ef.out" "$T/ef.err" "$@"
	expect_refusal "$what: seedctl $*" "$SC_RC" "$rcs" "$T/ef.err" "$store" ${mention:+-F -- "$mention"}
}

create=(release create --store "$S" --tenant acme --name game)

expect_fail "missing directory" 1 "does-not-exist" "$S" \
	"${create[@]}" --version miss "$T/does-not-exist"

mkdir -p "$T/empty/tree"
expect_fail "empty directory" 1 "" "$S" "${create[@]}" --version empty "$T/empty/tree"

mkdir -p "$T/hollow/tree/x/y/z" "$T/hollow/tree/w"
expect_fail "directory with only empty subdirectories" 1 "" "$S" \
	"${create[@]}" --version hollow "$T/hollow/tree"

gen_file "$T/fifo/tree/ok.bin" 1000
mkfifo "$T/fifo/tree/pipe"
SC_TIMEOUT=30 expect_fail "FIFO in the tree (not a regular file)" 1 "pipe" "$S" \
	"${create[@]}" --version fifo "$T/fifo/tree"

gen_file "$T/link/tree/ok.bin" 1000
ln -s /etc/passwd "$T/link/tree/x"
expect_fail "symlink pointing outside the tree" 1 "x" "$S" \
	"${create[@]}" --version link "$T/link/tree"

gen_file "$T/ctrl/tree/ok.bin" 1000
gen_file "$T/ctrl/tree/"$'bad\x01name' 1000
expect_fail "control character in a file name" 1 "bad" "$S" \
	"${create[@]}" --version ctrl "$T/ctrl/tree"

expect_fail "missing --tenant" 2 "tenant" "$S" \
	release create --store "$S" --name game --version notenant "$GOOD"
expect_fail "--piece-length 1000 (not a power of two)" "1 2" "piece" "$S" \
	"${create[@]}" --version pl1000 --piece-length 1000 "$GOOD"
expect_fail "--piece-length 8192 (below 16 KiB)" "1 2" "piece" "$S" \
	"${create[@]}" --version pl8192 --piece-length 8192 "$GOOD"

# An id shaped like a real one (last character changed) and a made-up one.
last=${ID: -1}
if [[ $last == 0 ]]; then other=1; elif [[ $last =~ [0-9a-f] ]]; then other=0; else other=x; fi
FAKE_ID=${ID:0:${#ID}-1}$other
for bad in "$FAKE_ID" no-such-release; do
	for cmd in show verify rm; do
		expect_fail "release $cmd of unknown id $bad" 1 "$bad" "$S" release "$cmd" --store "$S" "$bad"
	done
done

expect_fail "duplicate create of acme/game/1.0" 1 "" "$S" "${create[@]}" --version 1.0 "$GOOD"

# Unreadable file. Root reads anything, so run seedctl as nobody on a copy of
# the store that nobody owns: the only thing it cannot do is read secret.bin.
U=$T/nobody
mkdir -p "$U"
gen_file "$U/tree/ok.bin" 1000
gen_file "$U/tree/secret.bin" 1000
cp -a "$S" "$U/store"
if ((EUID == 0)); then
	command -v setpriv >/dev/null || fail "setpriv not found (util-linux): needed to run seedctl as nobody"
	chown -R 65534:65534 "$U"
	chmod 000 "$U/tree/secret.bin"
	chmod 711 "$T"
	as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
	REAL=$SEEDCTL
	if ! "${as_nobody[@]}" test -x "$REAL"; then
		cp "$REAL" "$U/seedctl"
		chmod 755 "$U/seedctl"
		REAL=$U/seedctl
	fi
	"${as_nobody[@]}" cat "$U/tree/ok.bin" >/dev/null 2>&1 || fail "setup: nobody cannot read $U/tree/ok.bin"
	if "${as_nobody[@]}" cat "$U/tree/secret.bin" >/dev/null 2>&1; then
		fail "setup: expected nobody to be unable to read $U/tree/secret.bin (mode 000), it can"
	fi
	printf '#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups -- %q "$@"\n' "$REAL" >"$T/seedctl-as-nobody"
	chmod 755 "$T/seedctl-as-nobody"
	SEEDCTL=$T/seedctl-as-nobody expect_fail "unreadable file (as nobody)" 1 "secret.bin" "$U/store" \
		release create --store "$U/store" --tenant acme --name game --version unreadable "$U/tree"
else
	chmod 000 "$U/tree/secret.bin"
	expect_fail "unreadable file" 1 "secret.bin" "$U/store" \
		release create --store "$U/store" --tenant acme --name game --version unreadable "$U/tree"
fi

# A file that grows while create hashes it: big.bin starts sparse and gets a
# byte appended every ~5 ms for the whole run. If create wins the race (it
# should not: it reads hundreds of MiB), retry with a bigger file.
sizes=(200M 800M 2000M)
for attempt in 1 2 3; do
	size=${sizes[attempt - 1]}
	G=$T/grow$attempt/tree
	gen_file "$G/ok.bin" 1000
	truncate -s "$size" "$G/big.bin"
	start_size=$(stat -c %s "$G/big.bin")
	(for ((i = 0; i < 120000; i++)); do
		printf x >>"$G/big.bin"
		sleep 0.005
	done) &
	APPENDER=$!
	for ((i = 0; i < 100; i++)); do
		(($(stat -c %s "$G/big.bin") > start_size)) && break
		sleep 0.05
	done
	(($(stat -c %s "$G/big.bin") > start_size)) || fail "setup: the appender did not grow $G/big.bin within 5 s"
	note "file growing while hashed (attempt $attempt, $size)"
	store_snapshot "$S" "$T/snap.before"
	sc "$T/g.out" "$T/g.err" "${create[@]}" --version "grow$attempt" "$G"
	stop_appender
	if ((SC_RC == 0)); then
		note "create accepted the growing $size file (ran $(($(stat -c %s "$G/big.bin") - start_size)) appends); retrying bigger"
		rm -rf "$T/grow$attempt"
		continue
	fi
	expect_refusal "file growing while hashed" "$SC_RC" 1 "$T/g.err" "$S" -F big.bin
	grew_ok=yes
	break
done
[[ ${grew_ok:-no} == yes ]] ||
	fail "file growing while hashed: expected create to fail (the file grew during hashing), it succeeded in all 3 attempts (200M, 800M, 2000M)"

# The same, but the file starts growing only once create is well into
# hashing it (a third of a calibrated run): a size check at open time alone
# does not catch this. A create that still succeeds although appends began
# >= 0.5 s before it ended accepted a changed file; closer calls retry bigger.
now_ms() { echo $(($(date +%s%N) / 1000000)); }
late_ok=no
for attempt in 1 2 3; do
	size=$((attempt * 1024))M
	L=$T/late$attempt/tree
	gen_file "$L/ok.bin" 1000
	truncate -s "$size" "$L/big.bin"
	t0=$(now_ms)
	sc "$T/cal.out" "$T/cal.err" release create --store "$T/calib-store" --tenant acme --name game --version cal "$L"
	((SC_RC == 0)) || { cat "$T/cal.err" >&2; fail "setup: calibration create of a static $size tree: expected exit 0, saw exit $(describe_rc "$SC_RC")"; }
	dur=$(($(now_ms) - t0))
	rm -rf "$T/calib-store"
	delay_ms=$((dur / 3))
	note "file growing after hashing began (attempt $attempt, $size, create takes ${dur} ms, appends from ${delay_ms} ms)"
	store_snapshot "$S" "$T/snap.before"
	start_size=$(stat -c %s "$L/big.bin")
	timeout --kill-after=10 "$SC_TIMEOUT" "$SEEDCTL" "${create[@]}" --version "late$attempt" "$L" >"$T/l.out" 2>"$T/l.err" &
	CREATE=$!
	sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
	t_app=$(now_ms)
	(for ((i = 0; i < 120000; i++)); do
		printf x >>"$L/big.bin"
		sleep 0.005
	done) &
	APPENDER=$!
	rc=0
	wait "$CREATE" || rc=$?
	CREATE=
	t_end=$(now_ms)
	stop_appender
	if ((rc == 0)); then
		if ((t_end - t_app >= 500)); then
			fail "file growing after hashing began: expected create to fail, it exited 0 although $L/big.bin grew from $start_size to $(stat -c %s "$L/big.bin") bytes starting $((t_end - t_app)) ms before create ended"
		fi
		note "inconclusive: create ended $((t_end - t_app)) ms after the appends began; retrying bigger"
		rm -rf "$T/late$attempt"
		continue
	fi
	expect_refusal "file growing after hashing began" "$rc" 1 "$T/l.err" "$S" -F big.bin
	late_ok=yes
	break
done
[[ $late_ok == yes ]] || fail "file growing after hashing began: no conclusive run in 3 attempts (create always ended < 0.5 s after the appends began)"
echo "PASS: test_bad_input"
