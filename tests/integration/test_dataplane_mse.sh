#!/usr/bin/env bash
# User story: real clients dial a seed with an encrypted (MSE/PE) handshake
# first: libtorrent by default, Transmission with RC4 only by default. The
# seed answers it, so no client loses a reconnect or, worse, the seed.
#  (a) default --mse 2: libtorrent with out_enc_policy forced (it never falls
#      back to a plain handshake) offering plaintext or RC4 downloads the
#      hybrid torrent (SKEY = v1 info-hash) and the v2 torrent (SKEY = v2
#      info-hash truncated): libtorrent says the connection was MSE with
#      plaintext selected. Offering RC4 only, it downloads the hybrid with
#      every byte RC4-encrypted both ways. libtorrent's default policy gets
#      MSE too (no reconnect). Every file's sha256 equals the source's.
#  (b) --mse 1: the RC4-only client gets nothing (closes_encryption counted
#      on the stopped line); one offering both still downloads.
#  (c) --mse 0: a forced-MSE client gets nothing; libtorrent's default falls
#      back to a plain handshake and downloads.
# Transmission's own default ("prefer encryption", RC4 only) is exercised by
# test_dataplane_swarm.sh, which needs a network namespace for it.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane

TREE=$T/src/game
S=$T/store
note "generating the build tree"
gen_tree "$TREE" big.bin $((20 * MiB + 4321)) data/small.bin $((3 * MiB - 7)) data/one.bin 1
# shellcheck disable=SC2034 # create_kinds fills ID too; only TORRENT is used
declare -A ID TORRENT
create_kinds "$S" "$TREE" hybrid v2

# lt_get LABEL TORRENT DP_DOWNLOAD_ARGS...: download into $T/lt/LABEL; it
# must complete with the source's bytes.
lt_get() {
	local label=$1 tor=$2 rc=0
	shift 2
	mkdir -p "$T/lt/$label"
	"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 120 \
		--job "$T/lt/$label" "$tor" --check-had "$(dirname "$TREE")" "$@" || rc=$?
	((rc == 0)) || fail "libtorrent $label ($*): download of $tor from 127.0.0.1:$DP_BT_PORT failed (see above)"
	tree_sums_cmp "$TREE" "$T/lt/$label/game" "libtorrent $label"
}

# lt_refused LABEL TORRENT DP_DOWNLOAD_ARGS...: the seed must not serve this
# client a single payload byte (it gives up after 8 s without a piece).
lt_refused() {
	local label=$1 tor=$2 rc=0 got
	shift 2
	mkdir -p "$T/lt/$label"
	"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 30 \
		--allow-incomplete --settle 8 --job "$T/lt/$label" "$tor" \
		--report "$T/lt/$label.json" "$@" || rc=$?
	((rc == 0)) || fail "libtorrent $label ($*): expected a clean run without data, dp_download failed (see above)"
	got=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["payload_download"])' \
		"$T/lt/$label.json")
	[[ $got == 0 ]] || fail "libtorrent $label ($*): expected the seed to refuse it (0 payload bytes), it received $got bytes"
}

# seed MSE [ARGS...]: a fresh data plane with --mse MSE.
seed() {
	local mse=$1
	shift
	dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2 \
		--cache-size 64M --mse "$mse" "$@"
}

# seed_stop WHAT PLAINTEXT RC4 ENCRYPTION_CLOSES: stop it; its counters of
# MSE handshakes (by method selected) and of connections closed for
# encryption must be as given: a number, or "+" for at least one.
seed_stop() {
	local what=$1 name want got
	shift
	dp_stop
	dp_expect_counter verify_failures 0
	for name in mse_plaintext mse_rc4 closes_encryption; do
		want=$1
		shift
		got=$(dp_counter "$name")
		[[ -n $got ]] || fail "$what: the stopped line has no $name counter: $DP_STOPPED"
		if [[ $want == + ]]; then
			((got >= 1)) || fail "$what: expected $name >= 1, saw $got ($DP_STOPPED)"
		else
			((got == want)) || fail "$what: expected $name = $want, saw $got ($DP_STOPPED)"
		fi
	done
}

FORCED=(--out-enc forced)

# ------------------------------------------------------------ (a) --mse 2
note "(a) default --mse: MSE selecting plaintext, and RC4 for an RC4-only client"
seed 2
t0=$(date +%s%N)
lt_get forced-both-hybrid "${TORRENT[hybrid]}" "${FORCED[@]}" --enc-level both
lt_get forced-plaintext-v2 "${TORRENT[v2]}" "${FORCED[@]}" --enc-level plaintext
t1=$(date +%s%N)
seed_stop "forced MSE offering plaintext" + 0 0
seed 2 --stats-file "$T/dp.stats"
t2=$(date +%s%N)
lt_get forced-rc4-hybrid "${TORRENT[hybrid]}" "${FORCED[@]}" --enc-level rc4
t3=$(date +%s%N)
# the live counters say the same as the stopped line will
sc_ok "$T/stats.json" "$T/stats.err" stats --file "$T/dp.stats" --json
got=$(json_get "$T/stats.json" mse_handshakes)
"$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["rc4"] >= 1 and d["plaintext"] == 0 else 1)' "$got" ||
	fail "seedctl stats --json: expected mse_handshakes with rc4 >= 1 and plaintext 0 after the RC4-only client, saw '$got'"
seed_stop "forced MSE offering RC4 only" 0 + 0
echo "MSE selecting plaintext: two downloads in $(((t1 - t0) / 1000000)) ms; RC4: one in $(((t3 - t2) / 1000000)) ms (information only)"
# no --mse: the default is 2
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 --cache-size 64M
lt_get default-policy "${TORRENT[hybrid]}"
seed_stop "libtorrent's default policy against the default seed" + 0 0

# ------------------------------------------------------------ (b) --mse 1
note "(b) --mse 1: plaintext only; an RC4-only client is refused"
seed 1
lt_refused mse1-rc4 "${TORRENT[hybrid]}" "${FORCED[@]}" --enc-level rc4
lt_get mse1-both "${TORRENT[hybrid]}" "${FORCED[@]}" --enc-level both
seed_stop "--mse 1" + 0 +

# ------------------------------------------------------------ (c) --mse 0
note "(c) --mse 0: encrypted handshakes refused, libtorrent falls back to plain"
seed 0
lt_refused mse0-forced "${TORRENT[hybrid]}" "${FORCED[@]}" --enc-level both
lt_get mse0-default "${TORRENT[hybrid]}"
seed_stop "--mse 0" 0 0 0

note "bad --mse values are refused"
rc=0
"$SEED_DATAPLANE" --store "$S" --bt-listen 127.0.0.1:0 --mse 3 >"$T/bad.out" 2>"$T/bad.err" || rc=$?
((rc == 2)) || fail "seed-dataplane --mse 3: expected exit 2, saw $(describe_rc "$rc")"
grep -q -- "--mse" "$T/bad.err" || fail "seed-dataplane --mse 3: expected the error to name --mse, saw '$(head -c 300 "$T/bad.err")'"
echo "PASS"
