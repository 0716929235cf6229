#!/usr/bin/env bash
# User story: an operator caps a tenant's bandwidth and peer count.
#  (a) tenant "capped" has bandwidth = "20MB/s": one HTTP client and one
#      libtorrent peer downloading its release together for 10 s get 18-22
#      MB/s between them (the cap is the tenant's, over all workers), while a
#      client of the uncapped tenant "free" is not slowed to it;
#  (b) tenant "few" has max_peers = 1: while one connection downloads, a
#      second is refused (counted as max_peers); once the first is gone, a new
#      one is served;
#  (c) `seedctl tenant set` (API) lifts the cap: the next 10 s go faster than
#      22 MB/s.
# Rates are measured (bytes / seconds, printed); the assertion is the cap's
# band, which the token bucket holds independent of this machine's speed.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane control

S=$T/store
RUN=$T/run
mkdir -p "$RUN" "$T/capped/game" "$T/free/game" "$T/few/game"
gen_file "$T/capped/game/big.bin" $((320 * MiB))
gen_file "$T/free/game/big.bin" $((160 * MiB + 3))
gen_file "$T/few/game/big.bin" $((64 * MiB + 5))
for t in capped free few; do
	sc_ok "$T/c-$t.json" "$T/c-$t.err" release create --store "$S" --tenant "$t" --name game \
		--version 1 --json "$T/$t/game"
done
PORT=$(free_port)
ctl_config "$T/seed.conf" "$S" "$RUN" "$PORT" '{ id = "capped"; name = "Capped"; bandwidth = "20MB/s"; },
  { id = "free"; name = "Free"; },
  { id = "few"; name = "Few"; max_peers = 1; }'
ctl_start "$T" "$T/seed.conf"
for t in capped free few; do
	api_ok POST "/api/v1/releases/$t.game.1/publish"
done
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2 \
	--cache-size 128M --catalog "$RUN/catalog" --stats-file "$RUN/dataplane.stats"
for ((i = 0; i < 50; i++)); do
	[[ $(http_code "$DP_URL/free.game.1/game/big.bin" -r 0-0) == 206 ]] && break
	sleep 0.1
done

# rate_of FILE: bytes/s (integer) from curl's -w output "SIZE TIME".
rate_of() {
	awk '{ printf "%d", $1 / $2 }' "$1"
}

# ------------------------------------------------------------ (a) the cap
note "(a) 10 s of the capped tenant (one HTTP client + one libtorrent peer) beside an uncapped one"
TOR=$(json_get "$T/c-capped.json" torrent)
mkdir -p "$T/lt"
"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 12 --allow-incomplete --settle 11 \
	--job "$T/lt" "$TOR" >"$T/lt.log" 2>&1 &
LT_PID=$!
dp_track "$LT_PID"
before=$(curl -sS --max-time 10 "$CTL_URL/metrics" | sed -nE 's/^seed_bytes_served_total\{tenant="capped",release="capped.game.1",protocol="(bt|http)"\} ([0-9]+)$/\2/p' | awk '{ s += $1 } END { print s + 0 }')
t0=$(date +%s%N)
curl -s -o /dev/null --max-time 10 -w '%{size_download} %{time_total}\n' \
	"$DP_URL/capped.game.1/game/big.bin" >"$T/capped.rate" 2>/dev/null &
CAP_PID=$!
curl -s -o /dev/null --max-time 10 -w '%{size_download} %{time_total}\n' \
	"$DP_URL/free.game.1/game/big.bin" >"$T/free.rate" 2>/dev/null &
FREE_PID=$!
dp_track "$CAP_PID" "$FREE_PID"
wait "$CAP_PID" || true
wait "$FREE_PID" || true
sleep 0.5
t1=$(date +%s%N)
after=$(curl -sS --max-time 10 "$CTL_URL/metrics" | sed -nE 's/^seed_bytes_served_total\{tenant="capped",release="capped.game.1",protocol="(bt|http)"\} ([0-9]+)$/\2/p' | awk '{ s += $1 } END { print s + 0 }')
kill -TERM "$LT_PID" 2>/dev/null || true
wait "$LT_PID" 2>/dev/null || true
secs_ms=$(((t1 - t0) / 1000000))
# The tenant's bytes over the window, from the data plane's own counters:
# both clients together (libtorrent ran through it all).
tenant_rate=$(((after - before) * 1000 / secs_ms))
http_rate=$(rate_of "$T/capped.rate")
free_rate=$(rate_of "$T/free.rate")
echo "capped tenant: $((after - before)) bytes in ${secs_ms} ms = $tenant_rate B/s (HTTP client alone $http_rate B/s); uncapped: $free_rate B/s"
# libtorrent runs through the whole window between the two scrapes, so the
# tenant's rate is its bytes over that measured window.
((secs_ms >= 10000)) || fail "expected the measuring window to last >= 10 s, it lasted $secs_ms ms"
((tenant_rate >= 18000000 && tenant_rate <= 22000000)) || fail "capped tenant at 20 MB/s: expected 18-22 MB/s over ${secs_ms} ms, served $((after - before)) bytes ($tenant_rate B/s)"
((free_rate > 22000000)) || fail "uncapped tenant beside the capped one: expected more than 22 MB/s, saw $free_rate B/s"

# ------------------------------------------------------------ (b) max peers
note "(b) max_peers = 1"
timeout --kill-after=5 60 curl -sS --limit-rate 4M -o "$T/few1.bin" "$DP_URL/few.game.1/game/big.bin" 2>"$T/few1.err" &
F1=$!
dp_track "$F1"
sleep 1
code=$(http_code "$DP_URL/few.game.1/game/big.bin")
[[ $code == 404 ]] || fail "a second connection to tenant few (max_peers 1): expected it refused (404), saw $code"
sleep 0.5
api_ok GET /api/v1/peers
[[ $(jq_py '[t["peers"] for t in d["tenants"] if t["id"] == "few"][0]') == 1 ]] ||
	fail "GET /api/v1/peers: expected tenant few to count 1 peer while its one client downloads, saw $(cat "$API_OUT")"
curl -sS --max-time 10 -o "$T/metrics-few.txt" "$CTL_URL/metrics" || fail "GET /metrics failed"
grep -q '^seed_tenant_peers{tenant="few"} 1$' "$T/metrics-few.txt" ||
	fail "/metrics: expected seed_tenant_peers{tenant=\"few\"} 1 while its one client downloads, saw: $(grep seed_tenant_peers "$T/metrics-few.txt")"
wait_pids 40 "first client of tenant few" "$F1"
((WAIT_RCS[$F1] == 0)) || fail "first client of tenant few: expected exit 0, saw ${WAIT_RCS[$F1]}"
cmp -s "$T/few1.bin" "$T/few/game/big.bin" || fail "first client of tenant few: expected the source bytes"
http_get "$DP_URL/few.game.1/game/big.bin" "$T/few2.bin" "$T/few2.h"
[[ $HTTP_CODE == 200 ]] || fail "tenant few after its one peer left: expected 200, saw $HTTP_CODE"
curl -sS --max-time 10 "$CTL_URL/metrics" >"$T/m.txt"
mp=$(sed -nE 's/^seed_refusals_total\{reason="max_peers"\} ([0-9]+)$/\1/p' "$T/m.txt")
((mp >= 1)) || fail "/metrics: expected seed_refusals_total{reason=\"max_peers\"} >= 1, saw '$mp'"

# ------------------------------------------------------------ (c) lift the cap
note "(c) the cap lifted through the API"
api_ok PATCH /api/v1/tenants/capped '{"bandwidth": 0}'
[[ $(jq_py 'd["bandwidth_bps"]') == 0 && $(jq_py 'd["source"]') == api ]] ||
	fail "PATCH /api/v1/tenants/capped bandwidth 0: expected bandwidth_bps 0 from the api, saw $(cat "$API_OUT")"
sleep 1
curl -s -o /dev/null --max-time 10 -w '%{size_download} %{time_total}\n' \
	"$DP_URL/capped.game.1/game/big.bin" >"$T/lifted.rate" 2>/dev/null || true
lifted=$(rate_of "$T/lifted.rate")
echo "capped tenant after the cap was lifted: $lifted B/s"
((lifted > 22000000)) || fail "after lifting the cap: expected more than 22 MB/s, saw $lifted B/s"

dp_stop 30
dp_expect_counter verify_failures 0
ctl_stop
echo "PASS: test_control_limits"
