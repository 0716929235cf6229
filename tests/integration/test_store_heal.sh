#!/usr/bin/env bash
# User story: the block table of one file of a release is wiped out on disk
# (here: overwritten with zeros).
#  1. One of its two copies: nothing goes off the air. seed-dataplane serves
#     every file, the damaged one too, byte-identical, logging one line that
#     names the bad copy; `seedctl release verify` reports the bad copy and
#     exits 1 (the redundancy is gone until the release is rewritten).
#  2. Both copies, the data whole: every file of the release is still
#     served. seed-dataplane rebuilds the table in memory from the data
#     (whose merkle root is the object's name), logging one line, and serves
#     every file byte-identical; `seedctl release verify` names the bad
#     copies (exit 1) and still checks the other files; `seedctl store scrub
#     --now` rebuilds the table on disk (tables_rebuilt 1) and verify then
#     exits 0.
#  2b. Both copies and a data byte of the file: nothing to rebuild from, so
#     that file alone goes off the air:
#  - seed-dataplane still starts and serves every other file of the release
#    over HTTP, byte-identical with the source, and refuses the damaged one
#    (an error status or a cut transfer, never a wrong byte), logging one
#    line that names the damaged object; its blocks count as corrupt_block
#    refusals and are never read (verify_failures stays 0);
#  - libtorrent, on the release's torrent, gets every piece of every other
#    file (each equal to the source) and no piece of the damaged one, and
#    sees no hash failure;
#  - `seedctl release verify` names the damaged file, exits 1, and still
#    checks the other files (a flipped data byte in another file is named
#    in the same run).
#  3. The store's FORMAT says 1 (the layout before the second copy): every
#     seedctl command and seed-dataplane refuse it with one line saying to
#     create the releases again in a new store, exit 1, store unchanged.
#  4. Copy 1 of the release's manifest damaged: seed-dataplane serves every
#     file from copy 2, logging one line that names the bad copy; `seedctl
#     release verify` names the manifest copy and exits 1; the next writer
#     (a create of another release) rewrites copy 1, and verify exits 0.
#     Copy 2 damaged alone: the same, but the data plane, which reads copy
#     2 only when copy 1 is bad, says nothing. Both copies
#     damaged: that release alone is not served (one line says so); the
#     data plane starts and serves the store's other releases.
#
# Store layout relied on (docs/store.md, "Objects", "Parity"): an object is
# S/objects/<2 hex>/<root>.obj with the file's data at byte 4096, then the
# first block table (16 bytes per 16 KiB block, data blocks then parity
# blocks: M per stripe of K blocks, K+M from the store's FORMAT) at 4096 +
# the length rounded up to 4 KiB, the second right after it at the next
# 4 KiB boundary. A manifest is S/releases/<id>.rel, its copy 2 <id>.rel.2.
# The offsets are computed here from those rules.
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
RID=$(json_get "$T/c.json" id)
RTORRENT=$(json_get "$T/c.json" torrent)
[[ -f $RTORRENT ]] || fail "release create --json: expected \"torrent\" to name a file, saw '$RTORRENT'"
sc_ok "$T/show.json" "$T/show.err" release show --store "$S" --json "$RID"
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
	[[ $root =~ ^[0-9a-f]{64}$ ]] || fail "release show --json $RID: expected a 64-hex root for $1, saw '$root'"
	echo "$S/objects/${root:0:2}/$root.obj"
}
BIGOBJ=$(obj_of "$BIG")
[[ -f $BIGOBJ ]] || fail "expected the object of $BIG at $BIGOBJ, no such file"

# zero_at FILE OFF LEN: LEN zero bytes over FILE at OFF (the file keeps its size).
zero_at() {
	dd if=/dev/zero of="$1" bs=1 seek="$2" count="$3" conv=notrunc status=none
}

store_parity "$S"
NBLOCKS=$(((BIGSIZE + BLOCK - 1) / BLOCK))
NPARITY=$(((NBLOCKS + PK - 1) / PK * PM))
# version 5: an entry per group of 128 leaves, and the leaves (32 bytes a
# block) after each table copy, in the same sectors
NLEAFGRP=$(((NBLOCKS + 127) / 128))
TABLE=$((HDR + (BIGSIZE + 4095) / 4096 * 4096))
TABLE_LEN=$(((NBLOCKS + NPARITY + NLEAFGRP) * 16))
TABLE2=$((TABLE + (TABLE_LEN + NBLOCKS * 32 + 4095) / 4096 * 4096))
((TABLE2 + TABLE_LEN <= $(stat -c %s "$BIGOBJ"))) ||
	fail "expected the second block table of $BIG ($TABLE_LEN bytes at $TABLE2) inside $BIGOBJ ($(stat -c %s "$BIGOBJ") bytes)"
# both copies hold the same checksums, not zeros, or the test would prove nothing
t1=$(dd if="$BIGOBJ" bs=1 skip="$TABLE" count="$TABLE_LEN" status=none | sha256sum)
t2=$(dd if="$BIGOBJ" bs=1 skip="$TABLE2" count="$TABLE_LEN" status=none | sha256sum)
zeros=$(head -c "$TABLE_LEN" /dev/zero | sha256sum)
[[ $t1 == "$t2" && $t1 != "$zeros" ]] ||
	fail "expected two equal, non-zero block tables of $TABLE_LEN bytes at $TABLE and $TABLE2 in $BIGOBJ"

# serve_files WHAT FILE...: each FILE fetched whole over HTTP, byte-identical.
serve_files() {
	local what=$1 f url
	shift
	for f in "$@"; do
		url="$DP_URL/$RID/heal/$(url_path "$f")"
		http_get "$url" "$T/got" "$T/got.hdr" -f
		((CURL_RC == 0)) || fail "GET $url ($what): expected exit 0, saw $CURL_RC, status $HTTP_CODE ($(cat "$T/got.curlerr"))"
		cmp -s "$T/got" "$TREE/$f" || fail "GET $url ($what): expected the bytes of $TREE/$f, they differ"
		echo "$f: served, $(stat -c %s "$T/got") bytes identical"
	done
}

note "1. zeros over the first block table of $BIG ($TABLE_LEN bytes at $TABLE)"
zero_at "$BIGOBJ" "$TABLE" "$TABLE_LEN"
sc_verify "$T/v0" 1 "with one table copy of $BIG zeroed" "$S" "$RID"
expect_line "$T/v0.all" "release verify: expected a line naming $BIG and its bad copy 1 of 2, none above" \
	"$BIG" "copy 1 of 2"
expect_lines 1 "$T/v0.out" "release verify: expected one 'corrupt:' line (the bad copy; the data is intact)" \
	"" '^corrupt: '
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 --cache-size 64M
serve_files "one table copy of $BIG zeroed" "${FILES[@]}"
# tables are read when first needed (docs/dataplane.md): once served
expect_lines 1 "$DP_ERR" "seed-dataplane stderr: expected one line naming $BIGOBJ and its bad copy 1" \
	"$BIGOBJ" "copy 1"
dp_stop 30
dp_expect_counter verify_failures 0

note "2. zeros over the second block table of $BIG too ($TABLE_LEN bytes at $TABLE2)"
zero_at "$BIGOBJ" "$TABLE2" "$TABLE_LEN"

note "release verify names $BIG and still checks the other files"
MIDOBJ=$(obj_of data/mid.bin)
MIDOFF=$((3 * BLOCK + 5))
cp "$MIDOBJ" "$T/mid.orig"
invert_byte "$MIDOBJ" $((HDR + MIDOFF))
sc_verify "$T/v1" 1 "with $BIG's table zeroed" "$S" "$RID"
expect_line "$T/v1.all" "release verify: expected a line naming $BIG and its block table, none above" \
	"$BIG" "both copies" "block table"
expect_line "$T/v1.all" "release verify: expected data/mid.bin's block at offset $((3 * BLOCK)) to be named too (the other files are still checked), not in the output above" \
	data/mid.bin "offset $((3 * BLOCK))([^0-9]|\$)"
cp "$T/mid.orig" "$MIDOBJ"

note "seed-dataplane rebuilds $BIG's table from its data and serves every file"
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 --cache-size 64M
serve_files "both table copies of $BIG zeroed" "${FILES[@]}"
expect_lines 1 "$DP_ERR" "seed-dataplane stderr: expected one line saying $BIG's table ($BIGOBJ) was rebuilt in memory" \
	"$BIGOBJ" "rebuilt in memory"
dp_stop 30
dp_expect_counter verify_failures 0

note "seedctl store scrub --now writes the table back"
sc_ok "$T/scrub.json" "$T/scrub.err" store scrub --store "$S" --now --json
[[ $(json_get "$T/scrub.json" tables_rebuilt) == 1 ]] ||
	fail "store scrub --json: expected tables_rebuilt 1, saw: $(cat "$T/scrub.json")"
sc_verify "$T/v2" 0 "after the scrub rebuilt $BIG's table" "$S" "$RID"
t1=$(dd if="$BIGOBJ" bs=1 skip="$TABLE" count="$TABLE_LEN" status=none | sha256sum)
[[ $t1 != "$zeros" ]] || fail "after the scrub: expected $BIG's first table rewritten, it is still zeros"
echo "store scrub: $BIG's table rebuilt on disk, release verify exits 0"

note "2b. both tables zeroed again and a data byte of $BIG flipped: $BIG alone goes off the air"
zero_at "$BIGOBJ" "$TABLE" "$TABLE_LEN"
zero_at "$BIGOBJ" "$TABLE2" "$TABLE_LEN"
invert_byte "$BIGOBJ" $((HDR + 2 * BLOCK + 7))
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 --cache-size 64M \
	--stats-file "$T/dp.stats"

note "HTTP: every other file is served, byte-identical"
OTHERS=()
for f in "${FILES[@]}"; do
	[[ $f == "$BIG" ]] || OTHERS+=("$f")
done
serve_files "only $BIG is damaged" "${OTHERS[@]}"

note "HTTP: $BIG is refused, never served wrong"
BURL="$DP_URL/$RID/heal/$BIG"
for range in "" "-r 0-99" "-r $((2 * BLOCK + 3))-$((5 * BLOCK))" "-r $((BIGSIZE - 10))-$((BIGSIZE - 1))"; do
	# shellcheck disable=SC2086 # the range is one option and its value
	http_get "$BURL" "$T/big" "$T/big.hdr" -f $range
	((CURL_RC != 0)) || fail "GET $BURL $range: expected curl to fail (the object's table is gone), it exited 0 with status $HTTP_CODE"
	got=0
	[[ -f $T/big ]] && got=$(stat -c %s "$T/big")
	((got == 0)) || fail "GET $BURL $range: expected no body byte (no block of the object can be checked), saw $got bytes"
	echo "GET $BIG ${range:-whole}: refused (curl exit $CURL_RC, status $HTTP_CODE)"
done

note "BitTorrent: every piece of the other files, none of $BIG"
rc=0
"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 60 --allow-incomplete --settle 5 \
	--job "$T/lt" "$RTORRENT" --check-had "$(dirname "$TREE")" --report "$T/lt.json" || rc=$?
((rc == 0)) || fail "libtorrent against the store with $BIG's tables gone: see the FAIL lines above"
"$PY" - "$T/lt.json" "$RTORRENT" "heal/$BIG" <<'EOF' || exit 1
import json, sys
import libtorrent as lt
r = json.load(open(sys.argv[1]))[0]
ti = lt.torrent_info(sys.argv[2])
fs, pl = ti.files(), ti.piece_length()
want, forbid = set(), set()
for i in range(fs.num_files()):
    if fs.file_flags(i) & lt.file_storage.flag_pad_file or fs.file_size(i) == 0:
        continue
    first = fs.file_offset(i) // pl
    last = (fs.file_offset(i) + fs.file_size(i) - 1) // pl
    (forbid if fs.file_path(i) == sys.argv[3] else want).update(range(first, last + 1))
have = set(r['have'])
if not forbid or want & forbid:
    sys.exit('FAIL: expected %s to have pieces of its own (pad files), saw %d, %d shared'
             % (sys.argv[3], len(forbid), len(want & forbid)))
if want - have:
    sys.exit('FAIL: libtorrent: expected every piece of the other files, %d missing: %s'
             % (len(want - have), sorted(want - have)[:10]))
if have & forbid:
    sys.exit('FAIL: libtorrent: expected no piece of %s (its tables are gone), had %s'
             % (sys.argv[3], sorted(have & forbid)[:10]))
print('libtorrent: %d pieces of the other files had, none of the %d of %s'
      % (len(want), len(forbid), sys.argv[3]))
EOF

sc_ok "$T/stats.json" "$T/stats.err" stats --file "$T/dp.stats" --json
refused=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["refusals"]["corrupt_block"])' "$T/stats.json")
((refused >= 4)) || fail "seedctl stats --json: expected refusals.corrupt_block >= 4 (four requests for $BIG), saw $refused"
expect_lines 1 "$DP_ERR" "seed-dataplane stderr: expected one line naming the damaged object $BIGOBJ" "$BIGOBJ"

dp_stop 30
echo "$DP_STOPPED"
dp_expect_counter verify_failures 0
dp_expect_counter storage_errors 0

note "3. a store of format 1 is refused, never read"
OLD=$T/old
cp -a "$S" "$OLD"
printf 'bitstream-store 1\n' >"$OLD/FORMAT"
store_snapshot "$OLD" "$T/snap.before"
for cmd in ls show verify; do
	args=(release "$cmd" --store "$OLD")
	[[ $cmd == ls ]] || args+=("$RID")
	sc "$T/old.out" "$T/old.err" "${args[@]}"
	expect_refusal "seedctl ${args[*]} on a format 1 store" "$SC_RC" 1 "$T/old.err" "$OLD" \
		-E "store format 1.*create its releases again in a new store"
done
sc "$T/old.out" "$T/old.err" release create --store "$OLD" --tenant acme --name heal --version 2 "$TREE"
expect_refusal "seedctl release create into a format 1 store" "$SC_RC" 1 "$T/old.err" "$OLD" \
	-E "store format 1.*seedctl release create"
rc=0
timeout --kill-after=5 30 "$SEED_DATAPLANE" --allow-root yes --store "$OLD" --bt-listen 127.0.0.1:0 \
	--http-listen 127.0.0.1:0 --workers 1 --cache-size 64M >"$T/olddp.out" 2>"$T/olddp.err" || rc=$?
((rc == 1)) || { cat "$T/olddp.err" >&2; fail "seed-dataplane --store (format 1): expected exit 1, saw $(describe_rc "$rc")"; }
n=$(grep -c "store format 1.*create its releases again in a new store" "$T/olddp.err" || true)
((n == 1)) || { cat "$T/olddp.err" >&2; fail "seed-dataplane --store (format 1): expected one line saying how to upgrade, saw $n"; }
store_snapshot "$OLD" "$T/snap.after"
same_snapshot "$T/snap.before" "$T/snap.after" "seed-dataplane on a format 1 store"
echo "format 1 store: refused by seedctl and seed-dataplane, unchanged"

note "4. one copy of the release's manifest damaged"
M2=$T/m2
mkdir -p "$M2/src"
cp -a "$TREE" "$M2/src/heal"
sc_ok "$T/m2c.json" "$T/m2c.err" release create --store "$M2/store" --tenant acme --name heal \
	--version 1 --json "$M2/src/heal"
MID=$(json_get "$T/m2c.json" id)
REL1=$M2/store/releases/$MID.rel
[[ -f $REL1 && -f $REL1.2 ]] || fail "expected both copies of the manifest, $REL1 and $REL1.2"
cmp -s "$REL1" "$REL1.2" || fail "expected the two copies of the manifest to be equal"
for copy in 1 2; do
	bad=$REL1
	((copy == 1)) || bad=$REL1.2
	invert_byte "$bad" 100
	sc_verify "$T/mv$copy" 1 "with manifest copy $copy damaged" "$M2/store" "$MID"
	expect_line "$T/mv$copy.all" "release verify: expected a line naming the manifest's copy $copy of 2, none above" \
		"manifest" "copy $copy of 2"
	expect_lines 1 "$T/mv$copy.out" "release verify: expected one 'corrupt:' line (the bad manifest copy)" \
		"" '^corrupt: '
	cp "$bad" "$T/bad.copy"
	dp_start "$T" --store "$M2/store" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
		--workers 1 --cache-size 64M
	# the data plane reads copy 2 only when copy 1 is bad
	want=$((copy == 1 ? 1 : 0))
	expect_lines "$want" "$DP_ERR" "seed-dataplane stderr: expected $want line(s) naming the manifest's bad copy $copy" \
		"$MID" "manifest copy $copy of 2"
	RID_SAVED=$RID
	RID=$MID
	serve_files "manifest copy $copy damaged" "${FILES[@]}"
	RID=$RID_SAVED
	dp_stop 30
	cmp -s "$bad" "$T/bad.copy" || fail "seed-dataplane (a reader) changed $bad"
	# any writer rewrites the bad copy from the good one as it reads the store
	sc_ok "$T/m2w.json" "$T/m2w.err" release create --store "$M2/store" --tenant acme \
		--name other --version "$copy" --json "$M2/src/heal/one.bin"
	cmp -s "$REL1" "$REL1.2" || fail "after a writer ran: expected the two manifest copies equal again"
	sc_verify "$T/mw$copy" 0 "after a writer rewrote manifest copy $copy" "$M2/store" "$MID"
	echo "manifest copy $copy damaged: served from the other, reported, rewritten by the next writer"
done

note "4b. both copies of the manifest damaged: that release alone is not served"
OID=$(json_get "$T/m2w.json" id)
invert_byte "$REL1" 100
invert_byte "$REL1.2" 100
dp_start "$T" --store "$M2/store" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
	--workers 1 --cache-size 64M
expect_lines 1 "$DP_ERR" "seed-dataplane stderr: expected one line saying $MID cannot be loaded" \
	"$MID" "cannot be loaded"
http_get "$DP_URL/$OID/one.bin" "$T/o.body" "$T/o.hdr" -f
((CURL_RC == 0)) || fail "GET $DP_URL/$OID/one.bin: expected the other release served, curl exit $CURL_RC, status $HTTP_CODE"
cmp -s "$T/o.body" "$M2/src/heal/one.bin" || fail "GET $DP_URL/$OID/one.bin: expected the bytes of one.bin"
code=$(http_code "$DP_URL/$MID/heal/small.bin")
[[ $code == 404 ]] || fail "GET $MID/heal/small.bin (its manifest unreadable): expected 404, saw $code"
dp_stop 30
echo "both manifest copies of $MID damaged: $MID not served (one line), $OID still served"
echo "PASS: test_store_heal"
