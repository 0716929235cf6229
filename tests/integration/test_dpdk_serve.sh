#!/usr/bin/env bash
# User story: an operator runs seed-dataplane with --backend dpdk: it owns a
# NIC's queues and speaks TCP/IP with its own userspace stack. Real clients,
# with the kernel's TCP, get exactly the bytes of a >= 64 MiB build from it.
# Two network namespaces joined by a veth pair: the data plane in one (its
# address 10.99.0.1/24 belongs to our stack; the kernel there has none), the
# clients in the other (10.99.0.2/24); a third namespace holds the tracker
# aria2 needs (dpdk_tracker in lib.sh). Through DPDK's net_af_xdp PMD, then
# net_af_packet (DPDK_SERVE_PMDS, default "af_xdp af_packet", names them),
# --no-huge when no hugepages are free; each run:
#  - ping gets replies;
#  - curl range requests return the bytes dd reads (206, Content-Range), a
#    range past the end 416;
#  - aria2c over HTTP downloads every file of the hybrid release;
#  - aria2c over BitTorrent downloads the v1 torrent, the seed found through
#    opentracker (aria2 cannot join a hybrid swarm and has no v2);
#  - python3-libtorrent downloads the hybrid and the v2 torrent at once;
#  - every file's sha256 equals the source's;
#  - the data plane stops on SIGTERM with exit 0, verify_failures=0,
#    storage_errors=0, and counts at least the payload the clients received.
# Needs root (namespaces, XDP). Timings and throughput are printed, never
# asserted: on a veth these PMDs copy every frame, so this proves
# correctness, not speed.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
skip_unless_root "needs root for network namespaces and the DPDK PMDs"
require_cmds ip ethtool ping curl aria2c opentracker

NS_S=dps$$
NS_C=dpc$$
NS_T=dpt$$
SEED=10.99.0.1
CLIENT=10.99.0.2
IF_S=vS$$
IF_C=vC$$

TREE=$T/src/game
S=$T/store
declare -A ID TORRENT
note "generating the build and its v1, v2 and hybrid releases"
dpdk_release "$TREE" "$S" http://10.96.0.1:6969/announce
tree_sums "$TREE" >"$T/tree.before"

note "namespaces: $NS_S ($IF_S, no kernel address) <-> $NS_C ($IF_C $CLIENT/24); tracker $NS_T"
dpdk_ns "$NS_S" "$NS_C"
dpdk_veth "$NS_S" "$IF_S" "$NS_C" "$IF_C"
ip -n "$NS_C" addr add "$CLIENT/24" dev "$IF_C"
dpdk_tracker "$NS_T" "$NS_C" "$SEED" "$DPDK_IH_V1"

for pmd in ${DPDK_SERVE_PMDS:-af_xdp af_packet}; do
	note "$pmd: seed-dataplane --backend dpdk on $IF_S ($(dpdk_eal_mem))"
	t0=$(date +%s%N)
	dpdk_start "$NS_S" "$pmd" "$IF_S" "$SEED" --store "$S" --ip "$SEED/24"
	echo "$pmd: listening after $((($(date +%s%N) - t0) / 1000000)) ms: $(head -1 "$DP_OUT")"
	# an operator must see that uTP-first clients get no answer here
	grep -q '^utp  *off (this backend has no datagrams yet: TCP only)$' "$DP_OUT" ||
		fail "$pmd: expected seed-dataplane to say uTP is off on the dpdk backend, its stdout: $(cat "$DP_OUT")"
	dpdk_suite "$pmd" "$NS_C" "$SEED" "$TREE"
	dpdk_stats "$pmd"
	# aria2c BitTorrent + libtorrent hybrid and v2; aria2c HTTP
	dpdk_stop "$pmd" $((3 * DPDK_TOTAL)) "$DPDK_TOTAL"
	echo "$pmd: stopped in ${DP_STOP_MS} ms"
done

tree_sums "$TREE" >"$T/tree.after"
cmp -s "$T/tree.before" "$T/tree.after" || fail "expected the source tree unchanged, it changed"
dpdk_figures
echo "PASS: test_dpdk_serve"
