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

size=1G max=6
one_file_args --max=max -- "$@"
[[ $max =~ ^[2-9]$|^[1-9][0-9]+$ ]] || die "--max: expected a number of at least 2, got '$max'"
((EUID == 0)) || die "needs root: the page cache is dropped before each seed's first download"
one_file_bench leech --piece-length 1048576

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

# download PID PORT LABEL: one download (lt_download), checked against the
# source; sets SECS_TAKEN and TICKS
download() {
	lt_download "$1" "$2" "$3" 900
	cmp -s "$run/dl/payload.bin" "$data/src/payload.bin" || die "$3: the download differs from the source"
}

rows=()
echo "leechers: seed-dataplane (release build, 2 workers, one 2 GiB cache), cold"
drop_page_cache
dp_loopback --workers 2 --cache-size 2G --stats-file "$run/dp.stats"
mapfile -t before < <(per_worker bt)
mapfile -t rb0 < <(per_worker storage_read_bytes)
declare -A seen=()
n=0
for ((k = 1; k <= max; k++)); do
	download "$dp_pid" "$dp_port" "ours-$k"
	mapfile -t after < <(per_worker bt)
	mapfile -t rb1 < <(per_worker storage_read_bytes)
	wk=-1
	for i in 0 1; do ((after[i] - before[i] >= bytes)) && wk=$i; done
	read_b=$((rb1[0] + rb1[1] - rb0[0] - rb0[1]))
	rows+=("ours $k $SECS_TAKEN $TICKS $wk $read_b")
	echo "  ours download $k: ${SECS_TAKEN}s, worker $wk, $read_b bytes read from the store"
	before=("${after[@]}") rb0=("${rb1[@]}")
	seen[$wk]=1
	n=$k
	((${#seen[@]} == 2)) && break
done
stop_pid "$dp_pid"
((${#seen[@]} == 2)) || echo "leechers: all $n downloads landed on one worker (run again)" >&2

echo "leechers: python3-libtorrent seed, cold, $n downloads"
lt_loopback 900
drop_page_cache
for ((k = 1; k <= n; k++)); do
	download "$lt_pid" "$lt_port" "lt-$k"
	rows+=("libtorrent $k $SECS_TAKEN $TICKS - -")
	echo "  libtorrent download $k: ${SECS_TAKEN}s"
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
