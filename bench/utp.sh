#!/usr/bin/env bash
# bench/utp.sh: one python3-libtorrent leecher downloading one file over uTP
# and over TCP, from seed-dataplane and from a python3-libtorrent seed (uTP
# on: bench/lt_seed.py --utp), side by side in one run, on loopback. Per
# server and transport it prints the download's rate (MiB/s, libtorrent's
# own from start to complete) and the seed's CPU time per GiB sent (utime +
# stime of the seed's process, from /proc, over the download). Each pair is
# run --runs times; the table gives the median and the range.
# Figures only; nothing passes or fails on speed. Raw rows:
# bench/results/utp.md.
#
# usage: bench/utp.sh [--size 256M] [--runs 3] [--workdir DIR] [--build DIR]
#          [--no-build] [--results DIR]
#   --size N      the file (K, M, G suffixes; default 256M)
#   --runs N      downloads per server and transport (default 3)
#   --workdir DIR where the file and the stores go (default
#                 /var/tmp/bitstream-bench-utp)
#   --build DIR   release build directory (default build-bench)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench_name=utp
# shellcheck source=benchlib.sh
source "$root/bench/benchlib.sh"

size=256M runs=3 workdir=/var/tmp/bitstream-bench-utp build=$root/build-bench no_build=0
results=$root/bench/results
parse_args --size=size --runs=runs --workdir=workdir --build=build --no-build+no_build \
	--results=results -- "$@"
bytes=$(to_bytes "$size") || die "--size: expected a size like 256M, got '$size'"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs: expected a positive number, got '$runs'"
need_packages python3-libtorrent
((no_build)) || build_in "$build" tools/seedctl dataplane/seed-dataplane
seedctl=$build/tools/seedctl dataplane=$build/dataplane/seed-dataplane
[[ -x $seedctl && -x $dataplane ]] || die "no seedctl or seed-dataplane in $build"

PIDS=()
trap stop_all EXIT
work_dirs "$workdir"
mkdir -p "$results"
one_file_payload "$bytes" utp
if [[ ! -d $store ]]; then
	"$seedctl" release create --store "$store" --tenant bench --name utp --version 1 --v1-only \
		--json "$data/src/payload.bin" >"$run/create.json"
else
	"$seedctl" release show --store "$store" --json bench.utp.1 >"$run/create.json"
fi
torrent=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("torrent") or d["torrent_path"])' \
	"$run/create.json")
[[ -f $torrent ]] || die "no torrent for bench.utp.1 (saw '$torrent')"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# one SERVER PID PORT TRANSPORT LABEL: one download; appends a row to $rows
rows=()
one() {
	local server=$1 pid=$2 port=$3 tr=$4 label=$5 c0 c1 secs
	rm -rf "${run:?}/dl"
	c0=$(cpu_ticks "$pid")
	"$PY" "$root/tests/integration/dp_download.py" --peer "127.0.0.1:$port" --timeout 600 \
		--transport "$tr" --report "$run/$label.json" --job "$run/dl" "$torrent" >/dev/null ||
		die "$label: the download failed"
	c1=$(cpu_ticks "$pid")
	secs=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["seconds"])' "$run/$label.json")
	rows+=("$server $tr $secs $(((c1 - c0)))")
}

echo "utp: seed-dataplane (release build, 1 worker) and a libtorrent seed, $size, $runs runs each"
bg "$run/dp.out" "$run/dp.err" "$dataplane" --store "$store" --bt-listen 127.0.0.1:0 \
	--http-listen 127.0.0.1:0 --workers 1 --cache-size 1G --hugepages no --allow-root yes
dp_pid=$BG_PID
wait_for 60 "$dp_pid" "seed-dataplane" grep -q '^http ' "$run/dp.out"
dp_port=$(sed -nE 's#^bittorrent +127\.0\.0\.1:([0-9]+)$#\1#p' "$run/dp.out")
bg "$run/lts.out" "$run/lts.err" "$PY" "$root/bench/lt_seed.py" --torrent "$torrent" \
	--data-dir "$data/src" --port 0 --utp
lt_pid=$BG_PID
wait_for 600 "$lt_pid" "the libtorrent seed" grep -q '^seeding ' "$run/lts.out"
lt_port=$(sed -nE 's/^listening 127\.0\.0\.1:([0-9]+)$/\1/p' "$run/lts.out")

# a warm-up each (the page cache, our block cache), not counted
one ours "$dp_pid" "$dp_port" tcp warm-ours
one libtorrent "$lt_pid" "$lt_port" tcp warm-lt
rows=()
for ((i = 1; i <= runs; i++)); do
	for tr in utp tcp; do
		one ours "$dp_pid" "$dp_port" "$tr" "ours-$tr-$i"
		one libtorrent "$lt_pid" "$lt_port" "$tr" "lt-$tr-$i"
	done
done
stop_pid "$dp_pid"
stop_pid "$lt_pid"

$PY - "$results" "$bytes" "$hz" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${rows[@]}" <<'EOF'
import os, statistics, sys
out, nbytes, hz, cpus, when, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6:]
by = {}
for r in rows:
    server, tr, secs, ticks = r.split()
    by.setdefault((server, tr), []).append((float(secs), int(ticks)))
gib = nbytes / 2**30
lines = ['One libtorrent leecher, one %.0f MiB file, loopback (bench/utp.sh), %s, %s CPUs.' % (nbytes / 2**20, when, cpus), '',
         '| seed | transport | MiB/s (median, range) | seed CPU-s/GiB (median, range) |', '|---|---|---|---|']
for server in ('ours', 'libtorrent'):
    for tr in ('utp', 'tcp'):
        v = by.get((server, tr), [])
        if not v:
            continue
        rate = [nbytes / 2**20 / s for s, _ in v]
        cpu = [t / hz / gib for _, t in v]
        lines.append('| %s | %s | %.1f (%.1f-%.1f) | %.3f (%.3f-%.3f) |' % (
            'seed-dataplane' if server == 'ours' else 'libtorrent seed', tr,
            statistics.median(rate), min(rate), max(rate), statistics.median(cpu), min(cpu), max(cpu)))
text = '\n'.join(lines) + '\n'
print(text)
open(os.path.join(out, 'utp.md'), 'w').write(text)
EOF
