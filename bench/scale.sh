#!/usr/bin/env bash
# bench/scale.sh: how the store and the data plane scale with the number of
# files. For each N of --objects it generates N small random files (1-6 KB,
# 100 to a folder) split over --releases releases, and measures, in one run:
#   - ingest: `seedctl release create` of every release into a fresh store
#     on --workdir's file system, files per second (the whole create:
#     scanning, hashing, writing, the one sync per release, the manifest);
#   - a second version of every release with nothing changed (every file
#     the store holds already), files per second; then removed again, so
#     that the data plane below serves N objects in M releases, each file
#     in one release (issue 17's target: a million objects over 100
#     releases);
#   - seed-dataplane's start-up: from its exec to its listeners line, with
#     every release of the store loaded (no catalog: all are served),
#     --workers 1, a 16 MiB cache without hugepages;
#   - how long its loader thread takes to read every object's table after
#     start-up (its "object tables: N loaded in T s" line);
#   - its resident memory once the tables are read (VmRSS), and that beyond
#     the same data plane on an empty store, per object;
#   - the time to first byte of the first request, sent right after
#     start-up while the tables are still being read, and then of a random
#     file over HTTP (curl, 20 files, median) once they are.
# The data plane runs under this shell's descriptor limit: it opens object
# files on demand (docs/dataplane.md, "Open files"), so N does not need N
# descriptors.
# Prints a table and writes bench/results/scale.{md,json}. Figures only;
# nothing passes or fails on speed.
#
# usage: bench/scale.sh [--objects "10000 100000"] [--releases 10]
#          [--workdir DIR] [--results DIR] [--build DIR] [--no-build]
#          [--seedctl P] [--dataplane P]
#   --objects LIST   the N to measure (1000000 takes about 25 minutes on
#                    2 CPUs and 31 GB of disk: 6 GB of source, 25 GB of
#                    store in format 4)
#   --releases M     releases the N files are split over
#   --workdir DIR    where the trees and stores go (default
#                    /var/tmp/bitstream-bench-scale; removed after each N)
#   --build DIR      release build directory (default build-bench)
#   --no-build       use the binaries as they are
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench_name=scale
# shellcheck source=benchlib.sh
source "$root/bench/benchlib.sh"

objects="10000 100000" releases=10 workdir=/var/tmp/bitstream-bench-scale
results=$root/bench/results build=$root/build-bench no_build=0 seedctl= dataplane=
parse_args --objects=objects --releases=releases --workdir=workdir --results=results \
	--build=build --no-build+no_build --seedctl=seedctl --dataplane=dataplane -- "$@"
[[ $releases =~ ^[1-9][0-9]*$ ]] || die "--releases: expected a positive number, got '$releases'"
for n in $objects; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "--objects: expected positive numbers, got '$n'"
done
need_packages curl python3
((no_build)) || build_in "$build" tools/seedctl dataplane/seed-dataplane
seedctl=${seedctl:-$build/tools/seedctl}
dataplane=${dataplane:-$build/dataplane/seed-dataplane}
[[ -x $seedctl && -x $dataplane ]] || die "no seedctl or seed-dataplane (build them, or pass --seedctl and --dataplane)"

PIDS=()
trap stop_all EXIT
mkdir -p "$results" "$workdir"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
rss_kib() { sed -nE 's/^VmRSS:\s+([0-9]+) kB$/\1/p' "/proc/$1/status"; }

# start_dp STORE OUT ERR: the data plane on 127.0.0.1, started and waited
# for; DP_PID, DP_START_MS (exec to listeners), DP_PORT.
start_dp() {
	local t0
	t0=$(now_ms)
	bg "$2" "$3" "$dataplane" --store "$1" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
		--workers 1 --cache-size 16M --hugepages no --allow-root yes
	DP_PID=$BG_PID
	wait_for 600 "$DP_PID" "seed-dataplane on $1" grep -q '^http ' "$2" || {
		cat "$3" >&2
		die "seed-dataplane did not start"
	}
	DP_START_MS=$(($(now_ms) - t0))
	DP_PORT=$(sed -nE 's#^http +http://127\.0\.0\.1:([0-9]+)/$#\1#p' "$2" | head -1)
}

ttfb_ms() { # URL: curl's time to first byte in ms (the body is discarded)
	curl -s -o /dev/null --max-time 60 -w '%{time_starttransfer}' "$1" |
		$PY -c 'import sys; print("%.2f" % (float(sys.stdin.read()) * 1000))'
}

# create_all W VERSION: every release of W/src created as VERSION into
# W/store; prints the milliseconds it took
create_all() {
	local t0 r
	t0=$(now_ms)
	for ((r = 0; r < releases; r++)); do
		"$seedctl" release create --store "$1/store" --tenant scale --name "r$r" --version "$2" \
			"$1/src/$(printf 'r%03d' "$r")" >/dev/null
	done
	echo $(($(now_ms) - t0))
}

rows=()
for n in $objects; do
	w=$workdir/n$n
	rm -rf "$w"
	mkdir -p "$w"
	echo "N=$n: generating $n files over $releases releases ..."
	$PY - "$w/src" "$n" "$releases" <<'GENEOF'
import os, random, sys
root, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(n)
for i in range(n):
    d = os.path.join(root, 'r%03d' % (i % m), 'd%05d' % (i // m // 100))
    if i // m % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'f%07d.bin' % i), 'wb') as f:
        f.write(rnd.randbytes(rnd.randint(1000, 6000)))
GENEOF
	sync
	echo "N=$n: ingest ..."
	ingest_ms=$(create_all "$w" 1)
	again_ms=$(create_all "$w" 2)
	for ((r = 0; r < releases; r++)); do
		"$seedctl" release rm --store "$w/store" "scale.r$r.2" >/dev/null
	done

	echo "N=$n: data plane start-up, memory, first bytes ..."
	mkdir -p "$w/empty"
	"$seedctl" release create --store "$w/empty" --tenant scale --name e --version 1 \
		"$w/src/r000/d00000" >/dev/null
	start_dp "$w/empty" "$w/dp0.out" "$w/dp0.err"
	rss0=$(rss_kib "$DP_PID")
	stop_pid "$DP_PID"
	start_dp "$w/store" "$w/dp.out" "$w/dp.err"
	start_ms=$DP_START_MS
	mapfile -t urls < <($PY - "$w/src" "$n" "$releases" "$DP_PORT" <<'URLEOF'
import random, sys
root, n, m, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rnd = random.Random(7)
for _ in range(21):
    i = rnd.randrange(n)
    print('http://127.0.0.1:%s/scale.r%d.1/r%03d/d%05d/f%07d.bin' % (port, i % m, i % m, i // m // 100, i))
URLEOF
)
	# the first request comes while the tables are still being read in the
	# background: its object's goes first
	first=$(ttfb_ms "${urls[0]}")
	wait_for 1200 "$DP_PID" "seed-dataplane's object tables" \
		grep -q 'object tables: [0-9]* loaded in' "$w/dp.err" || die "the object tables were not loaded"
	tables_s=$(sed -nE 's/.*object tables: [0-9]+ loaded in ([0-9.]+) s.*/\1/p' "$w/dp.err" | head -1)
	rss=$(rss_kib "$DP_PID")
	ttfbs=()
	for u in "${urls[@]:1}"; do
		ttfbs+=("$(ttfb_ms "$u")")
	done
	stop_pid "$DP_PID"
	median=$(printf '%s\n' "${ttfbs[@]}" | sort -g | sed -n "$(((${#ttfbs[@]} + 1) / 2))p")
	objs=$(find "$w/store/objects" -type f -name '*.obj' | wc -l)
	rows+=("$n $releases $objs $ingest_ms $again_ms $start_ms $tables_s $rss0 $rss $first $median")
	rm -rf "$w"
done

$PY - "$results" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(ulimit -n)" "${rows[@]}" <<'REPEOF'
import json, os, sys
out, cpus, when, nofile, rows = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
recs = []
for r in rows:
    n, m, objs, ing, again, start, tables, rss0, rss, first, med = r.split()
    n, m, objs, ing, again = map(int, (n, m, objs, ing, again))
    d = dict(files=n, releases=m, objects=objs, ingest_files_per_s=round(n / (ing / 1000), 1),
             again_files_per_s=round(n / (again / 1000), 1))
    start, rss0, rss = map(int, (start, rss0, rss))
    d.update(startup_s=start / 1000, tables_s=float(tables), rss_empty_kib=rss0, rss_kib=rss,
             bytes_per_object=round((rss - rss0) * 1024 / max(objs, 1), 1),
             first_ttfb_ms=float(first), median_ttfb_ms=float(med))
    recs.append(d)
lines = ['Store and data plane by number of files (bench/scale.sh), %s, %s CPUs, descriptor limit %s.' % (when, cpus, nofile), '',
         '| files | releases | objects | ingest files/s | again (all known) files/s | data plane start-up s | tables read s (background) | RSS MiB (empty store) | bytes/object | first byte ms (first, median of 20) |',
         '|---|---|---|---|---|---|---|---|---|---|']
for d in recs:
    head = '| %d | %d | %d | %.0f | %.0f |' % (d['files'], d['releases'], d['objects'],
                                            d['ingest_files_per_s'], d['again_files_per_s'])
    lines.append(head + ' %.2f | %.2f | %.1f (%.1f) | %.0f | %.2f, %.2f |' % (
        d['startup_s'], d['tables_s'], d['rss_kib'] / 1024, d['rss_empty_kib'] / 1024, d['bytes_per_object'],
        d['first_ttfb_ms'], d['median_ttfb_ms']))
text = '\n'.join(lines) + '\n'
print(text)
open(os.path.join(out, 'scale.md'), 'w').write(text)
json.dump(dict(when=when, cpus=int(cpus), nofile=nofile, rows=recs), open(os.path.join(out, 'scale.json'), 'w'), indent=1)
REPEOF
