#!/usr/bin/env bash
# User story: bit rot hits a store object while it is being served. The data
# plane checks every 16 KiB block against its XXH3-128 before sending it; a
# bad block is rebuilt from its stripe's parity when the stripe has at most
# M bad blocks, and refused when it has more, so no client ever gets a bad
# byte. Here one block of the file is bad alone in its stripe (rebuilt),
# and three blocks of another stripe are bad (beyond 16+2 parity):
#  - libtorrent (v1 torrent, which alone could not tell which block is bad)
#    does not complete the damaged file: the piece holding the unrebuildable
#    byte is not had, the downloaded file does not hold the corrupt byte,
#    libtorrent sees no hash failure (the seed never sent a bad block), and
#    every piece it has equals the source;
#  - HTTP: a range covering the unrebuildable blocks fails (curl exits
#    non-zero) after delivering only correct bytes that stop before them;
#    ranges elsewhere, the rebuilt block's too, succeed with the right bytes;
#  - with --workers 1, the counters say blocks_repaired=1 (the rebuilt block
#    is read and rebuilt once, then served from the cache) and at most four
#    verify failures (each bad block is detected once and remembered,
#    however often it is asked for), at least one beyond repair.
#
# Store layout relied on (docs/store.md): objects are S/objects/<2
# hex>/<root>.obj, where root is the file's v2 merkle root (release show
# --json), data at byte 4096; the store's FORMAT names its parity K+M, a
# stripe is K consecutive 16 KiB blocks.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
require_cmds curl

HDR=4096
S=$T/store
TREE=$T/src/patch
KNOWN=assets/known.bin
gen_file "$TREE/$KNOWN" $((3 * 1024 * 1024 + 1234))
gen_file "$TREE/assets/other.bin" $((1024 * 1024 + 7))
gen_file "$TREE/top.txt" 1234
KSIZE=$(stat -c %s "$TREE/$KNOWN")

sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name patch --version 1 --v1-only --json "$TREE"
ID=$(json_get "$T/c.json" id)
TORRENT=$(json_get "$T/c.json" torrent)
sc_ok "$T/show.json" "$T/show.err" release show --store "$S" --json "$ID"
ROOT=$("$PY" - "$T/show.json" "$KNOWN" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1], encoding='utf-8'))
print(next((f.get('root') for f in d.get('files', []) if f.get('path') == sys.argv[2]), '__MISSING__'))
EOF
)
[[ $ROOT =~ ^[0-9a-f]{64}$ ]] || fail "release show --json $ID: expected a 64-hex root for $KNOWN, saw '$ROOT'"
OBJ=$S/objects/${ROOT:0:2}/$ROOT.obj
[[ -f $OBJ ]] || fail "expected the object of $KNOWN at $OBJ, no such file"

# The byte to flip: mid-file, in a 16 KiB block of its own; its source value
# must not be 0xff, so that the corrupt value (inverted) is not 0, which an
# unwritten byte of a sparse download would read as.
OFF=$((KSIZE / 2 + 777))
for ((i = 0; i < 64; i++)); do
	orig=$(od -An -tu1 -j "$OFF" -N1 "$TREE/$KNOWN" | tr -d ' ')
	((orig != 255)) && break
	OFF=$((OFF + 1))
done
((orig != 255)) || fail "could not find a byte != 0xff near the middle of $KNOWN (random data?)"
BAD=$((orig ^ 255))
BLOCK=$((OFF / 16384 * 16384))
store_parity "$S"
((PM == 2)) || fail "this test damages 3 blocks of one stripe to go beyond the parity; it expects M = 2, the store has $PK+$PM"
# OFF's block and the two next to it in its stripe (before it when it is
# among the last two): three bad blocks, one more than the parity rebuilds
B=$((OFF / 16384))
POS=$((B % PK))
if ((POS + 2 < PK)); then LOB=$B; else LOB=$((B - 2)); fi
LO=$((LOB * 16384)) HI=$(((LOB + 3) * 16384))
((HI <= KSIZE)) || fail "expected three whole blocks at $LO..$HI inside $KNOWN ($KSIZE bytes)"
# one block alone in another stripe: rebuilt
R=$(((B / PK == 0 ? PK : 0) + 3))
ROFF=$((R * 16384 + 100))
note "flipping a byte in each of blocks $LOB..$((LOB + 2)) of $KNOWN (stripe $((B / PK)); byte $OFF 0x$(printf %02x "$orig") -> 0x$(printf %02x "$BAD") among them) and byte $ROFF (block $R, alone in stripe $((R / PK))) in $OBJ"
for b in $LOB $((LOB + 1)) $((LOB + 2)) $R; do
	at=$((b * 16384 + 100))
	((b == B)) || invert_byte "$OBJ" $((HDR + at))
done
"$PY" - "$OBJ" $((HDR + OFF)) "$orig" <<'EOF' || exit 1
import sys
path, off, orig = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, 'r+b') as f:
    f.seek(off)
    b = f.read(1)
    if not b or b[0] != orig:
        sys.exit('FAIL: expected byte %d of %s to hold the source byte 0x%02x, saw %r' % (off, path, orig, b))
    f.seek(off)
    f.write(bytes([orig ^ 0xff]))
EOF

dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 --cache-size 64M \
	--stats-file "$T/dp.stats"

note "libtorrent on the v1 torrent: must not get the corrupt byte"
rc=0
"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 30 --allow-incomplete --settle 8 \
	--job "$T/lt" "$TORRENT" --check-had "$(dirname "$TREE")" --forbid "$KNOWN" "$OFF" "$BAD" \
	--report "$T/lt.json" || rc=$?
((rc == 0)) || fail "libtorrent against the corrupt store: see the FAIL lines above"
"$PY" - "$T/lt.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))[0]
print('libtorrent: %d/%s pieces had after %.1fs, piece %s (the corrupt one) not had; peer events: %s'
      % (len(r['have']), r['num_pieces'], r['seconds'], r['forbidden_piece'],
         ' | '.join(r['peer_events'][-3:]) or 'none'))
EOF
# The other two files do not share a piece with the bad block: informational.
for f in assets/other.bin top.txt; do
	if [[ -f $T/lt/patch/$f ]] && cmp -s "$T/lt/patch/$f" "$TREE/$f"; then
		echo "libtorrent: $f complete and correct"
	else
		echo "libtorrent: $f not complete (information only)"
	fi
done

KURL="$DP_URL/$ID/patch/$KNOWN"
note "HTTP: ranges covering the unrebuildable blocks fail without delivering a bad byte"
# bad_range A B: curl -r A-B must exit non-zero, delivering only a correct
# prefix of the range that ends before byte OFF (and the other bad blocks).
bad_range() {
	local a=$1 b=$2 what="curl -f -r $1-$2 $KURL" got
	http_get "$KURL" "$T/bad.body" "$T/bad.hdr" -f -r "$a-$b"
	((CURL_RC != 0)) || fail "$what: expected curl to fail (blocks $LO..$HI are corrupt in the store, beyond the parity), it exited 0 with status $HTTP_CODE and $(stat -c %s "$T/bad.body") bytes"
	got=0
	[[ -f $T/bad.body ]] && got=$(stat -c %s "$T/bad.body")
	((got <= OFF - a)) || fail "$what: expected at most $((OFF - a)) bytes (stopping before the corrupt byte $OFF), saw $got"
	if ((got > 0)); then
		same_bytes_as_source "$TREE/$KNOWN" "$a" "$got" "$T/bad.body" "$what (the part delivered before failing)"
	fi
	echo "$what: curl exit $CURL_RC, status $HTTP_CODE, $got bytes delivered, all correct"
}
bad_range $((BLOCK - 50000)) $((BLOCK + 40000))
bad_range "$OFF" "$OFF"
bad_range 0 $((KSIZE - 1))

note "HTTP: ranges elsewhere in the same file succeed, the rebuilt block's too"
good_range() {
	local a=$1 b=$2
	http_get "$KURL" "$T/good.body" "$T/good.hdr" -f -r "$a-$b"
	((CURL_RC == 0)) || fail "curl -r $a-$b $KURL: expected exit 0 (the range avoids the unrebuildable blocks at $LO..$HI), saw $CURL_RC ($(cat "$T/good.body.curlerr"))"
	[[ $HTTP_CODE == 206 ]] || fail "curl -r $a-$b $KURL: expected status 206, saw $HTTP_CODE"
	same_bytes_as_source "$TREE/$KNOWN" "$a" $((b - a + 1)) "$T/good.body" "curl -r $a-$b $KURL"
}
good_range 0 $((LO - 1))
good_range "$HI" $((KSIZE - 1))
good_range $((LO - 100)) $((LO - 1))
good_range $((ROFF - 1000)) $((ROFF + 1000))
good_range 100 200000

note "HTTP: the other file of the release is unaffected"
http_get "$DP_URL/$ID/patch/assets/other.bin" "$T/other.body" "$T/other.hdr" -f
((CURL_RC == 0)) || fail "GET $DP_URL/$ID/patch/assets/other.bin: expected exit 0, saw $CURL_RC"
cmp -s "$T/other.body" "$TREE/assets/other.bin" || fail "GET assets/other.bin: expected the source bytes, they differ"

note "live counters (seedctl stats) while it runs"
sc_ok "$T/stats.json" "$T/stats.err" stats --file "$T/dp.stats" --json
vf=$(json_get "$T/stats.json" verify_failures)
((vf >= 2 && vf <= 4)) || fail "seedctl stats --json: expected 2 to 4 verify_failures while the data plane runs (the rebuilt block, and each unrebuildable one at most once), saw $vf"
rb=$(json_get "$T/stats.json" blocks_repaired)
[[ $rb == 1 ]] || fail "seedctl stats --json: expected blocks_repaired 1 (block $R, rebuilt once and then cached), saw $rb"
rf=$(json_get "$T/stats.json" repair_failures)
((rf >= 1 && rf <= 3)) || fail "seedctl stats --json: expected 1 to 3 repair_failures (blocks $LOB..$((LOB + 2)), each once), saw $rf"
refused=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["refusals"]["corrupt_block"])' "$T/stats.json")
((refused >= 2)) || fail "seedctl stats --json: expected refusals.corrupt_block >= 2 (a libtorrent request and a curl range hit the block), saw $refused"
rel_bytes=$("$PY" -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(sum(r["bytes"]["http"] for r in d["releases"] if r["id"] == sys.argv[2]))' "$T/stats.json" "$ID")
http_bytes=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["payload_bytes"]["http"])' "$T/stats.json")
((rel_bytes > 0 && rel_bytes == http_bytes)) || fail "seedctl stats --json: expected the release $ID to account for all $http_bytes HTTP payload bytes, it has $rel_bytes"
sc_ok "$T/stats.txt" "$T/stats.err" stats --file "$T/dp.stats"
grep -q '^data plane pid [0-9]*, 1 workers$' "$T/stats.txt" || fail "seedctl stats: expected a first line 'data plane pid N, 1 workers', saw: $(head -1 "$T/stats.txt")"

note "stopping seed-dataplane (--workers 1)"
dp_stop 30
echo "$DP_STOPPED"
dp_expect_counter blocks_repaired 1
vf=$(dp_counter verify_failures)
((vf >= 2 && vf <= 4)) || fail "seed-dataplane stopped line: expected 2 to 4 verify_failures, saw $vf ($DP_STOPPED)"
n=$(grep -c "block $R: rebuilt from its stripe's parity" "$DP_ERR" || true)
((n == 1)) || { cat "$DP_ERR" >&2; fail "seed-dataplane stderr: expected one line saying block $R was rebuilt, saw $n"; }
note "the store repaired while the data plane runs: served again once the quarantine lapses"
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 --cache-size 64M \
	--quarantine-time 1500
KURL="$DP_URL/$ID/patch/$KNOWN"
http_get "$KURL" "$T/q.body" "$T/q.hdr" -f -r "$OFF-$OFF"
((CURL_RC != 0)) || fail "GET -r $OFF-$OFF: expected the byte beyond repair refused, curl exit 0"
# the three blocks written back from the source, as a repair would
dd if="$TREE/$KNOWN" of="$OBJ" bs=4096 skip=$((LO / 4096)) seek=$(((HDR + LO) / 4096)) count=$(((HI - LO) / 4096)) conv=notrunc status=none
http_get "$KURL" "$T/q.body" "$T/q.hdr" -f -r "$OFF-$OFF"
((CURL_RC != 0)) || fail "GET -r $OFF-$OFF right after the repair: expected it still refused unread (quarantined for 1.5 s), curl exit 0"
sleep 2
http_get "$KURL" "$T/q.body" "$T/q.hdr" -f -r "$LO-$((HI - 1))"
((CURL_RC == 0)) || fail "GET -r $LO-$((HI - 1)) once the quarantine lapsed: expected the repaired blocks served, curl exit $CURL_RC"
same_bytes_as_source "$TREE/$KNOWN" "$LO" $((HI - LO)) "$T/q.body" "GET -r $LO-$((HI - 1)) after the repair"
dp_stop 30
echo "repaired blocks: refused while quarantined, served once it lapsed"

note "a rebuilt block that matches its XXH3-128 but not its SHA-256 leaf is refused"
# In assets/other.bin's object (version 5: its leaves after each table copy,
# in the header sectors) the leaf of block 10 is made wrong in both copies,
# with its group's table entry and the headers' checksums made to agree
# (XXH3-128 through libxxhash), as a table written wrong would be; then the
# block itself rots. Its stripe rebuilds the right bytes, which match their
# XXH3-128, and the leaf check refuses them. Block 40 rots too, with its
# leaf intact: rebuilt and served.
OROOT=$("$PY" -c 'import json,sys; print(next(f["root"] for f in json.load(open(sys.argv[1]))["files"] if f["path"] == "assets/other.bin"))' "$T/show.json")
OOBJ=$S/objects/${OROOT:0:2}/$OROOT.obj
"$PY" - "$OOBJ" "$PK" "$PM" $((1024 * 1024 + 7)) <<'EOF' || fail "could not prepare the wrong leaf (above)"
import ctypes, os, sys
sys.path.insert(0, os.environ['SRCDIR'])
from storelayout import Layout
path, k, m, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
lib = ctypes.CDLL('libxxhash.so.0')
class H(ctypes.Structure):
    _fields_ = [('low64', ctypes.c_uint64), ('high64', ctypes.c_uint64)]
lib.XXH3_128bits.restype = H
lib.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
def xxh(b):
    h = lib.XXH3_128bits(b, len(b))
    return h.high64.to_bytes(8, 'big') + h.low64.to_bytes(8, 'big')
lay = Layout(length, k, m)
if lay.n_leafgrp != 1 or lay.table1 != 128:
    sys.exit('FAIL: expected one leaf group in the header sectors, layout says %d at %d' % (lay.n_leafgrp, lay.table1))
with open(path, 'r+b') as f:
    for table, leaves, hdr in ((lay.table1, lay.leaves1, 0), (lay.table2, lay.leaves2, lay.header2)):
        f.seek(leaves); lv = bytearray(f.read(lay.n_blocks * 32))
        lv[10 * 32] ^= 0xff
        f.seek(leaves); f.write(lv)
        f.seek(table); t = bytearray(f.read(lay.table_len))
        e = lay.n_blocks + lay.n_parity
        t[e * 16:e * 16 + 16] = xxh(bytes(lv))
        f.seek(table); f.write(t)
        f.seek(hdr); h = bytearray(f.read(128))
        h[80:96] = xxh(bytes(t))
        h[112:128] = xxh(bytes(h[:112]))
        f.seek(hdr); f.write(h)
EOF
sc "$T/lv.out" "$T/lv.err" release verify --store "$S" "$ID"
((SC_RC == 1)) || fail "release verify after the leaf was made wrong: expected exit 1, saw $SC_RC"
grep -q "assets/other.bin offset 163840 length 16384: block SHA-256 leaf mismatch" "$T/lv.out" "$T/lv.err" ||
	fail "release verify: expected block 10 of assets/other.bin named by its leaf, saw: $(cat "$T/lv.out" "$T/lv.err")"
! grep -q "other.bin.*copy" "$T/lv.out" "$T/lv.err" || fail "release verify: expected both metadata and leaves copies of assets/other.bin intact: $(cat "$T/lv.err")"
invert_byte "$OOBJ" $((HDR + 10 * 16384 + 200))
invert_byte "$OOBJ" $((HDR + 40 * 16384 + 200))
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 --cache-size 64M \
	--stats-file "$T/dp-leaf.stats"
OURL="$DP_URL/$ID/patch/assets/other.bin"
http_get "$OURL" "$T/lf.body" "$T/lf.hdr" -f -r $((10 * 16384 + 100))-$((10 * 16384 + 300))
((CURL_RC != 0)) || fail "GET -r in block 10 of assets/other.bin: expected it refused (its leaf does not match), curl exit 0"
http_get "$OURL" "$T/lf.body" "$T/lf.hdr" -f -r $((40 * 16384))-$((41 * 16384 - 1))
((CURL_RC == 0)) || fail "GET -r block 40 of assets/other.bin: expected it rebuilt and served, curl exit $CURL_RC"
same_bytes_as_source "$TREE/assets/other.bin" $((40 * 16384)) 16384 "$T/lf.body" "block 40 of assets/other.bin, rebuilt"
sc_ok "$T/lf.json" "$T/lf.err" stats --file "$T/dp-leaf.stats" --json
lfj=$(json_get "$T/lf.json" leaf_failures)
[[ $lfj == 1 ]] || fail "seedctl stats --json: expected leaf_failures 1 (block 10 refused on its leaf), saw '$lfj'"
dp_stop 30
dp_expect_counter blocks_repaired 1
dp_expect_counter leaf_failures 1
dp_expect_counter repair_failures 1
n=$(grep -c "block 10: rebuilt from its stripe's parity, but it matches its XXH3-128 but not its SHA-256 leaf; refused" "$DP_ERR" || true)
((n == 1)) || { cat "$DP_ERR" >&2; fail "seed-dataplane stderr: expected one line refusing block 10 on its leaf, saw $n"; }
echo "block 10: rebuilt, refused on its SHA-256 leaf; block 40: rebuilt and served"
echo "PASS: test_dataplane_corrupt"
