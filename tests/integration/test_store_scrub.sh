#!/usr/bin/env bash
# User story: bit rot spreads over a store while the data plane serves it;
# an operator runs `seedctl store scrub --now`.
#  - Random single-bit flips land in data and parity blocks of every object
#    of a release (never more than M in one stripe), in one copy of one
#    object's block table and in one copy of the release's manifest.
#  - Before the scrub `seedctl release verify` exits 1; the data plane
#    (running all along) serves every file byte-identical, rebuilding the
#    bad blocks it reads from parity.
#  - The scrub exits 0 and its counters equal the damage: data blocks
#    rebuilt = data blocks flipped, parity blocks rebuilt = parity blocks
#    flipped, 2 metadata copies rewritten, nothing lost.
#  - Afterwards `seedctl release verify` exits 0, `seedctl store status`
#    shows that scrub and the store's objects, a second scrub finds
#    nothing, and every file is still served byte-identical.
#  - Three flips in one stripe of a second store: the scrub exits 1 and
#    counts those data blocks lost.
#
# Store layout relied on (docs/store.md, "Objects", "Parity"): data at byte
# 4096, the two block tables after the data (4 KiB-aligned, 16 bytes per
# data and parity block), then the parity blocks, stripe by stripe; the
# store's FORMAT names its parity K+M on its second line.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
require_cmds curl

S=$T/store
TREE=$T/src/rot
gen_tree "$TREE" big.bin $((3 * 1024 * 1024 + 999)) mid.bin $((700 * 1024 + 5)) \
	small.bin 5000 sub/one.bin 16384 sub/two.bin 40000
mapfile -t FILES < <(cd "$TREE" && find . -type f -printf '%P\n' | sort)
sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name rot --version 1 --json "$TREE"
RID=$(json_get "$T/c.json" id)
sc_ok "$T/show.json" "$T/show.err" release show --store "$S" --json "$RID"

dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 \
	--cache-size 64M --stats-file "$T/dp.stats"

# serve_all WHAT: every file over HTTP, byte-identical with the source.
serve_all() {
	serve_identical "$DP_URL/$RID/rot" "$TREE" "$1" "${FILES[@]}"
}

# flip_store STORE SHOW_JSON SEED MAXPERSTRIPE: random single-bit flips in
# every object of the release (1..MAXPERSTRIPE blocks in a third of the
# stripes, MAXPERSTRIPE 0: three blocks in one stripe of the largest
# file), then one byte of table copy 1 of the largest file's object and
# one byte of manifest copy 2; prints "DATA PARITY" flipped.
flip_store() {
	"$PY" - "$@" "$RID" <<'PYEOF'
import json, os, random, sys
sys.path.insert(0, os.environ['SRCDIR'])
from storelayout import Layout, object_path, parity_of
store, show, seed, maxper, rid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rnd = random.Random(seed)
k, m = parity_of(store)
files = sorted((f for f in json.load(open(show))['files'] if f.get('root')), key=lambda f: -f['length'])
data = parity = 0
def flip(path, off):
    with open(path, 'r+b') as fh:
        fh.seek(off); b = fh.read(1); fh.seek(off)
        fh.write(bytes([b[0] ^ (1 << rnd.randrange(8))]))
for n, f in enumerate(files):
    lay = Layout(f['length'], k, m)
    obj = object_path(store, f['root'])
    if maxper == 0:
        if n == 0:
            for i in range(3):
                o, ln = lay.shard(0, i); flip(obj, o + rnd.randrange(ln)); data += 1
        continue
    for st in range(lay.n_stripes):
        if n > 0 and rnd.random() > 0.34 and lay.n_stripes > 1:
            continue
        real = [i for i in range(k + m) if lay.shard(st, i)]
        for i in rnd.sample(real, rnd.randint(1, min(maxper, m))):
            o, ln = lay.shard(st, i)
            flip(obj, o + rnd.randrange(ln))
            if i < k: data += 1
            else: parity += 1
    if n == 0 and maxper:
        flip(obj, lay.table1 + rnd.randrange(lay.table_len))  # table copy 1
if maxper:
    flip(os.path.join(store, 'releases', rid + '.rel.2'), 100)  # manifest copy 2
print(data, parity)
PYEOF
}

note "random bit flips in data and parity blocks, a table copy and a manifest copy"
read -r NDATA NPAR < <(flip_store "$S" "$T/show.json" 7 2)
((NDATA > 0 && NPAR > 0)) || fail "expected flips in both data and parity blocks, saw $NDATA data, $NPAR parity"
echo "flipped: $NDATA data blocks, $NPAR parity blocks, table copy 1 of the largest object, manifest copy 2"
sc_verify "$T/v0" 1 "before the scrub" "$S" "$RID"
serve_all "before the scrub, the data plane rebuilding what it reads"

note "seedctl store scrub --now --rate 200M, the data plane still running"
sc_ok "$T/scrub.json" "$T/scrub.err" store scrub --store "$S" --now --rate 200M --json
"$PY" - "$T/scrub.json" "$NDATA" "$NPAR" <<'PYEOF' || fail "store scrub --json: counters do not match the damage (above)"
import json, sys
d = json.load(open(sys.argv[1]))
want = dict(blocks_rebuilt=int(sys.argv[2]), parity_rebuilt=int(sys.argv[3]), copies_rewritten=2,
            tables_rebuilt=0, blocks_lost=0, objects_lost=0, releases=1, objects=5)
bad = ['%s: %s, want %s' % (k, d.get(k), v) for k, v in want.items() if d.get(k) != v]
if bad or d.get('whole') is not True:
    sys.exit('FAIL: ' + '; '.join(bad + ['whole: %s' % d.get('whole')]))
print('scrub: %d found, counters match: %s' % (len(d['found']), ', '.join('%s=%s' % kv for kv in want.items())))
PYEOF
sc_verify "$T/v1" 0 "after the scrub" "$S" "$RID"
sc_ok "$T/status.json" "$T/status.err" store status --store "$S" --json
"$PY" - "$T/status.json" "$NDATA" "$NPAR" "$(find "$S/objects" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }')" <<'PYEOF' || fail "store status --json: see above"
import json, sys
d = json.load(open(sys.argv[1]))
l, t = d['last_scrub'], d['tenants']
bad = []
if not l or l['blocks_rebuilt'] != int(sys.argv[2]) or l['parity_rebuilt'] != int(sys.argv[3]) or not l['whole']:
    bad.append('last_scrub %s, expected %s data and %s parity blocks rebuilt, whole' % (l, sys.argv[2], sys.argv[3]))
if [(x['tenant'], x['releases'], x['files'], x['objects']) for x in t] != [('acme', 1, 5, 5)]:
    bad.append('tenants %s, expected acme with 1 release, 5 files, 5 objects' % t)
if d['disk_bytes'] != int(sys.argv[4]) or d['objects'] != 5:
    bad.append('%s objects, %s bytes on disk; the object files hold %s bytes' % (d['objects'], d['disk_bytes'], sys.argv[4]))
if bad:
    sys.exit('FAIL: ' + '; '.join(bad))
print('store status: last scrub and tenant figures as expected')
PYEOF
sc_ok "$T/scrub2.json" "$T/scrub2.err" store scrub --store "$S" --now --json
[[ $(json_get "$T/scrub2.json" found) == "[]" ]] || fail "a second scrub found something: $(cat "$T/scrub2.json")"
serve_all "after the scrub"
dp_stop 30
dp_expect_counter repair_failures 0

note "a paced scrub killed mid-run: the next one finishes the job"
S3=$T/store3
sc_ok "$T/c3.json" "$T/c3.err" release create --store "$S3" --tenant acme --name rot --version 1 --json "$TREE"
sc_ok "$T/show3.json" "$T/show3.err" release show --store "$S3" --json "$RID"
read -r N3 P3 < <(flip_store "$S3" "$T/show3.json" 11 2)
"$SEEDCTL" store scrub --store "$S3" --now --rate 64K >"$T/k.out" 2>"$T/k.err" &
KPID=$!
sleep 1.5
pid_running "$KPID" || fail "the paced scrub (64K/s over $(du -sh "$S3" | cut -f1)) ended within 1.5 s: $(cat "$T/k.out" "$T/k.err")"
kill -KILL "$KPID"
wait "$KPID" 2>/dev/null || true
sc_ok "$T/scrub4.json" "$T/scrub4.err" store scrub --store "$S3" --now --json
sc_verify "$T/v4" 0 "after a scrub killed mid-run and a second one" "$S3" "$RID"
left=$(find "$S3" -name '*.tmp.*')
[[ -z $left ]] || fail "after the second scrub: temporary files left: $left"
echo "scrub killed mid-run ($N3 data, $P3 parity blocks flipped): the next scrub repaired what was left ($(json_get "$T/scrub4.json" blocks_rebuilt) data, $(json_get "$T/scrub4.json" parity_rebuilt) parity blocks), verify exits 0"

note "three flips in one stripe of acme's release, two blocks of globex's: counted per tenant"
S2=$T/store2
sc_ok "$T/c2.json" "$T/c2.err" release create --store "$S2" --tenant acme --name rot --version 1 --json "$TREE"
sc_ok "$T/show2.json" "$T/show2.err" release show --store "$S2" --json "$RID"
gen_tree "$T/src/globex" g.bin $((1024 * 1024 + 17))
sc_ok "$T/cg.json" "$T/cg.err" release create --store "$S2" --tenant globex --name g --version 1 --json "$T/src/globex"
sc_ok "$T/showg.json" "$T/showg.err" release show --store "$S2" --json globex.g.1
read -r N2 _ < <(flip_store "$S2" "$T/show2.json" 9 0)
((N2 == 3)) || fail "expected 3 flips, saw $N2"
# globex's one file: a data block in each of its first two stripes, rebuilt
store_parity "$S2"
GOBJ=$("$PY" -c 'import json,os,sys; sys.path.insert(0, os.environ["SRCDIR"]); from storelayout import object_path; print(object_path(sys.argv[1], json.load(open(sys.argv[2]))["files"][0]["root"]))' "$S2" "$T/showg.json")
invert_byte "$GOBJ" $((4096 + 2 * 16384 + 5))
invert_byte "$GOBJ" $((4096 + (PK + 1) * 16384 + 5))
sc "$T/scrub3.json" "$T/scrub3.err" store scrub --store "$S2" --now --json
((SC_RC == 1)) || fail "store scrub with a stripe beyond its parity: expected exit 1, saw $(describe_rc "$SC_RC")"
[[ $(json_get "$T/scrub3.json" blocks_lost) == 3 ]] || fail "store scrub --json: expected blocks_lost 3, saw $(cat "$T/scrub3.json")"
echo "a stripe with 3 bad blocks: scrub exit 1, blocks_lost 3"
sc_ok "$T/status2.json" "$T/status2.err" store status --store "$S2" --json
"$PY" - "$T/status2.json" $((1024 * 1024 + 17)) <<'PYEOF' || fail "store status --json per tenant: see above"
import json, sys, time
t = {x['tenant']: x['scrub'] for x in json.load(open(sys.argv[1]))['tenants']}
want = {'acme': dict(releases=1, objects=5, blocks_rebuilt=0, blocks_lost=3, whole=False),
        'globex': dict(releases=1, objects=1, bytes=int(sys.argv[2]), blocks_rebuilt=2, blocks_lost=0, whole=True)}
bad = ['%s: %s %s, want %s' % (n, k, (t.get(n) or {}).get(k), v) for n, w in want.items() for k, v in w.items() if (t.get(n) or {}).get(k) != v]
bad += ['%s: finished %s, not in the last minute' % (n, (t.get(n) or {}).get('finished')) for n in want if abs((t.get(n) or {}).get('finished', 0) - time.time()) > 60]
if bad:
    sys.exit('FAIL: ' + '; '.join(bad))
print('store status --json: per tenant, acme 3 blocks beyond repair, globex 2 repaired, as damaged')
PYEOF
sc_ok "$T/status2.txt" "$T/status2.err" store status --store "$S2"
expect_line "$T/status2.txt" "store status: expected globex's scrub line" "last scrub:" "whole afterwards; 1 objects, $((1024 * 1024 + 17)) bytes; blocks repaired 2, beyond repair 0"
expect_line "$T/status2.txt" "store status: expected acme's scrub line" "last scrub:" "NOT whole afterwards; 5 objects" "blocks repaired 0, beyond repair 3"

note "store scrub with a bad --rate is a usage error"
sc "$T/r.out" "$T/r.err" store scrub --store "$S" --now --rate 10
((SC_RC == 2)) || fail "store scrub --rate 10: expected exit 2, saw $(describe_rc "$SC_RC")"
grep -q -- "--rate" "$T/r.err" || fail "store scrub --rate 10: expected the error to name --rate: $(cat "$T/r.err")"

note "store scrub without --now is a usage error"
sc "$T/u.out" "$T/u.err" store scrub --store "$S"
((SC_RC == 2)) || fail "store scrub without --now: expected exit 2, saw $(describe_rc "$SC_RC")"
grep -q -- "--now" "$T/u.err" || fail "store scrub without --now: expected the error to name --now: $(cat "$T/u.err")"
echo "PASS: test_store_scrub"
