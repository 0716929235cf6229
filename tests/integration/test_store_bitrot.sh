#!/usr/bin/env bash
# User story: a store rots while it is served. After seed-dataplane has
# started, 1,000 distinct random single-bit flips land anywhere in the store
# directory, in proportion to the bytes of each file (data, parity, block
# tables, headers, manifests, torrents, FORMAT), and one more in each
# manifest copy, torrent and FORMAT, and in each object's header copy 1 and
# block table copy 2, so that every kind of file is hit. Then:
#  - a raw peer (raw_fetch.py) asks for every piece of the hybrid torrent,
#    under the v1 info-hash (checking SHA-1) and the v2 one (checking the
#    SHA-256 merkle root from the piece layers): no piece arrives corrupt,
#    and the pieces refused are exactly those holding a flipped data block
#    whose stripe has more flipped blocks (data and parity) than the
#    parity's M, or whose SHA-256 leaves (version 5 objects: two copies)
#    are flipped in both copies, so that a block rebuilt from parity cannot
#    have its leaf checked: computed here from the layout in docs/store.md;
#  - every file over HTTP: byte-identical when none of its blocks is beyond
#    repair, otherwise cut after a correct prefix; never a wrong byte;
#  - the data plane counts every rebuildable block as rebuilt, and at most
#    the blocks beyond repair as failures.
# (Tables and headers were read right after start, before the flips, so
# flips there cannot change what the running data plane serves; they are
# part of the rot all the same.)
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
require_cmds curl

S=$T/store
TREE=$T/src/rot
gen_tree "$TREE" big.bin $((160 * 1024 * 1024 + 12345)) mid.bin $((60 * 1024 * 1024 + 7)) \
	small.bin 9000 sub/a.bin $((20 * 1024 * 1024)) sub/b.bin $((16 * 1024 * 1024 - 1))
mapfile -t FILES < <(cd "$TREE" && find . -type f -printf '%P\n' | sort)
sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name rot --version 1 \
	--piece-length 262144 --json "$TREE"
RID=$(json_get "$T/c.json" id)
# the torrent as published: the copy in the store rots with the rest
cp "$(json_get "$T/c.json" torrent)" "$T/rot.torrent"
TORRENT=$T/rot.torrent
sc_ok "$T/show.json" "$T/show.err" release show --store "$S" --json "$RID"
store_parity "$S"

dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 \
	--cache-size 512M --stats-file "$T/dp.stats"
# start-up serves at once and reads the object tables right after, in the
# background (docs/dataplane.md): the rot below comes once they are read
wait_line 60 "$DP_PID" "seed-dataplane" "$DP_ERR" "object tables: [0-9]+ loaded in"

note "1,000 random bit flips over the whole store directory"
"$PY" - "$S" "$T/show.json" "$TORRENT" "$PK" "$PM" 1000 >"$T/expect.json" <<'PYEOF'
import json, os, random, sys
sys.path.insert(0, os.environ['SRCDIR'])
from raw_fetch import Torrent
from storelayout import BLOCK as B, HDR, LEAF_GROUP, Layout, object_path
store, show, torrent, k, m, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
rnd = random.Random(20261206)
paths = []
for d, _, fs in os.walk(store):
    for f in fs:
        p = os.path.join(d, f)
        if os.path.getsize(p):
            paths.append((p, os.path.getsize(p)))
total = sum(sz for _, sz in paths)
picks = set()
while len(picks) < n:
    x = rnd.randrange(total * 8)
    picks.add(x)
flips = []
for x in sorted(picks):
    byte, bit = divmod(x, 8)
    for p, sz in paths:
        if byte < sz:
            flips.append((p, byte, bit)); break
        byte -= sz
# and, so that every kind of file is hit whatever the dice say: one bit of
# each manifest, torrent and FORMAT file, and of each object's header copy 1
# and block table copy 2
for p, sz in paths:
    if not p.endswith('.obj'):
        flips.append((p, rnd.randrange(sz), rnd.randrange(8)))
for f in json.load(open(show))['files']:
    if f.get('root'):
        lay = Layout(f['length'], k, m)
        p = object_path(store, f['root'])
        flips.append((p, rnd.randrange(112), rnd.randrange(8)))
        flips.append((p, lay.table2 + rnd.randrange(lay.table_len), rnd.randrange(8)))
for p, off, bit in flips:
    with open(p, 'r+b') as f:
        f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ (1 << bit)]))
# what each flip does to what the running data plane serves
t = Torrent(torrent)
objs = {}
for f in json.load(open(show))['files']:
    if f.get('root'):
        objs[object_path(store, f['root'])] = f
first_piece = {}
for i, (ln, root, first, flen) in enumerate(t.pieces):
    first_piece.setdefault(root.hex() if root else None, first)
refused, where = set(), {}
lost_blocks = repairable = 0
for p, f in objs.items():
    lay = Layout(f['length'], k, m)
    L, ns = f['length'], lay.n_stripes
    bad_data, bad_par, bad_leaves = set(), set(), set()
    for fp, off, _ in flips:
        if fp != p: continue
        if HDR <= off < HDR + L: bad_data.add((off - HDR) // B)
        elif lay.parity_at(off) is not None: bad_par.add(lay.parity_at(off))
        elif lay.leaf_group_at(off) is not None: bad_leaves.add(lay.leaf_group_at(off))
    # a block rebuilt from parity is served once its SHA-256 leaf is checked:
    # not when both copies of its leaf group are bad
    unleafed = {g for g, c in bad_leaves if (g, 3 - c) in bad_leaves}
    lost_here = set()
    for st in range(ns):
        d = {b for b in bad_data if b // k == st}
        q = {x for x in bad_par if x // m == st}
        if len(d) + len(q) > m:
            lost_here |= d
        else:
            gone = {b for b in d if b // LEAF_GROUP in unleafed}
            lost_here |= gone
            repairable += len(d) - len(gone)
    lost_blocks += len(lost_here)
    fp0 = first_piece[f['root']]
    for b in lost_here:
        refused.add(fp0 + b * B // t.pl)
    where[f['path']] = sorted(b * B for b in lost_here)
kinds = {}
for fp, off, _ in flips:
    kind = 'objects' if fp in objs else os.path.relpath(fp, store).split('/')[0]
    kinds[kind] = kinds.get(kind, 0) + 1
json.dump({'refused': sorted(refused), 'lost_blocks': lost_blocks, 'repairable': repairable,
           'lost_at': where, 'kinds': kinds, 'flips': len(flips)}, sys.stdout)
PYEOF
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("flips: %d %s; data blocks rebuildable %d, beyond repair %d, pieces to be refused %d" % (d["flips"], d["kinds"], d["repairable"], d["lost_blocks"], len(d["refused"])))' "$T/expect.json"

note "raw peer: every piece under the v1 and the v2 info-hash"
"$PY" "$SRCDIR/raw_fetch.py" --peer "127.0.0.1:$DP_BT_PORT" --torrent "$TORRENT" --timeout 120 >"$T/raw.json" ||
	fail "raw_fetch.py failed (above)"
"$PY" - "$T/raw.json" "$T/expect.json" <<'PYEOF' || fail "raw fetch: see above"
import json, sys
r, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
want = set(e['refused'])
bad = []
for v in ('v1', 'v2'):
    got = r[v]
    if got['corrupt']:
        bad.append('%s: %d pieces arrived corrupt: %s' % (v, len(got['corrupt']), got['corrupt'][:10]))
    ref = set(got['refused'])
    if ref != want:
        bad.append('%s: refused %d pieces, expected %d; refused but not expected %s; expected but served %s'
                   % (v, len(ref), len(want), sorted(ref - want)[:10], sorted(want - ref)[:10]))
    print('%s: %d pieces served and checked, %d refused (as expected: %s), 0 corrupt'
          % (v, len(got['served']), len(ref), ref == want))
if bad:
    sys.exit('FAIL: ' + '; '.join(bad))
PYEOF

note "HTTP: every file, never a wrong byte"
for f in "${FILES[@]}"; do
	url="$DP_URL/$RID/rot/$(url_path "$f")"
	http_get "$url" "$T/got" "$T/got.hdr" -f
	lost=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["lost_at"].get(sys.argv[2], [])))' "$T/expect.json" "$f")
	got=0
	[[ -f $T/got ]] && got=$(stat -c %s "$T/got")
	size=$(stat -c %s "$TREE/$f")
	if ((lost == 0)); then
		((CURL_RC == 0)) || fail "GET $url: expected the whole file (none of its blocks is beyond repair), curl exit $CURL_RC"
		cmp -s "$T/got" "$TREE/$f" || fail "GET $url: expected the bytes of $TREE/$f, they differ"
		echo "$f: $size bytes served byte-identical"
	else
		((CURL_RC != 0 && got < size)) || fail "GET $url: expected a cut transfer ($lost blocks beyond repair), curl exit $CURL_RC with $got of $size bytes"
		((got == 0)) || same_bytes_as_source "$TREE/$f" 0 "$got" "$T/got" "GET $url (the part before the cut)"
		echo "$f: cut after $got correct bytes ($lost blocks beyond repair)"
	fi
done

sc_ok "$T/stats.json" "$T/stats.err" stats --file "$T/dp.stats" --json
"$PY" - "$T/stats.json" "$T/expect.json" <<'PYEOF' || fail "counters: see above"
import json, sys
s, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
rb, rf = s['blocks_repaired'], s['repair_failures']
print('data plane: blocks_repaired %d (rebuildable %d), repair_failures %d (beyond repair %d)'
      % (rb, e['repairable'], rf, e['lost_blocks']))
if rb < e['repairable']:
    sys.exit('FAIL: blocks_repaired %d, expected at least %d (every rebuildable block was asked for)' % (rb, e['repairable']))
if rf > e['lost_blocks'] or (e['lost_blocks'] and rf == 0):
    sys.exit('FAIL: repair_failures %d, expected 1 to %d' % (rf, e['lost_blocks']))
PYEOF
dp_stop 30
echo "PASS: test_store_bitrot"
