#!/usr/bin/env bash
# User story: the block table of one file of a release is wiped out on disk
# (here: overwritten with zeros). That file alone goes off the air:
#  - seed-dataplane still starts and serves every other file of the release
#    over HTTP, byte-identical with the source, and refuses the damaged one
#    (an error status or a cut transfer, never a wrong byte), logging one
#    line that names the damaged object; its blocks count as corrupt_block
#    refusals and are never read (verify_failures stays 0);
#  - `seedctl release verify` names the damaged file, exits 1, and still
#    checks the other files (a flipped data byte in another file is named
#    in the same run).
#
# Store layout relied on (docs/store.md, "Objects"): an object is
# S/objects/<2 hex>/<root>.obj with the file's data at byte 4096 and its
# block table (16 bytes per 16 KiB block) at 4096 + the length rounded up to
# 4 KiB. The offsets are computed here from that rule.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
require_cmds curl

HDR=4096
BLOCK=16384
S=$T/store
TREE=$T/src/heal
BIG=data/big.bin
gen_tree "$TREE" "$BIG" $((5 * 1024 * 1024 + 4321)) data/mid.bin $((1024 * 1024 + 7)) \
	small.bin 20000 one.bin 1 "docs/read me.txt" 1234 deep/a/b.bin 70001
mapfile -t FILES < <(cd "$TREE" && find . -type f -printf '%P\n' | sort)
((${#FILES[@]} == 6)) || fail "expected 6 files in the generated tree, saw ${#FILES[@]}"
BIGSIZE=$(stat -c %s "$TREE/$BIG")
for f in "${FILES[@]}"; do
	(($(stat -c %s "$TREE/$f") < BIGSIZE)) || [[ $f == "$BIG" ]] ||
		fail "expected $BIG to be the largest file, $f is not smaller"
done

sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name heal --version 1 --json "$TREE"
ID=$(json_get "$T/c.json" id)
sc_ok "$T/show.json" "$T/show.err" release show --store "$S" --json "$ID"
# root_of PATH: the file's v2 pieces root from release show --json.
root_of() {
	"$PY" - "$T/show.json" "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1], encoding='utf-8'))
print(next((f.get('root') for f in d.get('files', []) if f.get('path') == sys.argv[2]), '__MISSING__'))
EOF
}
obj_of() {
	local root
	root=$(root_of "$1")
	[[ $root =~ ^[0-9a-f]{64}$ ]] || fail "release show --json $ID: expected a 64-hex root for $1, saw '$root'"
	echo "$S/objects/${root:0:2}/$root.obj"
}
BIGOBJ=$(obj_of "$BIG")
[[ -f $BIGOBJ ]] || fail "expected the object of $BIG at $BIGOBJ, no such file"

# zero_at FILE OFF LEN: LEN zero bytes over FILE at OFF (the file keeps its size).
zero_at() {
	dd if=/dev/zero of="$1" bs=1 seek="$2" count="$3" conv=notrunc status=none
}
# flip FILE OFF: invert the byte at OFF.
flip() {
	"$PY" - "$1" "$2" <<'EOF'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0xff]))
EOF
}

NBLOCKS=$(((BIGSIZE + BLOCK - 1) / BLOCK))
TABLE=$((HDR + (BIGSIZE + 4095) / 4096 * 4096))
TABLE_LEN=$((NBLOCKS * 16))
((TABLE + TABLE_LEN <= $(stat -c %s "$BIGOBJ"))) ||
	fail "expected the block table of $BIG ($TABLE_LEN bytes at $TABLE) inside $BIGOBJ ($(stat -c %s "$BIGOBJ") bytes)"
# the table must not already be zeros, or the test below would prove nothing
[[ $(dd if="$BIGOBJ" bs=1 skip="$TABLE" count=16 status=none | od -An -tx1 | tr -d ' \n') != 00000000000000000000000000000000 ]] ||
	fail "expected the first entry of $BIG's block table at $TABLE to be a checksum, it is zeros"

note "zeros over the block table of $BIG ($TABLE_LEN bytes at $TABLE)"
zero_at "$BIGOBJ" "$TABLE" "$TABLE_LEN"

note "release verify names $BIG and still checks the other files"
MIDOBJ=$(obj_of data/mid.bin)
MIDOFF=$((3 * BLOCK + 5))
cp "$MIDOBJ" "$T/mid.orig"
flip "$MIDOBJ" $((HDR + MIDOFF))
sc "$T/v1.out" "$T/v1.err" release verify --store "$S" "$ID"
cat "$T/v1.out" "$T/v1.err" >"$T/v1.all"
((SC_RC == 1)) || { cat "$T/v1.all" >&2; fail "release verify with $BIG's table zeroed: expected exit 1, saw $(describe_rc "$SC_RC")"; }
grep -F "$BIG" "$T/v1.all" | grep -q "block table" || {
	cat "$T/v1.all" >&2
	fail "release verify: expected a line naming $BIG and its block table, none above"
}
grep -F data/mid.bin "$T/v1.all" | grep -Eq "offset $((3 * BLOCK))([^0-9]|\$)" || {
	cat "$T/v1.all" >&2
	fail "release verify: expected data/mid.bin's block at offset $((3 * BLOCK)) to be named too (the other files are still checked), not in the output above"
}
cp "$T/mid.orig" "$MIDOBJ"

dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 --cache-size 64M \
	--stats-file "$T/dp.stats"
nlog=$(grep -cF "$BIGOBJ" "$DP_ERR" || true)
((nlog == 1)) || { cat "$DP_ERR" >&2; fail "seed-dataplane stderr: expected one line naming the damaged object $BIGOBJ, saw $nlog"; }

note "HTTP: every other file is served, byte-identical"
for f in "${FILES[@]}"; do
	[[ $f == "$BIG" ]] && continue
	url="$DP_URL/$ID/heal/$(url_path "$f")"
	http_get "$url" "$T/got" "$T/got.hdr" -f
	((CURL_RC == 0)) || fail "GET $url: expected exit 0 (only $BIG is damaged), saw $CURL_RC, status $HTTP_CODE ($(cat "$T/got.curlerr"))"
	cmp -s "$T/got" "$TREE/$f" || fail "GET $url: expected the bytes of $TREE/$f, they differ"
	echo "$f: served, $(stat -c %s "$T/got") bytes identical"
done

note "HTTP: $BIG is refused, never served wrong"
BURL="$DP_URL/$ID/heal/$BIG"
for range in "" "-r 0-99" "-r $((2 * BLOCK + 3))-$((5 * BLOCK))" "-r $((BIGSIZE - 10))-$((BIGSIZE - 1))"; do
	# shellcheck disable=SC2086 # the range is one option and its value
	http_get "$BURL" "$T/big" "$T/big.hdr" -f $range
	((CURL_RC != 0)) || fail "GET $BURL $range: expected curl to fail (the object's table is gone), it exited 0 with status $HTTP_CODE"
	got=0
	[[ -f $T/big ]] && got=$(stat -c %s "$T/big")
	((got == 0)) || fail "GET $BURL $range: expected no body byte (no block of the object can be checked), saw $got bytes"
	echo "GET $BIG ${range:-whole}: refused (curl exit $CURL_RC, status $HTTP_CODE)"
done

sc_ok "$T/stats.json" "$T/stats.err" stats --file "$T/dp.stats" --json
refused=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["refusals"]["corrupt_block"])' "$T/stats.json")
((refused >= 4)) || fail "seedctl stats --json: expected refusals.corrupt_block >= 4 (four requests for $BIG), saw $refused"

dp_stop 30
echo "$DP_STOPPED"
dp_expect_counter verify_failures 0
dp_expect_counter storage_errors 0
echo "PASS: test_store_heal"
