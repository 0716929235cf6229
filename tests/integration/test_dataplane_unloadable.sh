#!/usr/bin/env bash
# User story: one release in the store cannot be loaded (both copies of its
# manifest rotted); the operator's other releases must stay on the air and
# the broken one must show up where the operator looks.
#  - seed-dataplane starts with the store holding acme.good.1 and a
#    damaged acme.bad.1: it serves acme.good.1 byte-identical and logs a
#    line naming acme.bad.1 (at each rescan);
#  - seed-control's /metrics says seed_dataplane_releases_unloadable 1
#    (and passes promtool), `seedctl status` says one release could not be
#    loaded, and its --json says releases_unloadable 1;
#  - after `seedctl release rm acme.bad.1` the next catalog generation
#    brings the gauge back to 0 while acme.good.1 is still served;
#  - a served release removed from the store (acme.gone.1, fetched first)
#    is no longer served, its views are freed (the data plane says so) and
#    acme.good.1 is still served byte-identical.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane control
require_cmds promtool curl

ctl_dirs
gen_tree "$T/good/game" a.bin 300000 b.bin 5000
gen_tree "$T/bad/game" c.bin 70000
gen_tree "$T/gone/game" d.bin 50000
sc_ok "$T/cg.json" "$T/cg.err" release create --store "$S" --tenant acme --name good --version 1 --json "$T/good/game"
sc_ok "$T/cb.json" "$T/cb.err" release create --store "$S" --tenant acme --name bad --version 1 --json "$T/bad/game"
sc_ok "$T/cx.json" "$T/cx.err" release create --store "$S" --tenant acme --name gone --version 1 --json "$T/gone/game"
invert_byte "$S/releases/acme.bad.1.rel" 100
invert_byte "$S/releases/acme.bad.1.rel.2" 100

PORT=$(free_port)
ctl_config "$T/seed.conf" "$S" "$RUN" "$PORT" '{ id = "acme"; name = "Acme"; }'
ctl_start "$T" "$T/seed.conf"
export SEED_API_SOCKET=$CTL_SOCK
api_ok POST /api/v1/releases/acme.good.1/publish
api_ok POST /api/v1/releases/acme.gone.1/publish
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2 \
	--cache-size 32M --catalog "$RUN/catalog" --stats-file "$RUN/dataplane.stats"

note "the good release is served, the bad one reported"
wait_http_ok "$DP_URL/acme.gone.1/game/d.bin"
http_get "$DP_URL/acme.gone.1/game/d.bin" "$T/got" "$T/got.hdr" -f
cmp -s "$T/got" "$T/gone/game/d.bin" || fail "GET acme.gone.1/game/d.bin: expected the source's bytes"
for f in a.bin b.bin; do
	wait_http_ok "$DP_URL/acme.good.1/game/$f"
	http_get "$DP_URL/acme.good.1/game/$f" "$T/got" "$T/got.hdr" -f
	cmp -s "$T/got" "$T/good/game/$f" || fail "GET acme.good.1/game/$f: expected the source's bytes"
done
expect_line "$DP_ERR" "seed-dataplane's log: expected a line naming acme.bad.1 as not loaded" \
	"release acme.bad.1: cannot be loaded" "not served, every other release is"

ctl_wait_metric seed_dataplane_releases_unloadable 1 6 "/metrics with acme.bad.1 unloadable"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 || fail "promtool check metrics: $(cat "$T/promtool.out")"
sc_ok "$T/st.txt" "$T/st.err" status
expect_line "$T/st.txt" "seedctl status: expected it to say one release could not be loaded" \
	"1 release in the store could not be loaded"
sc_ok "$T/st.json" "$T/st.err" status --json
API_OUT=$T/st.json
[[ $(jq_py 'd["dataplane"]["releases_unloadable"]') == 1 ]] ||
	fail "seedctl status --json: expected dataplane.releases_unloadable 1, saw $(jq_py 'd["dataplane"].get("releases_unloadable")')"

note "the bad release removed: the next generation counts nothing"
sc_ok "$T/rm.out" "$T/rm.err" release rm --store "$S" acme.bad.1
ctl_wait_metric seed_dataplane_releases_unloadable 0 10 "/metrics after release rm of acme.bad.1"
[[ $(http_code "$DP_URL/acme.good.1/game/a.bin") == 200 ]] || fail "acme.good.1 not served after the bad release was removed"
sc_ok "$T/st2.txt" "$T/st2.err" status
grep -q "could not be loaded" "$T/st2.txt" && fail "seedctl status: still reports an unloadable release after it was removed"

note "a served release removed: not served any more, its views freed"
api_ok POST /api/v1/releases/acme.gone.1/retire
sc_ok "$T/rm2.out" "$T/rm2.err" release rm --store "$S" acme.gone.1
for ((i = 0; i < 100; i++)); do
	[[ $(http_code "$DP_URL/acme.gone.1/game/d.bin") == 404 ]] && grep -q "freed [0-9]* views of releases removed" "$DP_ERR" && break
	sleep 0.1
done
[[ $(http_code "$DP_URL/acme.gone.1/game/d.bin") == 404 ]] || fail "GET acme.gone.1/game/d.bin after release rm: expected 404"
expect_line "$DP_ERR" "seed-dataplane's log: expected a line saying the removed release's views were freed" \
	"freed 1 views of releases removed from the store"
http_get "$DP_URL/acme.good.1/game/a.bin" "$T/got" "$T/got.hdr" -f
cmp -s "$T/got" "$T/good/game/a.bin" || fail "GET acme.good.1/game/a.bin after acme.gone.1 was removed: expected the source's bytes"
dp_stop 30
ctl_stop
