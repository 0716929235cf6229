#!/usr/bin/env bash
# User story: a release with far more files than the data plane may have
# descriptors (issue 17). seed-dataplane runs under a descriptor limit of
# 256 (prlimit --nofile=256:256, so it cannot raise it) and serves a
# release of 5,000 files of 1-6 KB in 50 folders:
#  - asked for --object-fds 1000, more than the limit leaves, it refuses
#    to start with exit 2 and one line naming the flag and the limit;
#  - it starts (it no longer keeps a descriptor per object) and says how
#    many object files it keeps open, fewer than the limit, and how many
#    connections per worker fit beside them (--max-conns 4096 does not);
#  - curl fetches 200 random files over HTTP, each byte-identical;
#  - python3-libtorrent downloads the whole release from it, every file's
#    sha256 the source's, no hash failure;
#  - the data plane's open descriptors, sampled from /proc every 50 ms
#    throughout, never reach the limit;
#  - it stops with exit 0, every object opened at least once
#    (object_opens >= 5000, so files were closed and opened again on
#    demand), object_open_errors=0, verify_failures=0, storage_errors=0.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
require_cmds prlimit curl

LIMIT=256
NFILES=5000
TREE=$T/src/game
S=$T/store
"$PY" - "$TREE" "$NFILES" <<'GENEOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(17)
for i in range(n):
    d = os.path.join(root, 'd%02d' % (i // 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'f%04d.bin' % i), 'wb') as f:
        f.write(rnd.randbytes(rnd.randint(1000, 6000)))
GENEOF
n=$(find "$TREE" -type f | wc -l)
((n == NFILES)) || fail "expected $NFILES source files, made $n"
sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name many --version 1 --json "$TREE"
ID=$(json_get "$T/c.json" id)
TORRENT=$(json_get "$T/c.json" torrent)

note "an --object-fds the limit cannot hold is refused at start"
rc=0
prlimit --nofile=$LIMIT:$LIMIT -- "$SEED_DATAPLANE" --allow-root yes --store "$S" \
	--http-listen 127.0.0.1:0 --workers 2 --object-fds 1000 >"$T/big.out" 2>"$T/big.err" || rc=$?
((rc == 2)) || fail "--object-fds 1000 under ulimit -n $LIMIT: expected exit 2, saw $(describe_rc "$rc"): $(head -3 "$T/big.err")"
expect_line "$T/big.err" "--object-fds 1000 under ulimit -n $LIMIT: expected one line naming the flag and the limit" \
	"--object-fds 1000: the descriptor limit ($LIMIT, ulimit -n)"

note "seed-dataplane under a descriptor limit of $LIMIT"
DP_WRAP=(prlimit --nofile=$LIMIT:$LIMIT --)
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2 \
	--cache-size 16M --log-level info
DP_WRAP=()
lim=$(awk '/^Max open files/ { print $4 }' "/proc/$DP_PID/limits")
[[ $lim == "$LIMIT" ]] || fail "/proc/$DP_PID/limits: expected the data plane's open-files limit to be $LIMIT, saw '$lim'"
cap=$(sed -nE 's/^objects +[0-9]+, at most ([0-9]+) files open .*/\1/p' "$DP_OUT" | head -1)
[[ $cap =~ ^[0-9]+$ ]] || fail "seed-dataplane's stdout: expected 'objects N, at most M files open ...', saw: $(cat "$DP_OUT")"
((cap < LIMIT)) || fail "seed-dataplane keeps up to $cap object files open: expected fewer than the limit $LIMIT"
note "it keeps at most $cap of $NFILES object files open"
conns=$(sed -nE 's/.*leaves room for ([0-9]+) connections per worker.*/\1/p' "$DP_ERR" | head -1)
[[ $conns =~ ^[0-9]+$ ]] || fail "seed-dataplane's log: expected a line saying how many connections per worker the limit leaves (4096 x 2 do not fit in $LIMIT), saw: $(head -5 "$DP_ERR")"
((2 * conns + cap < LIMIT)) || fail "connection slots (2 x $conns) and object files ($cap) must fit in the limit $LIMIT"
note "and $conns connections per worker, so a full table reclaims instead of failing accepts"

# Samples the data plane's open descriptors until it is gone or the file
# $T/sampling disappears; the largest count goes to $T/fd.max.
touch "$T/sampling"
(
	max=0
	for ((i = 0; i < 6000; i++)); do
		[[ -e $T/sampling && -d /proc/$DP_PID/fd ]] || break
		c=$(find "/proc/$DP_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
		((c > max)) && max=$c && echo "$max" >"$T/fd.max"
		sleep 0.05
	done
) &
SAMPLER=$!
dp_track "$SAMPLER"

note "curl: 200 random files over HTTP"
mapfile -t PICK < <(cd "$TREE" && find . -type f -printf '%P\n' | sort | "$PY" -c '
import random, sys
names = sys.stdin.read().split()
random.Random(5).shuffle(names)
print("\n".join(names[:200]))')
((${#PICK[@]} == 200)) || fail "expected 200 files to fetch, picked ${#PICK[@]}"
for f in "${PICK[@]}"; do
	http_get "$DP_URL/$ID/game/$f" "$T/got" "$T/got.hdr" -f
	cmp -s "$T/got" "$TREE/$f" || fail "GET $ID/game/$f: expected the source's bytes"
done

note "libtorrent: the whole release"
mkdir -p "$T/lt"
rc=0
"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 240 \
	--job "$T/lt" "$TORRENT" --check-had "$(dirname "$TREE")" || rc=$?
((rc == 0)) || fail "libtorrent: download of $TORRENT from 127.0.0.1:$DP_BT_PORT failed (see above)"
tree_sums_cmp "$TREE" "$T/lt/game" "libtorrent"

rm -f "$T/sampling"
wait "$SAMPLER" || true
dp_untrack "$SAMPLER"
max=$(cat "$T/fd.max" 2>/dev/null || echo 0)
((max > 0)) || fail "the descriptor sampler saw no descriptor of the data plane (pid $DP_PID)"
note "open descriptors: at most $max (limit $LIMIT)"
((max < LIMIT)) || fail "the data plane had $max descriptors open at once: expected fewer than its limit $LIMIT"

dp_stop 30
opens=$(dp_counter object_opens)
[[ $opens =~ ^[0-9]+$ ]] || fail "stopped line: expected object_opens=N: $DP_STOPPED"
((opens >= NFILES)) || fail "stopped line: object_opens=$opens, expected at least one open per file ($NFILES)"
note "object files opened $opens times for $NFILES files (at most $cap open)"
dp_expect_counter object_open_errors 0
dp_expect_counter verify_failures 0
dp_expect_counter storage_errors 0
