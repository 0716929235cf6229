#!/usr/bin/env bash
# User story: an operator who gets the dpdk backend's settings wrong learns
# which one at once: seed-dataplane exits 2 with exactly one line on stderr,
# "seed-dataplane: ..." naming the setting (what the EAL said while failing
# is folded into it, not printed line by line), and nothing on stdout:
#  - an EAL that cannot start: no hugepages and no --no-huge (when the
#    machine has none free), or a --vdev on an interface that does not exist;
#  - --backend dpdk without --ip;
#  - --ip without a /PREFIX;
#  - an address already in use: BitTorrent and HTTP on the same port.
# Each runs in a fresh network namespace with a veth end the vdev may use.
# Needs root (namespaces, the PMDs).
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
skip_unless_root "needs root for network namespaces and the DPDK PMDs"
require_cmds ip ethtool

NS=dpb$$
NS2=dpbc$$
IF=vB$$
mkdir -p "$T/store"
dpdk_ns "$NS" "$NS2"
dpdk_veth "$NS" "$IF" "$NS2" "vb$$"

# refused WHAT SETTING ARGS...: seed-dataplane ARGS in NS must exit 2 within
# 60 s, print nothing on stdout and exactly one line on stderr, starting
# "seed-dataplane: " and naming SETTING (a fixed string).
N=0
refused() {
	local what=$1 setting=$2 rc=0
	shift 2
	N=$((N + 1))
	DPDK_PREFIXES+=("seedbad$$-$N")
	timeout --kill-after=5 60 ip netns exec "$NS" "$SEED_DATAPLANE" --allow-root yes --store "$T/store" --workers 1 \
		--cache-size 64M "$@" >"$T/out" 2>"$T/err" || rc=$?
	if ((rc != 2)); then
		cat "$T/err" >&2
		fail "$what: expected exit 2, saw $(describe_rc "$rc") (stderr above)"
	fi
	[[ ! -s $T/out ]] || fail "$what: expected nothing on stdout, saw: $(head -c 500 "$T/out")"
	one_line_stderr "$T/err" "$what"
	grep -q '^seed-dataplane: ' "$T/err" ||
		fail "$what: expected the error line to start with 'seed-dataplane: ', saw: $(cat "$T/err")"
	grep -qF -- "$setting" "$T/err" || fail "$what: expected the error line to name $setting, saw: $(cat "$T/err")"
	echo "$what: exit 2: $(cat "$T/err")"
}

vdev="--no-pci --vdev net_af_packet0,iface=$IF"
common=(--backend dpdk --bt-listen '*:6881' --http-listen '*:8080')

hp=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
if ((${hp:-0} == 0)); then
	refused "no hugepages, no --no-huge" --dpdk-args "${common[@]}" --ip 10.99.0.1/24 \
		--dpdk-args "--file-prefix seedbad$$-$((N + 1)) $vdev"
else
	echo "(this machine has $hp free hugepages: the EAL starts without --no-huge; case left out)"
fi
refused "--vdev on an interface that does not exist" --dpdk-args "${common[@]}" --ip 10.99.0.1/24 \
	--dpdk-args "--no-huge -m 512 --no-pci --file-prefix seedbad$$-$((N + 1)) --vdev net_af_packet0,iface=nosuch$$"
refused "--backend dpdk without --ip" --ip "${common[@]}" \
	--dpdk-args "--no-huge -m 512 --file-prefix seedbad$$-$((N + 1)) $vdev"
refused "--ip without a prefix" --ip "${common[@]}" --ip 10.99.0.1 \
	--dpdk-args "--no-huge -m 512 --file-prefix seedbad$$-$((N + 1)) $vdev"
refused "two listeners on one port" --http-listen --backend dpdk --bt-listen '*:6881' --http-listen '*:6881' \
	--ip 10.99.0.1/24 --dpdk-args "--no-huge -m 512 --file-prefix seedbad$$-$((N + 1)) $vdev"
echo "PASS: test_dpdk_bad_input"
