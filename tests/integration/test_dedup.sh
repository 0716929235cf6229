#!/usr/bin/env bash
# User story: a studio publishes version 1.1 of a game that differs from 1.0
# in one file; the store keeps one object per distinct file content (keyed by
# its v2 merkle root), so 1.1 costs about the size of the changed file.
# Removing 1.0 frees the object only 1.0 used and leaves 1.1 intact.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup

S=$T/store
A=$T/v10/game
B=$T/v11/game
CHANGED=data/level2.pak
CHANGED_SIZE=$((2 * MiB + 12345))

gen_file "$A/bin/game.exe" $((1 * MiB + 333))
gen_file "$A/data/level1.pak" $((2 * MiB))
gen_file "$A/$CHANGED" "$CHANGED_SIZE"
gen_file "$A/data/music/theme.ogg" $((1 * MiB + 65537))
gen_file "$A/data/textures.bin" 700000
gen_file "$A/readme.txt" 4321
gen_file "$A/empty.cfg" 0
# Same content twice in one release: one object.
gen_file "$A/dup/one.bin" 300000
mkdir -p "$A/dup/again"
cp "$A/dup/one.bin" "$A/dup/again/two.bin"

mkdir -p "$(dirname "$B")"
cp -a "$A" "$B"
gen_file "$B/$CHANGED" "$CHANGED_SIZE" # same size, new random content

# show_map ID OUT: "path length root" lines from `release show --json`, sorted.
show_map() {
	sc_ok "$T/show.json" "$T/show.err" release show --store "$S" --json "$1"
	"$PY" - "$T/show.json" "$1" >"$2" <<'EOF'
import json, re, sys
try:
    d = json.load(open(sys.argv[1], encoding='utf-8'))
except Exception as e:
    sys.exit('FAIL: release show --json %s: expected JSON, could not parse it (%s)' % (sys.argv[2], e))
if not isinstance(d, dict) or not isinstance(d.get('files'), list):
    sys.exit('FAIL: release show --json %s: expected an object with a "files" array, saw %.300s'
             % (sys.argv[2], json.dumps(d)))
for f in d['files']:
    for k in ('path', 'length', 'root'):
        if k not in f:
            sys.exit('FAIL: release show --json %s: expected key "%s" in every file, missing in %s'
                     % (sys.argv[2], k, json.dumps(f)))
    root = f['root']
    if f['length'] == 0:
        if root is not None:
            sys.exit('FAIL: %s: expected "root": null for the empty file %s, saw %r' % (sys.argv[2], f['path'], root))
        root = 'null'
    elif not (isinstance(root, str) and re.fullmatch('[0-9a-f]{64}', root)):
        sys.exit('FAIL: %s: expected a 64-hex "root" for %s (%d bytes), saw %r'
                 % (sys.argv[2], f['path'], f['length'], root))
    print('%s %d %s' % (f['path'], f['length'], root))
EOF
	sort -o "$2" "$2"
}

# tree_map DIR: "path length" lines of the regular files in DIR, sorted.
tree_map() {
	(cd "$1" && find . -type f -printf '%P %s\n' | sort)
}

# same_files MAP TREE WHAT: show's paths and lengths equal the tree's.
same_files() {
	if ! diff <(cut -d' ' -f1,2 "$1") <(tree_map "$2") >"$T/diff" 2>&1; then
		cat "$T/diff" >&2
		fail "$3: expected release show's files (path length) to equal the tree's (< show, > disk)"
	fi
}

note "create 1.0"
sc_ok "$T/c1.json" "$T/c1.err" release create --store "$S" --tenant acme --name game --version 1.0 --json "$A"
ID1=$(json_get "$T/c1.json" id)
size1=$(du -sb "$S" | cut -f1)

note "create 1.1"
sc_ok "$T/c2.json" "$T/c2.err" release create --store "$S" --tenant acme --name game --version 1.1 --json "$B"
ID2=$(json_get "$T/c2.json" id)
size2=$(du -sb "$S" | cut -f1)
[[ $ID1 != "$ID2" ]] || fail "expected two releases with different ids, both are '$ID1'"

show_map "$ID1" "$T/m1"
show_map "$ID2" "$T/m2"
same_files "$T/m1" "$A" "release show $ID1"
same_files "$T/m2" "$B" "release show $ID2"

# Unchanged files: equal roots. The changed file: a different root.
n_unchanged=0
while read -r path _len root; do
	other=$(awk -v p="$path" '$1 == p { print $3 }' "$T/m2")
	if [[ $path == "$CHANGED" ]]; then
		[[ $other != "$root" ]] || fail "$CHANGED changed content between 1.0 and 1.1: expected different roots, both are $root"
		OLD_ROOT=$root
		NEW_ROOT=$other
	else
		[[ $other == "$root" ]] || fail "$path is identical in 1.0 and 1.1: expected equal roots, saw $root (1.0) and $other (1.1)"
		n_unchanged=$((n_unchanged + 1))
	fi
done <"$T/m1"
((n_unchanged >= 5)) || fail "expected >= 5 unchanged files compared, compared $n_unchanged"
dup1=$(awk '$1 == "dup/one.bin" { print $3 }' "$T/m1")
dup2=$(awk '$1 == "dup/again/two.bin" { print $3 }' "$T/m1")
[[ $dup1 == "$dup2" ]] || fail "dup/one.bin and dup/again/two.bin have the same content: expected equal roots, saw $dup1 and $dup2"

# One object per distinct non-empty root, named by it.
cat "$T/m1" "$T/m2" | awk '$3 != "null" { print $3 ".obj" }' | sort -u >"$T/roots.want"
objects_in "$S" >"$T/objs.seen"
if ! cmp -s "$T/roots.want" "$T/objs.seen"; then
	diff "$T/roots.want" "$T/objs.seen" >&2 || true
	fail "expected the store's object files (find $S/objects -name '*.obj') to be exactly the $(wc -l <"$T/roots.want") distinct non-empty roots of both releases (< roots, > objects), saw $(wc -l <"$T/objs.seen") objects"
fi

growth=$((size2 - size1))
limit=$((CHANGED_SIZE + MiB))
((growth < limit)) || fail "expected the store to grow by less than $limit bytes (changed file $CHANGED_SIZE + 1 MiB) with release 1.1, it grew by $growth bytes (du -sb: $size1 -> $size2)"
note "store grew by $growth bytes for 1.1 (limit $limit)"

note "rm 1.0"
sc_ok "$T/rm.out" "$T/rm.err" release rm --store "$S" "$ID1"
sc_ok "$T/v.out" "$T/v.err" release verify --store "$S" "$ID2"
old=$S/objects/${OLD_ROOT:0:2}/$OLD_ROOT.obj
new=$S/objects/${NEW_ROOT:0:2}/$NEW_ROOT.obj
[[ ! -e $old ]] || fail "after release rm $ID1: expected the object of 1.0's $CHANGED ($old) to be gone, it is still there"
[[ -f $new ]] || fail "after release rm $ID1: expected the object of 1.1's $CHANGED ($new) to remain, it is gone"
awk '$3 != "null" { print $3 ".obj" }' "$T/m2" | sort -u >"$T/roots2.want"
objects_in "$S" >"$T/objs2.seen"
if ! cmp -s "$T/roots2.want" "$T/objs2.seen"; then
	diff "$T/roots2.want" "$T/objs2.seen" >&2 || true
	fail "after release rm $ID1: expected exactly 1.1's $(wc -l <"$T/roots2.want") objects in the store (< want, > seen)"
fi
sc "$T/s1.out" "$T/s1.err" release show --store "$S" "$ID1"
((SC_RC == 1)) || fail "after release rm $ID1: expected 'release show $ID1' to exit 1 (no such release), saw exit $(describe_rc "$SC_RC")"
show_map "$ID2" "$T/m2b"
cmp -s "$T/m2" "$T/m2b" || fail "after release rm $ID1: expected release $ID2's file list to be unchanged, it changed"
echo "PASS: test_dedup"
