#!/usr/bin/env bash
# User story: players behind home routers reach the seed over uTP only
# (their TCP to the peer-wire port blocked), some of them on a lossy line;
# two independent uTP implementations download correctly:
#  - a network namespace with a veth pair (198.18.0.1 on the host side,
#    where the seed and a real opentracker listen; 198.18.0.2 inside, where
#    the clients run), and nftables inside the namespace dropping every TCP
#    packet to the seed's peer-wire port, so only uTP can carry BitTorrent;
#  (a) Transmission 3.00 (its own uTP, from libutp; it learns the seed from
#      the tracker) downloads the v1 release, and python3-libtorrent with
#      TCP off downloads the hybrid one;
#  (b) both again with nftables also dropping 2 % of the UDP datagrams at
#      random in each direction, on the way in (a drop on the way out is an
#      EPERM to the sender, which libtorrent takes for a dead socket, not
#      loss): inside the namespace for the seed's datagrams, on the host for
#      the ones arriving through this test's veth. This kernel has no netem;
#      delay is the simulator's business (tests/unit/dataplane/test_utp.c).
#      The drop rules' own counters must show datagrams dropped, and the
#      data plane must have retransmitted;
#  (c) every file byte-exact, uTP connections counted, no verification or
#      storage error, a clean stop.
# Needs root (ip netns, nft). Timings are printed, never asserted.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
require_cmds ip nft opentracker transmission-cli curl
skip_unless_root "needs root for ip netns and nft"
HT=bsutp$$ # the host's table: rules on this test's veth only
remove_table() { nft delete table inet "$HT" 2>/dev/null || true; }
it_on_exit remove_table
netns_peer utp
OT_PORT=6969

TREE=$T/src/game
S=$T/store
# small: Transmission 3.00 takes about 18 s for these 4 MB over uTP here
# (a libtorrent seed: 25 s; libtorrent takes them in under a second)
gen_tree "$TREE" big.bin $((3 * MiB + 999)) data/pak0.pak $((MiB - 3)) one.bin 1 "docs/read me.txt" 4321
total=$(find "$TREE" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
TRACKER=http://$HOST:$OT_PORT/announce
sc_ok "$T/v1.json" "$T/v1.err" release create --store "$S" --tenant acme --name game --version v1 \
	--v1-only --tracker "$TRACKER" --json "$TREE"
sc_ok "$T/hy.json" "$T/hy.err" release create --store "$S" --tenant acme --name game --version hybrid \
	--json "$TREE"
IH_V1=$(json_get "$T/v1.json" infohash_v1)
TOR_V1=$(json_get "$T/v1.json" torrent)
TOR_HY=$(json_get "$T/hy.json" torrent)
[[ $IH_V1 =~ ^[0-9a-f]{40}$ ]] || fail "expected a 40-hex v1 info-hash from create --json, saw '$IH_V1'"

note "opentracker on $HOST:$OT_PORT"
ot_start "$HOST" "$OT_PORT" "$IH_V1"

note "starting seed-dataplane on $HOST"
DP_BT_HOST=$HOST DP_HTTP_HOST=$HOST dp_start "$T" --store "$S" --bt-listen "$HOST:0" \
	--http-listen "$HOST:0" --workers 2 --cache-size 64M
P=$DP_BT_PORT

ot_announce "$TRACKER" "$IH_V1" "$P" "$HOST"

note "nftables in $NS: TCP to $HOST:$P dropped"
nft_ns() { ip netns exec "$NS" nft "$@"; }
nft_ns add table inet bsutp
nft_ns add chain inet bsutp out '{ type filter hook output priority 0; policy accept; }'
nft_ns add chain inet bsutp in '{ type filter hook input priority 0; policy accept; }'
nft_ns add rule inet bsutp out ip daddr "$HOST" tcp dport "$P" counter drop

transmission_get() { # LABEL: Transmission (uTP on) downloads the v1 torrent into $T/tr-LABEL
	tr_fetch "$NS" "$T/tr-$1" "$TOR_V1" true "the v1 torrent over uTP ($1; TCP to the seed blocked)"
	echo "transmission-cli ($1): $total bytes in $TR_MS ms"
	tr_sums_cmp "$TREE" "$T/tr-$1/dl/game" "transmission-cli ($1)"
}

libtorrent_get() { # LABEL: libtorrent, TCP off, downloads the hybrid torrent into $T/lt-LABEL
	local d=$T/lt-$1 rc=0
	mkdir -p "$d"
	ip netns exec "$NS" "$PY" "$SRCDIR/dp_download.py" --peer "$HOST:$P" --listen "$PEER:0" \
		--transport utp --timeout 180 --job "$d" "$TOR_HY" --check-had "$(dirname "$TREE")" || rc=$?
	((rc == 0)) || fail "libtorrent ($1): download of the hybrid over uTP from $HOST:$P failed (see above)"
	tree_sums_cmp "$TREE" "$d/game" "libtorrent over uTP ($1)"
}

note "(a) uTP only: Transmission (v1, through the tracker) and libtorrent (hybrid)"
transmission_get clean
libtorrent_get clean

note "(b) and 2 % of the UDP datagrams dropped each way"
nft_ns add rule inet bsutp in ip saddr "$HOST" udp sport "$P" numgen random mod 100 '<' 2 counter drop
nft add table inet "$HT"
nft add chain inet "$HT" in '{ type filter hook input priority 0; policy accept; }'
nft add rule inet "$HT" in iifname "$VH" udp dport "$P" numgen random mod 100 '<' 2 counter drop
transmission_get lossy
libtorrent_get lossy
# what the loss rules dropped: "... counter packets N bytes M drop"
drop_count() { sed -nE 's/.*udp.*counter packets ([0-9]+) bytes.*/\1/p' | head -1; }
to_seed=$(nft list table inet "$HT" | drop_count)
from_seed=$(nft_ns list table inet bsutp | drop_count)
echo "datagrams dropped by nftables: to the seed ${to_seed:-?}, from the seed ${from_seed:-?}"
((${to_seed:-0} > 0 && ${from_seed:-0} > 0)) ||
	fail "expected both loss rules to have dropped datagrams, their counters say: to the seed '$to_seed', from the seed '$from_seed'"

# ------------------------------------------------------------------ (c) seed
dp_stop
echo "$DP_STOPPED"
dp_expect_counter verify_failures 0
dp_expect_counter storage_errors 0
acc=$(dp_counter utp_conns_accepted) ub=$(dp_counter utp_payload_bytes) rt=$(dp_counter utp_retransmits)
((acc >= 4)) || fail "stopped line: expected utp_conns_accepted >= 4 (four downloads over uTP), saw '$acc'"
((ub >= 4 * total)) || fail "stopped line: expected utp_payload_bytes >= $((4 * total)) (four whole downloads over uTP), saw '$ub'"
((rt > 0)) || fail "stopped line: expected utp_retransmits > 0 after datagrams were dropped, saw '$rt'"
echo "PASS: test_dataplane_utp_loss"
