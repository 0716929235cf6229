#!/usr/bin/env bash
# bench/compare.sh: our seed-dataplane served side by side with the peers a
# user would pick instead, on one generated payload, in one run:
#   - BitTorrent: ours, transmission-daemon (3.00) and a python3-libtorrent
#     seed (bench/lt_seed.py), all serving the same v1 torrent of the same
#     data, driven by `loadgen bt` (random pieces, every block hash-checked);
#   - HTTP: ours and nginx (sendfile on), driven by `loadgen http` with random
#     16 KiB ranges (--mode range) and whole-file GETs (--mode whole), every
#     body compared with the source;
# at 1, 16 and 256 connections, hot (payload in the page cache, our cache
# warmed by a first pass, a --warmup before the measured window) and cold
# (page cache dropped before every run; our data plane and the libtorrent
# seed restarted so no cache or mapping of theirs survives; measured from the
# first request: the payload fits every cache, so a cold run shows its first
# pass from the store and then serving from memory). "small": ours only, with
# a cache of 1/4 of a payload, so random requests keep going to the store:
# the storage-bound rate against the O_DIRECT limit. One server runs at a
# time, so none shares the CPU with another; loadgen and the server do share
# the machine.
# Limits measured in the same run: loopback TCP (iperf3, one stream), memcpy
# bandwidth (bench/memcpy_bw) and the O_DIRECT read bandwidth of the store's
# files (bench/odirect_read). Server CPU is the utime+stime of the server's
# process and all its descendants (nginx: master and workers) over loadgen's
# measured window, per GiB of payload loadgen received.
# Prints one table and writes bench/results/compare.{md,json,png}.
# Figures only; nothing passes or fails on speed.
#
# usage: bench/compare.sh [--quick] [--size BYTES] [--duration SEC] [--warmup SEC]
#          [--workdir DIR] [--conns "1 16 256"] [--caches "hot cold small"]
#          [--payloads "file tree"] [--servers "ours transmission libtorrent nginx"]
#          [--depth Q] [--loadgen-threads T] [--build DIR] [--loadgen PATH]
#          [--results DIR] [--check] [--no-build] [--leecher-runs N]
#   --quick          128 MiB payloads, 3 s runs (a short look; a full run is
#                    1 GiB and 10 s)
#   --warmup SEC     traffic before each measured window, not counted (default
#                    3; a seed's first unchoke and TCP windows settle in it)
#   --size BYTES     size of each payload (K, M, G suffixes; a multiple of
#                    64 MiB: the tree holds 64 equal files)
#   --workdir DIR    payload, store, configs and logs (default /var/tmp/bs-compare)
#   --check          start every server and check it serves (curl, a real
#                    libtorrent download) instead of measuring
#   --build DIR      meson build dir for seed-dataplane, seedctl and the bench
#                    tools (default build-bench, release; built if needed)
#   --no-build       use the programs already built in --build as they are
#   --loadgen PATH   a built loadgen (default DIR/bench/loadgen)
#   --leecher-runs N downloads of the one-file payload by one real libtorrent
#                    leecher from each BT server, hot (default 2; 0: none)
# Needs root (drop_caches) for cold runs; otherwise pass --caches hot.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench_name=compare.sh
# shellcheck source=SCRIPTDIR/benchlib.sh
source "$root/bench/benchlib.sh"

workdir=/var/tmp/bs-compare size="" duration="" warmup="" quick=0 check=0 nobuild=0
conns_list="1 16 256" caches="hot cold small" payloads="file tree"
servers="ours transmission libtorrent nginx"
depth="" lg_threads="" leecher_runs=2 build="$root/build-bench" loadgen="" results="$root/bench/results"
iperf_secs=5
parse_args --quick+quick --size=size --duration=duration --warmup=warmup --workdir=workdir \
	--conns=conns_list --caches=caches --payloads=payloads --servers=servers --depth=depth \
	--loadgen-threads=lg_threads --leecher-runs=leecher_runs --build=build --loadgen=loadgen \
	--results=results --check+check --no-build+nobuild -- "$@"
if ((quick)); then
	size=${size:-128M} duration=${duration:-3} warmup=${warmup:-2}
fi
size=${size:-1G} duration=${duration:-10} warmup=${warmup:-3}
bytes=$(to_bytes "$size") || die "--size '$size': expected a number with an optional K, M or G suffix"
((bytes >= 64 << 20 && bytes % (64 << 20) == 0)) ||
	die "--size $size: expected a multiple of 64 MiB (the tree holds 64 files of whole MiB, so no v1 pad files)"
[[ $duration =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--duration '$duration': expected seconds"
for c in $conns_list; do [[ $c =~ ^[1-9][0-9]*$ ]] || die "--conns: '$c' is not a count"; done
for c in $caches; do [[ $c == hot || $c == cold || $c == small ]] || die "--caches: '$c' is not hot, cold or small"; done
for p in $payloads; do [[ $p == file || $p == tree ]] || die "--payloads: '$p' is not file or tree"; done
for s in $servers; do
	case $s in ours | transmission | libtorrent | nginx) ;; *) die "--servers: unknown server '$s'" ;; esac
done
max_conns=0
for c in $conns_list; do ((c > max_conns)) && max_conns=$c; done

# ---------------------------------------------------------------- packages
mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$root/bench/debian-packages.txt")
need_packages "${pkgs[@]}"
[[ -x $PY ]] || die "$PY not found (python3-libtorrent imports only under Debian's python3)"
if [[ " $caches " == *" cold "* || " $caches " == *" small "* ]] && [[ $(id -u) != 0 ]]; then
	die "cold runs drop the page cache (/proc/sys/vm/drop_caches) and need root; run as root or pass --caches hot"
fi

# ---------------------------------------------------------------- build
if ((!nobuild)); then
	build_in "$build" dataplane/seed-dataplane tools/seedctl bench/odirect_read bench/memcpy_bw
	if ((!check)) && [[ -z $loadgen ]] && ninja -C "$build" -t targets all 2>/dev/null | grep -q '^bench/loadgen:'; then
		ninja -C "$build" bench/loadgen >/dev/null || die "building bench/loadgen in $build failed"
	fi
fi
dataplane=$build/dataplane/seed-dataplane seedctl=$build/tools/seedctl
odirect=$build/bench/odirect_read memcpybw=$build/bench/memcpy_bw
loadgen=${loadgen:-$build/bench/loadgen}
for x in "$dataplane" "$seedctl" "$odirect" "$memcpybw"; do
	[[ -x $x ]] || die "$x: not built"
done
((check)) || [[ -x $loadgen ]] || die "no loadgen at $loadgen (bench/meson.build has no loadgen target yet?); pass --loadgen PATH"

# ---------------------------------------------------------------- processes
# Every process started here is remembered and ended by its PID on exit.
PIDS=()
trap stop_all EXIT
trap 'exit 130' INT TERM
# free_port: a TCP port nobody listens on now, on 127.0.0.1.
free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
listening() { ss -Htln "sport = :$1" | grep -q .; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# tree_cpu PID: CPU seconds (utime+stime) of PID and every descendant.
tree_cpu() {
	$PY - "$1" <<'PY'
import os, sys
root = int(sys.argv[1]); kids = {}; cpu = {}
for d in os.listdir('/proc'):
    if not d.isdigit():
        continue
    try:
        s = open('/proc/%s/stat' % d).read()
    except OSError:
        continue
    f = s[s.rindex(')') + 2:].split()
    kids.setdefault(int(f[1]), []).append(int(d))
    cpu[int(d)] = int(f[11]) + int(f[12])
tot, todo = 0, [root]
while todo:
    p = todo.pop()
    tot += cpu.get(p, 0)
    todo += kids.get(p, [])
print('%.2f' % (tot / os.sysconf('SC_CLK_TCK')))
PY
}

# ---------------------------------------------------------------- payload
work_dirs "$workdir"
per=$((bytes / 64))
make_payload "$bytes" 64 1
make_store file=bigfile.bin tree=tree
declare -A REL TOR_V1 NAME
REL[file]=$(jget "$W/create-file.json" id) REL[tree]=$(jget "$W/create-tree.json" id)
TOR_V1[file]=$(jget "$W/create-file.json" torrent_v1) TOR_V1[tree]=$(jget "$W/create-tree.json" torrent_v1)
NAME[file]=bigfile.bin NAME[tree]=tree
piece_len=$(jget "$W/create-file.json" piece_length)
# Peers get the same v1 torrents; a pad file in them would be a file that is
# not on disk for Transmission 3.00.
for p in file tree; do
	if transmission-show "${TOR_V1[$p]}" | grep -q '\.pad/'; then
		die "${TOR_V1[$p]} lists BEP 47 pad files; expected none with $((per >> 20)) MiB files"
	fi
done
payload_files() { # PAYLOAD -> relative paths under $data
	if [[ $1 == file ]]; then echo bigfile.bin; else (cd "$data" && ls tree/*.bin); fi
}
# urls BASE PAYLOAD: the payload's files as URLs under BASE (ours: BASE ends
# in /<release id>, so a file is /<id>/<torrent name>/<path>).
urls() {
	local f
	for f in $(payload_files "$2"); do echo "$1/$f"; done
}
warm_page_cache() { # PAYLOAD
	local f
	for f in $(payload_files "$1"); do cat "$data/$f" >/dev/null; done
}

# ---------------------------------------------------------------- limits
limits=$run/limits.json
if ((!check)); then
	sync
	echo "measuring: memcpy bandwidth ..." >&2
	"$memcpybw" --json --threads 1 --seconds 1 >"$run/memcpy1.json"
	"$memcpybw" --json --threads "$(nproc)" --seconds 1 >"$run/memcpyN.json"
	echo "measuring: O_DIRECT reads of the store's files ..." >&2
	mapfile -t objs < <(find "$store/objects" -type f -name '*.obj')
	od_secs=$((quick ? 2 : 3))
	"$odirect" --json --seconds $od_secs --block 16K --depth 64 --pattern random "${objs[@]}" >"$run/od16k.json"
	"$odirect" --json --seconds $od_secs --block 1M --depth 16 --pattern random "${objs[@]}" >"$run/od1m.json"
	"$odirect" --json --seconds $od_secs --block 1M --depth 8 --pattern sequential "${objs[@]}" >"$run/odseq.json"
	echo "measuring: loopback TCP with iperf3 (${iperf_secs}s) ..." >&2
	ip=$(free_port)
	bg "$run/iperf-server.out" "$run/iperf-server.err" iperf3 -s -B 127.0.0.1 -p "$ip"
	wait_for 10 "$BG_PID" "iperf3 -s" listening "$ip"
	timeout --kill-after=5 $((iperf_secs + 30)) iperf3 -c 127.0.0.1 -p "$ip" -t "$iperf_secs" -J >"$run/iperf.json"
	stop_pid "$BG_PID"
	$PY - "$run" >"$limits" <<'PY'
import json, sys, os
r = sys.argv[1]
j = lambda n: json.load(open(os.path.join(r, n)))
ip = j('iperf.json')['end']
cpu = ip.get('cpu_utilization_percent', {})
gbit = ip['sum_received']['bits_per_second'] / 1e9
od = {k: j(f) for k, f in (('rand16k', 'od16k.json'), ('rand1m', 'od1m.json'), ('seq1m', 'odseq.json'))}
print(json.dumps(dict(
    loopback_gbit_s=gbit,
    loopback_cpu_host_pct=cpu.get('host_total'), loopback_cpu_remote_pct=cpu.get('remote_total'),
    memcpy_1t_gbit_s=j('memcpy1.json')['gbit_s'], memcpy_all_gbit_s=j('memcpyN.json')['gbit_s'],
    memcpy_threads=j('memcpyN.json')['threads'],
    odirect=od, odirect_gbit_s=max(v['gbit_s'] for v in od.values()))))
PY
	$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); o=d["odirect"]
print("  loopback TCP %.1f Gbit/s; memcpy %.1f Gbit/s (1 thread), %.1f (%d threads); O_DIRECT %.1f Gbit/s (16K random %.1f, 1M random %.1f, 1M sequential %.1f)" % (
 d["loopback_gbit_s"], d["memcpy_1t_gbit_s"], d["memcpy_all_gbit_s"], d["memcpy_threads"], d["odirect_gbit_s"],
 o["rand16k"]["gbit_s"], o["rand1m"]["gbit_s"], o["seq1m"]["gbit_s"]))' "$limits" >&2
fi

# ---------------------------------------------------------------- servers
# Each server_start_X sets SRV_PID (the process whose tree is the server),
# and BT_PORT and/or HTTP_BASE; server_stop ends it.
SRV_PID="" BT_PORT="" HTTP_PORT=""
cache_bytes=$(($(nproc) * 2 * bytes * 11 / 10 + (64 << 20)))
avail=$(($(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo) * 1024))
if ((cache_bytes > avail / 2)); then
	echo "compare.sh: our cache would need $((cache_bytes >> 20)) MiB to hold both payloads in every worker; using $((avail / 2 >> 20)) MiB" >&2
	cache_bytes=$((avail / 2))
fi
cache_mib=$((cache_bytes >> 20))
slots=$((max_conns > 64 ? max_conns : 64))

start_ours() {
	local n=$((++ours_starts)) out err
	out=$run/ours-$n.out err=$run/ours-$n.err
	# cold runs need root (drop_caches): stay it, as the other servers do
	bg "$out" "$err" "$dataplane" --allow-root yes --store "$store" --bt-listen 127.0.0.1:0 \
		--http-listen 127.0.0.1:0 --workers "$(nproc)" --cache-size "${OURS_CACHE_MIB:-$cache_mib}M" \
		--upload-slots "$slots" --stats-file "$run/ours.stats"
	SRV_PID=$BG_PID
	wait_for 60 "$SRV_PID" "seed-dataplane" grep -q '^http ' "$out" || { cat "$err" >&2; return 1; }
	BT_PORT=$(sed -nE 's#^bittorrent +127\.0\.0\.1:([0-9]+)$#\1#p' "$out" | head -1)
	HTTP_PORT=$(sed -nE 's#^http +http://127\.0\.0\.1:([0-9]+)/$#\1#p' "$out" | head -1)
	[[ -n $BT_PORT && -n $HTTP_PORT ]] || { cat "$out" >&2; return 1; }
	OURS_CACHE_LINE=$(grep '^cache ' "$out" || true)
}
ours_starts=0
ours_base() { echo "http://127.0.0.1:$HTTP_PORT/${REL[$1]}"; }
ours_stats() { "$seedctl" stats --file "$run/ours.stats" --json 2>/dev/null || echo '{}'; }
# warm_ours PAYLOAD: 4 connections per worker each GET every file once, so
# every worker (SO_REUSEPORT spreads connections) reads the whole payload
# into its own cache; prints the storage bytes read / (workers x payload).
warm_ours() {
	local p=$1 i args=() u pids=() before after
	before=$(ours_stats)
	for u in $(urls "$(ours_base "$p")" "$p"); do args+=(-o /dev/null "$u"); done
	for ((i = 0; i < 4 * $(nproc); i++)); do
		curl -sS --max-time 600 "${args[@]}" &
		pids+=($!)
		PIDS+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || true; done
	after=$(ours_stats)
	$PY -c 'import json,sys; b,a=json.loads(sys.argv[1]),json.loads(sys.argv[2])
n=a.get("storage_read_bytes",0)-b.get("storage_read_bytes",0)
print("%.2f" % (n / (int(sys.argv[3]) * int(sys.argv[4]))))' "$before" "$after" "$(nproc)" "$bytes"
}

start_transmission() {
	local cfg=$run/transmission rp pp t
	mkdir -p "$cfg"
	rp=$(free_port) pp=$(free_port)
	BT_PORT=$pp
	$PY - "$cfg/settings.json" "$data" "$rp" "$pp" "$slots" <<'PY'
import json, sys
f, data, rp, pp, slots = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
json.dump({
    "alt-speed-enabled": False, "speed-limit-up-enabled": False, "speed-limit-down-enabled": False,
    "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
    "blocklist-enabled": False, "dht-enabled": False, "lpd-enabled": False, "pex-enabled": False,
    "utp-enabled": False, "port-forwarding-enabled": False,
    "download-dir": data, "incomplete-dir-enabled": False, "watch-dir-enabled": False,
    "encryption": 0, "message-level": 1,
    "peer-limit-global": 4 * slots + 100, "peer-limit-per-torrent": 2 * slots + 50,
    "upload-slots-per-torrent": slots,
    "peer-port": pp, "peer-port-random-on-start": False,
    "ratio-limit-enabled": False, "idle-seeding-limit-enabled": False,
    "download-queue-enabled": False, "seed-queue-enabled": False, "queue-stalled-enabled": False,
    "rpc-enabled": True, "rpc-bind-address": "127.0.0.1", "rpc-port": rp,
    "rpc-authentication-required": False, "rpc-whitelist-enabled": True,
    "rpc-whitelist": "127.0.0.1", "rpc-host-whitelist-enabled": False,
    "start-added-torrents": True, "trash-original-torrent-files": False, "umask": 18,
}, open(f, "w"), indent=1)
PY
	bg "$run/transmission.out" "$run/transmission.err" transmission-daemon -f -g "$cfg" \
		-e "$run/transmission.log"
	SRV_PID=$BG_PID
	TR_RPC=$rp
	wait_for 30 "$SRV_PID" "transmission-daemon RPC" \
		sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$rp/transmission/rpc | grep -q 409" ||
		{ cat "$run/transmission.err" "$run/transmission.log" >&2; return 1; }
	for t in ${TOR_V1[file]} ${TOR_V1[tree]}; do
		transmission-remote "127.0.0.1:$rp" -a "$t" -w "$data" >>"$run/transmission-remote.out" 2>&1 ||
			{ cat "$run/transmission-remote.out" >&2; return 1; }
	done
	# Wait for verification to end and both torrents to be Seeding at 100%.
	timeout --kill-after=5 900 $PY - "$rp" <<'PY' || { tail -20 "$run/transmission.log" >&2; return 1; }
import json, sys, time, urllib.request, urllib.error
url = 'http://127.0.0.1:%s/transmission/rpc' % sys.argv[1]
sid = ''
def call(method, args):
    global sid
    for _ in range(3):
        req = urllib.request.Request(url, json.dumps({'method': method, 'arguments': args}).encode(),
                                     {'X-Transmission-Session-Id': sid})
        try:
            return json.load(urllib.request.urlopen(req, timeout=10))
        except urllib.error.HTTPError as e:
            if e.code != 409:
                raise
            sid = e.headers['X-Transmission-Session-Id']
    raise SystemExit('transmission RPC: no session id')
t0 = time.monotonic()
while True:
    ts = call('torrent-get', {'fields': ['name', 'status', 'percentDone', 'error', 'errorString']})['arguments']['torrents']
    bad = [t for t in ts if t['error']]
    if bad:
        raise SystemExit('transmission: %s: %s' % (bad[0]['name'], bad[0]['errorString']))
    if len(ts) == 2 and all(t['status'] == 6 and t['percentDone'] == 1 for t in ts):
        print('transmission: %s seeding after %.1f s of verification' % (
            ', '.join(t['name'] for t in ts), time.monotonic() - t0), file=sys.stderr)
        break
    if len(ts) == 2 and all(t['status'] in (0, 4, 6) for t in ts) and time.monotonic() - t0 > 5:
        raise SystemExit('transmission: verification ended short of 100%%: %s' % (
            ', '.join('%s %.1f%%' % (t['name'], 100 * t['percentDone']) for t in ts)))
    if time.monotonic() - t0 > 850:
        raise SystemExit('transmission: still verifying after 850 s')
    time.sleep(0.2)
PY
}

lt_starts=0
start_libtorrent() {
	local n=$((++lt_starts))
	[[ -n ${LT_PORT:-} ]] || LT_PORT=$(free_port)
	BT_PORT=$LT_PORT
	bg "$run/lt-$n.out" "$run/lt-$n.err" "$PY" "$root/bench/lt_seed.py" \
		--torrent "${TOR_V1[file]}" --torrent "${TOR_V1[tree]}" --data-dir "$data" \
		--port "$LT_PORT" --slots "$slots" --connections $((4 * slots + 100)) \
		--resume-dir "$run/lt-resume"
	SRV_PID=$BG_PID
	wait_for 900 "$SRV_PID" "lt_seed.py" grep -q '^seeding ' "$run/lt-$n.out" ||
		{ cat "$run/lt-$n.err" >&2; return 1; }
}

start_nginx() {
	local d=$run/nginx
	mkdir -p "$d/tmp"
	HTTP_PORT=$(free_port)
	nginx_conf "$d" "$(nproc)" "127.0.0.1:$HTTP_PORT" "$data"
	bg "$run/nginx.out" "$run/nginx.err" nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf" -g 'daemon off;'
	SRV_PID=$BG_PID
	wait_for 30 "$SRV_PID" "nginx" listening "$HTTP_PORT" || { cat "$run/nginx.err" "$d/error.log" >&2; return 1; }
}

start_server() { # NAME
	SRV_PID="" BT_PORT="" HTTP_PORT=""
	"start_$1"
}
stop_server() {
	stop_pid "$SRV_PID" 20
	SRV_PID=""
}
http_base() { # SERVER PAYLOAD
	if [[ $1 == ours ]]; then ours_base "$2"; else echo "http://127.0.0.1:$HTTP_PORT"; fi
}
protos_of() { # SERVER -> "proto:mode" list
	case $1 in
	ours) echo "bt:random http:range http:whole" ;;
	transmission | libtorrent) echo "bt:random" ;;
	nginx) echo "http:range http:whole" ;;
	esac
}

# ---------------------------------------------------------------- --check
if ((check)); then
	ok=1
	for s in $servers; do
		echo "--- $s" >&2
		if ! start_server "$s"; then echo "$s: did not start" >&2; ok=0; continue; fi
		for pm in $(protos_of "$s"); do
			[[ $pm == http:whole ]] && continue
			for p in $payloads; do
				if [[ $pm == bt:* ]]; then
					rm -rf "$run/dl"
					if timeout --kill-after=5 300 "$PY" "$root/tests/integration/dp_download.py" \
						--job "$run/dl" "${TOR_V1[$p]}" --peer "127.0.0.1:$BT_PORT" --timeout 240 >&2; then
						cmp -s "$run/dl/${NAME[$p]}" "$data/${NAME[$p]}" 2>/dev/null ||
							diff -rq "$run/dl/${NAME[$p]}" "$data/${NAME[$p]}" >/dev/null ||
							{ echo "$s: BT download of $p differs from the source" >&2; ok=0; }
					else
						echo "$s: BT download of $p failed" >&2
						ok=0
					fi
				else
					u=$(urls "$(http_base "$s" "$p")" "$p" | tail -1)
					f=$(payload_files "$p" | tail -1)
					curl -sS --max-time 60 -r 16384-32767 -o "$run/range.bin" "$u" &&
						cmp -s "$run/range.bin" <(dd if="$data/$f" bs=16384 skip=1 count=1 status=none) &&
						echo "$s: HTTP range of $u ok" >&2 ||
						{ echo "$s: HTTP range GET $u: wrong answer" >&2; ok=0; }
				fi
			done
		done
		stop_server
	done
	((ok)) && echo "compare.sh --check: every server served the payload" >&2
	((ok))
	exit
fi

# ---------------------------------------------------------------- runs
rows=$run/rows.jsonl
: >"$rows"
lg_common=(--duration "$duration" --json)
[[ -n $lg_threads ]] && lg_common+=(--threads "$lg_threads")
# measure SERVER PROTO MODE PAYLOAD CONNS CACHE [NOTE]: one loadgen run
# against the running server; appends one JSON row.
measure() {
	local s=$1 proto=$2 mode=$3 p=$4 c=$5 cache=$6 note=${7:-} args cpu0 cpu1 rc=0 st0='{}' st1='{}' pid
	local out=$run/lg-$s-$proto-$mode-$p-$c-$cache
	if [[ $proto == bt ]]; then
		args=(bt --torrent "${TOR_V1[$p]}" --peer "127.0.0.1:$BT_PORT" --conns "$c" --pattern random)
		[[ -n $depth ]] && args+=(--depth "$depth")
	else
		args=(http --conns "$c" --mode "$mode" --verify-dir "$data")
		[[ $mode == range ]] && args+=(--range-size 16384)
		for u in $(urls "$(http_base "$s" "$p")" "$p"); do args+=(--url "$u"); done
	fi
	for pid in $(tree_pids "$SRV_PID"); do args+=(--server-pid "$pid"); done
	# Cold and small runs measure from the first request: a warmup would do
	# the fill they are about. Transmission unchokes on its 10 s rechoke
	# timer: before that it sends nothing, so its runs always get 12 s (its
	# cold rows are therefore not cold).
	if [[ $s == transmission ]]; then
		args+=(--warmup "$(awk -v w="$warmup" 'BEGIN { print (w > 12 ? w : 12) }')")
	elif [[ $cache == hot ]]; then
		args+=(--warmup "$warmup")
	else
		args+=(--warmup 0)
	fi
	[[ $s == ours ]] && st0=$(ours_stats)
	cpu0=$(tree_cpu "$SRV_PID")
	timeout --kill-after=5 "$(awk -v d="$duration" -v w="$warmup" -v c="$c" 'BEGIN { printf "%d", d + w + 12 + 120 + c }')" \
		"$loadgen" "${args[@]}" "${lg_common[@]}" >"$out.json" 2>"$out.err" || rc=$?
	cpu1=$(tree_cpu "$SRV_PID")
	[[ $s == ours ]] && st1=$(ours_stats)
	$PY - "$out.json" "$out.err" "$rc" "$s" "$proto" "$mode" "$p" "$c" "$cache" "$cpu0" "$cpu1" \
		"$st0" "$st1" "$note" "$root/bench" >>"$rows" <<'PY'
import json, sys
sys.path.insert(0, sys.argv.pop())
from lgrow import loadgen_fields
(jf, ef, rc, s, proto, mode, p, c, cache, cpu0, cpu1, st0, st1, note) = sys.argv[1:]
row = dict(server=s, proto=proto, mode=mode, payload=p, conns=int(c), cache=cache, rc=int(rc))
if loadgen_fields(row, jf, ef, rc) is not None:
    # the tree's CPU over the whole loadgen run, beside loadgen's window
    row['server_tree_cpu_s_whole_run'] = float(cpu1) - float(cpu0)
st0, st1 = json.loads(st0), json.loads(st1)
if st1.get('cache_hits') is not None:
    h = st1['cache_hits'] - st0.get('cache_hits', 0)
    m = st1['cache_misses'] - st0.get('cache_misses', 0)
    row['ours_cache_hit'] = h / (h + m) if h + m else None
    row['ours_storage_read_bytes'] = st1['storage_read_bytes'] - st0.get('storage_read_bytes', 0)
if note:
    row['note'] = note
print(json.dumps(row))
PY
	$PY -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1])
if "failed" in r: print("  %-12s %-4s %-6s %-4s %4d %-4s FAILED: %s" % (r["server"], r["proto"], r["mode"], r["payload"], r["conns"], r["cache"], r["failed"]))
else: print("  %-12s %-4s %-6s %-4s %4d %-4s %7.2f Gbit/s %7.3f CPU-s/GiB p99 %8.0f us errors %d" % (r["server"], r["proto"], r["mode"], r["payload"], r["conns"], r["cache"], r["gbit_s"], r["cpu_s_per_gib"] or 0, r["lat_p99_us"] or 0, r["errors"]))' "$rows" >&2
}

notes=$run/notes.txt
: >"$notes"
t_start=$(date +%s)
for s in $servers; do
	echo "=== $s" >&2
	for cache in $caches; do
		if [[ $cache == hot ]]; then
			start_server "$s" || { echo "$s did not start: its rows are missing" | tee -a "$notes" >&2; continue 2; }
			for p in $payloads; do
				if [[ $s == ours ]]; then
					w=$(warm_ours "$p")
					echo "ours: warm pass over $p read $w x (workers x payload) from the store" >&2
					echo "ours, hot, $p: the warm pass read $w x (workers x payload) from the store" >>"$notes"
				else
					warm_page_cache "$p"
				fi
				for pm in $(protos_of "$s"); do
					for c in $conns_list; do
						measure "$s" "${pm%%:*}" "${pm##*:}" "$p" "$c" hot
					done
				done
			done
			stop_server
		elif [[ $cache == small ]]; then
			# Ours only: a cache of 1/4 of one payload over all workers, so
			# most random requests miss and go to the store (O_DIRECT):
			# the storage-bound rate, set against the O_DIRECT limit.
			[[ $s == ours ]] || continue
			OURS_CACHE_MIB=$((bytes / 4 >> 20))
			for p in $payloads; do
				for pm in bt:random http:range; do
					for c in $conns_list; do
						stop_server
						drop_caches
						start_server ours || { echo "ours did not restart" | tee -a "$notes" >&2; continue; }
						measure ours "${pm%%:*}" "${pm##*:}" "$p" "$c" small
					done
				done
			done
			stop_server
			unset OURS_CACHE_MIB
		else
			# Cold: a fresh server (ours, libtorrent) or the same one
			# (transmission, nginx: no cache of their own beyond the page
			# cache) and the page cache dropped before every run.
			[[ $s == transmission || $s == nginx ]] && { start_server "$s" || continue 2; }
			for p in $payloads; do
				for pm in $(protos_of "$s"); do
					for c in $conns_list; do
						if [[ $s == ours || $s == libtorrent ]]; then
							stop_server
							drop_caches
							start_server "$s" || { echo "$s did not restart" | tee -a "$notes" >&2; continue; }
							drop_caches
						else
							drop_caches
						fi
						measure "$s" "${pm%%:*}" "${pm##*:}" "$p" "$c" cold
					done
				done
			done
			stop_server
		fi
	done
done

# ---------------------------------------------------------------- one real leecher
# One real libtorrent leecher (tests/integration/dp_download.py: its own
# session, uTP and DHT off, the seed given with connect_peer) downloads the
# one-file payload's v1 torrent from each BitTorrent server, hot cache;
# --leecher-runs times each (transmission once: at its rate a run takes
# minutes), fastest run reported. Seconds run from add_torrent to complete;
# server CPU over the whole download.
leech=$run/leech.jsonl
: >"$leech"
if ((leecher_runs > 0)) && [[ " $payloads " == *" file "* ]]; then
	for s in $servers; do
		[[ $s == nginx ]] && continue
		echo "=== one libtorrent leecher <- $s" >&2
		start_server "$s" || { echo "$s did not start: no leecher row" | tee -a "$notes" >&2; continue; }
		if [[ $s == ours ]]; then warm_ours file >/dev/null; else warm_page_cache file; fi
		n=$leecher_runs
		[[ $s == transmission ]] && n=1
		# default: libtorrent's own handshake policy (MSE first, plain
		# after); plain: out_enc_policy disabled (transmission: default only)
		for hs in default plain; do
			[[ $s == transmission && $hs == plain ]] && continue
			hsarg=()
			[[ $hs == plain ]] && hsarg=(--plain-handshake)
			for ((i = 1; i <= n; i++)); do
				rm -rf "$run/leech-dl"
				cpu0=$(tree_cpu "$SRV_PID")
				rc=0
				timeout --kill-after=5 900 "$PY" "$root/tests/integration/dp_download.py" \
					--job "$run/leech-dl" "${TOR_V1[file]}" --peer "127.0.0.1:$BT_PORT" --timeout 840 \
					"${hsarg[@]}" --report "$run/leech-$s-$hs-$i.json" \
					>"$run/leech-$s-$hs-$i.out" 2>"$run/leech-$s-$hs-$i.err" || rc=$?
				cpu1=$(tree_cpu "$SRV_PID")
				same=0
				cmp -s "$run/leech-dl/${NAME[file]}" "$data/${NAME[file]}" && same=1
				$PY - "$run/leech-$s-$hs-$i.json" "$s" "$i" "$rc" "$cpu0" "$cpu1" "$same" \
					"$run/leech-$s-$hs-$i.err" "$hs" >>"$leech" <<'PY'
import json, sys
(rf, s, i, rc, cpu0, cpu1, same, ef, hs) = sys.argv[1:]
row = dict(server=s, handshake=hs, run=int(i), rc=int(rc), same_bytes=same == '1')
try:
    r = json.load(open(rf))[0]
    row.update(seconds=r['seconds'], bytes=r['bytes'], complete=r['complete'])
    row['mib_s'] = r['bytes'] / r['seconds'] / 2**20 if r['seconds'] > 0 else None
    row['server_cpu_s'] = float(cpu1) - float(cpu0)
    row['cpu_s_per_gib'] = row['server_cpu_s'] / (r['bytes'] / 2**30) if r['bytes'] else None
except Exception as e:
    err = open(ef, errors='replace').read().strip().splitlines()
    row['failed'] = 'dp_download exit %s: %s' % (rc, err[-1] if err else e)
if not row.get('complete') or not row['same_bytes']:
    row.setdefault('failed', 'download incomplete or differs from the source')
print(json.dumps(row))
PY
				$PY -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1])
if "failed" in r: print("  leecher <- %-12s %-7s run %d FAILED: %s" % (r["server"], r["handshake"], r["run"], r["failed"]))
else: print("  leecher <- %-12s %-7s run %d %7.2f s %8.1f MiB/s %7.3f server CPU-s/GiB" % (r["server"], r["handshake"], r["run"], r["seconds"], r["mib_s"], r["cpu_s_per_gib"]))' "$leech" >&2
			done
		done
		rm -rf "$run/leech-dl"
		stop_server
	done
fi
t_end=$(date +%s)

# ---------------------------------------------------------------- report
mkdir -p "$results"
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
$PY - "$rows" "$limits" "$notes" "$results" "$stamp" "$bytes" "$duration" "$(nproc)" \
	"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$piece_len" \
	"$cache_mib" "$max_conns" "$((t_end - t_start))" "$(uname -r)" "$root/bench/plot_compare.gp" \
	"$(transmission-daemon -V 2>&1 | head -1)" "$($PY -c 'import libtorrent; print(libtorrent.__version__)')" \
	"$(nginx -v 2>&1)" "$(iperf3 -v 2>&1 | head -1)" "${OURS_CACHE_LINE:-}" "$leech" \
	"$(sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null || echo '?')" \
	"$(sysctl -n net.core.default_qdisc 2>/dev/null || echo '?')" <<'PY'
import json, os, subprocess, sys
(rows_f, limits_f, notes_f, res, stamp, nbytes, duration, ncpu, cpu, piece, cache_mib, max_conns,
 wall, kernel, gp, v_tr, v_lt, v_nginx, v_iperf, cache_line, leech_f, tcp_cc, qdisc) = sys.argv[1:]
rows = [json.loads(l) for l in open(rows_f) if l.strip()]
leech = [json.loads(l) for l in open(leech_f) if l.strip()]
lim = json.load(open(limits_f))
notes = [l.strip() for l in open(notes_f) if l.strip()]
max_conns = int(max_conns)
loop = lim['loopback_gbit_s']
cold_limit = min(lim['odirect_gbit_s'], loop)
# A cold run reads the store the way its requests fall: BitTorrent asks for
# random pieces (1 MiB reads with read-ahead), ranges for random 16 KiB
# blocks, whole files read in order: each is held to that O_DIRECT figure.
cold_kind = {'bt': 'rand1m', 'range': 'rand16k', 'whole': 'seq1m'}
def cold_limit_of(r):
    k = cold_kind['bt' if r['proto'] == 'bt' else r['mode']]
    return min(lim['odirect'][k]['gbit_s'], loop)
key = lambda r: (r['payload'], r['proto'], r['mode'], r['conns'], r['cache'])
ours = {key(r): r for r in rows if r['server'] == 'ours' and 'failed' not in r}
for r in rows:
    if 'failed' in r:
        continue
    r['of_loopback'] = r['gbit_s'] / loop if loop else None
    if r.get('ours_storage_read_bytes') is not None and r['loadgen']['duration_s'] > 0:
        r['storage_gbit_s'] = r['ours_storage_read_bytes'] * 8 / r['loadgen']['duration_s'] / 1e9
        od = lim['odirect']['rand16k']['gbit_s']
        r['storage_of_odirect_16k'] = r['storage_gbit_s'] / od if od else None
    if r['cache'] == 'cold':
        cl = cold_limit_of(r)
        r['of_cold_limit'] = r['gbit_s'] / cl if cl else None
    o = ours.get(key(r))
    if r['server'] != 'ours' and o:
        r['ours_over_this_gbit'] = o['gbit_s'] / r['gbit_s'] if r['gbit_s'] else None
        if o.get('cpu_s_per_gib') and r.get('cpu_s_per_gib'):
            r['ours_over_this_cpu'] = o['cpu_s_per_gib'] / r['cpu_s_per_gib']
order = {'ours': 0, 'transmission': 1, 'libtorrent': 2, 'nginx': 3}
pl = {'file': 0, 'tree': 1}
md_order = lambda r: (pl[r['payload']], r['proto'], r['mode'], r['cache'] != 'hot', r['conns'], order[r['server']])
rows.sort(key=md_order)
f = lambda v, fmt: '-' if v is None else fmt % v
size = int(nbytes)
md = ['Serving %s of payload (one file; a tree of 64 files), %s s per run, %s CPUs (%s), '
      'kernel %s, %s. Loadgen and the server share the machine; one server runs at a time.'
      % ('%d MiB' % (size >> 20), duration, ncpu, cpu, kernel, stamp), '',
      'Limits: loopback TCP %.1f Gbit/s (iperf3, one stream); memcpy %.1f Gbit/s (1 thread), %.1f '
      '(%d threads); store O_DIRECT reads %.1f Gbit/s (16 KiB random x64 %.1f, 1 MiB random x16 %.1f, '
      '1 MiB sequential x8 %.1f). Cold limit = min(the O_DIRECT figure of the way the requests '
      'read, loopback): BitTorrent (random pieces) %.1f, 16 KiB ranges %.1f, whole files %.1f Gbit/s.'
      % (loop, lim['memcpy_1t_gbit_s'], lim['memcpy_all_gbit_s'], lim['memcpy_threads'],
         lim['odirect_gbit_s'], lim['odirect']['rand16k']['gbit_s'], lim['odirect']['rand1m']['gbit_s'],
         lim['odirect']['seq1m']['gbit_s'], cold_limit_of({'proto': 'bt'}),
         cold_limit_of({'proto': 'http', 'mode': 'range'}),
         cold_limit_of({'proto': 'http', 'mode': 'whole'})), '',
      '| payload | protocol | cache | conns | server | Gbit/s | CPU-s/GiB | p99 ms | errors | ours/this Gbit/s | ours/this CPU | of loopback | of cold limit |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
for r in rows:
    if r['cache'] == 'small':
        continue
    proto = 'BT' if r['proto'] == 'bt' else 'HTTP %s' % r['mode']
    if 'failed' in r:
        md.append('| %s | %s | %s | %d | %s | failed: %s | | | | | | | |' % (
            r['payload'], proto, r['cache'], r['conns'], r['server'], r['failed'].replace('|', '/')[:120]))
        continue
    md.append('| %s | %s | %s | %d | %s | %.2f | %s | %s | %d | %s | %s | %s | %s |' % (
        r['payload'], proto, r['cache'], r['conns'], r['server'], r['gbit_s'],
        f(r.get('cpu_s_per_gib'), '%.3f'), f(r['lat_p99_us'] / 1000 if r.get('lat_p99_us') is not None else None, '%.2f'),
        r['errors'], f(r.get('ours_over_this_gbit'), '%.2f'), f(r.get('ours_over_this_cpu'), '%.2f'),
        f(r.get('of_loopback'), '%.2f'), f(r.get('of_cold_limit'), '%.2f')))
md += ['', 'CPU-s/GiB: utime+stime of the server process and its children over loadgen\'s measured window (after its warm-up), '
       'per GiB loadgen received. ours/this: our figure over this row\'s, same payload, protocol, '
       'mode, connections and cache (Gbit/s: > 1 is faster; CPU: < 1 is cheaper). Errors: blocks '
       'or bodies that failed verification, bad statuses, short bodies. Cold: page cache dropped '
       'before each run, ours and libtorrent restarted.',
       'Servers: seed-dataplane (--workers %s, --cache-size %s MiB, --upload-slots %d; %s), %s, '
       'libtorrent %s (bench/lt_seed.py: high_performance_seed, %d unchoke slots), %s (sendfile, '
       '%s workers), BT over the v1 torrent (piece %s bytes). %s.'
       % (ncpu, cache_mib, max(max_conns, 64), cache_line or 'cache', v_tr, v_lt, max(max_conns, 64),
          v_nginx.replace('nginx version: ', ''), ncpu, piece, v_iperf),
       'TCP congestion control %s, default qdisc %s. Server CPU is charged by the tick: softirq work '
       '(over loopback the receiver\'s TCP receive, and with BBR the sender\'s paced transmits) '
       'counts for whichever task it interrupts, so the whole-file figures move with the '
       'congestion control and the connection count; bench/wholefile.sh and docs/performance.md '
       '("Whole files: what the CPU figures count") split them.' % (tcp_cc, qdisc)]
small = [r for r in rows if r['cache'] == 'small']
if small:
    md += ['', 'Storage-bound serving: ours with a cache of 1/4 of one payload over all workers, '
           'restarted with the page cache dropped before each run, so most random requests go to '
           'the store with O_DIRECT. Storage Gbit/s: bytes read from the store over the run; '
           'set against the O_DIRECT limit for 16 KiB random reads at queue depth 64 (%.1f Gbit/s).'
           % lim['odirect']['rand16k']['gbit_s'], '',
           '| payload | protocol | conns | served Gbit/s | CPU-s/GiB | cache hit | storage Gbit/s | of O_DIRECT 16K | errors |',
           '|---|---|---|---|---|---|---|---|---|']
    for r in small:
        proto = 'BT' if r['proto'] == 'bt' else 'HTTP %s' % r['mode']
        if 'failed' in r:
            md.append('| %s | %s | %d | failed: %s | | | | | |' % (r['payload'], proto, r['conns'], r['failed'].replace('|', '/')[:120]))
            continue
        md.append('| %s | %s | %d | %.2f | %s | %s | %s | %s | %d |' % (
            r['payload'], proto, r['conns'], r['gbit_s'], f(r.get('cpu_s_per_gib'), '%.3f'),
            f(r.get('ours_cache_hit'), '%.2f'), f(r.get('storage_gbit_s'), '%.2f'),
            f(r.get('storage_of_odirect_16k'), '%.2f'), r['errors']))
# One real leecher: fastest complete run per server.
best = {}
for r in leech:
    k = (r['server'], r.get('handshake', 'default'))
    if 'failed' in r:
        continue
    if k not in best or r['seconds'] < best[k]['seconds']:
        best[k] = r
if leech:
    md += ['', 'One real libtorrent %s leecher downloading the one-file payload (v1 torrent), hot '
           'cache, fastest of the runs (every run in compare.json). Handshake "default": '
           'libtorrent\'s own policy, which tries an encrypted (MSE) handshake first and reconnects '
           'in plaintext when the seed does not answer it (ours answers it, selecting '
           'plaintext); "plain": '
           'out_enc_policy disabled. Seconds from add_torrent to complete:' % v_lt, '',
           '| server | handshake | seconds | MiB/s | server CPU-s/GiB | runs | this/ours seconds |',
           '|---|---|---|---|---|---|---|']
    for hs in ('default', 'plain'):
        o = best.get(('ours', hs))
        for srv in ('ours', 'libtorrent', 'transmission'):
            runs = [r for r in leech if r['server'] == srv and r.get('handshake', 'default') == hs]
            if not runs:
                continue
            b = best.get((srv, hs))
            if not b:
                md.append('| %s | %s | failed: %s | | | %d | |' % (srv, hs, runs[-1].get('failed', '?').replace('|', '/')[:120], len(runs)))
                continue
            b['this_over_ours_seconds'] = b['seconds'] / o['seconds'] if o and o['seconds'] else None
            md.append('| %s | %s | %.2f | %.1f | %s | %d | %s |' % (srv, hs, b['seconds'], b['mib_s'],
                      f(b.get('cpu_s_per_gib'), '%.3f'), len(runs), f(b.get('this_over_ours_seconds'), '%.2f')))
if notes:
    md += [''] + ['Note: %s' % n for n in notes]
hits = [r['ours_cache_hit'] for r in rows if r['server'] == 'ours' and r['cache'] == 'hot'
        and r.get('ours_cache_hit') is not None]
if hits:
    md += ['Our cache hit ratio over the hot runs: min %.3f.' % min(hits)]
md += ['Run time %s s.' % wall]
text = '\n'.join(md)
print(text)
os.makedirs(res, exist_ok=True)
open(os.path.join(res, 'compare.md'), 'w').write(text + '\n')
json.dump(dict(date=stamp, payload_bytes=size, duration_s=float(duration), cpus=int(ncpu), cpu=cpu,
               kernel=kernel, piece_length=int(piece), ours_cache_mib=int(cache_mib),
               tcp_congestion_control=tcp_cc, default_qdisc=qdisc,
               versions=dict(transmission=v_tr, libtorrent=v_lt, nginx=v_nginx, iperf3=v_iperf),
               limits=lim, cold_limit_gbit_s=cold_limit, notes=notes, rows=rows, leecher=leech),
          open(os.path.join(res, 'compare.json'), 'w'), indent=1)

# Plot: Gbit/s and CPU-s/GiB per server, at the most connections, hot.
servers = ['ours', 'transmission', 'libtorrent', 'nginx']
groups = []
for p in ('file', 'tree'):
    for proto, mode, label in (('bt', 'random', 'BT'), ('http', 'range', 'HTTP 16K ranges'),
                               ('http', 'whole', 'HTTP whole files')):
        sel = {r['server']: r for r in rows if (r['payload'], r['proto'], r['mode'], r['conns'], r['cache'])
               == (p, proto, mode, max_conns, 'hot') and 'failed' not in r}
        if sel:
            # two lines under the bar group (gnuplot reads \\n in a quoted field)
            groups.append(('%s\\n%s' % (label, 'one file' if p == 'file' else '64 files'), sel))
dat = os.path.join(res, 'compare.dat')
ymax = loop
with open(dat, 'w') as fh:
    fh.write('# group ' + ' '.join('%s_gbit' % s for s in servers) + ' '
             + ' '.join('%s_cpu' % s for s in servers) + '\n')
    for label, sel in groups:
        g = [sel[s]['gbit_s'] if s in sel else None for s in servers]
        c = [sel[s].get('cpu_s_per_gib') if s in sel else None for s in servers]
        ymax = max([ymax] + [v for v in g if v is not None])
        fh.write('"%s" %s %s\n' % (label, ' '.join(f(v, '%.4f') for v in g), ' '.join(f(v, '%.4f') for v in c)))
if groups:
    r = subprocess.run(['gnuplot', '-e', "datafile='%s'; outfile='%s'; loopback=%f; ymax=%f; "
                        "subtitle='%d connections, hot cache, %d MiB payloads, %s CPUs, %s'"
                        % (dat, os.path.join(res, 'compare.png'), loop, ymax * 1.15, max_conns,
                           size >> 20, ncpu, stamp), gp], capture_output=True, text=True)
    if r.returncode:
        sys.stderr.write('compare.sh: gnuplot failed: %s\n' % r.stderr.strip())
PY
echo "wrote $results/compare.md, compare.json, compare.png" >&2
