#!/usr/bin/env bash
# User story: a player's launcher is libtorrent-based, so it dials uTP
# (BEP 29) first; the seed answers uTP on the peer-wire port and the player
# gets the build as fast as over TCP:
#  (a) python3-libtorrent with TCP off both ways downloads the v1, v2 and
#      hybrid releases, and the hybrid from its magnet link, over uTP only,
#      byte-exact (every piece libtorrent reports as had is compared with
#      the source);
#  (b) a default python3-libtorrent session (uTP and TCP on, uTP dialled
#      first) gets its first payload byte from seed-dataplane within 0.2 s
#      of what it gets from a python3-libtorrent seed (uTP on) of the same
#      torrent in the same test (before uTP: about 4 s later, the client's
#      uTP connect timeout);
#  (c) the data plane's counters: uTP connections were accepted, no
#      verification or storage error, a clean stop on SIGTERM.
# Timings are printed; (b)'s comparison is the one bound asserted (the
# issue's acceptance line), with the seed's figure from the same run.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane

TREE=$T/src/game
S=$T/store
note "generating the build tree"
gen_tree "$TREE" big.bin $((12 * MiB + 4321)) data/a.pak $((3 * MiB - 1)) data/b.pak 70000 one.bin 1 \
	empty.bin 0
tree_sums "$TREE" >"$T/tree.before"

declare -A ID TORRENT
create_kinds "$S" "$TREE" v1 v2 hybrid
MAGNET=$(json_get "$T/create-hybrid.json" magnet)
[[ $MAGNET == magnet:\?* ]] || fail "hybrid: expected a magnet link in create --json, saw '$MAGNET'"

note "starting seed-dataplane (uTP on by default)"
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2 --cache-size 64M
ss -uln 2>/dev/null | grep -q "127.0.0.1:$DP_BT_PORT " ||
	fail "expected a UDP socket on the peer-wire port 127.0.0.1:$DP_BT_PORT (uTP), ss -uln shows: $(ss -uln | tr '\n' ' ')"
grep -q '^utp  *on the bittorrent ports, 512 connections per worker$' "$DP_OUT" ||
	fail "expected seed-dataplane to say uTP is on (512 connections per worker by default), its stdout: $(cat "$DP_OUT")"

# ------------------------------------------------------------ (a) uTP only
lt_get() { # LABEL SOURCE TRANSPORT: download into $T/lt/LABEL, compare the tree
	local label=$1 src=$2 tr=$3 rc=0
	mkdir -p "$T/lt/$label"
	"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 120 --transport "$tr" \
		--report "$T/lt/$label.json" --job "$T/lt/$label" "$src" --check-had "$(dirname "$TREE")" || rc=$?
	((rc == 0)) || fail "libtorrent $label over $tr: download of $src from 127.0.0.1:$DP_BT_PORT failed (see above)"
	tree_sums_cmp "$TREE" "$T/lt/$label/game" "libtorrent $label over $tr"
}
note "(a) libtorrent, TCP off: v1, v2, hybrid, hybrid by magnet over uTP"
for kind in v1 v2 hybrid; do
	lt_get "utp-$kind" "${TORRENT[$kind]}" utp
done
lt_get utp-magnet "$MAGNET" utp

# ------------------------------------------------- (b) first byte, default client
note "(b) a default libtorrent client: first byte from seed-dataplane and from a libtorrent seed"
lt_seed_start "${TORRENT[v1]}" "$(dirname "$TREE")" --utp

first_byte() { # PEER_PORT LABEL: seconds to the first payload byte of the v1 torrent
	local port=$1 label=$2 rc=0
	mkdir -p "$T/fb/$label"
	"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$port" --timeout 60 --transport both \
		--report "$T/fb/$label.json" --job "$T/fb/$label" "${TORRENT[v1]}" >/dev/null || rc=$?
	((rc == 0)) || fail "libtorrent (default transports) from 127.0.0.1:$port ($label): download failed (see above)"
	"$PY" -c 'import json, sys; r = json.load(open(sys.argv[1]))[0]; print(r["first_byte"])' "$T/fb/$label.json"
}
ours=() theirs=()
for round in 1 2; do
	ours+=("$(first_byte "$DP_BT_PORT" "ours$round")")
	theirs+=("$(first_byte "$LT_PORT" "lt$round")")
done
echo "first byte, default libtorrent client: seed-dataplane ${ours[*]} s, libtorrent seed ${theirs[*]} s"
# the better of two rounds each: one scheduling hiccup on a shared CI
# machine is not what the bound is about
best() { printf '%s\n' "$@" | sort -g | head -1; }
o=$(best "${ours[@]}") l=$(best "${theirs[@]}")
awk -v o="$o" -v l="$l" 'BEGIN { exit !(o != "None" && l != "None" && o <= l + 0.2) }' ||
	fail "expected seed-dataplane's first byte (${ours[*]} s) within 0.2 s of the libtorrent seed's (${theirs[*]} s)"
kill -TERM "$LT_PID"
wait_pids 15 "lt_seed.py after SIGTERM" "$LT_PID"

# --------------------------------------------------------------- (c) the end
note "stopping seed-dataplane"
dp_stop 30
echo "$DP_STOPPED (stopped in ${DP_STOP_MS}ms)"
dp_expect_counter verify_failures 0
dp_expect_counter storage_errors 0
total=$(find "$TREE" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
acc=$(dp_counter utp_conns_accepted) ub=$(dp_counter utp_payload_bytes)
# (a)'s four downloads at least; (b)'s two default clients may take either
((acc >= 4)) || fail "stopped line: expected utp_conns_accepted >= 4 (one per uTP-only download), saw '$acc'"
((ub >= 4 * total)) || fail "stopped line: expected utp_payload_bytes >= $((4 * total)) (four whole builds over uTP), saw '$ub'"
tree_sums "$TREE" >"$T/tree.after"
cmp -s "$T/tree.before" "$T/tree.after" || fail "expected the source tree unchanged, it changed"
echo "PASS: test_dataplane_utp"
