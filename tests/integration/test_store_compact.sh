#!/usr/bin/env bash
# User story: a release of many small files fits the disk (issue 17). A
# store of format 4 keeps a small file's object compact: its block table in
# the header sectors at the two ends of the file, and the parity of a stripe
# holding one block as long as that block in whole 4 KiB.
#  - `release create` of files from 1 byte to 300,000 bytes and 300 files
#    of 3,500 bytes: every object has the size docs/store.md gives (a
#    3,500-byte file takes 20 KiB, not the 52 KiB of format 3), FORMAT says
#    format 4, and `seedctl store status` counts those bytes on disk.
#  - A data block of a 3,500-byte file flipped, and both the data block and
#    a parity shard of a 1-byte file: the data plane serves every file
#    byte-identical, rebuilding both blocks from their 4 KiB parity shards
#    (blocks_repaired 2); `release verify` names them and exits 1;
#    `seedctl store scrub --now` rebuilds 2 data blocks and 1 parity shard;
#    verify exits 0 afterwards and a second scrub finds nothing.
#  - Both header sectors (each a header and its table) of a small file
#    zeroed: a data plane started afterwards serves the file (its table
#    rebuilt from the data in memory), the scrub rebuilds the table on disk
#    in the same compact layout, verify exits 0.
#
# Store layout relied on: tests/integration/storelayout.py (docs/store.md,
# "Objects", "Parity"), written from the documentation.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
require_cmds curl

S=$T/store
TREE=$T/src/small
gen_tree "$TREE" one.bin 1 hundred.bin 100 page.bin 4096 page1.bin 4097 \
	block.bin 16384 block1.bin 16385 mid.bin 50000 stripe1.bin 262145 big.bin 300000
for i in $(seq -w 1 300); do
	gen_file "$TREE/many/f$i.bin" 3500
done
mapfile -t FILES < <(cd "$TREE" && find . -type f -printf '%P\n' | sort)
sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name small --version 1 --json "$TREE"
RID=$(json_get "$T/c.json" id)
sc_ok "$T/show.json" "$T/show.err" release show --store "$S" --json "$RID"
[[ $(head -1 "$S/FORMAT") == "bitstream-store 5" ]] || fail "expected a new store of format 5, FORMAT holds: $(cat "$S/FORMAT")"

note "every object has its documented size"
"$PY" - "$S" "$T/show.json" >"$T/sizes.txt" <<'PYEOF' || fail "object sizes (above)"
import json, os, sys
sys.path.insert(0, os.environ['SRCDIR'])
from storelayout import Layout, object_path, parity_of
store, show = sys.argv[1], sys.argv[2]
k, m = parity_of(store)
# by hand from docs/store.md for 16 + 2, the default parity
by_hand = {1: 20480, 100: 20480, 3500: 20480, 4096: 20480, 4097: 32768,
           16384: 57344, 16385: 61440, 262145: 315392, 300000: 376832}
bad, total, n = [], 0, 0
for f in json.load(open(show))['files']:
    if not f.get('root'):
        continue
    size = os.path.getsize(object_path(store, f['root']))
    want = Layout(f['length'], k, m).size
    if (k, m) == (16, 2) and by_hand.get(f['length'], want) != want:
        bad.append('storelayout.py gives %d for %d bytes, docs/store.md %d' % (want, f['length'], by_hand[f['length']]))
    if size != want:
        bad.append('%s (%d bytes): object of %d bytes, want %d' % (f['path'], f['length'], size, want))
    total += size
    n += 1
if bad:
    sys.exit('FAIL: ' + '; '.join(bad[:10]))
print(n, total)
PYEOF
read -r NOBJ OBJBYTES <"$T/sizes.txt"
echo "$NOBJ objects, $OBJBYTES bytes (300 files of 3,500 bytes at 20 KiB each)"
sc_ok "$T/status.json" "$T/status.err" store status --store "$S" --json
[[ $(json_get "$T/status.json" disk_bytes) == "$OBJBYTES" ]] ||
	fail "store status --json: expected disk_bytes $OBJBYTES (the object files), saw $(json_get "$T/status.json" disk_bytes)"

# serve_all WHAT: every file over HTTP, byte-identical with the source.
serve_all() {
	serve_identical "$DP_URL/$RID/small" "$TREE" "$1" "${FILES[@]}"
}

# damage WHAT...: flips one byte in each named part (FILE:data, FILE:parityJ,
# FILE:headers for both header sectors zeroed) of the release's objects.
damage() {
	"$PY" - "$S" "$T/show.json" "$@" <<'PYEOF'
import json, os, sys
sys.path.insert(0, os.environ['SRCDIR'])
from storelayout import HDR, Layout, object_path, parity_of
store, show = sys.argv[1], sys.argv[2]
k, m = parity_of(store)
files = {f['path']: f for f in json.load(open(show))['files']}
for what in sys.argv[3:]:
    name, part = what.split(':')
    f = files[name]
    lay = Layout(f['length'], k, m)
    with open(object_path(store, f['root']), 'r+b') as fh:
        if part == 'headers':
            assert lay.table1 == 128, '%s: expected its table in the header sector' % name
            for off in (0, lay.header2):
                fh.seek(off); fh.write(bytes(HDR))
            continue
        if part == 'data':
            off, ln = lay.shard(0, 0)
        else:
            off, ln = lay.shard(0, k + int(part[len('parity'):]))
            assert ln == 4096, '%s: expected a 4 KiB parity shard, it is %d bytes' % (name, ln)
        off += ln // 2 if part != 'data' else min(ln, f['length']) // 2
        fh.seek(off); b = fh.read(1); fh.seek(off); fh.write(bytes([b[0] ^ 0x21]))
PYEOF
}

note "bit rot in two small objects, repaired on read from their short parity"
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 --cache-size 64M
damage many/f007.bin:data one.bin:data one.bin:parity1 || fail "damaging the store (above)"
serve_all "a data block of many/f007.bin and of one.bin bad, and a parity shard of one.bin"
dp_stop 30
dp_expect_counter blocks_repaired 2
dp_expect_counter repair_failures 0
sc_verify "$T/v0" 1 "with two bad data blocks and a bad parity shard" "$S" "$RID"
expect_line "$T/v0.all" "release verify: expected many/f007.bin's bad block named" "many/f007.bin" "XXH3"
expect_line "$T/v0.all" "release verify: expected one.bin's parity shard named" "one.bin" "parity block 2 of 2 of stripe 0"

note "seedctl store scrub --now writes the repairs back"
sc_ok "$T/scrub.json" "$T/scrub.err" store scrub --store "$S" --now --json
"$PY" - "$T/scrub.json" <<'PYEOF' || fail "store scrub --json: counters do not match the damage (above)"
import json, sys
d = json.load(open(sys.argv[1]))
want = dict(blocks_rebuilt=2, parity_rebuilt=1, copies_rewritten=0, tables_rebuilt=0, blocks_lost=0, objects_lost=0)
bad = ['%s: %s, want %s' % (k, d.get(k), v) for k, v in want.items() if d.get(k) != v]
if bad or d.get('whole') is not True:
    sys.exit('FAIL: ' + '; '.join(bad + ['whole: %s' % d.get('whole')]))
print('scrub: counters match: %s' % ', '.join('%s=%s' % kv for kv in want.items()))
PYEOF
sc_verify "$T/v1" 0 "after the scrub" "$S" "$RID"
sc_ok "$T/scrub2.json" "$T/scrub2.err" store scrub --store "$S" --now --json
[[ $(json_get "$T/scrub2.json" found) == "[]" ]] || fail "a second scrub found something: $(cat "$T/scrub2.json")"

note "both header sectors of hundred.bin zeroed: served from a table rebuilt in memory, then rebuilt on disk"
damage hundred.bin:headers || fail "damaging the store (above)"
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 --cache-size 64M
serve_all "both header sectors of hundred.bin zeroed"
dp_stop 30
dp_expect_counter repair_failures 0
sc_ok "$T/scrub3.json" "$T/scrub3.err" store scrub --store "$S" --now --json
[[ $(json_get "$T/scrub3.json" tables_rebuilt) == 1 ]] ||
	fail "store scrub --json: expected tables_rebuilt 1 (hundred.bin), saw: $(cat "$T/scrub3.json")"
sc_verify "$T/v2" 0 "after the table was rebuilt" "$S" "$RID"
"$PY" - "$S" "$T/show.json" <<'PYEOF' || fail "hundred.bin after the rebuild (above)"
import json, os, sys
sys.path.insert(0, os.environ['SRCDIR'])
from storelayout import Layout, object_path, parity_of
store, show = sys.argv[1], sys.argv[2]
k, m = parity_of(store)
f = [x for x in json.load(open(show))['files'] if x['path'] == 'hundred.bin'][0]
lay = Layout(f['length'], k, m)
data = open(object_path(store, f['root']), 'rb').read()
if len(data) != lay.size:
    sys.exit('FAIL: hundred.bin: object of %d bytes, want %d' % (len(data), lay.size))
h1, h2 = data[:128], data[lay.header2:lay.header2 + 128]
t1, t2 = data[lay.table1:lay.table1 + lay.table_len], data[lay.table2:lay.table2 + lay.table_len]
n = lay.n_blocks * 32
l1, l2 = data[lay.leaves1:lay.leaves1 + n], data[lay.leaves2:lay.leaves2 + n]
if h1[:8] != b'SEEDOBJ\0' or int.from_bytes(h1[8:12], 'little') != 5 or t1 != t2 or t1 == bytes(lay.table_len):
    sys.exit('FAIL: hundred.bin: expected version 5 headers and two equal tables in the header sectors')
if l1 != l2 or l1 == bytes(n):
    sys.exit('FAIL: hundred.bin: expected its leaves rebuilt, two equal copies after the tables')
print('hundred.bin: version 5, its tables and leaves rebuilt in the header sectors')
PYEOF
