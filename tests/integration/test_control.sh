#!/usr/bin/env bash
# User story: an operator runs seed-control beside seed-dataplane and decides
# what the box serves, without ever dropping a peer.
#  (a) --check-config: a good file says ok; a bad one exits 1 naming
#      file:line: key;
#  (b) a release created in the store is staged: HTTP 404 and a BitTorrent
#      handshake for it is refused, until it is published; then libtorrent and
#      curl get it;
#  (c) embargo: refused before its time, served after it with no action;
#  (d) during one download: another release is published, one paused, one
#      retired (each a new catalog generation), seed-control is restarted
#      and sent a bad reload; the download finishes with the right bytes;
#      the paused and retired releases are refused; the bad reload is refused
#      whole (the running config stays);
#  (e) a peer outside a tenant's CIDR allow-list is refused (counted);
#  (f) GET /metrics passes `promtool check metrics` and counts what happened,
#      a store scrub run meanwhile included;
#      /api/v1/status is JSON with the data plane running;
#  (g) seedctl over the API socket: tenant add and ls, release publish,
#      status, peers, top (two refreshes), then drain: the data plane stops
#      accepting, finishes and exits 0.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane control
require_cmds promtool

S=$T/store
RUN=$T/run
mkdir -p "$RUN"
for v in 1 2 3 4 5; do
	mkdir -p "$T/src$v/game"
	gen_file "$T/src$v/game/data.bin" $((3 * MiB + v))
done
gen_file "$T/src1/game/big.bin" $((48 * MiB + 7))
for v in 1 2 3 4; do
	sc_ok "$T/c$v.json" "$T/c$v.err" release create --store "$S" --tenant acme --name game \
		--version "$v" --json "$T/src$v/game"
done
sc_ok "$T/c5.json" "$T/c5.err" release create --store "$S" --tenant walled --name game \
	--version 5 --json "$T/src5/game"

PORT=$(free_port)
TENANTS='{ id = "acme"; name = "Acme Games"; allow = [ "127.0.0.0/8", "::1/128" ]; },
  { id = "walled"; name = "Walled Garden"; allow = [ "10.0.0.0/8" ]; }'
ctl_config "$T/seed.conf" "$S" "$RUN" "$PORT" "$TENANTS"

# ------------------------------------------------------------ (a) check
note "(a) --check-config"
"$SEED_CONTROL" --check-config "$T/seed.conf" >"$T/chk.out" 2>&1 || fail "seed-control --check-config on a good file: expected exit 0: $(cat "$T/chk.out")"
grep -q ': ok' "$T/chk.out" || fail "seed-control --check-config: expected 'ok', saw: $(cat "$T/chk.out")"
sed 's/name = "Walled Garden"; allow = \[ "10.0.0.0\/8" \]/name = "Walled"; bandwidth = "20 furlongs"/' "$T/seed.conf" >"$T/bad.conf"
rc=0
"$SEED_CONTROL" --check-config "$T/bad.conf" >"$T/bad.out" 2>&1 || rc=$?
((rc == 1)) || fail "seed-control --check-config on a bad rate: expected exit 1, saw $rc"
grep -qE "bad.conf:[0-9]+: tenants\.\[1\]\.bandwidth" "$T/bad.out" || fail "seed-control --check-config: expected the error to name bad.conf:LINE: tenants.[1].bandwidth, saw: $(cat "$T/bad.out")"
echo "bad config -> $(cat "$T/bad.out")"

ctl_start "$T" "$T/seed.conf"
DP_START_TIMEOUT=30 dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
	--workers 2 --cache-size 64M --catalog "$RUN/catalog" --stats-file "$RUN/dataplane.stats"

# ------------------------------------------------------------ (b) publish
note "(b) staged until published"
api_ok GET /api/v1/releases
[[ $(jq_py '[r["state"] for r in d["releases"] if r["id"] == "acme.game.1"][0]') == staged ]] ||
	fail "GET /api/v1/releases: expected acme.game.1 staged after create, saw: $(head -c 400 "$API_OUT")"
code=$(http_code "$DP_URL/acme.game.1/game/data.bin")
[[ $code == 404 ]] || fail "GET a staged release: expected 404, saw $code"
TOR1=$(json_get "$T/c1.json" torrent)
mkdir -p "$T/lt-staged"
rc=0
"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 8 --allow-incomplete --settle 4 \
	--job "$T/lt-staged" "$TOR1" >"$T/lt-staged.log" 2>&1 || rc=$?
grep -q 'complete' "$T/lt-staged.log" && fail "libtorrent: expected no data for a staged release, it completed"
for v in 1 2 3; do
	api_ok POST "/api/v1/releases/acme.game.$v/publish"
	[[ $(jq_py 'd["state"]') == live ]] || fail "publish acme.game.$v: expected state live, saw $(head -c 300 "$API_OUT")"
done
# the data plane polls the catalog every 200 ms
for ((i = 0; i < 50; i++)); do
	[[ $(http_code "$DP_URL/acme.game.1/game/data.bin") == 200 ]] && break
	sleep 0.1
done
http_get "$DP_URL/acme.game.1/game/data.bin" "$T/d1.bin" "$T/d1.h"
[[ $HTTP_CODE == 200 ]] || fail "GET a published release: expected 200 within 5 s, saw $HTTP_CODE"
cmp -s "$T/d1.bin" "$T/src1/game/data.bin" || fail "GET a published release: expected the source bytes"
mkdir -p "$T/lt1"
"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 120 --job "$T/lt1" "$TOR1" ||
	fail "libtorrent: expected to download the published acme.game.1"
tree_sums_cmp "$T/src1/game" "$T/lt1/game" "libtorrent after publish"

# ------------------------------------------------------------ (c) embargo
note "(c) embargo"
until=$(date -u -d '+5 seconds' +%Y-%m-%dT%H:%M:%SZ)
api_ok POST /api/v1/releases/acme.game.4/embargo "{\"until\": \"$until\"}"
[[ $(jq_py 'd["state"]') == embargoed && $(jq_py 'd["embargo_until"]') == "$until" ]] ||
	fail "embargo acme.game.4 until $until: expected state embargoed with that time, saw $(head -c 300 "$API_OUT")"
sleep 0.5
code=$(http_code "$DP_URL/acme.game.4/game/data.bin")
[[ $code == 404 ]] || fail "GET an embargoed release before $until: expected 404, saw $code"
for ((i = 0; i < 100; i++)); do
	[[ $(date -u +%s) -ge $(date -u -d "$until" +%s) ]] && break
	sleep 0.1
done
sleep 0.3
http_get "$DP_URL/acme.game.4/game/data.bin" "$T/d4.bin" "$T/d4.h"
[[ $HTTP_CODE == 200 ]] || fail "GET an embargoed release after $until: expected 200 with no further action, saw $HTTP_CODE"
cmp -s "$T/d4.bin" "$T/src4/game/data.bin" || fail "GET acme.game.4 after its embargo: expected the source bytes"

# ------------------------------------------------------------ (d) changes during a download
note "(d) a download goes on across publish, pause, retire, a restart and a bad reload"
timeout --kill-after=5 120 curl -sS --limit-rate 6M -o "$T/big.bin" "$DP_URL/acme.game.1/game/big.bin" 2>"$T/big.err" &
CURL_PID=$!
dp_track "$CURL_PID"
sleep 1
api_ok GET /api/v1/status
gen0=$(jq_py 'd["catalog_generation"]')
api_ok POST /api/v1/releases/acme.game.2/pause
api_ok POST /api/v1/releases/acme.game.3/retire
api POST /api/v1/releases/acme.game.3/publish
[[ $API_CODE == 409 ]] || fail "publish a retired release: expected 409 (retiring is final), saw $API_CODE $(head -c 200 "$API_OUT")"
api_ok GET /api/v1/status
gen1=$(jq_py 'd["catalog_generation"]')
((gen1 > gen0)) || fail "expected the catalog generation to grow with each change ($gen0 -> $gen1)"
note "restart seed-control"
ctl_stop
pid_running "$CURL_PID" || fail "curl: expected the download still running after seed-control stopped"
ctl_start "$T" "$T/seed.conf"
api_ok GET /api/v1/releases
[[ $(jq_py '[r["state"] for r in d["releases"] if r["id"] == "acme.game.2"][0]') == paused ]] ||
	fail "after a restart: expected acme.game.2 still paused (state file), saw $(head -c 400 "$API_OUT")"
note "bad reload (SIGHUP and the API)"
cp "$T/seed.conf" "$T/seed.conf.good"
cp "$T/bad.conf" "$T/seed.conf"
kill -HUP "$CTL_PID"
api POST /api/v1/reload
[[ $API_CODE == 400 ]] || fail "POST /api/v1/reload with a bad file: expected 400, saw $API_CODE"
grep -q 'tenants.\[1\].bandwidth' "$API_OUT" || fail "POST /api/v1/reload: expected the error to name tenants.[1].bandwidth, saw $(cat "$API_OUT")"
api_ok GET /api/v1/tenants
[[ $(jq_py '[t["name"] for t in d["tenants"] if t["id"] == "walled"][0]') == "Walled Garden" ]] ||
	fail "after a refused reload: expected the running config (tenant walled named 'Walled Garden'), saw $(head -c 400 "$API_OUT")"
cp "$T/seed.conf.good" "$T/seed.conf"
pid_running "$CURL_PID" || fail "curl: expected the download still running after restart and reloads"
wait_pids 90 "the download across changes" "$CURL_PID"
((WAIT_RCS[$CURL_PID] == 0)) || fail "curl of acme.game.1/big.bin across changes: expected exit 0, saw ${WAIT_RCS[$CURL_PID]}: $(cat "$T/big.err")"
cmp -s "$T/big.bin" "$T/src1/game/big.bin" || fail "the download across changes: expected the source bytes"
for id in acme.game.2 acme.game.3; do
	code=$(http_code "$DP_URL/$id/game/data.bin")
	[[ $code == 404 ]] || fail "GET $id (paused or retired): expected 404, saw $code"
done

# ------------------------------------------------------------ (e) CIDR
note "(e) allow-list"
api_ok POST /api/v1/releases/walled.game.5/publish
sleep 0.5
code=$(http_code "$DP_URL/walled.game.5/game/data.bin")
[[ $code == 404 ]] || fail "GET walled.game.5 from 127.0.0.1 (tenant allows 10.0.0.0/8 only): expected 404, saw $code"

# ------------------------------------------------------------ (f) metrics
note "(f) metrics and status"
# a scrub of the store while both run: its record shows in /metrics
sc_ok "$T/scrub.json" "$T/scrub.err" store scrub --store "$S" --now --json
sleep 1.2
curl -sS --max-time 10 "$CTL_URL/metrics" >"$T/metrics.txt"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 || fail "promtool check metrics: $(cat "$T/promtool.out")"
getm() { sed -nE "s/^$1 ([0-9.e+]+)\$/\\1/p" "$T/metrics.txt"; }
[[ $(getm seed_scrub_last_whole) == 1 ]] || fail "/metrics: expected seed_scrub_last_whole 1 after a clean scrub, saw '$(getm seed_scrub_last_whole)'"
objs=$(getm 'seed_scrub_last_found\{counter="objects"\}')
[[ $objs == "$(json_get "$T/scrub.json" objects)" && $objs -gt 0 ]] || fail "/metrics: expected seed_scrub_last_found{counter=\"objects\"} to be the scrub's $(json_get "$T/scrub.json" objects), saw '$objs'"
cidr=$(getm 'seed_refusals_total\{reason="cidr"\}')
((cidr >= 1)) || fail "/metrics: expected seed_refusals_total{reason=\"cidr\"} >= 1, saw '$cidr'"
notlive=$(getm 'seed_refusals_total\{reason="not_live"\}')
((notlive >= 3)) || fail "/metrics: expected seed_refusals_total{reason=\"not_live\"} >= 3 (staged, paused, retired), saw '$notlive'"
emb=$(getm 'seed_refusals_total\{reason="embargoed"\}')
((emb >= 1)) || fail "/metrics: expected seed_refusals_total{reason=\"embargoed\"} >= 1, saw '$emb'"
b1=$(getm 'seed_bytes_served_total\{tenant="acme",release="acme.game.1",protocol="http"\}')
((b1 >= 48 * MiB)) || fail "/metrics: expected >= 48 MiB served over HTTP for acme.game.1, saw '$b1'"
bt1=$(getm 'seed_bytes_served_total\{tenant="acme",release="acme.game.1",protocol="bt"\}')
((bt1 >= 3 * MiB)) || fail "/metrics: expected >= 3 MiB served over BitTorrent for acme.game.1, saw '$bt1'"
curl -sS --max-time 10 "$CTL_URL/api/v1/status" >"$T/status.json"
API_OUT=$T/status.json
[[ $(jq_py 'd["dataplane"]["running"]') == True ]] || fail "/api/v1/status: expected dataplane.running true"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$CTL_URL/api/v1/releases/acme.game.1/pause")
[[ $code == 403 ]] || fail "POST on the read-only status listener: expected 403, saw $code"
echo "metrics: cidr=$cidr not_live=$notlive embargoed=$emb http_bytes(acme.game.1)=$b1"

# ------------------------------------------------------------ (g) seedctl
note "(g) seedctl over the API"
export SEED_API_SOCKET=$CTL_SOCK
sc_ok "$T/ta.out" "$T/ta.err" tenant add --id late --name "Late Studio" --bandwidth 50MB/s --max-peers 10
sc_ok "$T/tls.json" "$T/tls.err" tenant ls --json
API_OUT=$T/tls.json
[[ $(jq_py '[t["bandwidth_bps"] for t in d["tenants"] if t["id"] == "late"][0]') == 50000000 ]] ||
	fail "seedctl tenant ls --json: expected tenant late with bandwidth_bps 50000000, saw $(head -c 400 "$T/tls.json")"
sc_ok "$T/tls.txt" "$T/tls.err" tenant ls
grep -q 'Late Studio' "$T/tls.txt" || fail "seedctl tenant ls: expected 'Late Studio' in the table: $(cat "$T/tls.txt")"
sc "$T/pub.out" "$T/pub.err" release publish acme.game.3
((SC_RC == 1)) || fail "seedctl release publish of a retired release: expected exit 1, saw $SC_RC"
grep -q 'retired' "$T/pub.err" || fail "seedctl release publish of a retired release: expected the error to say it is retired: $(cat "$T/pub.err")"
sc_ok "$T/emb.out" "$T/emb.err" release embargo acme.game.2 --until +1h
grep -q 'embargoed until' "$T/emb.out" || fail "seedctl release embargo: expected 'embargoed until', saw $(cat "$T/emb.out")"
sc_ok "$T/st.json" "$T/st.err" status --json
API_OUT=$T/st.json
[[ $(jq_py '[r["state"] for r in d["releases"] if r["id"] == "acme.game.2"][0]') == embargoed ]] ||
	fail "seedctl status --json: expected acme.game.2 embargoed"
sc_ok "$T/st.txt" "$T/st.err" status
grep -q 'acme.game.1' "$T/st.txt" || fail "seedctl status: expected the release table to list acme.game.1: $(cat "$T/st.txt")"
sc_ok "$T/peers.txt" "$T/peers.err" peers
sc_ok "$T/top.txt" "$T/top.err" top --count 2 --interval 0.2
(($(grep -c 'acme' "$T/top.txt") >= 2)) || fail "seedctl top --count 2: expected two refreshes naming tenant acme, saw: $(head -c 1500 "$T/top.txt")"
note "drain"
sc_ok "$T/drain.out" "$T/drain.err" drain
wait_pids 20 "seedctl drain: the data plane finishing and exiting" "$DP_PID"
((WAIT_RCS[$DP_PID] == 0)) || fail "seedctl drain: expected the data plane to exit 0, saw $(describe_rc "${WAIT_RCS[$DP_PID]}")"
DP_PID=
grep -q '^seed-dataplane: stopped .*verify_failures=0' "$DP_ERR" || fail "after drain: expected the data plane's stopped line with verify_failures=0: $(tail -3 "$DP_ERR")"
ctl_stop
echo "PASS: test_control"
