#!/usr/bin/env bash
# bench/wholefile.sh: what the whole-file CPU figures count. Ours and nginx
# (sendfile on) serve one hot file over HTTP to two clients, `loadgen http
# --mode whole` (io_uring, 256 KiB receives, one thread) and curl (one
# process per connection, 100 KiB receives, writing to /dev/null), at 1 and
# 16 connections, in one run, inside a network namespace of its own (its lo
# carries only this traffic, so its byte counters are the payload). For each
# case, after a warm-up, one window measures from /proc:
#   - Gbit/s: bytes over the namespace's lo in the window (TCP/IP headers
#     taken off), so both clients are counted the same way;
#   - the server's CPU (utime and stime of the process and its children:
#     nginx's master and workers; ours: every thread), the client's (loadgen,
#     or every curl), the ksoftirqd threads', and the machine's busy time
#     (/proc/stat), all per GiB;
# then, under the same load, `perf record -a -g` for a few seconds (its own
# byte count) sorts every busy sample of the machine by whose it is (server,
# client, ksoftirqd, the idle task, anyone else) and by what the kernel was
# doing: the sender's path (send syscall, copy into the socket, TCP transmit
# from the syscall, from an ACK or from a pacing timer, ACK processing) or
# the loopback receiver's (IP/TCP receive of data segments, ACKs sent, the
# copy out to the reader).
# Why both: this kernel accounts time by the tick without
# IRQ_TIME_ACCOUNTING, so softirq work is charged to whichever task it
# interrupted (or to none, on an idle CPU); on loopback the receiver's TCP
# work runs in softirq on the sending CPU, and with BBR (this VM's default)
# the sender's transmits run from per-socket pacing timers, on whatever
# task is on the CPU then. So "server CPU" holds a varying share of the
# whole connection's work (docs/performance.md, "Whole files: what the CPU
# figures count"). Each congestion control in --cc is set in the namespace
# (servers restarted), so the pacing's part shows: BBR paces, reno does not
# (a namespace other than the first may only pick from
# net.ipv4.tcp_allowed_congestion_control: reno and bbr here, not cubic).
# Prints the tables and writes bench/results/wholefile.{md,json}.
#
# usage: bench/wholefile.sh [--size BYTES] [--window SEC] [--warmup SEC]
#          [--perf-secs SEC] [--conns "1 16"] [--clients "loadgen curl"]
#          [--servers "ours nginx"] [--cc "bbr reno"] [--workdir DIR] [--build DIR] [--no-build]
#          [--loadgen PATH] [--results DIR] [--lock FILE] [--report-only]
#   --size BYTES     the served file (K, M, G suffixes; default 1G)
#   --window SEC     measured window per case (default 5)
#   --warmup SEC     load before the window, not counted (default 2)
#   --perf-secs SEC  perf record after the window (default 3; 0: no profile)
#   --cc "bbr reno"  TCP congestion controls, set in the namespace in turn
#                    (default: both)
#   --workdir DIR    payload, store, logs (default /var/tmp/bs-wholefile)
#   --build DIR      meson build dir, as bench/compare.sh (default build-bench)
#   --no-build       use the programs already built in --build
#   --lock FILE      held while measuring, not while building or generating
#                    (default /tmp/bitstream-bench.lock; others benchmark here)
#   --report-only    measure nothing: sort the samples and write the report
#                    again from the last run's files in --workdir
# Needs root (a network namespace of its own, perf -a). Figures only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench_name=wholefile.sh
# shellcheck source=SCRIPTDIR/benchlib.sh
source "$root/bench/benchlib.sh"

workdir=/var/tmp/bs-wholefile size=1G window=5 warmup=2 perf_secs=3 nobuild=0 report_only=0
conns_list="1 16" clients="loadgen curl" servers="ours nginx" ccs="bbr reno"
build="$root/build-bench" loadgen="" results="$root/bench/results" lock=/tmp/bitstream-bench.lock
parse_args --size=size --window=window --warmup=warmup --perf-secs=perf_secs --conns=conns_list \
	--clients=clients --servers=servers --cc=ccs --workdir=workdir --build=build --no-build+nobuild \
	--loadgen=loadgen --results=results --lock=lock --report-only+report_only -- "$@"
bytes=$(to_bytes "$size") || die "--size '$size': expected a number with an optional K, M or G suffix"
((bytes >= 64 << 20)) || die "--size $size: at least 64M (a window should hold several files at 1 connection)"
for v in window warmup perf_secs; do [[ ${!v} =~ ^[0-9]+$ ]] || die "--${v//_/-} '${!v}': expected whole seconds"; done
((window > 0)) || die "--window must be > 0"
for c in $conns_list; do [[ $c =~ ^[1-9][0-9]*$ ]] || die "--conns: '$c' is not a count"; done
for c in $clients; do [[ $c == loadgen || $c == curl ]] || die "--clients: '$c' is not loadgen or curl"; done
for s in $servers; do [[ $s == ours || $s == nginx ]] || die "--servers: '$s' is not ours or nginx"; done
for c in $ccs; do grep -qw "$c" /proc/sys/net/ipv4/tcp_allowed_congestion_control ||
	die "--cc: '$c' is not in /proc/sys/net/ipv4/tcp_allowed_congestion_control"; done
[[ $(id -u) == 0 ]] || die "needs root: a network namespace of its own, and perf -a"
pkgs=(nginx curl iproute2)
((perf_secs > 0)) && pkgs+=(linux-perf)
need_packages "${pkgs[@]}"

# The measurement runs in a network namespace of its own: its lo carries no
# one else's traffic, so /proc/net/dev counts exactly what the servers sent.
# The script starts itself again inside it once everything is built.
if [[ -z ${WF_NETNS:-} ]] && ((!report_only)); then
	if ((!nobuild)); then
		build_in "$build" dataplane/seed-dataplane tools/seedctl bench/loadgen
	fi
	exec env WF_NETNS=1 unshare --net -- bash "$0" "$@" --no-build
fi
((report_only)) || ip link set lo up

dataplane=$build/dataplane/seed-dataplane seedctl=$build/tools/seedctl
loadgen=${loadgen:-$build/bench/loadgen}
((report_only)) || for x in "$dataplane" "$seedctl" "$loadgen"; do [[ -x $x ]] || die "$x: not built"; done

PIDS=()
trap stop_all EXIT
trap 'exit 130' INT TERM
listening() { ss -Htln "sport = :$1" | grep -q .; }

# ---------------------------------------------------------------- payload
# One file, in the store (ours) and as a plain file under nginx's root.
if ((report_only)); then
	run=$workdir/run
	[[ -s $run/rows.jsonl && -s $run/wall && -s $run/stamp ]] || die "--report-only: no finished run in $workdir"
fi
((report_only)) || work_dirs "$workdir"
if ((!report_only)); then
	make_payload "$bytes" 1 0
	make_store file=tree/f000.bin
	rel=$(jget "$W/create-file.json" id)
	file=$data/tree/f000.bin
fi

# ---------------------------------------------------------------- servers
# Each start_X sets SRV_PID (the process whose tree is the server) and URL.
SRV_PID="" URL=""
start_ours() {
	# a cache that holds the file in every worker (each has its own)
	local cache=$(($(nproc) * bytes * 11 / 10 + (64 << 20))) port
	bg "$run/ours.out" "$run/ours.err" "$dataplane" --allow-root yes --store "$store" \
		--bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers "$(nproc)" \
		--cache-size "$((cache >> 20))M" --upload-slots 64 --stats-file "$run/ours.stats"
	SRV_PID=$BG_PID
	wait_for 60 "$SRV_PID" "seed-dataplane" grep -q '^http ' "$run/ours.out" || { cat "$run/ours.err" >&2; return 1; }
	port=$(sed -nE 's#^http +http://127\.0\.0\.1:([0-9]+)/$#\1#p' "$run/ours.out" | head -1)
	[[ -n $port ]] || { cat "$run/ours.out" >&2; return 1; }
	URL=http://127.0.0.1:$port/$rel/f000.bin
	# Hot: 4 connections per worker each GET the file, so every worker
	# (SO_REUSEPORT spreads connections) holds it in its cache.
	local i p pids=()
	for ((i = 0; i < 4 * $(nproc); i++)); do
		curl -sS --max-time 300 -o /dev/null "$URL" &
		p=$!
		pids+=("$p")
		PIDS+=("$p")
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
}
start_nginx() {
	local d=$run/nginx port=8080
	# as compare.sh runs it: sendfile on, one worker per core
	nginx_conf "$d" "$(nproc)" "127.0.0.1:$port" "$data"
	bg "$run/nginx.out" "$run/nginx.err" nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf" -g 'daemon off;'
	SRV_PID=$BG_PID
	wait_for 30 "$SRV_PID" "nginx" listening "$port" || { cat "$run/nginx.err" "$d/error.log" >&2; return 1; }
	URL=http://127.0.0.1:$port/tree/f000.bin
	cat "$file" >/dev/null # hot: the file in the page cache
}

# ---------------------------------------------------------------- one case
# measure CLIENT CONNS SERVER CC: starts the client against URL, lets it run
# --warmup s, then the window (snapshots at both ends), then perf; stops it.
rows=$run/rows.jsonl
((report_only)) || : >"$rows"
measure() {
	local cl=$1 c=$2 s=$3 cc=$4 tag=$4-$1-$2-$3 total i p cpids=() urls=() lg_json=""
	# perf's start and its write take a second or two more than --perf-secs
	total=$((warmup + window + perf_secs + 5))
	if [[ $cl == loadgen ]]; then
		# --warmup 0: the window below is ours; loadgen's own figures over
		# its whole run are kept beside it
		local srv_args=()
		for p in $(tree_pids "$SRV_PID"); do srv_args+=(--server-pid "$p"); done
		lg_json=$run/$tag.loadgen.json
		bg "$lg_json" "$run/$tag.err" "$loadgen" http --url "$URL" --mode whole --conns "$c" \
			--verify-dir "$data/tree" --duration "$total" --warmup 0 "${srv_args[@]}" --json
		cpids=("$BG_PID")
	else
		# one curl per connection, fetching the file again and again over
		# its keep-alive connection, more times than the run can finish
		local n=$((total * 4 * (1 << 30) / bytes / c + 2))
		for ((i = 0; i < n; i++)); do urls+=(-o /dev/null "$URL"); done
		for ((i = 0; i < c; i++)); do
			bg /dev/null "$run/$tag.err" curl -sS "${urls[@]}"
			cpids+=("$BG_PID")
		done
	fi
	sleep "$warmup"
	$PY - "$rows" "$tag" "$cl" "$c" "$s" "$cc" "$window" "$perf_secs" "$run/$tag.perf" \
		"$(tree_pids "$SRV_PID" | tr '\n' ' ')" "${cpids[*]}" <<'PY' || true
import json, os, subprocess, sys, time
(rows, tag, cl, c, s, cc, window, perf_secs, perf_out, spids, cpids) = sys.argv[1:]
spids = [int(p) for p in spids.split()]
cpids = [int(p) for p in cpids.split()]
tck = os.sysconf('SC_CLK_TCK')
def comm(d):
    try:
        return open('/proc/%s/comm' % d).read()
    except OSError:
        return ''
ksoft = [int(d) for d in os.listdir('/proc') if d.isdigit() and comm(d).startswith('ksoftirqd/')]

def proc_ut_st(pid):  # (utime, stime) in seconds, every thread of pid (dead ones too)
    try:
        st = open('/proc/%d/stat' % pid).read()
    except OSError:
        return None
    f = st[st.rindex(')') + 2:].split()
    return int(f[11]) / tck, int(f[12]) / tck

def group(pids):
    u = sy = 0.0
    for p in pids:
        r = proc_ut_st(p)
        if r is None:
            raise SystemExit('wholefile.sh: process %d exited during the window' % p)
        u, sy = u + r[0], sy + r[1]
    return u, sy

def snap():
    cpu = open('/proc/stat').readline().split()[1:]
    lo = [l.split(':')[1].split() for l in open('/proc/net/dev') if l.strip().startswith('lo:')][0]
    return dict(t=time.monotonic(), srv=group(spids), cli=group(cpids), ks=group(ksoft),
                stat=[int(x) / tck for x in cpu], lo_bytes=int(lo[0]), lo_pkts=int(lo[1]))

a = snap()
time.sleep(int(window))
b = snap()
secs = b['t'] - a['t']
# lo counts each packet once (received = sent); every packet carries 66
# bytes of Ethernet, IPv4 and TCP (timestamps) headers; the ACKs carry
# nothing else. The HTTP headers of a whole-file GET are noise here.
payload = (b['lo_bytes'] - a['lo_bytes']) - 66 * (b['lo_pkts'] - a['lo_pkts'])
gib = payload / 2**30
d = lambda k, i: b[k][i] - a[k][i]
st = [y - x for x, y in zip(a['stat'], b['stat'])]
# /proc/stat: user nice system idle iowait irq softirq steal ...
busy = sum(st) - st[3] - st[4]
row = dict(tag=tag, client=cl, conns=int(c), server=s, cc=cc, secs=secs, payload_bytes=payload,
           gbit_s=payload * 8 / secs / 1e9, lo_packets=b['lo_pkts'] - a['lo_pkts'],
           srv_user=d('srv', 0) / gib, srv_sys=d('srv', 1) / gib,
           cli_user=d('cli', 0) / gib, cli_sys=d('cli', 1) / gib,
           ksoftirqd=(d('ks', 0) + d('ks', 1)) / gib,
           machine_busy=busy / gib, machine_softirq=st[6] / gib, machine_irq=st[5] / gib,
           machine_steal=st[7] / gib if len(st) > 7 else 0.0,
           # everyone else on the machine (others' tests share it)
           others=(busy - sum(d(k, 0) + d(k, 1) for k in ('srv', 'cli', 'ks'))) / gib,
           server_pids=spids, client_pids=cpids)
if int(perf_secs) > 0:
    a = snap()
    subprocess.run(['perf', 'record', '-q', '-a', '-g', '-e', 'cpu-clock', '-F', '999',
                    '-o', perf_out, '--', 'sleep', perf_secs],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    b = snap()
    row['perf'] = perf_out
    row['perf_hz'] = 999
    row['perf_payload_bytes'] = (b['lo_bytes'] - a['lo_bytes']) - 66 * (b['lo_pkts'] - a['lo_pkts'])
    row['perf_gbit_s'] = row['perf_payload_bytes'] * 8 / (b['t'] - a['t']) / 1e9
print(json.dumps(row), file=open(rows, 'a'))
PY
	if [[ -n $lg_json ]]; then
		# loadgen stops by itself a little after perf (and a drain of at
		# most 2 s), then prints its own report
		for ((i = 0; i < 100; i++)); do pid_running "${cpids[0]}" || break; sleep 0.1; done
		stop_pid "${cpids[0]}" 5

		$PY - "$rows" "$lg_json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
if not rows:
    sys.exit()
try:
    lg = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
    rows[-1]['loadgen_own'] = {k: lg.get(k) for k in ('gbit_s', 'bytes', 'errors', 'server_cpu_s_per_gib', 'client_cpu_s')}
except (OSError, ValueError, IndexError):
    rows[-1]['loadgen_own'] = None # stopped by its PID before its report: fine
open(sys.argv[1], 'w').write(''.join(json.dumps(r) + '\n' for r in rows))
PY
	else
		for p in "${cpids[@]}"; do stop_pid "$p" 5; done
	fi
	[[ $(tail -1 "$rows" 2>/dev/null) == *"\"$tag\""* ]] || { echo "  $tag: no row" >&2; return 0; }
	tail -1 "$rows" | $PY -c 'import json,sys; r=json.loads(sys.stdin.read())
print("  %-5s %-7s %3d %-5s %6.2f Gbit/s  server %.3f+%.3f  client %.3f  ksoftirqd %.3f  others %.3f  machine %.3f CPU-s/GiB" % (
 r["cc"], r["client"], r["conns"], r["server"], r["gbit_s"], r["srv_user"], r["srv_sys"], r["cli_user"] + r["cli_sys"],
 r["ksoftirqd"], r["others"], r["machine_busy"]))' >&2
}

# ---------------------------------------------------------------- runs
# Only the measuring holds the lock: the payload, the store and the build
# are made before it.
if ((!report_only)); then
	exec {lockfd}>"$lock"
	echo "$bench_name: waiting for $lock ..." >&2
	flock "$lockfd"
	t_start=$(date +%s)
	# the report's date and tree: when and with what it measured
	date -u +%Y-%m-%dT%H:%M:%SZ >"$run/stamp"
	git -C "$root" rev-parse --short HEAD >"$run/rev" 2>/dev/null || echo '?' >"$run/rev"
	for cc in $ccs; do
		# sockets take the namespace's default when made: servers restart
		sysctl -qw net.ipv4.tcp_congestion_control="$cc"
		for s in $servers; do
			echo "=== $s, $cc" >&2
			"start_$s" || die "$s did not start"
			for cl in $clients; do
				for c in $conns_list; do
					measure "$cl" "$c" "$s" "$cc"
				done
			done
			stop_pid "$SRV_PID" 20
			SRV_PID=""
		done
	done
	flock -u "$lockfd"
	echo $(($(date +%s) - t_start)) >"$run/wall"
fi

# ---------------------------------------------------------------- profiles
# Each busy sample is sorted by owner (the task on the CPU: softirq work is
# charged to it; "idle" is softirq work on an idle CPU, charged to no
# process) and by what the kernel was doing, from its call chain.
prof=$run/profile.jsonl
: >"$prof"
# (the program in a variable: perf script's output is the Python's stdin)
read -r -d '' classify <<'PY' || true
import json, sys
row = json.loads(sys.argv[1])
srv, cli = set(row['server_pids']), set(row['client_pids'])
# The receive path: softirq (net_rx_action) or a socket owner draining its
# backlog at release_sock.
RX = {'net_rx_action', 'process_backlog', '__netif_receive_skb', '__netif_receive_skb_core',
      'ip_rcv', 'ip_local_deliver', 'tcp_v4_rcv', 'tcp_v4_do_rcv', '__release_sock'}
TX = {'tcp_write_xmit', '__tcp_push_pending_frames', 'tcp_data_snd_check', 'tcp_push_one'}
TIMER_TX = {'tcp_pace_kick', 'tcp_tsq_handler', 'tcp_tasklet_func', 'tcp_tsq_workfn'}
ACKGEN = {'tcp_send_ack', '__tcp_send_ack', 'tcp_send_delayed_ack', '__tcp_ack_snd_check'}
ACKRX = {'tcp_ack', 'tcp_clean_rtx_queue'}
DATARX = {'tcp_data_queue', 'tcp_queue_rcv', 'tcp_event_data_recv', 'sock_def_readable',
          'tcp_data_ready', 'tcp_rcv_space_adjust'}
RECV = {'tcp_recvmsg', 'tcp_recvmsg_locked', 'skb_copy_datagram_iter', '__skb_datagram_iter'}
SEND = {'tcp_sendmsg', 'tcp_sendmsg_locked', 'do_splice_direct', 'do_sendfile', 'splice_direct_to_actor'}
SENDCOPY = {'_copy_from_iter', 'skb_copy_to_page_nocache', 'skb_do_copy_data_nocache', '_copy_from_iter_nocache'}
SOFTIRQ = {'handle_softirqs', '__do_softirq', 'do_softirq', 'net_rx_action', 'run_ksoftirqd'}

# What the kernel was doing: the label of the first rule whose every set has
# a frame in the chain. Below a receive entry only the frames above the
# outermost one count, against RX_RULES ('rx: IP/TCP demux' when none
# matches); otherwise the whole chain, against RULES ('other kernel').
RX_RULES = [
    ((TX,), 'tx: from an ACK'),
    ((ACKRX,), 'ACK processing'),
    ((ACKGEN,), 'rx: ACKs sent'),
    # skb_defer_free_flush: skbs the reader consumed, freed back on the
    # CPU that built them (the sender's): the receiver's work
    ((DATARX | {'skb_defer_free_flush'},), 'rx: data segments'),
]
RULES = [
    (({'skb_defer_free_flush'},), 'rx: data segments'),
    ((TIMER_TX,), 'tx: pacing timer'),
    # A softirq whose handler is not in the chain: in this VM a sample
    # taken while interrupts were off lands where they are turned back on
    # (pvm_irq_enable), inside handle_softirqs, so the handler is unseen
    # (timers: pacing, TSQ; the receive of a packet; RCU).
    ((SOFTIRQ,), 'softirq: handler unseen'),
    ((RECV,), 'recv: copy to reader'),
    ((SEND, SENDCOPY), 'send: copy into socket'),
    ((SEND,), 'send: syscall and TCP'),
]

def first_rule(rules, syms, otherwise):
    for sets, label in rules:
        if all(any(f in s for f in syms) for s in sets):
            return label
    return otherwise

def classify(syms, user_leaf):  # syms: leaf first
    if user_leaf:
        return 'user'
    rx = [i for i, f in enumerate(syms) if f in RX]
    if rx:
        return first_rule(RX_RULES, syms[:max(rx)], 'rx: IP/TCP demux')
    return first_rule(RULES, syms, 'other kernel')

counts, total, idle = {}, 0, 0
def flush(pid, comm, frames):
    global total, idle
    if pid is None:
        return
    syms = [f[0] for f in frames]
    cat = classify(syms, bool(frames) and frames[0][1])
    if pid == 0:
        if not any(f in SOFTIRQ for f in syms):
            idle += 1  # halted: not busy
            return
        owner = 'idle'
    elif pid in srv:
        owner = 'server'
    elif pid in cli:
        owner = 'client'
    elif comm.startswith('ksoftirqd'):
        owner = 'ksoftirqd'
    else:
        owner = 'other'
    k = owner + '|' + cat
    counts[k] = counts.get(k, 0) + 1
    total += 1

pid = comm = None
frames = []
for line in sys.stdin:
    if not line.strip():
        flush(pid, comm, frames)
        pid, frames = None, []
        continue
    if not line.startswith((' ', '\t')):
        parts = line.split()  # "comm pid" (perf script's pid: the thread group)
        comm, pid = ' '.join(parts[:-1]), int(parts[-1])
        continue
    p = line.split(None, 1)
    sym = p[1].strip().split('+')[0] if len(p) > 1 else '?'
    frames.append((sym, int(p[0], 16) < 0x800000000000))
flush(pid, comm, frames)
print(json.dumps(dict(tag=row['tag'], busy_samples=total, idle_samples=idle, counts=counts)))
PY
if ((perf_secs > 0)); then
	while read -r line; do
		tag=$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["tag"])' "$line")
		[[ -f $run/$tag.perf ]] || continue
		perf script -i "$run/$tag.perf" -F comm,pid,ip,sym </dev/null 2>/dev/null |
			$PY -c "$classify" "$line" >>"$prof"
	done <"$rows"
fi

# ---------------------------------------------------------------- report
mkdir -p "$results"
stamp=$(cat "$run/stamp")
$PY - "$rows" "$prof" "$results" "$stamp" "$bytes" "$window" "$warmup" "$perf_secs" "$(nproc)" \
	"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$(uname -r)" \
	"$(nginx -v 2>&1 | sed 's/nginx version: //')" "$(curl --version | head -1 | cut -d' ' -f1-2)" \
	"$(cat "$run/wall")" "$(cat "$run/rev" 2>/dev/null || echo '?')" <<'PY'
import json, os, sys
(rows_f, prof_f, res, stamp, nbytes, window, warmup, perf_secs, ncpu, cpu, kernel, v_nginx,
 v_curl, wall, rev) = sys.argv[1:]
rows = [json.loads(l) for l in open(rows_f) if l.strip()]
prof = {p['tag']: p for p in (json.loads(l) for l in open(prof_f) if l.strip())}
md = ['Whole-file HTTP GETs of one hot %d MiB file, %s s windows after %s s of warm-up, %s CPUs '
      '(%s), kernel %s, %s, tree %s; nginx %s (sendfile on, %s workers), %s; loadgen http '
      '--mode whole. Client, server and the kernel share the machine, in a network namespace '
      'of their own; other sessions\' work shares it too ("others").'
      % (int(nbytes) >> 20, window, warmup, ncpu, cpu, kernel, stamp, rev, v_nginx, ncpu, v_curl), '',
      '| cc | client | conns | server | Gbit/s | server user | server sys | **server** | client | ksoftirqd | others | machine busy | of which softirq |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
for r in rows:
    md.append('| %s | %s | %d | %s | %.2f | %.3f | %.3f | **%.3f** | %.3f | %.3f | %.3f | %.3f | %.3f |' % (
        r['cc'], r['client'], r['conns'], r['server'], r['gbit_s'], r['srv_user'], r['srv_sys'],
        r['srv_user'] + r['srv_sys'], r['cli_user'] + r['cli_sys'], r['ksoftirqd'], r['others'],
        r['machine_busy'], r['machine_softirq']))
md += ['', 'CPU columns: CPU-s per GiB of payload crossing lo in the window (/proc). server: utime and '
       'stime of the server process and its children (nginx: master and workers; ours: all threads); '
       'client: loadgen, or every curl; ksoftirqd: both threads; others: the machine\'s busy time '
       'less those three (other sessions\' work, and softirq work on an idle CPU); machine busy: '
       '/proc/stat, all CPUs; of which softirq: ticks that found a CPU in softirq, charged to '
       'whichever task it interrupted.']
lg = [r for r in rows if r.get('loadgen_own')]
if lg:
    md += ['', "loadgen's own server figure over its whole run (the way compare.sh counts): " + '; '.join(
        '%s %s %d conns %.3f CPU-s/GiB at %.2f Gbit/s, %s body errors' % (r['cc'], r['server'], r['conns'],
        r['loadgen_own']['server_cpu_s_per_gib'] or 0, r['loadgen_own']['gbit_s'], r['loadgen_own']['errors'])
        for r in lg) + '.']
cats = ['user', 'send: syscall and TCP', 'send: copy into socket', 'tx: from an ACK', 'tx: pacing timer',
        'ACK processing', 'rx: IP/TCP demux', 'rx: data segments', 'rx: ACKs sent', 'recv: copy to reader',
        'softirq: handler unseen', 'other kernel']
net = {'send: syscall and TCP', 'send: copy into socket', 'tx: from an ACK', 'tx: pacing timer',
       'ACK processing', 'rx: IP/TCP demux', 'rx: data segments', 'rx: ACKs sent', 'recv: copy to reader',
       'softirq: handler unseen'}
owners = ('server', 'client', 'ksoftirqd', 'idle', 'other')
if prof:
    md += ['', '`perf record -a -g -e cpu-clock -F 999`, %s s per case after the window, same load, '
           'its own byte count: CPU-s per GiB by owner (whose task was on the CPU; idle: softirq on '
           'an idle CPU) and by what the kernel was doing (from the call chain). Others\' user '
           'space and "other kernel" are left out; the network work they were interrupted for is in.'
           % perf_secs, '',
           '| cc | client | conns | server | owner | ' + ' | '.join(cats) + ' |',
           '|---|---|---|---|---|' + '---|' * len(cats)]
    est = []
    for r in rows:
        p = prof.get(r['tag'])
        gib = r.get('perf_payload_bytes', 0) / 2**30
        if not p or gib <= 0:
            continue
        per = lambda n: n / r['perf_hz'] / gib
        cell = lambda o, c: per(p['counts'].get(o + '|' + c, 0))
        for o in owners:
            vals = {c: cell(o, c) for c in cats}
            if o == 'other':
                vals = {c: (v if c in net else 0.0) for c, v in vals.items()}
            if sum(vals.values()) < 0.002:
                continue
            md.append('| %s | %s | %d | %s | %s | %s |' % (r['cc'], r['client'], r['conns'], r['server'], o,
                      ' | '.join('%.3f' % vals[c] if vals[c] >= 0.0005 else '-' for c in cats)))
        tot = lambda c: sum(cell(o, c) for o in owners)
        srv_user, cli_user = cell('server', 'user'), cell('client', 'user')
        srv_other = cell('server', 'other kernel')
        cli_other = cell('client', 'other kernel')
        sender = srv_user + srv_other + sum(tot(c) for c in ('send: syscall and TCP', 'send: copy into socket',
                                                           'tx: from an ACK', 'tx: pacing timer', 'ACK processing'))
        receiver = cli_user + cli_other + sum(tot(c) for c in ('rx: data segments', 'rx: ACKs sent',
                                                             'recv: copy to reader'))
        srv_all = sum(cell('server', c) for c in cats)
        # the share of the server's own time spent receiving for the client
        srv_rx = sum(cell('server', c) for c in ('rx: IP/TCP demux', 'rx: data segments', 'rx: ACKs sent',
                                                   'recv: copy to reader'))
        est.append((r, sender, tot('send: copy into socket'), tot('softirq: handler unseen'),
                    tot('rx: IP/TCP demux'), receiver, srv_all, r['perf_gbit_s'],
                    srv_rx / srv_all if srv_all else 0.0))
    md += ['', 'The same samples as two paths, CPU-s/GiB. The sender\'s path, wherever it ran: the '
           'server\'s user space and its "other kernel" (scheduler, epoll/io_uring, syscall entry), '
           'the send syscall, the copy into the socket, transmits (in the syscall, from ACKs, from '
           'pacing timers) and ACK processing, in any task\'s context. The receiver\'s path: the '
           'client\'s user space and "other kernel", data segments received, ACKs sent, the copy to '
           'the reader. IP/TCP demux serves both directions (data and ACK packets); softirq with '
           'the handler unseen is either\'s. Of which receiving: the share of the server process\'s '
           'own samples that were the client\'s receive (IP/TCP demux, data segments, ACKs sent, the '
           'copy to the reader), charged to it over loopback.', '',
           '| cc | client | conns | server | Gbit/s (perf) | server process (perf) | of which receiving (loopback) | sender\'s path | of which copy into socket | softirq, handler unseen | IP/TCP demux | receiver\'s path |',
           '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r, snd, cp, unseen, dem, rcv, sp, g, rxs in est:
        md.append('| %s | %s | %d | %s | %.2f | %.3f | %.0f %% | **%.3f** | %.3f | %.3f | %.3f | %.3f |' % (
            r['cc'], r['client'], r['conns'], r['server'], g, sp, 100 * rxs, snd, cp, unseen, dem, rcv))
md += ['', 'Run time (measuring, under the lock) %s s.' % wall]
text = '\n'.join(md)
print(text)
os.makedirs(res, exist_ok=True)
open(os.path.join(res, 'wholefile.md'), 'w').write(text + '\n')
json.dump(dict(date=stamp, file_bytes=int(nbytes), window_s=int(window), warmup_s=int(warmup),
               cpus=int(ncpu), cpu=cpu, kernel=kernel, nginx=v_nginx, curl=v_curl, rev=rev,
               rows=rows, profiles=list(prof.values())),
          open(os.path.join(res, 'wholefile.json'), 'w'), indent=1)
PY
echo "wrote $results/wholefile.md, wholefile.json" >&2
