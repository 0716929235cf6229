#!/usr/bin/env bash
# User story: seed-control looks after the store on its own. An operator
# sets scrub_rate and reclaim_retired and never runs a scrub by hand.
#  - Bit rot in two releases that share files (a data block and a parity
#    block of a file of several 4 MiB chunks, one copy of a block table, one
#    copy of a manifest): the background pass, started by seed-control
#    itself, repairs all of it; its counters in /metrics and in `seedctl
#    store status` equal the damage; `seedctl release verify` exits 0 for
#    both releases afterwards. seed-control's log names each repair.
#  - A pass reads without the store's lock: a `seedctl release create`
#    run while a slow one is going finishes before the pass does.
#  - A block the data plane rebuilds from parity as it serves it is written
#    back to the store by seed-control within seconds (the data plane's
#    repair record), without waiting for the next pass.
#  - A release retired through the API is removed reclaim_retired later,
#    with the object only it held; the objects the other release shares
#    stay, and that release still verifies.
#  - seed-control stops within 10 s of SIGTERM in the middle of a slow
#    pass (ctl_stop checks it), and /metrics passes promtool.
# Store layout relied on: tests/integration/storelayout.py (docs/store.md).
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane control
require_cmds promtool curl

ctl_dirs
gen_tree "$T/src1/game" big.bin $((6 * MiB + 333)) shared.bin $((700 * 1024 + 5)) only1.bin 50000
mkdir -p "$T/src2/game"
cp "$T/src1/game/big.bin" "$T/src1/game/shared.bin" "$T/src2/game/"
gen_file "$T/src2/game/only2.bin" 60001
gen_tree "$T/src3/game" late.bin 20000
for v in 1 2; do
	sc_ok "$T/c$v.json" "$T/c$v.err" release create --store "$S" --tenant acme --name game \
		--version "$v" --json "$T/src$v/game"
	sc_ok "$T/show$v.json" "$T/show$v.err" release show --store "$S" --json "acme.game.$v"
done
[[ $(objects_in "$S" | wc -l) == 4 ]] || fail "expected 4 objects (big and shared stored once), saw $(objects_in "$S" | wc -l)"

note "bit rot: a data block and a parity block of big.bin, a table copy of shared.bin, a manifest copy"
"$PY" - "$S" "$T/show1.json" <<'PYEOF' || fail "damaging the store (above)"
import json, os, sys
sys.path.insert(0, os.environ['SRCDIR'])
from storelayout import Layout, object_path, parity_of
store, show = sys.argv[1], sys.argv[2]
k, m = parity_of(store)
files = {f['path']: f for f in json.load(open(show))['files']}
def flip(path, off):
    with open(path, 'r+b') as fh:
        fh.seek(off); b = fh.read(1); fh.seek(off)
        fh.write(bytes([b[0] ^ 0x10]))
big = files['big.bin']
lay = Layout(big['length'], k, m)
assert lay.n_blocks > 256, 'big.bin must span several 4 MiB chunks'
o, _ = lay.shard(20, 3); flip(object_path(store, big['root']), o + 77)  # data, second chunk
o, _ = lay.shard(2, k); flip(object_path(store, big['root']), o + 5)    # parity
sh = files['shared.bin']
flip(object_path(store, sh['root']), Layout(sh['length'], k, m).table2 + 3)  # table copy 2
flip(os.path.join(store, 'releases', 'acme.game.2.rel.2'), 60)             # manifest copy 2
PYEOF
sc_verify "$T/v0" 1 "of acme.game.1 before the pass" "$S" acme.game.1

PORT=$(free_port)
ctl_config "$T/seed.conf" "$S" "$RUN" "$PORT" '{ id = "acme"; name = "Acme"; }' \
	'scrub_interval = "1h"; scrub_rate = "2MB/s"; reclaim_retired = "2s";'
ctl_start "$T" "$T/seed.conf"

note "the background pass starts on its own"
ctl_wait_metric 'seed_scrub_passes_total\{result="finished"\}' 1 60 "the first pass"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 || fail "promtool check metrics: $(cat "$T/promtool.out")"
for kv in blocks_rebuilt=1 parity_rebuilt=1 copies_rewritten=2 tables_rebuilt=0 blocks_lost=0 \
	objects_lost=0 repairs_failed=0; do
	got=$(ctl_metric "seed_scrub_last_found\\{counter=\"${kv%=*}\"\\}")
	[[ $got == "${kv#*=}" ]] || fail "/metrics after the pass: expected seed_scrub_last_found{counter=\"${kv%=*}\"} ${kv#*=}, saw '$got'"
	got=$(ctl_metric "seed_scrub_pass_found\\{counter=\"${kv%=*}\"\\}")
	[[ $got == "${kv#*=}" ]] || fail "/metrics after the pass: expected seed_scrub_pass_found{counter=\"${kv%=*}\"} ${kv#*=}, saw '$got'"
done
[[ $(ctl_metric seed_scrub_last_whole) == 1 ]] || fail "expected seed_scrub_last_whole 1 after the pass"
# per tenant (issue 14): acme holds every object, so its record is the pass's
objs=$(ctl_metric 'seed_scrub_last_found\{counter="objects"\}')
for kv in objects="$objs" blocks_rebuilt=1 parity_rebuilt=1 copies_rewritten=2 blocks_lost=0; do
	got=$(ctl_metric "seed_scrub_tenant_last_found\\{tenant=\"acme\",counter=\"${kv%=*}\"\\}")
	[[ $got == "${kv#*=}" ]] || fail "/metrics after the pass: expected seed_scrub_tenant_last_found{tenant=\"acme\",counter=\"${kv%=*}\"} ${kv#*=}, saw '$got'"
done
[[ $(ctl_metric 'seed_scrub_tenant_last_whole\{tenant="acme"\}') == 1 ]] || fail "expected seed_scrub_tenant_last_whole{tenant=\"acme\"} 1 after the pass"
api_ok GET /api/v1/status
[[ $(jq_py '[(t["scrub"]["blocks_rebuilt"], t["scrub"]["objects"], t["scrub"]["whole"]) for t in d["tenants"] if t["id"] == "acme"]') == "[(1, $objs, True)]" ]] ||
	fail "GET /api/v1/status: expected tenant acme's scrub record (1 block rebuilt, $objs objects, whole), saw: $(jq_py '[t.get("scrub") for t in d["tenants"]]')"
objs=$(ctl_metric 'seed_scrub_last_found\{counter="objects"\}')
((objs >= 4)) || fail "expected the pass to have checked every object (>= 4), saw '$objs'"
expect_line "$T/ctl.err" "seed-control's log: expected the rebuilt block named" "scrub: release acme.game.1: big.bin:" "rebuilt from its stripe's parity"
expect_line "$T/ctl.err" "seed-control's log: expected the pass's summary" "background scrub:" "the store is whole"
sc_ok "$T/status.json" "$T/status.err" store status --store "$S" --json
"$PY" - "$T/status.json" <<'PYEOF' || fail "store status --json after the pass: see above"
import json, sys
l = json.load(open(sys.argv[1]))['last_scrub']
if not l or not l['whole'] or l['blocks_rebuilt'] != 1 or l['copies_rewritten'] != 2 or l['release']:
    sys.exit('FAIL: last_scrub %s: expected the whole-store pass, 1 block rebuilt, 2 copies rewritten' % l)
print('store status shows the pass')
PYEOF
for v in 1 2; do
	sc_verify "$T/v$v" 0 "of acme.game.$v after the pass" "$S" "acme.game.$v"
done

read -r ROOT_ONLY1 ROOT_BIG < <("$PY" -c '
import json, sys
f = {x["path"]: x["root"] for x in json.load(open(sys.argv[1]))["files"]}
print(f["only1.bin"], f["big.bin"])' "$T/show1.json")

note "a block the data plane rebuilds as it serves it is written back by seed-control"
api_ok POST /api/v1/releases/acme.game.2/publish
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2 \
	--cache-size 64M --catalog "$RUN/catalog" --stats-file "$RUN/dataplane.stats"
"$PY" - "$S" "$T/show2.json" <<'ROTEOF' || fail "damaging big.bin (above)"
import json, os, sys
sys.path.insert(0, os.environ['SRCDIR'])
from storelayout import Layout, object_path, parity_of
store, show = sys.argv[1], sys.argv[2]
k, m = parity_of(store)
big = [f for f in json.load(open(show))['files'] if f['path'] == 'big.bin'][0]
o, _ = Layout(big['length'], k, m).shard(7, 2)
with open(object_path(store, big['root']), 'r+b') as fh:
    fh.seek(o + 1000); b = fh.read(1); fh.seek(o + 1000); fh.write(bytes([b[0] ^ 1]))
ROTEOF
sc_verify "$T/vd" 1 "of acme.game.2 with a bad block" "$S" acme.game.2
wait_http_ok "$DP_URL/acme.game.2/game/big.bin"
http_get "$DP_URL/acme.game.2/game/big.bin" "$T/got" "$T/got.hdr" -f
cmp -s "$T/got" "$T/src2/game/big.bin" || fail "GET big.bin with a bad block: expected the source's bytes"
ctl_wait_metric 'seed_store_repair_records_total\{result="written_back"\}' 1 20 "a block the data plane rebuilt"
sc_verify "$T/vd2" 0 "of acme.game.2 after the write-back" "$S" acme.game.2
expect_line "$T/ctl.err" "seed-control's log: expected the write-back named" \
	"scrub: release (data plane): object $ROOT_BIG:" "rebuilt from its stripe's parity"
dp_stop 30

note "reclaim: acme.game.1 retired, removed 2 s later with only what it alone held"
api_ok POST /api/v1/releases/acme.game.1/retire
ctl_wait_metric seed_store_reclaimed_releases_total 1 30 "retired acme.game.1 with reclaim_retired 2s"
[[ ! -e $S/releases/acme.game.1.rel && ! -e $S/releases/acme.game.1.rel.2 ]] || fail "reclaim: expected the manifest of acme.game.1 gone"
objects_in "$S" >"$T/objs.txt"
grep -q "^$ROOT_ONLY1.obj\$" "$T/objs.txt" && fail "reclaim: expected the object of only1.bin (held by acme.game.1 alone) removed"
grep -q "^$ROOT_BIG.obj\$" "$T/objs.txt" || fail "reclaim: expected the object of big.bin (shared with acme.game.2) kept"
[[ $(wc -l <"$T/objs.txt") == 3 ]] || fail "reclaim: expected 3 objects left (big, shared, only2), saw $(wc -l <"$T/objs.txt")"
sc_verify "$T/v2b" 0 "of acme.game.2 after the reclaim" "$S" acme.game.2
expect_line "$T/ctl.err" "seed-control's log: expected the reclaim named" "reclaimed retired release acme.game.1"
[[ $(ctl_metric seed_store_reclaim_failures_total) == 0 ]] || fail "expected no failed reclaim"
ctl_stop

note "a slow pass: a release create runs meanwhile, then SIGTERM"
ctl_config "$T/seed2.conf" "$S" "$RUN" "$PORT" '{ id = "acme"; name = "Acme"; }' \
	'scrub_interval = "1s"; scrub_rate = "200kB/s";'
ctl_start "$T" "$T/seed2.conf"
ctl_wait_metric seed_scrub_running 1 10 "seed-control with scrub_interval 1s"
sc_ok "$T/c3.json" "$T/c3.err" release create --store "$S" --tenant acme --name game --version 3 \
	--json "$T/src3/game"
[[ $(ctl_metric seed_scrub_running) == 1 && $(ctl_metric 'seed_scrub_passes_total\{result="finished"\}') == 0 ]] ||
	fail "expected the pass (about 40 s at 200kB/s) still running when release create finished: the create waited for it"
echo "release create finished during the pass"
sc_verify "$T/v3" 0 "of acme.game.3, created during the pass" "$S" acme.game.3
ctl_stop
echo "seed-control stopped in the middle of a pass"
