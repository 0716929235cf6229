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

size=256M runs=3
one_file_args --runs=runs -- "$@"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs: expected a positive number, got '$runs'"
one_file_bench utp

hz=$(getconf CLK_TCK)

# one SERVER PID PORT TRANSPORT LABEL: one download; appends a row to $rows
rows=()
one() {
	lt_download "$2" "$3" "$5" 600 --transport "$4"
	rows+=("$1 $4 $SECS_TAKEN $TICKS")
}

echo "utp: seed-dataplane (release build, 1 worker) and a libtorrent seed, $size, $runs runs each"
dp_loopback --workers 1 --cache-size 1G
lt_loopback 600 --utp

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
