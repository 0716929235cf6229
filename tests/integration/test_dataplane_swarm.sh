#!/usr/bin/env bash
# User story: peers that learn the seed only from a tracker download a release
# from it. Transmission 3.00 and aria2 1.36 cannot be handed a peer address
# (shared/reference/clients.md), so this test builds what a small swarm needs:
#  - a network namespace with a veth pair (198.18.0.1 on the host side, where
#    the seed and a real opentracker listen; 198.18.0.2 inside, where the
#    clients run): Transmission never contacts a seed on 127.0.0.x;
#  - opentracker with a whitelist of the torrents' v1 info-hashes;
#  - the seed's announce, made from the seed's address (seed-control does this
#    in production; here curl announces for it, so this test covers only the
#    data plane).
# Then:
#  (a) transmission-cli downloads the v1-only torrent (Transmission cannot
#      parse hybrid or v2 torrents);
#  (b) aria2c downloads the hybrid release over BitTorrent through the hybrid's
#      v1 companion torrent: aria2 computes a wrong v1 info-hash for hybrid
#      torrents, so the companion (same files, same bytes) is the nearest thing
#      it can join;
#  (c) every downloaded file's sha256 equals the source's (Transmission does
#      not create empty files: those may be missing from its tree only);
#  (d) the seed served at least the whole payload to each, and stopped with
#      verify_failures=0. Both clients run with their default encryption
#      settings and dial with MSE: Transmission's "prefer encryption" offers
#      RC4 only, aria2 offers plaintext too; so the seed must have answered
#      at least one MSE handshake with RC4 (Transmission's whole download
#      then goes RC4-encrypted) and refused none (closes_encryption=0).
# Needs root (ip netns). Timings are printed, never asserted.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
require_cmds ip opentracker transmission-cli aria2c curl
skip_unless_root "needs root for ip netns"
netns_peer swarm
OT_PORT=6969

TREE=$T/src/game
S=$T/store
gen_file "$TREE/big/thirty.bin" $((30 * MiB + 999))
gen_file "$TREE/data/pak0.pak" $((20 * MiB - 3))
gen_file "$TREE/data/levels/l1.bin" $((14 * MiB + 12345))
gen_file "$TREE/docs/read me.txt" 4321
gen_file "$TREE/one.bin" 1
gen_file "$TREE/empty.bin" 0
total=$(find "$TREE" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
((total >= 64 * MiB)) || fail "expected the generated tree to hold >= 64 MiB, it holds $total bytes"

TRACKER=http://$HOST:$OT_PORT/announce
sc_ok "$T/v1.json" "$T/v1.err" release create --store "$S" --tenant acme --name game --version v1 \
	--v1-only --tracker "$TRACKER" --json "$TREE"
# The hybrid is the next version of the build (one file more): a torrent of
# the very same tree would have the same v1 info-hash as the v1-only one.
TREE2=$T/src2/game
mkdir -p "$T/src2"
cp -a "$TREE" "$TREE2"
gen_file "$TREE2/data/patch-1.bin" $((3 * MiB + 5))
total2=$(find "$TREE2" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
sc_ok "$T/hy.json" "$T/hy.err" release create --store "$S" --tenant acme --name game --version hybrid \
	--also-v1 --tracker "$TRACKER" --json "$TREE2"
IH_V1=$(json_get "$T/v1.json" infohash_v1)
TOR_V1=$(json_get "$T/v1.json" torrent)
IH_COMP=$(json_get "$T/hy.json" torrent_v1_infohash)
TOR_COMP=$(json_get "$T/hy.json" torrent_v1)
[[ $IH_V1 =~ ^[0-9a-f]{40}$ && $IH_COMP =~ ^[0-9a-f]{40}$ ]] ||
	fail "expected 40-hex v1 info-hashes from create --json, saw '$IH_V1' and '$IH_COMP'"
[[ $IH_V1 != "$IH_COMP" ]] || fail "expected the v1 release and the hybrid's companion to have different info-hashes"

note "opentracker on $HOST:$OT_PORT"
ot_start "$HOST" "$OT_PORT" "$IH_V1" "$IH_COMP"

note "starting seed-dataplane on $HOST"
DP_BT_HOST=$HOST DP_HTTP_HOST=$HOST dp_start "$T" --store "$S" --bt-listen "$HOST:0" \
	--http-listen "$HOST:0" --workers 2 --cache-size 64M

ot_announce "$TRACKER" "$IH_V1" "$DP_BT_PORT" "$HOST"
ot_announce "$TRACKER" "$IH_COMP" "$DP_BT_PORT" "$HOST"

# ------------------------------------------------------------ (a) Transmission
note "(a) transmission-cli in $NS downloads the v1 torrent"
tr_fetch "$NS" "$T/tr" "$TOR_V1" false "the v1 torrent from the seed found through opentracker"
echo "transmission-cli: $total bytes in $TR_MS ms"
tr_sums_cmp "$TREE" "$T/tr/dl/game" transmission-cli

# ------------------------------------------------------------------ (b) aria2
note "(b) aria2c in $NS downloads the hybrid release through its v1 companion torrent"
mkdir -p "$T/ar"
t0=$(date +%s%N)
ip netns exec "$NS" timeout --kill-after=5 240 aria2c --seed-time=0 --enable-dht=false \
	--enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false \
	--bt-require-crypto=false --file-allocation=none --summary-interval=0 \
	--console-log-level=warn --dir "$T/ar" "$TOR_COMP" >"$T/ar.log" 2>&1 ||
	{
		tail -30 "$T/ar.log" >&2
		fail "aria2c: expected exit 0 after downloading the companion torrent from the seed found through opentracker (log above)"
	}
t1=$(date +%s%N)
echo "aria2c: $total2 bytes in $(((t1 - t0) / 1000000)) ms"
# aria2 writes pad files out too (./.pad/N): leave them out.
(cd "$TREE2" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$T/want.ar"
(cd "$T/ar/game" && find . -path ./.pad -prune -o -type f -print0 | sort -z | xargs -0 sha256sum) >"$T/got.ar"
cmp -s "$T/want.ar" "$T/got.ar" || {
	diff "$T/want.ar" "$T/got.ar" | head >&2
	fail "aria2c over BitTorrent: expected every file of the build with the source's sha256, they differ (< want, > got)"
}

# ------------------------------------------------------------------ (d) seed
dp_stop
echo "$DP_STOPPED"
dp_expect_counter verify_failures 0
served=$(dp_counter payload_bytes_bt)
[[ -n $served ]] || fail "seed-dataplane stopped line: expected a payload_bytes_bt=N counter: $DP_STOPPED"
((served >= total + total2)) || fail "seed-dataplane: expected at least $((total + total2)) BitTorrent payload bytes served (two whole downloads), it counts $served"
dp_expect_counter closes_encryption 0
rc4=$(dp_counter mse_rc4)
[[ -n $rc4 ]] && ((rc4 >= 1)) || fail "seed-dataplane: expected Transmission's default (RC4-only MSE) to be answered with RC4 at least once (mse_rc4 >= 1), saw '$rc4': $DP_STOPPED"
echo "PASS: transmission-cli and aria2c downloaded from the seed found through opentracker"
