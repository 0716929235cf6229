#!/usr/bin/env bash
# User story: seed-dataplane --backend dpdk (our own userspace TCP/IP stack)
# serves real clients over bad and narrow paths, and a SYN flood does not
# stop it. The clients use the kernel's TCP; the build is >= 64 MiB.
#  (a) Lossy link: two namespaces joined by a veth pair (as
#      test_dpdk_serve.sh), nftables in the client's namespace dropping 2 %
#      of the IP packets at random in each direction: ping, curl ranges vs
#      dd, aria2c over HTTP, aria2c over BitTorrent (v1, the seed found
#      through opentracker), libtorrent (hybrid and v2 at once), every file's
#      sha256 equal to the source's (dpdk_suite in lib.sh).
#  (b) SYN flood, on the same link without loss: while curl downloads the
#      big file (paced at 10 MB/s so it outlasts the flood), synflood.py in
#      the client's namespace sends 10,000 SYNs from a raw socket to ports
#      8080 and 6881, from random source ports, a fifth from spoofed
#      addresses of the subnet. The download must complete with the
#      source's bytes and still be running when the flood ends, and a new
#      connection must be served afterwards. The SYN cookies the stack
#      counted are printed.
#  (c) Bottleneck: a router namespace between the seed (10.99.0.1/24,
#      --gateway 10.99.0.254) and the client (10.98.0.2/24), forwarding with
#      tbf at 50 Mbit/s on its egress toward the client (the PMDs' transmits
#      bypass any qdisc on the seed's own veth): the whole of (a) again,
#      without loss.
# The data plane stops on SIGTERM with exit 0, verify_failures=0 and
# storage_errors=0 after each part. (a) and (b) run on each PMD of
# DPDK_LOSS_PMDS, (c) on each of DPDK_ROUTER_PMDS (both default to
# "af_xdp af_packet"). Needs root. Timings and throughput are printed, never
# asserted.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
skip_unless_root "needs root for network namespaces, raw sockets and the DPDK PMDs"
require_cmds ip ethtool ping curl aria2c opentracker nft tc
LOSS_PMDS=${DPDK_LOSS_PMDS:-af_xdp af_packet}
ROUTER_PMDS=${DPDK_ROUTER_PMDS:-af_xdp af_packet}

SEED=10.99.0.1
TREE=$T/src/game
S=$T/store
declare -A ID TORRENT
note "generating the build and its v1, v2 and hybrid releases"
dpdk_release "$TREE" "$S" http://10.96.0.1:6969/announce
BIG=$TREE/$DPDK_BIG
BIGSIZE=$(stat -c %s "$BIG")

# ------------------------------------------------------------ (a) 2 % loss
NS_S=dls$$
NS_C=dlc$$
IF_S=lS$$
IF_C=lC$$
CLIENT=10.99.0.2
note "(a) namespaces: $NS_S ($IF_S) <-> $NS_C ($IF_C $CLIENT/24), 2 % loss each way in $NS_C; $LOSS_PMDS"
dpdk_ns "$NS_S" "$NS_C"
dpdk_veth "$NS_S" "$IF_S" "$NS_C" "$IF_C"
ip -n "$NS_C" addr add "$CLIENT/24" dev "$IF_C"
dpdk_tracker "dlt$$" "$NS_C" "$SEED" "$DPDK_IH_V1"
for pmd in $LOSS_PMDS; do
	dpdk_start "$NS_S" "$pmd" "$IF_S" "$SEED" --store "$S" --ip "$SEED/24"
	dpdk_loss_on "$NS_C" "$IF_C" 2
	dpdk_suite "loss2%/$pmd" "$NS_C" "$SEED" "$TREE"
	dpdk_loss_off "$NS_C"
	dpdk_stats "loss2%/$pmd"
	# the counters say what happened: the port up, frames both ways, losses
	# repaired by retransmission
	dpdk_expect "loss2%/$pmd" net_links_up 1
	dpdk_expect "loss2%/$pmd" net_rx_packets 1000
	dpdk_expect "loss2%/$pmd" net_tx_packets 10000
	dpdk_expect "loss2%/$pmd" tcp_retransmits 1

	# --------------------------------------------------------- (b) SYN flood
	note "(b) 10,000 SYNs from $NS_C while curl downloads $DPDK_BIG"
	url=http://$SEED:8080/${ID[hybrid]}/game/$DPDK_BIG
	rm -f "$T/flood.body"
	t0=$(date +%s%N)
	timeout --kill-after=5 120 ip netns exec "$NS_C" curl -sS --max-time 110 --limit-rate 10M \
		-o "$T/flood.body" "$url" 2>"$T/flood.curlerr" &
	CURL_PID=$!
	dp_track "$CURL_PID"
	for ((i = 0; i < 100; i++)); do
		[[ -s $T/flood.body ]] && break
		sleep 0.1
	done
	[[ -s $T/flood.body ]] || fail "(b) curl $url: expected the download to start within 10 s, no byte came"
	ip netns exec "$NS_C" "$PY" "$SRCDIR/synflood.py" --dst "$SEED" --src "$CLIENT" --ports 8080,6881 \
		--count 10000 --seconds 2 --spoof 0.2 --spoof-net 10.99.0.0/24 ||
		fail "(b) synflood.py: expected it to send 10000 SYNs (see above)"
	pid_running "$CURL_PID" ||
		fail "(b) expected the download to be still running when the flood ended (it was paced at 10 MB/s for $BIGSIZE bytes), it had ended: the flood did not overlap it"
	got_during=$(stat -c %s "$T/flood.body")
	wait_pids 100 "(b) curl download during the SYN flood" "$CURL_PID"
	t1=$(date +%s%N)
	((WAIT_RCS[$CURL_PID] == 0)) ||
		fail "(b) curl $url during the SYN flood: expected exit 0, saw $(describe_rc "${WAIT_RCS[$CURL_PID]}") ($(cat "$T/flood.curlerr"))"
	cmp -s "$BIG" "$T/flood.body" ||
		fail "(b) curl $url during the SYN flood: expected the $BIGSIZE source bytes, saw $(stat -c %s "$T/flood.body") bytes that differ ($(cmp "$BIG" "$T/flood.body" 2>&1 | head -1))"
	echo "(b) the download had $got_during bytes when the flood ended, and completed"
	dpdk_figure "synflood/$pmd" "curl (10 MB/s cap) during the flood" "$BIGSIZE" $(((t1 - t0) / 1000000))
	dpdk_range "$NS_C" "$url" "$BIG" 5000000-5999999 5000000 1000000
	echo "(b) a new connection after the flood was served"
	dpdk_stats "synflood/$pmd"
	# the SYNs got their cookies and none cost a connection slot (the flood's
	# sources answer with RST or nothing, never a final ACK that checks). Not
	# all 10,000: net_af_packet's kernel ring can overflow during a burst of
	# 100 SYNs while an ASan build is busy, and no counter shows such a drop
	# (one CI run: 9,978); 99 % still fails if cookies stop being sent
	dpdk_expect "synflood/$pmd" tcp_syn_cookies 9900
	dpdk_stop "loss2%+synflood/$pmd" $((3 * DPDK_TOTAL)) $((DPDK_TOTAL + BIGSIZE))
done

# ----------------------------------------------------- (c) 50 Mbit/s router
NS_S2=drs$$
NS_R=drr$$
NS_C2=drc$$
CLIENT2=10.98.0.2
note "(c) $NS_S2 ($SEED/24) <-> router $NS_R (10.99.0.254 | 10.98.0.254, tbf 50mbit toward the client) <-> $NS_C2 ($CLIENT2/24); $ROUTER_PMDS"
dpdk_ns "$NS_S2" "$NS_R" "$NS_C2"
dpdk_veth "$NS_S2" "rS$$" "$NS_R" "rs$$"
dpdk_veth "$NS_R" "rc$$" "$NS_C2" "rC$$"
ip -n "$NS_R" addr add 10.99.0.254/24 dev "rs$$"
ip -n "$NS_R" addr add 10.98.0.254/24 dev "rc$$"
ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$NS_R" tc qdisc add dev "rc$$" root tbf rate 50mbit burst 32k latency 50ms
ip -n "$NS_C2" addr add "$CLIENT2/24" dev "rC$$"
ip -n "$NS_C2" route add default via 10.98.0.254
dpdk_tracker "drt$$" "$NS_C2" "$SEED" "$DPDK_IH_V1"
for pmd in $ROUTER_PMDS; do
	dpdk_start "$NS_S2" "$pmd" "rS$$" "$SEED" --store "$S" --ip "$SEED/24" --gateway 10.99.0.254
	dpdk_suite "50mbit/$pmd" "$NS_C2" "$SEED" "$TREE"
	echo "(c) tbf: $(ip netns exec "$NS_R" tc -s qdisc show dev "rc$$" | tr -s ' \n' ' ')"
	dpdk_stats "50mbit/$pmd"
	dpdk_stop "50mbit/$pmd" $((3 * DPDK_TOTAL)) "$DPDK_TOTAL"
done

dpdk_figures
echo "PASS: test_dpdk_loss"
