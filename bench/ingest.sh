#!/usr/bin/env bash
# bench/ingest.sh: how fast `seedctl release create` ingests a generated tree,
# beside the limits measured in the same run:
#   - the per-core hash limit from bench/hashbench (the same multi-buffer
#     SHA-1, SHA-256 and XXH3 calls ingest makes), combined as
#     1/(1/sha1 + 1/sha256 + 1/xxh3), times the threads used;
#   - the sequential read bandwidth of the source tree (page cache as ingest
#     sees it: the tree was just read once);
#   - the write+fsync bandwidth of the store's file system (information: the
#     store copy is part of ingest).
# It reports ingest / min(hash limit, read bandwidth) for the multi-buffer
# build and for the single-buffer OpenSSL hashing, so the gain is visible.
# Figures only; nothing passes or fails on speed.
#
# usage: bench/ingest.sh [--size-gib N] [--threads N] [--dir DIR]
#                        [--seedctl PATH] [--hashbench PATH] [--keep]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size_gib=2 threads=$(nproc) dir=/var/tmp/bitstream-bench-ingest keep=0
seedctl="" hashbench=""
while (($#)); do
	case $1 in
	--size-gib) size_gib=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	--seedctl) seedctl=$2; shift 2 ;;
	--hashbench) hashbench=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "ingest.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
if [ -z "$seedctl" ] || [ -z "$hashbench" ]; then
	bash "$root/tools/install-deps.sh"
	b="$root/build-bench"
	[ -f "$b/build.ninja" ] || meson setup "$b" --buildtype=release -Dtests=disabled >/dev/null
	ninja -C "$b" tools/seedctl bench/hashbench >/dev/null
	seedctl=${seedctl:-$b/tools/seedctl}
	hashbench=${hashbench:-$b/bench/hashbench}
fi
py=/usr/bin/python3
jget() { $py -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
now() { date +%s.%N; }

tree="$dir/tree/game" store="$dir/store"
mkdir -p "$dir"
want=$((size_gib << 30))
if [ "$(du -sb "$dir/tree" 2>/dev/null | cut -f1)" != "$want" ]; then
	echo "generating a ${size_gib} GiB tree in $tree ..." >&2
	rm -rf "$dir/tree"
	mkdir -p "$tree/data" "$tree/small"
	# 256 small files (4..260 KiB) and the rest in 64 MiB files, random bytes.
	small=0
	for i in $(seq 1 256); do
		n=$(( (i * 1031 % 257 + 4) * 1024 ))
		head -c "$n" /dev/urandom >"$tree/small/f$i.bin"
		small=$((small + n))
	done
	left=$((want - small)) i=0
	while ((left > 0)); do
		n=$((left > (64 << 20) ? (64 << 20) : left))
		head -c "$n" /dev/urandom >"$tree/data/pack$i.pak"
		left=$((left - n)) i=$((i + 1))
	done
fi
bytes=$(du -sb "$dir/tree" | cut -f1)

echo "measuring: hash limit per core (hashbench) ..." >&2
hb=$("$hashbench" --json --seconds 1)
mb_core=$(jget combined_mb_gbps <<<"$hb")
ossl_core=$(jget combined_openssl_gbps <<<"$hb")

echo "measuring: sequential read of the tree ..." >&2
find "$tree" -type f -exec cat {} + >/dev/null   # warm, as ingest will see it
t0=$(now); find "$tree" -type f -exec cat {} + >/dev/null; t1=$(now)
read_gbps=$($py -c "print($bytes / ($t1 - $t0) / 1e9)")

echo "measuring: write+fsync bandwidth of the store's file system ..." >&2
t0=$(now); dd if=/dev/zero of="$dir/ddtest" bs=4M count=256 conv=fsync status=none; t1=$(now)
rm -f "$dir/ddtest"
write_gbps=$($py -c "print((1 << 30) / ($t1 - $t0) / 1e9)")

run_ingest() { # impl store-dir -> prints seconds
	rm -rf "$2"
	"$seedctl" release create --store "$2" --tenant bench --name ingest --version "$1" \
		--threads "$threads" --hash-impl "$1" --json "$tree" | jget seconds
	[ "$keep" = 1 ] || rm -rf "$2"
}
runs=$dir/runs.txt
: >"$runs"
for impl in mb openssl; do
	echo "measuring: ingest, $impl hashing, store on $(df --output=fstype "$dir" | tail -1) ..." >&2
	echo "$impl disk $(run_ingest "$impl" "$store")" >>"$runs"
done
# The same with the store in memory: what hashing and copying alone allow.
shm=/dev/shm/bitstream-bench-ingest
if [ "$(df --output=avail -B1 /dev/shm | tail -1)" -gt $((bytes + (bytes >> 2))) ]; then
	for impl in mb openssl; do
		echo "measuring: ingest, $impl hashing, store on tmpfs ..." >&2
		echo "$impl tmpfs $(run_ingest "$impl" "$shm")" >>"$runs"
	done
fi

stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
RESULTS_DIR="$root/bench/results" $py - "$bytes" "$threads" "$mb_core" "$ossl_core" "$read_gbps" \
	"$write_gbps" "$runs" "$stamp" "$hb" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)" <<'PY'
import json, os, sys
b, th = int(sys.argv[1]), int(sys.argv[2])
mb_core, os_core, rd, wr = map(float, sys.argv[3:7])
runs = [l.split() for l in open(sys.argv[7]) if l.strip()]
stamp, hb, ncpu, cpu = sys.argv[8], json.loads(sys.argv[9]), sys.argv[10], sys.argv[11].strip()
names = {"mb": "multi-buffer", "openssl": "OpenSSL"}
rows = []
for impl, store, secs in runs:
    secs = float(secs)
    rate = b / secs / 1e9
    hl = (mb_core if impl == "mb" else os_core) * th
    r = dict(hashing=names[impl], store=store, seconds=secs, ingest_gbps=rate,
             hash_limit_gbps=hl, read_gbps=rd, ratio=rate / min(hl, rd))
    if store == "disk":
        r["write_fsync_gbps"] = wr
        r["ratio_with_write"] = rate / min(hl, rd, wr)
    rows.append(r)
md = [f"Ingest of a generated {b / 2**30:.2f} GiB tree (256 small files + 64 MiB files), "
      f"{th} hashing threads, {ncpu} CPUs ({cpu}), {stamp}.", "",
      "| hashing | store on | ingest GB/s | hash limit GB/s | source read GB/s | ingest / min(hash, read) | store write+fsync GB/s | ingest / min(hash, read, write) |",
      "|---|---|---|---|---|---|---|---|"]
for r in rows:
    w = f"{r['write_fsync_gbps']:.2f} | {r['ratio_with_write']:.2f}" if "write_fsync_gbps" in r else "- | -"
    md.append(f"| {r['hashing']} | {r['store']} | {r['ingest_gbps']:.2f} | {r['hash_limit_gbps']:.2f} | "
              f"{r['read_gbps']:.2f} | {r['ratio']:.2f} | {w} |")
md += ["", "Hash limit = threads x per-core 1/(1/sha1 + 1/sha256 + 1/xxh3) from bench/hashbench "
       f"({hb.get('impl', '?')}): SHA-1 over 256 KiB pieces {hb.get('sha1_mb_gbps', 0):.2f}, "
       f"SHA-256 over 16 KiB {hb.get('sha256_mb_gbps', 0):.2f}, XXH3-128 {hb.get('xxh3_gbps', 0):.2f} GB/s per core; "
       f"OpenSSL SHA-1 {hb.get('sha1_openssl_gbps', 0):.2f}, SHA-256 {hb.get('sha256_openssl_gbps', 0):.2f} GB/s."]
print("\n".join(md))
res = os.environ.get("RESULTS_DIR")
if res:
    os.makedirs(res, exist_ok=True)
    with open(os.path.join(res, "ingest.json"), "w") as f:
        json.dump(dict(date=stamp, bytes=b, threads=th, cpus=ncpu, cpu=cpu, hashbench=hb, rows=rows), f, indent=1)
    with open(os.path.join(res, "ingest.md"), "w") as f:
        f.write("\n".join(md) + "\n")
PY
