#!/usr/bin/env bash
# User story: one address on the internet cannot take the seed away from
# everyone else (issue 13, points 1 and 2). The data plane (uring backend,
# 2 workers, default limits) runs in a namespace of its own; a flooder and
# a downloader each reach it from their own namespace over a veth pair, in
# different /24s.
#  (a) hold: the flooder opens 10,000 connections (BitTorrent handshakes on
#      the public info-hash with keep-alives, HTTP requests that never
#      finish) and keeps reopening what is closed. Meanwhile libtorrent
#      downloads a 64 MiB release and curl fetches a file from the other
#      namespace: both complete with the source's bytes, and the download
#      takes at most twice as long as the same download before the flood.
#      The flooder keeps at most --addr-conns connections; the refusals are
#      counted (addr_conns, addr_rate).
#  (b) mse: 5,000 MSE handshakes (random keys) from the flooder's address
#      within a few seconds: the data plane's CPU time (utime + stime from
#      /proc) over them stays under MSE_CPU_MAX_MS, printed; a plain curl
#      download from the other namespace completes meanwhile; mse_rate and
#      addr_rate refusals are counted.
#  (c) slots short: with the per-source limits off and 256 slots, the
#      flooder holds every slot with idle connections; libtorrent and curl
#      still complete, because the connections that never asked for
#      anything are closed for them (closes "reclaimed" counted).
#  (d) deny: --deny with the flooder's /24 refuses it at accept (counted)
#      while the downloader is served.
#  (e) utp: the flooder sends 20,000 uTP SYNs it never follows up, then
#      opens 1,000 uTP connections (handshakes on the public info-hash,
#      everything the seed sends acknowledged). Every SYN is answered and
#      none is kept (no connection counted); the flooder holds at most
#      --addr-conns connections, the rest refused and counted; libtorrent
#      with TCP off downloads the release over uTP meanwhile.
# seed-control maps the counters too: its /metrics (promtool-clean) shows
# the refusals of (b) as seed_admit_refusals_total.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
skip_unless_root "network namespaces need root"
require_cmds ip curl promtool

# the data plane's CPU for 5,000 MSE handshakes from one address. Without
# the limits it was 1.5 s in issue 13, and 300 ms here for 2,255 keys
# answered in 1.3 s (release build, 2 vCPUs); with them about 40 keys are
# answered (a burst of 32, then 8 a second) and the rest is accepting and
# closing: 80-100 ms measured, ASan or release build, on a quiet machine,
# but 260-420 ms while other builds and tests shared the two cores. The
# limit itself is asserted by the keys answered (at most the burst and the
# rate over the flood's time); the CPU is printed, and held under a
# ceiling well below what the flood costs without the limits.
MSE_CPU_MAX_MS=${MSE_CPU_MAX_MS:-1000}
MSE_BURST=32 MSE_RATE=8 # the data plane's defaults (--addr-mse-burst, --addr-mse-rate)

NS_S=ha$$s NS_F=ha$$f NS_C=ha$$c
SRV_F=10.71.1.1 FLOOD=10.71.1.2 SRV_C=10.71.2.1 CLIENT=10.71.2.2
HA_NETNS=()
ha_cleanup() {
	local ns
	for ns in ${HA_NETNS[@]+"${HA_NETNS[@]}"}; do ip netns del "$ns" 2>/dev/null || true; done
}
it_on_exit ha_cleanup
for ns in "$NS_S" "$NS_F" "$NS_C"; do
	ip netns add "$ns" || fail "ip netns add $ns: expected a new namespace"
	HA_NETNS+=("$ns")
	ip -n "$ns" link set lo up
done
# ha_link NS IP SRV_IP: a veth pair between the server's namespace and NS,
# SRV_IP/24 on the server's side, IP/24 on NS's side
ha_link() {
	local ns=$1 ip=$2 sip=$3 a=ha$$${1: -1}a b=ha$$${1: -1}b
	ip link add "$a" type veth peer name "$b" || fail "ip link add $a type veth peer name $b failed"
	ip link set "$a" netns "$NS_S"
	ip link set "$b" netns "$ns"
	ip -n "$NS_S" addr add "$sip/24" dev "$a"
	ip -n "$ns" addr add "$ip/24" dev "$b"
	ip -n "$NS_S" link set "$a" up
	ip -n "$ns" link set "$b" up
}
ha_link "$NS_F" "$FLOOD" "$SRV_F"
ha_link "$NS_C" "$CLIENT" "$SRV_C"
ip netns exec "$NS_C" ping -c 1 -W 5 "$SRV_C" >/dev/null || fail "expected $SRV_C to answer a ping from $NS_C"
ip netns exec "$NS_F" ping -c 1 -W 5 "$SRV_F" >/dev/null || fail "expected $SRV_F to answer a ping from $NS_F"

note "generating the 64 MiB release"
TREE=$T/src/game
S=$T/store
gen_tree "$TREE" big.bin $((64 * MiB + 4321)) small.bin $((3 * MiB - 7))
# shellcheck disable=SC2034 # create_kinds fills ID too
declare -A ID TORRENT
create_kinds "$S" "$TREE" hybrid
IH=$(json_get "$T/create-hybrid.json" infohash_v1)
[[ $IH =~ ^[0-9a-f]{40}$ ]] || fail "expected a 40-hex infohash_v1 in create --json, saw '$IH'"

# seed-control reads the data plane's counters from RUN/dataplane.stats
RUN=$T/run
mkdir -p "$RUN"
STATS=$RUN/dataplane.stats
ctl_config "$T/seed.conf" "$S" "$RUN" "$(free_port)" '{ id = "acme"; name = "Acme Games"; }'
ctl_start "$T" "$T/seed.conf"
# seed ARGS...: the data plane in its namespace, on every address, its
# counters in $STATS
seed() {
	DP_WRAP=(ip netns exec "$NS_S")
	DP_BT_HOST=0.0.0.0 DP_HTTP_HOST=0.0.0.0
	dp_start "$T" --store "$S" --stats-file "$STATS" --bt-listen '*:6881' --http-listen '*:8080' \
		--workers 2 --cache-size 128M "$@"
	DP_WRAP=()
	DP_BT_HOST='' DP_HTTP_HOST=''
}

# counter KEY [NAME]: the running data plane's counter KEY, or KEY.NAME
# (seedctl stats --json, as the workers last published it)
counter() {
	timeout 20 "$SEEDCTL" stats --file "$STATS" --json >"$T/stats.json" 2>&1 ||
		{ cat "$T/stats.json" >&2; fail "seedctl stats --file $STATS failed (see above)"; }
	"$PY" -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[k]
print(v)' "$T/stats.json" "$@"
}

# expect_counter WHAT KEY NAME MIN
expect_counter() {
	local v
	v=$(counter "$2" "$3")
	if ! [[ $v =~ ^[0-9]+$ ]] || ((v < $4)); then
		fail "$1: expected the counter $2.$3 to be at least $4, saw '$v'"
	fi
	echo "$1: $2.$3 = $v"
}

# lt_get LABEL [ARGS...]: libtorrent in the client namespace downloads the
# hybrid torrent into $T/lt-LABEL (dp_download.py ARGS: --transport utp);
# it must hold the source's bytes. Sets LT_MS.
lt_get() {
	local label=$1 rc=0 t0 t1
	shift
	rm -rf "$T/lt-$label"
	mkdir -p "$T/lt-$label"
	t0=$(date +%s%N)
	timeout --kill-after=5 300 ip netns exec "$NS_C" "$PY" "$SRCDIR/dp_download.py" \
		--peer "$SRV_C:6881" --timeout 240 --stall 60 "$@" --job "$T/lt-$label" \
		"${TORRENT[hybrid]}" >"$T/lt-$label.log" 2>&1 || rc=$?
	t1=$(date +%s%N)
	((rc == 0)) || { cat "$T/lt-$label.log" >&2; fail "libtorrent $label: download from $SRV_C:6881 failed, $(describe_rc "$rc") (output above)"; }
	tree_sums_cmp "$TREE" "$T/lt-$label/game" "libtorrent $label"
	LT_MS=$(((t1 - t0) / 1000000))
}

# curl_get LABEL FILE: curl in the client namespace fetches FILE of the
# release; it must be the source's bytes.
curl_get() {
	local out=$T/curl-$1 rc=0 url="http://$SRV_C:8080/${ID[hybrid]}/game/$2"
	rm -f "$out"
	timeout --kill-after=5 130 ip netns exec "$NS_C" curl -sS --max-time 120 -o "$out" "$url" \
		2>"$out.err" || rc=$?
	((rc == 0)) || fail "curl $1: GET $url from $NS_C: expected exit 0, saw $(describe_rc "$rc") ($(head -c 300 "$out.err"))"
	cmp -s "$out" "$TREE/$2" || fail "curl $1: GET $url: expected the bytes of $TREE/$2, got $(stat -c %s "$out") bytes that differ"
}

# flood MODE REPORT ARGS...: abuse_flood.py in the flooder's namespace, in
# the background (FLOOD_PID).
flood() {
	local mode=$1 report=$2
	shift 2
	ip netns exec "$NS_F" "$PY" "$SRCDIR/abuse_flood.py" --host "$SRV_F" --bt-port 6881 \
		--http-port 8080 --ih "$IH" --mode "$mode" --report "$report" "$@" \
		>"$report.out" 2>&1 &
	FLOOD_PID=$!
	dp_track "$FLOOD_PID"
}

# flood_wait: the flooder must end (it is bounded in time) with its report
flood_wait() {
	wait_pids "$1" "abuse_flood.py" "$FLOOD_PID"
	((WAIT_RCS[$FLOOD_PID] == 0)) || { cat "$2.out" >&2; fail "abuse_flood.py: expected exit 0, saw ${WAIT_RCS[$FLOOD_PID]} (output above)"; }
	[[ -s $2 ]] || fail "abuse_flood.py: expected a report in $2"
}

# flood_ready READY REPORT N: the flooder must write READY (its N attempts
# made) within 60 s; else its output and a failure.
flood_ready() {
	local i
	for ((i = 0; i < 600; i++)); do
		[[ -s $1 ]] && return 0
		pid_running "$FLOOD_PID" || break
		sleep 0.1
	done
	[[ -s $1 ]] && return 0
	cat "$2.out" >&2
	fail "abuse_flood.py: expected its $3 attempts within 60 s"
}

jfield() {
	"$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# cpu_ms PID: utime + stime of PID in ms
cpu_ms() {
	local tck
	tck=$(getconf CLK_TCK)
	awk -v t="$tck" '{ sub(/^.*\) /, ""); print int(($12 + $13) * 1000 / t) }' "/proc/$1/stat"
}

# ---------------------------------------------------------------------------
note "(a) 10,000 connections from one address while libtorrent and curl download"
seed
lt_get before
BASE_MS=$LT_MS
echo "libtorrent without the flood: $BASE_MS ms"
flood hold "$T/hold.json" --conns 10000 --seconds 90 --keepalive 5 --reopen-rate 100 \
	--ready "$T/hold.ready"
flood_ready "$T/hold.ready" "$T/hold.json" 10,000
open_now=$(counter conns_open bt)
open_http=$(counter conns_open http)
echo "held by the data plane once the flood is in place: bt $open_now, http $open_http"
lt_get during
FLOOD_MS=$LT_MS
curl_get during big.bin
echo "libtorrent during the flood: $FLOOD_MS ms (without: $BASE_MS ms)"
((FLOOD_MS <= 2 * BASE_MS)) ||
	fail "(a) expected the download during the flood to take at most twice as long as without it ($((2 * BASE_MS)) ms), it took $FLOOD_MS ms"
((open_now + open_http <= 128 + 8)) ||
	fail "(a) expected one address to hold at most --addr-conns (128, and one per worker racing) connections, the data plane had bt $open_now + http $open_http open"
expect_counter "(a)" admit_refusals addr_conns 1000
kill -TERM "$FLOOD_PID" 2>/dev/null || true
flood_wait 30 "$T/hold.json"
echo "flooder: $(cat "$T/hold.json")"
att=$(jfield "$T/hold.json" attempts)
((att >= 10000)) || fail "(a) expected the flooder to attempt 10,000 connections, it made $att"
dp_stop

# ---------------------------------------------------------------------------
note "(b) 5,000 MSE handshakes from one address; a plain download meanwhile"
seed
pid=$DP_PID
cpu0=$(cpu_ms "$pid")
flood mse "$T/mse.json" --conns 5000 --seconds 60
curl_get mse big.bin
flood_wait 90 "$T/mse.json"
cpu1=$(cpu_ms "$pid")
echo "flooder: $(cat "$T/mse.json")"
att=$(jfield "$T/mse.json" attempts)
((att == 5000)) || fail "(b) expected 5,000 MSE attempts, the flooder made $att"
ans=$(jfield "$T/mse.json" answered)
secs=$(jfield "$T/mse.json" seconds)
# the curl of 67 MiB is part of the CPU measured: take it out with a second
# curl alone
cpu2=$(cpu_ms "$pid")
curl_get alone big.bin
cpu3=$(cpu_ms "$pid")
mse_ms=$(((cpu1 - cpu0) - (cpu3 - cpu2)))
((mse_ms < 0)) && mse_ms=0
echo "data plane CPU for 5,000 MSE handshakes in ${secs}s ($ans answered): $mse_ms ms (bound $MSE_CPU_MAX_MS ms; the same curl alone: $((cpu3 - cpu2)) ms)"
((mse_ms <= MSE_CPU_MAX_MS)) ||
	fail "(b) expected the data plane to spend at most $MSE_CPU_MAX_MS ms of CPU on 5,000 MSE handshakes from one address, it spent $mse_ms ms"
max_ans=$((MSE_BURST + MSE_RATE * (${secs%.*} + 2)))
((ans <= max_ans)) ||
	fail "(b) expected at most $max_ans MSE keys answered in ${secs}s (burst $MSE_BURST + $MSE_RATE/s), $ans of 5000 were"
expect_counter "(b)" admit_refusals mse_rate 1
expect_counter "(b)" admit_refusals addr_rate 1000
# seed-control maps a restarted data plane's file at its next sample (once
# a second): scrape until the counts are there, at most 10 s
for r in mse_rate:1 addr_rate:1000; do
	for ((i = 0; i < 20; i++)); do
		curl -sS --max-time 10 "$CTL_URL/metrics" >"$T/metrics.txt" || fail "GET $CTL_URL/metrics failed"
		v=$(sed -nE "s/^seed_admit_refusals_total\{reason=\"${r%%:*}\"\} ([0-9]+)\$/\1/p" "$T/metrics.txt")
		[[ $v =~ ^[0-9]+$ ]] && ((v >= ${r#*:})) && break
		sleep 0.5
	done
	if ! [[ $v =~ ^[0-9]+$ ]] || ((v < ${r#*:})); then
		fail "(b) /metrics: expected seed_admit_refusals_total{reason=\"${r%%:*}\"} >= ${r#*:} within 10 s, saw '$v'"
	fi
	echo "(b) /metrics: seed_admit_refusals_total{reason=\"${r%%:*}\"} $v"
done
promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 || fail "promtool check metrics: $(cat "$T/promtool.out")"
# and seedctl status and top name them, by cause (the API's totals come
# from seed-control's last sample of the counters, once a second: at most
# 10 s)
export SEED_API_SOCKET=$CTL_SOCK
for ((i = 0; i < 20; i++)); do
	sc_ok "$T/st.txt" "$T/st.err" status
	grep -Eq '^at accept +[0-9]+  \(.*mse_rate [1-9]' "$T/st.txt" && break
	sleep 0.5
done
grep -Eq '^at accept +[0-9]+  \(.*mse_rate [1-9]' "$T/st.txt" ||
	fail "(b) seedctl status: expected an 'at accept' line counting mse_rate refusals within 10 s, saw: $(head -c 1500 "$T/st.txt")"
sc_ok "$T/top.txt" "$T/top.err" top --count 1
grep -Eq '^limits refused at accept [0-9]+  \(.*addr_rate [1-9]' "$T/top.txt" ||
	fail "(b) seedctl top: expected a 'limits refused at accept' line counting addr_rate refusals, saw: $(head -c 1500 "$T/top.txt")"
grep -h 'at accept' "$T/st.txt" "$T/top.txt"
dp_stop
grep -Eq '^seed-dataplane: stopped .* admit_refusals=[1-9][0-9]* ' "$DP_ERR" ||
	fail "(b) expected the data plane's 'stopped' line to count the refusals (admit_refusals=), saw: $(grep stopped "$DP_ERR")"

# ---------------------------------------------------------------------------
note "(c) per-source limits off, 256 slots: idle connections give their slots up"
seed --max-conns 128 --addr-conns 0 --prefix-conns 0 --addr-conn-rate 0 --addr-mse-rate 0
flood hold "$T/slots.json" --conns 1000 --seconds 60 --keepalive 2 --reopen-rate 200 \
	--ready "$T/slots.ready"
flood_ready "$T/slots.ready" "$T/slots.json" 1,000
sleep 1
lt_get slots
curl_get slots small.bin
echo "libtorrent with every slot held: $LT_MS ms"
expect_counter "(c)" closes reclaimed 100
kill -TERM "$FLOOD_PID" 2>/dev/null || true
flood_wait 30 "$T/slots.json"
echo "flooder: $(cat "$T/slots.json")"
dp_stop

# ---------------------------------------------------------------------------
note "(d) --deny refuses the flooder's /24 at accept"
seed --deny "10.71.1.0/24, 192.0.2.0/24"
flood hold "$T/deny.json" --conns 200 --seconds 5 --reopen-rate 10
curl_get deny small.bin
flood_wait 30 "$T/deny.json"
expect_counter "(d)" admit_refusals denied 200
bt=$(jfield "$T/deny.json" answered)
((bt == 0)) || fail "(d) expected no answer to a denied address, $bt connections were answered"
dp_stop

# ---------------------------------------------------------------------------
note "(e) uTP: 20,000 SYNs, then 1,000 connections from one address; libtorrent over uTP meanwhile"
seed
ip netns exec "$NS_F" "$PY" "$SRCDIR/utp_flood.py" --host "$SRV_F" --port 6881 --ih "$IH" \
	--syns 20000 --conns 1000 --rate 500 --seconds 60 --ready "$T/utp.ready" \
	--report "$T/utp.json" >"$T/utp.json.out" 2>&1 &
FLOOD_PID=$!
dp_track "$FLOOD_PID"
flood_ready "$T/utp.ready" "$T/utp.json" 1,000
held=$(counter utp_conns_accepted)
echo "uTP connections the data plane accepted once the flood is in place: $held"
lt_get utp --transport utp --listen "$CLIENT:0"
echo "libtorrent over uTP during the flood: $LT_MS ms"
kill -TERM "$FLOOD_PID" 2>/dev/null || true
flood_wait 30 "$T/utp.json"
echo "flooder: $(cat "$T/utp.json")"
syn_ans=$(jfield "$T/utp.json" syns_answered)
max_open=$(jfield "$T/utp.json" max_open)
refused=$(jfield "$T/utp.json" refused)
att=$(jfield "$T/utp.json" attempts)
((att == 1000)) || fail "(e) expected 1,000 uTP connection attempts, the flooder made $att"
# ids repeat past 32,768 SYNs; 20,000 are distinct, and a few answers may
# be lost to the flooder's socket buffer
((syn_ans >= 19000)) || fail "(e) expected the seed to answer (nearly) every one of 20,000 uTP SYNs with a cookie, the flooder saw $syn_ans answers"
# the SYNs took no connection: what was accepted is the flooder's (at most
# what it was let hold, and what it opened again) and libtorrent's
((max_open <= 128 + 8)) ||
	fail "(e) expected one address to hold at most --addr-conns (128, and one per worker racing) uTP connections, the flooder held $max_open"
((max_open >= 64)) || fail "(e) expected the flooder to be let hold about --addr-conns uTP connections, it held $max_open"
((refused >= 500)) || fail "(e) expected most of 1,000 uTP connections from one address refused, $refused were"
expect_counter "(e)" admit_refusals addr_conns 500
acc=$(counter utp_conns_accepted)
((acc <= 1000 - refused + 16)) ||
	fail "(e) expected the SYN flood to open no connection: $acc uTP connections were accepted, the flooder's non-refused ones are $((1000 - refused))"
dp_stop
echo "PASS"
