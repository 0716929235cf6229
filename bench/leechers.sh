#!/usr/bin/env bash
# bench/leechers.sh: leechers one after the other from a cold seed (issue
# 19, "one cache for all workers"). One python3-libtorrent leecher at a time
# downloads one file from seed-dataplane (2 workers, one shared cache that
# holds the file) until two downloads have landed on different workers, and
# the same number of downloads from a python3-libtorrent seed, in one run,
# on loopback, the page cache dropped before each seed's first download.
# Per download it prints the rate, the seed's CPU time per GiB sent (utime +
# stime of its process from /proc, over the download) and, for ours, the
# worker that served it (per-worker payload counters, `seedctl stats
# --json`) and the bytes it read from the store. Figures only; nothing
# passes or fails on speed. Raw rows: bench/results/leechers.md.
#
# usage: bench/leechers.sh [--size 1G] [--max 6] [--workdir DIR] [--build DIR]
#          [--no-build] [--results DIR]
#   --size N      the file (K, M, G suffixes; default 1G)
#   --max N       downloads from ours at most while looking for a second
#                 worker (default 6; the libtorrent seed gets as many)
#   --workdir DIR where the file and the store go (default
#                 /var/tmp/bitstream-bench-leechers)
#   --build DIR   release build directory (default build-bench)
# Needs root (drop_caches).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench_name=leechers
# shellcheck source=benchlib.sh
source "$root/bench/benchlib.sh"

size=1G max=6 workdir=/var/tmp/bitstream-bench-leechers build=$root/build-bench no_build=0
results=$root/bench/results
parse_args --size=size --max=max --workdir=workdir --build=build --no-build+no_build \
	--results=results -- "$@"
bytes=$(to_bytes "$size") || die "--size: expected a size like 1G, got '$size'"
[[ $max =~ ^[2-9]$|^[1-9][0-9]+$ ]] || die "--max: expected a number of at least 2, got '$max'"
((EUID == 0)) || die "needs root: the page cache is dropped before each seed's first download"
need_packages python3-libtorrent
((no_build)) || build_in "$build" tools/seedctl dataplane/seed-dataplane
seedctl=$build/tools/seedctl dataplane=$build/dataplane/seed-dataplane
[[ -x $seedctl && -x $dataplane ]] || die "no seedctl or seed-dataplane in $build"

PIDS=()
trap stop_all EXIT
work_dirs "$workdir"
mkdir -p "$results"
one_file_payload "$bytes" leechers
if [[ ! -d $store ]] || ! "$seedctl" release show --store "$store" --json bench.leech.1 >"$run/create.json" 2>/dev/null; then
	rm -rf "$store"
	"$seedctl" release create --store "$store" --tenant bench --name leech --version 1 --v1-only \
		--piece-length 1048576 --json "$data/src/payload.bin" >"$run/create.json"
fi
torrent=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("torrent") or d["torrent_path"])' \
	"$run/create.json")
[[ -f $torrent ]] || die "no torrent for bench.leech.1 (saw '$torrent')"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
drop_page_cache() { sync && echo 3 >/proc/sys/vm/drop_caches; }

# per_worker FIELD: one line per worker (bt: its BitTorrent payload bytes)
per_worker() {
	"$seedctl" stats --file "$run/dp.stats" --json >"$run/st.json"
	$PY - "$run/st.json" "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for w in d["per_worker"]:
    print(w["payload_bytes"]["bt"] if sys.argv[2] == "bt" else w[sys.argv[2]])
EOF
}

# download SERVER PID PORT LABEL: one download; sets SECS and TICKS
download() {
	local c0 c1
	rm -rf "${run:?}/dl"
	c0=$(cpu_ticks "$2")
	"$PY" "$root/tests/integration/dp_download.py" --peer "127.0.0.1:$3" --timeout 900 \
		--report "$run/$4.json" --job "$run/dl" "$torrent" >/dev/null || die "$4: the download failed"
	c1=$(cpu_ticks "$2")
	cmp -s "$run/dl/payload.bin" "$data/src/payload.bin" || die "$4: the download differs from the source"
	SECS=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["seconds"])' "$run/$4.json")
	TICKS=$((c1 - c0))
}

rows=()
echo "leechers: seed-dataplane (release build, 2 workers, one 2 GiB cache), cold"
drop_page_cache
bg "$run/dp.out" "$run/dp.err" "$dataplane" --store "$store" --bt-listen 127.0.0.1:0 \
	--http-listen 127.0.0.1:0 --workers 2 --cache-size 2G --hugepages no --allow-root yes \
	--stats-file "$run/dp.stats"
dp_pid=$BG_PID
wait_for 60 "$dp_pid" "seed-dataplane" grep -q '^http ' "$run/dp.out"
dp_port=$(sed -nE 's#^bittorrent +127\.0\.0\.1:([0-9]+)$#\1#p' "$run/dp.out")
mapfile -t before < <(per_worker bt)
mapfile -t rb0 < <(per_worker storage_read_bytes)
declare -A seen=()
n=0
for ((k = 1; k <= max; k++)); do
	download ours "$dp_pid" "$dp_port" "ours-$k"
	mapfile -t after < <(per_worker bt)
	mapfile -t rb1 < <(per_worker storage_read_bytes)
	wk=-1
	for i in 0 1; do ((after[i] - before[i] >= bytes)) && wk=$i; done
	read_b=$((rb1[0] + rb1[1] - rb0[0] - rb0[1]))
	rows+=("ours $k $SECS $TICKS $wk $read_b")
	echo "  ours download $k: ${SECS}s, worker $wk, $read_b bytes read from the store"
	before=("${after[@]}") rb0=("${rb1[@]}")
	seen[$wk]=1
	n=$k
	((${#seen[@]} == 2)) && break
done
stop_pid "$dp_pid"
((${#seen[@]} == 2)) || echo "leechers: all $n downloads landed on one worker (run again)" >&2

echo "leechers: python3-libtorrent seed, cold, $n downloads"
bg "$run/lts.out" "$run/lts.err" "$PY" "$root/bench/lt_seed.py" --torrent "$torrent" \
	--data-dir "$data/src" --port 0
lt_pid=$BG_PID
wait_for 900 "$lt_pid" "the libtorrent seed" grep -q '^seeding ' "$run/lts.out"
lt_port=$(sed -nE 's/^listening 127\.0\.0\.1:([0-9]+)$/\1/p' "$run/lts.out")
drop_page_cache
for ((k = 1; k <= n; k++)); do
	download libtorrent "$lt_pid" "$lt_port" "lt-$k"
	rows+=("libtorrent $k $SECS $TICKS - -")
	echo "  libtorrent download $k: ${SECS}s"
done
stop_pid "$lt_pid"

$PY - "$results" "$bytes" "$hz" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${rows[@]}" <<'EOF'
import os, sys
out, nbytes, hz, cpus, when, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6:]
gib = nbytes / 2**30
lines = ['One libtorrent leecher at a time, one %.0f MiB file, v1, 1 MiB pieces, loopback, '
         'cold seeds (page cache dropped before the first download) (bench/leechers.sh), %s, '
         '%s CPUs. seed-dataplane: 2 workers, one 2 GiB cache, release build.' % (nbytes / 2**20, when, cpus), '',
         '| seed | download | worker | MiB/s | seed CPU-s/GiB | bytes read from the store |',
         '|---|---|---|---|---|---|']
for r in rows:
    server, k, secs, ticks, wk, rb = r.split()
    lines.append('| %s | %s | %s | %.1f | %.3f | %s |' % (
        'seed-dataplane' if server == 'ours' else 'libtorrent seed', k, wk,
        nbytes / 2**20 / float(secs), int(ticks) / hz / gib, rb))
text = '\n'.join(lines) + '\n'
print(text)
open(os.path.join(out, 'leechers.md'), 'w').write(text)
EOF
