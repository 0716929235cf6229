#!/usr/bin/env bash
# User story: one cache for all workers (issue 19). A 256 MiB release is
# served by two workers sharing one 512 MiB block cache, the page cache
# dropped first.
#  - python3-libtorrent downloads it again and again, one after the other
#    (each a new session, a new connection the kernel gives to either
#    worker), until two downloads have landed on different workers (the
#    test reads which worker served each from `seedctl stats --json`'s
#    per_worker payload bytes; at most 12 tries, so two workers are missed
#    with odds of 1 in 2,048): every download byte-exact, and the store read
#    once for all of them (storage_read_bytes at most 1.1 x the release),
#    so the download served by the other worker came from the cache the
#    first one filled.
#  - Restarted cold, four libtorrent sessions download it at once (spread
#    over both workers): peers of both workers wait for the same blocks'
#    reads, the one read of each is handed to the other worker's peers
#    (the cache's inbox), every download is byte-exact, and the store is
#    again read at most 1.1 x the release.
#  - No verify failure, no storage error.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
skip_unless_root "dropping the page cache (/proc/sys/vm/drop_caches)"

TREE=$T/src/game
S=$T/store
SIZE=$((256 << 20))
gen_tree "$TREE" data/a.bin $((192 << 20)) data/b.bin $((64 << 20))
sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name shared \
	--version 1 --piece-length 1048576 --json "$TREE"
TORRENT=$(json_get "$T/c.json" torrent)
LIMIT=$((SIZE + SIZE / 10))

# per_worker FIELD: worker i's FIELD (bt payload when FIELD is bt), one per line
per_worker() {
	sc_ok "$T/st.json" "$T/st.err" stats --file "$T/dp.stats" --json
	"$PY" - "$T/st.json" "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for w in d["per_worker"]:
    print(w["payload_bytes"]["bt"] if sys.argv[2] == "bt" else w[sys.argv[2]])
EOF
}

drop_page_cache() {
	sync
	echo 3 >/proc/sys/vm/drop_caches || fail "cannot drop the page cache (/proc/sys/vm/drop_caches)"
}

drop_page_cache
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2 \
	--cache-size 512M --stats-file "$T/dp.stats"
grep -q 'shared by the workers' "$DP_OUT" || fail "seed-dataplane's banner: expected the cache line to say it is shared by the workers, saw: $(grep '^cache' "$DP_OUT")"

note "downloads one after the other until two land on different workers"
mapfile -t before < <(per_worker bt)
((${#before[@]} == 2)) || fail "seedctl stats --json: expected per_worker counters of 2 workers, saw ${#before[@]}"
declare -A seen=()
for ((k = 1; k <= 12; k++)); do
	rc=0
	"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 240 \
		--job "$T/seq$k" "$TORRENT" --check-had "$(dirname "$TREE")" >/dev/null || rc=$?
	((rc == 0)) || fail "libtorrent download $k from 127.0.0.1:$DP_BT_PORT failed (see above)"
	tree_sums_cmp "$TREE" "$T/seq$k/game" "libtorrent download $k"
	rm -rf "$T/seq$k"
	mapfile -t after < <(per_worker bt)
	served=-1
	for i in 0 1; do
		d=$((after[i] - before[i]))
		if ((d >= SIZE)); then
			((served < 0)) || fail "download $k: both workers sent a whole release ($((after[0] - before[0])) and $((after[1] - before[1])) bytes): expected one connection, one worker"
			served=$i
		fi
	done
	((served >= 0)) || fail "download $k: no worker sent the whole release (bt payload deltas $((after[0] - before[0])), $((after[1] - before[1])))"
	before=("${after[@]}")
	seen[$served]=1
	note "download $k: served by worker $served"
	((${#seen[@]} == 2)) && break
done
((${#seen[@]} == 2)) || fail "12 downloads all landed on one worker (SO_REUSEPORT spreads connections by their addresses: odds 1 in 2,048)"
mapfile -t rb < <(per_worker storage_read_bytes)
total=$((rb[0] + rb[1]))
note "store read: $total bytes for a $SIZE-byte release (worker 0 ${rb[0]}, worker 1 ${rb[1]}), $k downloads"
((total >= SIZE)) || fail "storage_read_bytes $total: expected the release read at least once ($SIZE)"
((total <= LIMIT)) || fail "storage_read_bytes $total after $k downloads on two workers: expected at most 1.1 x the release ($LIMIT): the second worker read the store again"
dp_stop 30
dp_expect_counter verify_failures 0
dp_expect_counter storage_errors 0

note "cold again: four sessions at once, over both workers"
drop_page_cache
mkdir -p "$T/par"
dp_start "$T/par" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2 \
	--cache-size 512M --stats-file "$T/dp2.stats"
rc=0
"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 300 \
	--job "$T/p1" "$TORRENT" --job "$T/p2" "$TORRENT" --job "$T/p3" "$TORRENT" \
	--job "$T/p4" "$TORRENT" --check-had "$(dirname "$TREE")" >/dev/null || rc=$?
((rc == 0)) || fail "four libtorrent sessions at once from 127.0.0.1:$DP_BT_PORT: failed (see above)"
for j in 1 2 3 4; do
	tree_sums_cmp "$TREE" "$T/p$j/game" "libtorrent session $j of 4"
done
sc_ok "$T/st2.json" "$T/st2.err" stats --file "$T/dp2.stats" --json
"$PY" - "$T/st2.json" <<'EOF' | while read -r line; do note "$line"; done
import json, sys
d = json.load(open(sys.argv[1]))
for i, w in enumerate(d["per_worker"]):
    print("worker %d: %d connections, %d bt bytes, %d blocks from the cache, %d reads" % (
        i, w["conns_accepted"]["bt"], w["payload_bytes"]["bt"], w["cache_hits"], w["storage_reads"]))
EOF
dp_stop 30
rb=$(dp_counter storage_read_bytes)
note "store read: $rb bytes for four downloads at once"
((rb >= SIZE && rb <= LIMIT)) || fail "stopped line: storage_read_bytes=$rb: expected the release read once for all four sessions (at least $SIZE, at most $LIMIT)"
dp_expect_counter verify_failures 0
dp_expect_counter storage_errors 0
