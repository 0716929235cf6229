#!/usr/bin/env bash
# bench/veth.sh: the data plane's two network backends and nginx, in one run,
# over the same veth pair between two network namespaces of their own:
#   - dpdk     seed-dataplane --backend dpdk on the server veth through
#              net_af_xdp (the veth has no kernel address), --workers 1,
#              --dpdk-idle-sleep 0 (pure polling);
#   - dpdk-sleep  the same with --dpdk-idle-sleep US (--idle-sleep, 50);
#   - dpdk-packet the same through net_af_packet, idle sleep 0;
#   - uring    seed-dataplane --backend uring (kernel TCP) on the same veth,
#              given a kernel address for this phase, --workers 1;
#   - uring-nozc  the same with --zerocopy no (not run by default);
#   - nginx    (sendfile on, --nginx-workers, default 1, as compare.sh
#              configures it) serving the same files on that address;
# all driven by bench/loadgen from the client namespace: BitTorrent (random
# pieces, 16 blocks in flight per connection, every block hash-checked),
# HTTP 16 KiB ranges and HTTP whole files (every body compared with the
# source), at a few connection counts, hot (our cache filled by a first
# pass, nginx's files read into the page cache, and a --warmup before the
# measured window). One server runs at a time; loadgen, the server and the
# kernel's veth share the machine's cores.
# Per run it reports Gbit/s; the server's CPU seconds per GiB (utime+stime of
# the whole server process, nginx: master and workers, over loadgen's window;
# a polling dpdk worker burns its core whether or not it has work); for the
# dpdk backend the worker's busy TSC cycles (seed_busy_cycles_total: passes
# of its loop that did work) per payload byte served, and the same as CPU
# seconds per GiB (cycles / the TSC rate, measured by bench/tsc_hz); the
# client's CPU per GiB, p99 latency, TCP retransmissions and errors.
# Limits measured in the same run: kernel TCP over this veth (iperf3, one
# stream, server to client), with the server veth's TSO/GSO on (the default)
# and off (1500-byte frames, as the dpdk backend sends).
# Prints the tables and writes bench/results/veth.{md,json}. Figures only;
# nothing passes or fails on speed. Needs root (namespaces, XDP).
#
# usage: bench/veth.sh [--quick] [--size BYTES] [--files N] [--duration SEC]
#          [--warmup SEC] [--conns "1 16 64"] [--extra-conns "16"]
#          [--modes "bt range whole"] [--servers "dpdk dpdk-sleep dpdk-packet uring nginx"]
#          [--idle-sleep US] [--nginx-workers N] [--workdir DIR] [--results DIR]
#          [--build DIR] [--no-build] [--dataplane P] [--seedctl P] [--loadgen P] [--tsc-hz P]
#   --quick          256 MiB, 3 s runs after 1 s of warm-up, conns "1 16"
#   --size BYTES     payload: --files equal files totalling BYTES (K, M, G;
#                    default 512M, a multiple of --files MiB)
#   --files N        files in the payload (default 32)
#   --conns LIST     connection counts for dpdk, uring and nginx (default "1 16 64")
#   --extra-conns L  connection counts for dpdk-sleep, dpdk-packet, uring-nozc
#                    (default "16")
#   --duration SEC   measured window of each run (default 5)
#   --warmup SEC     traffic before it, not counted (default 2)
#   --idle-sleep US  --dpdk-idle-sleep of the dpdk-sleep server (default 50)
#   --workdir DIR    payload, store, logs (default /var/tmp/bs-veth)
#   --build DIR      meson build dir (default build-bench, release; built if
#                    needed); --dataplane etc. name built programs instead
#                    (the bench-veth run target passes them)
# Whole run with the defaults: about 6 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench_name=veth.sh
# shellcheck source=SCRIPTDIR/benchlib.sh
source "$root/bench/benchlib.sh"

workdir=/var/tmp/bs-veth size="" nfiles=32 duration="" warmup="" quick=0 nobuild=0
conns_list="" extra_conns="16" modes="bt range whole"
servers="dpdk dpdk-sleep dpdk-packet uring nginx"
idle_sleep=50 nginx_workers=1 build="$root/build-bench" results="$root/bench/results"
dataplane="" seedctl="" loadgen="" tschz=""
iperf_secs=3
parse_args --quick+quick --size=size --files=nfiles --duration=duration --warmup=warmup \
	--conns=conns_list --extra-conns=extra_conns --modes=modes --servers=servers \
	--idle-sleep=idle_sleep --nginx-workers=nginx_workers --workdir=workdir --results=results \
	--build=build --no-build+nobuild --dataplane=dataplane --seedctl=seedctl --loadgen=loadgen \
	--tsc-hz=tschz -- "$@"
[[ -z $dataplane ]] || nobuild=1 # programs named: nothing to build
if ((quick)); then
	size=${size:-256M} duration=${duration:-3} warmup=${warmup:-1} conns_list=${conns_list:-"1 16"}
fi
size=${size:-512M} duration=${duration:-5} warmup=${warmup:-2} conns_list=${conns_list:-"1 16 64"}
[[ $nfiles =~ ^[1-9][0-9]*$ ]] || die "--files '$nfiles': expected a count"
bytes=$(to_bytes "$size") || die "--size '$size': expected a number with an optional K, M or G suffix"
((bytes >= nfiles << 20 && bytes % (nfiles << 20) == 0)) ||
	die "--size $size: expected a multiple of $nfiles MiB (--files equal files of whole MiB)"
((bytes <= 4 << 30)) || die "--size $size: at most 4G (one worker's cache holds it all)"
[[ $duration =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--duration '$duration': expected seconds"
[[ $warmup =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--warmup '$warmup': expected seconds"
[[ $idle_sleep =~ ^[1-9][0-9]*$ ]] || die "--idle-sleep '$idle_sleep': expected microseconds > 0"
[[ $nginx_workers =~ ^[1-9][0-9]*$ ]] || die "--nginx-workers '$nginx_workers': expected a count"
for c in $conns_list $extra_conns; do [[ $c =~ ^[1-9][0-9]*$ ]] || die "--conns: '$c' is not a count"; done
for m in $modes; do [[ $m == bt || $m == range || $m == whole ]] || die "--modes: '$m' is not bt, range or whole"; done
for s in $servers; do
	case $s in dpdk | dpdk-sleep | dpdk-packet | uring | uring-nozc | nginx) ;; *) die "--servers: unknown server '$s'" ;; esac
done
max_conns=0
for c in $conns_list $extra_conns; do ((c > max_conns)) && max_conns=$c; done
[[ $(id -u) == 0 ]] || die "needs root: network namespaces, a veth pair and XDP"

# ---------------------------------------------------------------- packages
need_packages nginx iperf3 ethtool curl iproute2
[[ -x $PY ]] || die "$PY not found"

# ---------------------------------------------------------------- build
if ((!nobuild)); then
	build_in "$build" dataplane/seed-dataplane tools/seedctl bench/loadgen bench/tsc_hz
fi
dataplane=${dataplane:-$build/dataplane/seed-dataplane} seedctl=${seedctl:-$build/tools/seedctl}
loadgen=${loadgen:-$build/bench/loadgen} tschz=${tschz:-$build/bench/tsc_hz}
for x in "$dataplane" "$seedctl" "$loadgen" "$tschz"; do
	[[ -x $x ]] || die "$x: not built"
done
if [[ -f $build/meson-info/intro-buildoptions.json ]] &&
	! $PY -c 'import json,sys; o={x["name"]: x["value"] for x in json.load(open(sys.argv[1]))}; sys.exit(o.get("buildtype") != "release")' \
		"$build/meson-info/intro-buildoptions.json"; then
	echo "veth.sh: note: $build is not a release build; figures will be low" >&2
fi

# ---------------------------------------------------------------- processes
# Every process started here is remembered and ended by its PID on exit; the
# namespaces (and with them the veth pair) and the EAL's runtime directories
# of this run are removed.
PIDS=() PREFIXES=()
NS_S=bvs-$$ NS_C=bvc-$$ VS=bvs$$ VC=bvc$$ NET=10.98.7
SRV_IP=$NET.1 CLI_IP=$NET.2
cleanup() {
	local p
	stop_all
	ip netns del "$NS_S" 2>/dev/null || true
	ip netns del "$NS_C" 2>/dev/null || true
	for p in ${PREFIXES[@]+"${PREFIXES[@]}"}; do rm -rf "/var/run/dpdk/$p"; done
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
inS() { ip netns exec "$NS_S" "$@"; }
inC() { ip netns exec "$NS_C" "$@"; }

# ---------------------------------------------------------------- payload
work_dirs "$workdir"
make_payload "$bytes" "$nfiles" 0
make_store veth=tree
REL=$(jget "$W/create-veth.json" id) TOR=$(jget "$W/create-veth.json" torrent_v1)
FILES=()
for f in "$data"/tree/*.bin; do FILES+=("tree/${f##*/}"); done
# our URLs are /<release id>/<torrent name>/<path>; nginx serves $data
urls() { local f; for f in "${FILES[@]}"; do echo "$1/$f"; done; }
cat "$data"/tree/*.bin >/dev/null # the page cache holds the payload (ours reads the store: below)

# ---------------------------------------------------------------- the veth pair
ip netns add "$NS_S"
ip netns add "$NS_C"
ip link add "$VS" netns "$NS_S" type veth peer name "$VC" netns "$NS_C"
inS ip link set lo up
inC ip link set lo up
inS ip link set "$VS" up
inC ip link set "$VC" up
inC ip addr add "$CLI_IP/24" dev "$VC"
# A veth hands frames on with their TCP checksums unfinished; our stack drops
# those (docs/dpdk.md): the client's side finishes them.
inC ethtool -K "$VC" tx off >/dev/null
tsc_hz=$("$tschz") || tsc_hz=0
echo "veth pair $VS ($NS_S) - $VC ($NS_C, $CLI_IP); TSC ${tsc_hz} Hz" >&2

# ---------------------------------------------------------------- servers
# start_X sets SRV_PID (the process whose tree is the server), HTTP_BASE and
# BT_PEER (empty: no BitTorrent), STATS (ours: the counters file).
cache_mib=$((bytes * 5 / 4 >> 20))
warm_secs=$((bytes / (100 << 20) > 3 ? bytes / (100 << 20) : 3))
slots=$((max_conns > 64 ? max_conns : 64))
starts=0
SRV_PID="" HTTP_BASE="" BT_PEER="" STATS="" SRV_NOTE=""
detach_xdp() { # a killed af_xdp PMD may leave its program on the veth
	if inS ip link show dev "$VS" | grep -q 'xdp'; then
		echo "veth.sh: removing an XDP program left on $VS" >&2
		inS ip link set dev "$VS" xdp off 2>/dev/null || true
		inS ip link set dev "$VS" xdpgeneric off 2>/dev/null || true
	fi
}
reachable() { inC curl -s -o /dev/null -m 2 "$1"; }
start_ours() { # BACKEND [EXTRA ARGS...]
	local backend=$1 n=$((++starts)) out err
	shift
	out=$run/srv-$n.out err=$run/srv-$n.err STATS=$run/srv-$n.stats
	# root for the namespace and XDP; no seed-dp user to become
	bg "$out" "$err" ip netns exec "$NS_S" "$dataplane" --allow-root yes --store "$store" --workers 1 \
		--cache-size "${cache_mib}M" --upload-slots "$slots" --stats-file "$STATS" \
		--backend "$backend" "$@"
	SRV_PID=$BG_PID
	wait_for 60 "$SRV_PID" "seed-dataplane" grep -q '^http ' "$out" || { tail -20 "$err" >&2; return 1; }
	HTTP_BASE=http://$SRV_IP:8080/$REL BT_PEER=$SRV_IP:6881
	wait_for 30 "$SRV_PID" "seed-dataplane over the veth" reachable "http://$SRV_IP:8080/" ||
		{ tail -20 "$err" >&2; return 1; }
	# hot: whole files in turn over one connection until every block was read
	# from the store once (one worker: one cache). loadgen, not curl: see
	# "Known problems" in docs/performance.md (a run of curls stalls the dpdk
	# port on a cold cache).
	local args=(http --conns 1 --mode whole --verify-dir "$data" --json) u i rd=0
	for u in $(urls "$HTTP_BASE"); do args+=(--url "$u"); done
	for ((i = 1; i <= 3; i++)); do
		timeout --kill-after=5 $((warm_secs + 60)) ip netns exec "$NS_C" "$loadgen" "${args[@]}" \
			--duration "$warm_secs" >"$run/warm-$n-$i.json" 2>"$run/warm-$n-$i.err" || true
		sleep 0.3
		rd=$(stats | $PY -c 'import json,sys; print(json.load(sys.stdin).get("storage_read_bytes", 0))')
		((rd >= bytes)) && break
	done
	SRV_NOTE=$($PY -c 'import sys; print("warm pass: %.2f x the payload read from the store" % (int(sys.argv[1]) / int(sys.argv[2])))' "$rd" "$bytes")
	((rd >= bytes)) || { echo "veth.sh: the warm pass read only $rd of $bytes bytes (see $run/warm-$n-*)" >&2; return 1; }
}
start_dpdk() { # PMD IDLE_SLEEP_US
	local prefix=bv$$-$((starts + 1))
	PREFIXES+=("$prefix")
	start_ours dpdk --bt-listen '*:6881' --http-listen '*:8080' --ip "$SRV_IP/24" \
		--dpdk-idle-sleep "$2" \
		--dpdk-args "--no-huge -m 1024 --no-pci --file-prefix $prefix --vdev ${1}0,iface=$VS"
}
start_uring() { # [EXTRA ARGS...]
	start_ours uring --bt-listen "$SRV_IP:6881" --http-listen "$SRV_IP:8080" "$@"
}
start_nginx() {
	local d=$run/nginx
	rm -rf "$d"
	mkdir -p "$d/tmp"
	nginx_conf "$d" "$nginx_workers" "$SRV_IP:8081" "$data"
	bg "$run/nginx.out" "$run/nginx.err" ip netns exec "$NS_S" nginx -p "$d" -e "$d/error.log" \
		-c "$d/nginx.conf" -g 'daemon off;'
	SRV_PID=$BG_PID HTTP_BASE=http://$SRV_IP:8081 BT_PEER="" STATS=""
	wait_for 30 "$SRV_PID" "nginx" reachable "$HTTP_BASE/" || { cat "$run/nginx.err" "$d/error.log" >&2; return 1; }
	cat "$data"/tree/*.bin >/dev/null
	SRV_NOTE="page cache warmed"
}
stop_server() {
	stop_pid "$SRV_PID" 20
	SRV_PID="" STATS=""
	detach_xdp
}
kernel_addr() { # add|del: the server veth's kernel address (uring, nginx, iperf3)
	if [[ $1 == add ]]; then
		inS ip addr add "$SRV_IP/24" dev "$VS"
		inC ip neigh flush dev "$VC" 2>/dev/null || true
	else
		inS ip addr del "$SRV_IP/24" dev "$VS" 2>/dev/null || true
	fi
}
stats() {
	if [[ -n $STATS ]]; then "$seedctl" stats --file "$STATS" --json 2>/dev/null || echo '{}'; else echo '{}'; fi
}

# ---------------------------------------------------------------- measure
rows=$run/rows.jsonl
: >"$rows"
measure() { # SERVER MODE CONNS
	local s=$1 mode=$2 c=$3 args st0 st1 t0 t1 rc=0 pid
	local out=$run/lg-$s-$mode-$c
	if [[ $mode == bt ]]; then
		[[ -n $BT_PEER ]] || return 0
		args=(bt --torrent "$TOR" --peer "$BT_PEER" --conns "$c" --pattern random)
	else
		args=(http --conns "$c" --mode "$mode" --verify-dir "$data")
		[[ $mode == range ]] && args+=(--range-size 16384)
		for u in $(urls "$HTTP_BASE"); do args+=(--url "$u"); done
	fi
	for pid in $(tree_pids "$SRV_PID"); do args+=(--server-pid "$pid"); done
	args+=(--duration "$duration" --warmup "$warmup" --json)
	st0=$(stats)
	t0=$(date +%s.%N)
	timeout --kill-after=5 "$(awk -v d="$duration" -v w="$warmup" 'BEGIN { printf "%d", d + w + 60 }')" \
		ip netns exec "$NS_C" "$loadgen" "${args[@]}" >"$out.json" 2>"$out.err" || rc=$?
	t1=$(date +%s.%N)
	sleep 0.3 # the workers publish their counters ten times a second
	st1=$(stats)
	pid_running "$SRV_PID" || echo "veth.sh: $s exited during $mode x $c" >&2
	$PY - "$out.json" "$out.err" "$rc" "$s" "$mode" "$c" "$st0" "$st1" "$t0" "$t1" "$tsc_hz" \
		"$SRV_NOTE" "$root/bench" >>"$rows" <<'PY'
import json, sys
sys.path.insert(0, sys.argv.pop())
from lgrow import loadgen_fields
(jf, ef, rc, s, mode, c, st0, st1, t0, t1, hz, note) = sys.argv[1:]
row = dict(server=s, mode=mode, conns=int(c), rc=int(rc), wall_s=float(t1) - float(t0))
if note:
    row['note'] = note
lg = loadgen_fields(row, jf, ef, rc)
if lg is not None:
    row['client_cpu_s_per_gib'] = lg['client_cpu_s'] / (lg['bytes'] / 2**30) if lg['bytes'] > 0 else None
st0, st1 = json.loads(st0), json.loads(st1)
if st1:
    d = lambda k: st1.get(k, 0) - st0.get(k, 0)
    pay = sum(st1.get('payload_bytes', {}).values()) - sum(st0.get('payload_bytes', {}).values())
    row['stats_delta'] = {k: d(k) for k in ('busy_cycles', 'net_rx_packets', 'net_tx_packets',
                          'net_rx_dropped', 'net_tx_dropped', 'net_input_errors', 'tcp_retransmits',
                          'tcp_timeouts', 'cache_misses', 'storage_read_bytes', 'verify_failures')}
    row['stats_delta']['payload_bytes'] = pay
    row['stats_after'] = st1
    bc = row['stats_delta']['busy_cycles']
    if bc and pay > 0:
        row['cycles_per_byte'] = bc / pay
        if float(hz) > 0:
            row['busy_cpu_s_per_gib'] = bc / float(hz) / (pay / 2**30)
            row['busy_share'] = bc / float(hz) / row['wall_s']
print(json.dumps(row))
PY
	$PY -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1])
f=lambda v,fmt: "-" if v is None else fmt % v
if "failed" in r: print("  %-11s %-5s %3d conns  FAILED: %s" % (r["server"], r["mode"], r["conns"], r["failed"]))
else:
    sd = r.get("stats_delta", {})
    print("  %-11s %-5s %3d conns %6.2f Gbit/s  CPU %s s/GiB  busy %s s/GiB  %s cyc/B  client %s s/GiB  p99 %s ms  retx %s  errors %d" % (
        r["server"], r["mode"], r["conns"], r["gbit_s"], f(r.get("cpu_s_per_gib"), "%.3f"),
        f(r.get("busy_cpu_s_per_gib"), "%.3f"), f(r.get("cycles_per_byte"), "%.2f"),
        f(r.get("client_cpu_s_per_gib"), "%.3f"),
        f(r["lat_p99_us"] / 1000 if r.get("lat_p99_us") is not None else None, "%.1f"),
        sd.get("tcp_retransmits", "-"), r["errors"]))' "$rows" >&2
}

notes=$run/notes.txt
: >"$notes"
note() { echo "veth.sh: $*" >&2; echo "$*" >>"$notes"; }
# start_server SERVER: up to 3 attempts (a dpdk port that stalls in the warm
# pass is started again: see "Known problems" in docs/performance.md)
start_server() {
	local a
	for a in 1 2 3; do
		start_server_once "$1" && return 0
		note "$1: start attempt $a failed (${SRV_NOTE:-no warm pass}); counters: $(stats | tr -d '\n' | cut -c1-1500)"
		stop_server
	done
	return 1
}
start_server_once() { # SERVER
	SRV_NOTE=""
	case $1 in
	dpdk) start_dpdk net_af_xdp 0 ;;
	dpdk-sleep) start_dpdk net_af_xdp "$idle_sleep" ;;
	dpdk-packet) start_dpdk net_af_packet 0 ;;
	uring) start_uring ;;
	uring-nozc) start_uring --zerocopy no ;;
	nginx) start_nginx ;;
	esac
}
run_server() { # SERVER
	local s=$1 c m list=$conns_list
	case $s in dpdk-sleep | dpdk-packet | uring-nozc) list=$extra_conns ;; esac
	echo "=== $s" >&2
	start_server "$s" || {
		echo "{\"server\": \"$s\", \"mode\": \"-\", \"conns\": 0, \"failed\": \"did not start (see $run)\"}" >>"$rows"
		echo "veth.sh: $s did not start: its rows are missing" >&2
		stop_server
		return 0
	}
	echo "  ($SRV_NOTE)" >&2
	for m in $modes; do
		for c in $list; do
			measure "$s" "$m" "$c"
			# a server that stopped answering is reported, and restarted
			# for the next run
			if [[ -n $SRV_PID ]] && ! reachable "${HTTP_BASE%/*}/" && ! reachable "$HTTP_BASE/"; then
				note "$s stopped answering (HTTP and new connections) at the end of the $m run with $c connections; restarted. Counters: $(stats | tr -d '\n' | cut -c1-1500)"
				$PY - "$rows" <<'PY'
import json, sys
ls = open(sys.argv[1]).read().splitlines()
r = json.loads(ls[-1]); r['stalled'] = True; ls[-1] = json.dumps(r)
open(sys.argv[1], 'w').write('\n'.join(ls) + '\n')
PY
				stop_server
				start_server "$s" || { echo "veth.sh: $s did not restart" >&2; stop_server; return 0; }
			fi
		done
	done
	stop_server
}

t_start=$(date +%s)
# dpdk first, on the veth without a kernel address
for s in $servers; do
	[[ $s == dpdk* ]] && run_server "$s"
done
# then the kernel: the same veth with an address
kernel_addr add
limits=$run/limits.json
echo "=== limits: kernel TCP over the veth (iperf3 -R, one stream, ${iperf_secs}s; TSO on, then off)" >&2
bg "$run/iperf-server.out" "$run/iperf-server.err" ip netns exec "$NS_S" iperf3 -s -B "$SRV_IP" -p 5201
iperf_pid=$BG_PID
listening() { inS ss -Htln "sport = :$1" | grep -q .; }
if wait_for 10 "$iperf_pid" "iperf3 -s" listening 5201; then
	for tso in on off; do
		inS ethtool -K "$VS" tso "$tso" gso "$tso" >/dev/null
		timeout --kill-after=5 $((iperf_secs + 20)) ip netns exec "$NS_C" iperf3 -c "$SRV_IP" -p 5201 -R \
			-t "$iperf_secs" -J >"$run/iperf-tso-$tso.json" 2>"$run/iperf-tso-$tso.err" || true
	done
	inS ethtool -K "$VS" tso on gso on >/dev/null
fi
stop_pid "$iperf_pid"
$PY - "$run" >"$limits" <<'PY'
import json, os, sys
out = {}
for tso in ('on', 'off'):
    try:
        e = json.load(open(os.path.join(sys.argv[1], 'iperf-tso-%s.json' % tso)))['end']
        out['tso_' + tso] = dict(gbit_s=e['sum_received']['bits_per_second'] / 1e9,
                                 sender_cpu_pct=e['cpu_utilization_percent']['remote_total'],
                                 receiver_cpu_pct=e['cpu_utilization_percent']['host_total'])
    except Exception as ex:
        out['tso_' + tso] = dict(failed=str(ex))
print(json.dumps(out))
PY
$PY -c 'import json,sys; d=json.load(open(sys.argv[1]))
print("  " + "; ".join("TSO %s: %s" % (k[4:], "%.2f Gbit/s" % v["gbit_s"] if "gbit_s" in v else "failed") for k, v in d.items()))' "$limits" >&2
for s in $servers; do
	[[ $s == dpdk* ]] || run_server "$s"
done
kernel_addr del
t_end=$(date +%s)

# ---------------------------------------------------------------- report
mkdir -p "$results"
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
$PY - "$rows" "$limits" "$results" "$stamp" "$bytes" "$nfiles" "$duration" "$warmup" "$(nproc)" \
	"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$(uname -r)" \
	"$tsc_hz" "$((t_end - t_start))" "$(nginx -v 2>&1 | sed 's/^nginx version: //')" "$idle_sleep" \
	"$nginx_workers" "$cache_mib" "$(cat /proc/loadavg)" "$notes" <<'PY'
import json, os, sys
(rows_f, limits_f, res, stamp, nbytes, nfiles, duration, warmup, ncpu, cpu, kernel, hz, wall,
 v_nginx, idle_sleep, nginx_workers, cache_mib, loadavg, notes_f) = sys.argv[1:]
notes = [l.strip() for l in open(notes_f) if l.strip()]
rows = [json.loads(l) for l in open(rows_f) if l.strip()]
lim = json.load(open(limits_f))
f = lambda v, fmt: '-' if v is None else fmt % v
names = {'dpdk': 'dpdk (af_xdp, poll)', 'dpdk-sleep': 'dpdk (af_xdp, idle sleep %s us)' % idle_sleep,
         'dpdk-packet': 'dpdk (af_packet, poll)', 'uring': 'uring (kernel TCP)',
         'uring-nozc': 'uring, --zerocopy no', 'nginx': 'nginx %s' % v_nginx}
order = list(names)
modes = {'bt': 'BT', 'range': 'HTTP 16K ranges', 'whole': 'HTTP whole files'}
morder = list(modes)
lims = []
for k in ('tso_on', 'tso_off'):
    v = lim.get(k, {})
    lims.append('TSO/GSO %s %s' % (k[4:], '%.2f Gbit/s' % v['gbit_s'] if 'gbit_s' in v else 'failed'))
md = ['Serving %d MiB (%s files) over a veth pair between two network namespaces, %s s per run '
      'after %s s of warm-up, hot; %s CPUs (%s), kernel %s, TSC %.3f GHz, %s. Loadgen, the server '
      'and the veth share the machine; one server at a time; load average at the end: %s.'
      % (int(nbytes) >> 20, nfiles, duration, warmup, ncpu, cpu, kernel, float(hz) / 1e9, stamp,
         ' '.join(loadavg.split()[:3])), '',
      'Limit: kernel TCP over this veth, server to client (iperf3 -R, one stream): %s.' % '; '.join(lims), '']
ok = [r for r in rows if 'failed' not in r]
# side by side: the three main servers
main = [s for s in ('dpdk', 'uring', 'nginx') if any(r['server'] == s for r in ok)]
if main:
    hdr = ['mode', 'conns'] + ['%s Gbit/s' % s for s in main] + ['%s CPU-s/GiB' % s for s in main]
    if 'dpdk' in main:
        hdr += ['dpdk busy CPU-s/GiB', 'dpdk cycles/byte']
    md += ['| ' + ' | '.join(hdr) + ' |', '|' + '---|' * len(hdr)]
    keys = sorted({(r['mode'], r['conns']) for r in ok if r['server'] in main},
                  key=lambda k: (morder.index(k[0]), k[1]))
    for m, c in keys:
        by = {r['server']: r for r in ok if (r['mode'], r['conns']) == (m, c)}
        cells = [modes[m], str(c)]
        cells += [(f(by[s]['gbit_s'], '%.2f') + (' (stalled)' if by[s].get('stalled') else '')) if s in by else '-'
                  for s in main]
        cells += [f(by[s].get('cpu_s_per_gib'), '%.3f') if s in by else '-' for s in main]
        if 'dpdk' in main:
            d = by.get('dpdk', {})
            cells += [f(d.get('busy_cpu_s_per_gib'), '%.3f'), f(d.get('cycles_per_byte'), '%.2f')]
        md.append('| ' + ' | '.join(cells) + ' |')
    md += ['']
md += ['Every run:', '',
       '| server | mode | conns | Gbit/s | server CPU-s/GiB | busy CPU-s/GiB | cycles/byte | worker busy share | client CPU-s/GiB | p99 ms | retransmits | rx dropped | errors |',
       '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
rows.sort(key=lambda r: (order.index(r['server']) if r['server'] in order else 99,
                         morder.index(r['mode']) if r['mode'] in morder else 9, r['conns']))
for r in rows:
    name = names.get(r['server'], r['server'])
    if 'failed' in r:
        md.append('| %s | %s | %s | failed: %s | | | | | | | | | |' % (
            name, modes.get(r['mode'], r['mode']), r['conns'], r['failed'].replace('|', '/')[:160]))
        continue
    sd = r.get('stats_delta', {})
    md.append('| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |' % (
        name, modes[r['mode']], r['conns'], '%.2f' % r['gbit_s'] + (' (stalled at the end)' if r.get('stalled') else ''), f(r.get('cpu_s_per_gib'), '%.3f'),
        f(r.get('busy_cpu_s_per_gib'), '%.3f'), f(r.get('cycles_per_byte'), '%.2f'),
        f(r.get('busy_share'), '%.2f'), f(r.get('client_cpu_s_per_gib'), '%.3f'),
        f(r['lat_p99_us'] / 1000 if r.get('lat_p99_us') is not None else None, '%.1f'),
        sd.get('tcp_retransmits', '-') if r['server'].startswith('dpdk') else '-',
        sd.get('net_rx_dropped', '-') if r['server'].startswith('dpdk') else '-', r['errors']))
md += ['', 'server CPU-s/GiB: utime+stime of the whole server process (nginx: master and %s '
       'worker(s)) over loadgen\'s measured window, per GiB loadgen received; a polling dpdk worker '
       'counts its whole core. busy CPU-s/GiB and cycles/byte: the dpdk worker\'s busy TSC cycles '
       '(passes of its loop that did work: receive, our TCP/IP stack, building and sending frames, '
       'payload copy included; not the engine\'s work between passes) per payload byte it served, '
       'over the whole loadgen run; busy share: those cycles over the run\'s wall time. Servers: '
       'seed-dataplane --workers 1 --cache-size %s MiB; nginx sendfile on. Retransmits and rx '
       'dropped: our stack\'s counters (dpdk only). Run time %s s.'
       % (nginx_workers, cache_mib, wall)]
if notes:
    md += [''] + ['Note: %s' % n for n in notes]
text = '\n'.join(md)
print(text)
os.makedirs(res, exist_ok=True)
open(os.path.join(res, 'veth.md'), 'w').write(text + '\n')
json.dump(dict(date=stamp, payload_bytes=int(nbytes), files=int(nfiles), duration_s=float(duration),
               warmup_s=float(warmup), cpus=int(ncpu), cpu=cpu, kernel=kernel, tsc_hz=float(hz),
               nginx=v_nginx, limits=lim, loadavg_end=loadavg, notes=notes, rows=rows),
          open(os.path.join(res, 'veth.json'), 'w'), indent=1)
PY
