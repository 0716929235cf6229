#!/usr/bin/env bash
# bench/ingest.sh: how fast `seedctl release create` ingests a generated tree,
# beside the limits measured in the same run:
#   - the per-core hash limit from bench/hashbench (the same multi-buffer
#     SHA-1, SHA-256 and XXH3 calls ingest makes), combined as
#     1/(1/sha1 + 1/sha256 + 1/xxh3), times the threads used;
#   - the sequential read bandwidth of the source tree (page cache as ingest
#     sees it: the tree was just read once);
#   - the write bandwidth of the store's file system (the better of
#     buffered+fsync and O_DIRECT, dd), before each ingest, on the disk
#     and on tmpfs.
# It reports ingest / min(hash limit, read, write) for the multi-buffer
# build and for the single-buffer OpenSSL hashing, --runs times each
# (median and spread), with the load average before and after; and the
# CPU seconds per GB of each step alone (hashing, the read, the write)
# beside ingest's own, with the CPU ceiling they imply: CPUs / their sum.
# Figures only; nothing passes or fails on speed.
#
# usage: bench/ingest.sh [--size-gib N] [--threads N] [--dir DIR]
#                        [--seedctl PATH] [--hashbench PATH] [--keep] [--runs N]
#                        [--results DIR]
# (--results: where ingest.md and ingest.json go, default bench/results;
# a comparison run of another build sends them elsewhere)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size_gib=2 threads=$(nproc) dir=/var/tmp/bitstream-bench-ingest keep=0 nruns=2
seedctl="" hashbench="" results="$root/bench/results"
while (($#)); do
	case $1 in
	--size-gib) size_gib=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	--seedctl) seedctl=$2; shift 2 ;;
	--hashbench) hashbench=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--runs) nruns=$2; shift 2 ;;
	--results) results=$2; shift 2 ;;
	-h|--help) sed -n '2,26p' "$0"; exit 0 ;;
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
# cpu_of OUT CMD... : runs CMD with its stdout into the file OUT (/dev/null
# to drop it), prints "wall_s cpu_s" (user + system seconds of CMD and
# everything it started)
cpu_of() {
	$py -c '
import resource, subprocess, sys, time
t0 = time.monotonic()
with open(sys.argv[1], "wb") as out:
    subprocess.run(sys.argv[2:], check=True, stdout=out)
t1 = time.monotonic()
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(t1 - t0, r.ru_utime + r.ru_stime)' "$@"
}

tree="$dir/tree/game" store="$dir/store"
mkdir -p "$dir"
want=$((size_gib << 30))
# the files' bytes (du -sb counts the directories too, which made every
# run generate the tree again)
tree_bytes() { find "$dir/tree" -type f -printf '%s\n' 2>/dev/null | awk '{ n += $1 } END { printf "%.0f\n", n }'; }
if [ "$(tree_bytes)" != "$want" ]; then
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
bytes=$(tree_bytes)

echo "measuring: hash limit per core (hashbench) ..." >&2
hb=$("$hashbench" --json --seconds 1)
# The same with one hashbench per thread at once: "per core x threads"
# assumes the vCPUs do not slow each other down (SMT siblings or a busy
# host would); this says whether they do.
echo "measuring: hash limit, $threads threads at once ..." >&2
for i in $(seq 1 "$threads"); do
	"$hashbench" --json --seconds 1 >"$dir/hb.$i" &
done
wait
hb_all=$($py -c 'import json,sys; print(sum(json.load(open(f))["combined_mb_gbps"] for f in sys.argv[1:]))' "$dir"/hb.*)
rm -f "$dir"/hb.*
mb_core=$(jget combined_mb_gbps <<<"$hb")
ossl_core=$(jget combined_openssl_gbps <<<"$hb")

echo "measuring: sequential read of the tree ..." >&2
find "$tree" -type f -exec cat {} + >/dev/null   # warm, as ingest will see it
read w_c < <(cpu_of /dev/null find "$tree" -type f -exec cat {} +)
read_gbps=$($py -c "print($bytes / ${w_c% *} / 1e9)")
read_cpu=${w_c#* } # CPU seconds of reading the tree once (the kernel's copy out)

# dd's own reading of /dev/zero (clearing its buffer), taken off the CPU
# seconds of the writes below: ingest has no such step
read w_c < <(cpu_of /dev/null dd if=/dev/zero of=/dev/null bs=4M count=$((bytes >> 22)) status=none)
zero_cpu=${w_c#* }
ddw() { # file bytes [dd flags...] -> "GB/s cpu_s" of writing bytes of zeros, fsync included
	local f=$1 n=$2 w_c
	shift 2
	read w_c < <(cpu_of /dev/null dd if=/dev/zero of="$f" bs=4M count=$((n >> 22)) conv=fsync "$@" status=none)
	rm -f "$f"
	$py -c "print($n / ${w_c% *} / 1e9, max(0.0, ${w_c#* } - $zero_cpu))"
}
# The store's write limit: the better of buffered+fsync and O_DIRECT
# (what ingest does), as many bytes as ingest writes, measured right before
# each ingest: on a VM, memory or disk the guest has not touched lately is
# slower to write the first time, and both see the same state. Prints
# "GB/s cpu_s" of the better one.
write_limit() { # dir -> "GB/s cpu_s"
	local b d
	b=$(ddw "$1/ddtest" "$bytes")
	d=$(ddw "$1/ddtest" "$bytes" oflag=direct 2>/dev/null || echo 0 0)
	$py -c "b, d = '$b'.split(), '$d'.split(); print(*(b if float(b[0]) >= float(d[0]) else d))"
}
run_ingest() { # impl store-dir -> prints "seconds cpu_s" (seconds: ingest's own --json figure)
	local w_c
	rm -rf "$2"
	read w_c < <(cpu_of "$dir/create.json" "$seedctl" release create --store "$2" --tenant bench \
		--name ingest --version "$1" --threads "$threads" --hash-impl "$1" --json "$tree")
	[ "$keep" = 1 ] || rm -rf "$2"
	echo "$(jget seconds <"$dir/create.json") ${w_c#* }"
	rm -f "$dir/create.json"
}
shm=/dev/shm/bitstream-bench-ingest
use_shm=0
[ "$(df --output=avail -B1 /dev/shm | tail -1)" -gt $((bytes * 2 + (bytes >> 1))) ] && use_shm=1
mkdir -p "$shm.w"
runs=$dir/runs.txt
: >"$runs"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$nruns"); do
	for impl in mb openssl; do
		echo "run $r: ingest, $impl hashing, store on $(df --output=fstype "$dir" | tail -1) ..." >&2
		w=$(write_limit "$dir")
		echo "$impl disk $(run_ingest "$impl" "$store") $w" >>"$runs"
		# The same with the store in memory: hashing and copying alone.
		if [ "$use_shm" = 1 ]; then
			echo "run $r: ingest, $impl hashing, store on tmpfs ..." >&2
			w=$(write_limit "$shm.w")
			echo "$impl tmpfs $(run_ingest "$impl" "$shm") $w" >>"$runs"
		fi
	done
done
rmdir "$shm.w"
load1=$(cut -d' ' -f1-3 /proc/loadavg)

stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
RESULTS_DIR="$results" $py - "$bytes" "$threads" "$mb_core" "$ossl_core" "$read_gbps" \
	"$runs" "$stamp" "$hb" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)" \
	"$load0" "$load1" "$read_cpu" "$hb_all" <<'PY'
import json, os, sys
b, th = int(sys.argv[1]), int(sys.argv[2])
mb_core, os_core, rd = map(float, sys.argv[3:6])
runs = [l.split() for l in open(sys.argv[6]) if l.strip()]
stamp, hb, ncpu, cpu = sys.argv[7], json.loads(sys.argv[8]), sys.argv[9], sys.argv[10].strip()
load0, load1 = sys.argv[11], sys.argv[12]
read_cpu, hb_all = float(sys.argv[13]), float(sys.argv[14])
gb = b / 1e9
names = {"mb": "multi-buffer", "openssl": "OpenSSL"}
rows = []
for impl, store, secs, icpu, wr, wcpu in runs:
    secs, icpu, wr, wcpu = float(secs), float(icpu), float(wr), float(wcpu)
    rate = b / secs / 1e9
    core = mb_core if impl == "mb" else os_core
    hl = core * th
    # What the steps cost in CPU seconds per GB, each measured alone above:
    # hashing (hashbench's per-core rate), the source read (cat's CPU) and
    # the store write (dd's, less dd's own /dev/zero reads). Every byte
    # goes through all three on the same CPUs, so no ingest of this shape
    # can beat ncpu / their sum, whatever it overlaps.
    c_hash, c_read, c_write = 1 / core, read_cpu / gb, wcpu / gb
    ceiling = int(ncpu) / (c_hash + c_read + c_write)
    rows.append(dict(hashing=names[impl], store=store, seconds=secs, ingest_gbps=rate,
                     hash_limit_gbps=hl, read_gbps=rd, write_gbps=wr,
                     ratio=rate / min(hl, rd, wr),
                     ingest_cpu_s_per_gb=icpu / gb, hash_cpu_s_per_gb=c_hash,
                     read_cpu_s_per_gb=c_read, write_cpu_s_per_gb=c_write,
                     cpu_ceiling_gbps=ceiling,
                     ceiling_ratio=min(ceiling, hl, rd, wr) / min(hl, rd, wr)))
def med(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
md = [f"Ingest of a generated {b / 2**30:.2f} GiB tree (256 small files + 64 MiB files), "
      f"{th} hashing threads, {ncpu} CPUs ({cpu}), {stamp}; load average "
      f"{load0} before, {load1} after (above ~0.3 another job shared the CPUs).", "",
      "Each row: median over the runs, [min-max] beside it. Store write = the better of "
      "buffered+fsync and O_DIRECT (dd, as many bytes as the tree), measured right before each ingest.", "",
      "| hashing | store on | runs | ingest GB/s | hash limit GB/s | source read GB/s | store write GB/s | ingest / min(hash, read, write) | CPU ceiling GB/s | ceiling / min(hash, read, write) |",
      "|---|---|---|---|---|---|---|---|---|---|"]
seen = []
for r in rows:
    if (r["hashing"], r["store"]) not in seen:
        seen.append((r["hashing"], r["store"]))
cpu_md = ["", "CPU seconds per GB (median): what each step costs alone, and what ingest spent "
          "(user + system, all its threads and the kernel's work on its behalf):", "",
          "| hashing | store on | hashing | source read | store write | sum | ingest |",
          "|---|---|---|---|---|---|---|"]
parts = ("hash_cpu_s_per_gb", "read_cpu_s_per_gb", "write_cpu_s_per_gb")
for h, st in seen:
    g = [r for r in rows if r["hashing"] == h and r["store"] == st]
    m = lambda k: med([r[k] for r in g])
    f = lambda k: f"{m(k):.2f} [{min(r[k] for r in g):.2f}-{max(r[k] for r in g):.2f}]"
    md.append(f"| {h} | {st} | {len(g)} | {f('ingest_gbps')} | {g[0]['hash_limit_gbps']:.2f} | "
              f"{rd:.2f} | {f('write_gbps')} | {f('ratio')} | {f('cpu_ceiling_gbps')} | {f('ceiling_ratio')} |")
    cpu_md.append(f"| {h} | {st} | " + " | ".join(f"{m(k):.3f}" for k in parts) +
                  f" | {sum(m(k) for k in parts):.3f} | {m('ingest_cpu_s_per_gb'):.3f} |")
md += cpu_md
md += ["", "Hash limit = threads x per-core 1/(1/sha1 + 1/sha256 + 1/xxh3) from bench/hashbench "
       f"({hb.get('impl', '?')}): SHA-1 over 256 KiB pieces {hb.get('sha1_mb_gbps', 0):.2f}, "
       f"SHA-256 over 16 KiB {hb.get('sha256_mb_gbps', 0):.2f}, XXH3-128 {hb.get('xxh3_gbps', 0):.2f} GB/s per core; "
       f"OpenSSL SHA-1 {hb.get('sha1_openssl_gbps', 0):.2f}, SHA-256 {hb.get('sha256_openssl_gbps', 0):.2f} GB/s. "
       f"With one hashbench per thread running at once, the multi-buffer figures added up to {hb_all:.2f} GB/s "
       f"(against {mb_core * th:.2f} for per core x {th}).",
       "", f"CPU ceiling = {ncpu} CPUs / (CPU seconds per GB of hashing + source read + store write), "
       "each step measured alone in this run: what a read-hash-write ingest can reach on this machine "
       "however well it overlaps them (the parity and the store's metadata not even counted). "
       "Where the ceiling is below 0.8 x min(hash, read, write), that target is out of reach here."]
print("\n".join(md))
res = os.environ.get("RESULTS_DIR")
if res:
    os.makedirs(res, exist_ok=True)
    with open(os.path.join(res, "ingest.json"), "w") as f:
        json.dump(dict(date=stamp, bytes=b, threads=th, cpus=ncpu, cpu=cpu, hashbench=hb,
                       hash_all_threads_gbps=hb_all, rows=rows), f, indent=1)
    with open(os.path.join(res, "ingest.md"), "w") as f:
        f.write("\n".join(md) + "\n")
PY
