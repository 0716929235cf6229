#!/usr/bin/env bash
# User story: bit rot in the store is found by `release verify`, which names
# the file and the 16 KiB block (its byte offset in the file) that went bad,
# and exits 1; an intact release verifies with exit 0. A damaged object
# header is reported too. `release ls --json` lists the release.
#
# Store layout relied on: objects are S/objects/<2 hex>/<root>.obj, where
# root is the file's v2 merkle root (release show --json), with the file's
# data starting at byte 4096 (after a 4 KiB header).
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup

S=$T/store
TREE=$T/src/patch
KNOWN=assets/known.bin
gen_file "$TREE/$KNOWN" 100000
gen_file "$TREE/assets/other.bin" 50000
gen_file "$TREE/top.txt" 1234
HDR=4096
DATA_OFF=40000
BLOCK_OFF=32768 # 16 KiB block 2 holds offset 40000

# flip FILE OFFSET: invert every bit of the byte at OFFSET, in place.
flip() {
	"$PY" - "$1" "$2" <<'EOF'
import os, sys
path, off = sys.argv[1], int(sys.argv[2])
size = os.path.getsize(path)
if off >= size:
    sys.exit('FAIL: cannot flip byte %d of %s: it is only %d bytes long' % (off, path, size))
with open(path, 'r+b') as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0xff]))
EOF
}

sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name patch --version 7.3 --json "$TREE"
ID=$(json_get "$T/c.json" id)

note "ls --json lists the release"
ls_json "$S" "$T/ls.json"
"$PY" - "$T/ls.json" "$ID" <<'EOF' || exit 1
import json, sys
d = json.load(open(sys.argv[1], encoding='utf-8'))
want = {'id': sys.argv[2], 'tenant': 'acme', 'name': 'patch', 'version': '7.3'}
for r in d:
    if isinstance(r, dict) and all(r.get(k) == v for k, v in want.items()):
        sys.exit(0)
sys.exit('FAIL: release ls --json: expected an entry with %s, saw %.500s' % (want, json.dumps(d)))
EOF

note "intact release verifies"
sc_verify "$T/v0" 0 "$ID on an intact store" "$S" "$ID"

sc_ok "$T/show.json" "$T/show.err" release show --store "$S" --json "$ID"
ROOT=$("$PY" - "$T/show.json" "$KNOWN" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1], encoding='utf-8'))
for f in d.get('files', []):
    if f.get('path') == sys.argv[2]:
        print(f.get('root'))
        break
else:
    print('__MISSING__')
EOF
)
[[ $ROOT =~ ^[0-9a-f]{64}$ ]] || fail "release show --json $ID: expected a 64-hex root for $KNOWN, saw '$ROOT'"
OBJ=$S/objects/${ROOT:0:2}/$ROOT.obj
[[ -f $OBJ ]] || fail "expected the object of $KNOWN at $OBJ, no such file (objects: $(objects_in "$S" | tr '\n' ' '))"
objsize=$(stat -c %s "$OBJ")
((objsize >= HDR + 100000)) || fail "expected $OBJ to hold a 4096-byte header + 100000 data bytes, it is $objsize bytes"
cp "$OBJ" "$T/obj.orig"

note "flip data byte at file offset $DATA_OFF"
flip "$OBJ" $((HDR + DATA_OFF))
sc_verify "$T/v1" 1 "after flipping data byte $DATA_OFF of $KNOWN" "$S" "$ID"
expect_line "$T/v1.all" "release verify: expected a line naming '$KNOWN' and 'offset $BLOCK_OFF' (the 16 KiB block holding byte $DATA_OFF), not found in the output above" \
	"$KNOWN" "offset $BLOCK_OFF([^0-9]|\$)"
expect_lines 1 "$T/v1.all" "release verify: expected exactly one corrupt-block line, a line with 'offset N' (one byte flipped)" \
	"" 'offset [0-9]+'

note "restored object verifies again"
cp "$T/obj.orig" "$OBJ"
sc_verify "$T/v2" 0 "after restoring the object" "$S" "$ID"

note "flip header byte 100"
flip "$OBJ" 100
sc_verify "$T/v3" 1 "after flipping header byte 100 of $OBJ" "$S" "$ID"
expect_line "$T/v3.all" "release verify after damaging the header of $OBJ: expected the output to name '$KNOWN' or its object $ROOT, it does not" \
	"" "$KNOWN|$ROOT"
cp "$T/obj.orig" "$OBJ"
sc_verify "$T/v4" 0 "after restoring the header" "$S" "$ID"
echo "PASS: test_verify_corrupt"
