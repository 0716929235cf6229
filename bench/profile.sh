#!/usr/bin/env bash
# bench/profile.sh: where seed-dataplane's CPU goes, per load. Uses the
# payload and store bench/compare.sh left in its work directory and the
# release build it made; starts one data plane (a cache that holds the
# payload, warmed), then for each load runs loadgen for 8 s (after 1 s of
# warm-up) and samples the data plane with `perf record -e cpu-clock -g` for
# 5 s in the middle. Prints per load: loadgen's Gbit/s and server CPU-s/GiB,
# the top symbols and the split kernel / ours / libraries.
#   BitTorrent, 16 connections; HTTP 16 KiB ranges, 16; HTTP whole files, 16.
# usage: bench/profile.sh [--workdir DIR] [--build DIR]   (needs perf, root)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
workdir=/var/tmp/bs-compare build=$root/build-bench
while (($#)); do
	case $1 in
	--workdir) workdir=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	-h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "profile.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
command -v perf >/dev/null || { echo "profile.sh: perf not found (Debian: linux-perf)" >&2; exit 1; }
S=$workdir L=$build/bench/loadgen DPX=$build/dataplane/seed-dataplane
for x in "$L" "$DPX" "$S/store/torrents/bench.file.1.v1.torrent" "$S/data/bigfile.bin"; do
	[[ -e $x ]] || { echo "profile.sh: $x missing: run bench/compare.sh first" >&2; exit 1; }
done
out=$(mktemp -d)
"$DPX" --allow-root yes --store "$S/store" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers "$(nproc)" \
	--cache-size 3000M --upload-slots 256 >"$out/dp.out" 2>"$out/dp.err" &
DP=$!
trap 'kill $DP 2>/dev/null; wait $DP 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 150); do grep -q '^http ' "$out/dp.out" && break; sleep 0.2; done
BT=$(sed -nE 's#^bittorrent +127\.0\.0\.1:([0-9]+)$#\1#p' "$out/dp.out" | head -1)
HP=$(sed -nE 's#^http +http://127\.0\.0\.1:([0-9]+)/$#\1#p' "$out/dp.out" | head -1)
[[ -n $BT && -n $HP ]] || { cat "$out/dp.err" >&2; exit 1; }
U=http://127.0.0.1:$HP/bench.file.1/bigfile.bin
P=()
for _ in $(seq $((4 * $(nproc)))); do curl -sS -o /dev/null --max-time 300 "$U" & P+=($!); done
wait "${P[@]}"
prof() { # NAME LOADGEN-ARGS...
	local n=$1 lp
	shift
	"$L" "$@" --server-pid "$DP" --duration 8 --warmup 1 --json >"$out/$n.json" &
	lp=$!
	sleep 2
	perf record -q -e cpu-clock -F 2000 -g -p "$DP" -o "$out/$n.data" -- sleep 5 2>/dev/null
	wait "$lp" || true
	echo "== $n: $(/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.2f Gbit/s, %.3f server CPU-s/GiB" % (r["gbit_s"], r["server_cpu_s_per_gib"]))' "$out/$n.json")"
	perf report -i "$out/$n.data" --no-children --sort sym --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -15 || true
	perf report -i "$out/$n.data" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -5 || true
}
prof "BitTorrent, 16 connections" bt --torrent "$S/store/torrents/bench.file.1.v1.torrent" --peer "127.0.0.1:$BT" --conns 16
prof "HTTP 16 KiB ranges, 16 connections" http --url "$U" --mode range --conns 16 --verify-dir "$S/data"
prof "HTTP whole files, 16 connections" http --url "$U" --mode whole --conns 16 --verify-dir "$S/data"
