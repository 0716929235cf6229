#!/usr/bin/env bash
# User story: the store's disk fills up during create; seedctl says so in one
# line (no space / disk full), exits non-zero and leaves the store exactly as
# it was: no tmp files, no new objects, no half-written release.
# Two ways to run out: a 16 MiB release for a 4 MiB store (bytes; seedctl may
# refuse up front), and the tmpfs out of inodes (ENOSPC from creat/mkdir in
# the middle of writing objects, which an up-front free-space check misses).
# Needs root to mount a 4 MiB tmpfs: exits 77 (skip) without it.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup

MNT=$T/mnt
mounted=no mounted2=no
unmount() {
	if [[ $mounted == yes ]]; then
		umount "$MNT" || umount -l "$MNT" || true
	fi
	if [[ $mounted2 == yes ]]; then
		umount "$T/mnt2" || umount -l "$T/mnt2" || true
	fi
}
it_on_exit unmount

skip_unless_root "test_disk_full needs root to mount a tmpfs"
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=4m,mode=0755 tmpfs "$MNT" 2>"$T/mount.err"; then
	echo "SKIP: mount -t tmpfs failed: $(cat "$T/mount.err")" >&2
	exit 77
fi
mounted=yes

S=$MNT/store
# what the one error line must say when the store is full
NO_SPACE='no space|disk full|ENOSPC|space left'
SMALL=$T/small/tree
BIG=$T/big/tree
gen_file "$SMALL/a.bin" 100000
gen_file "$SMALL/b/c.bin" 20000
for ((i = 0; i < 4; i++)); do
	gen_file "$BIG/part$i.bin" $((4 * 1024 * 1024)) # 16 MiB, random: no sparse tricks
done

note "small create on the 4 MiB store"
sc_ok "$T/c1.json" "$T/c1.err" release create --store "$S" --tenant acme --name small --version 1 --json "$SMALL"
ID=$(json_get "$T/c1.json" id)

note "16 MiB create on the 4 MiB store"
store_snapshot "$S" "$T/snap.before"
sc "$T/c2.out" "$T/c2.err" release create --store "$S" --tenant acme --name big --version 1 "$BIG"
if ((SC_RC == 0)); then
	fail "create of 16 MiB into a 4 MiB tmpfs store: expected failure, it exited 0 (df: $(df -B1 --output=used,avail "$MNT" | tail -1))"
fi
expect_refusal "disk full" "$SC_RC" 1 "$T/c2.err" "$S" -Ei "$NO_SPACE"

note "out of inodes in the middle of writing objects"
used=$(df --output=iused "$MNT" | tail -1)
used=${used//[[:space:]]/}
mount -o remount,nr_inodes=$((used + 4)) "$MNT" || fail "setup: could not remount $MNT with nr_inodes=$((used + 4))"
for ((i = 0; i < 40; i++)); do
	gen_file "$T/many/tree/f$i.bin" 4000 # 40 distinct objects, 160 kB: bytes fit, inodes do not
done
store_snapshot "$S" "$T/snap.before"
sc "$T/c3.out" "$T/c3.err" release create --store "$S" --tenant acme --name many --version 1 "$T/many/tree"
((SC_RC != 0)) || fail "create of 40 files into a store with 4 free inodes: expected failure, it exited 0"
expect_refusal "out of inodes (ENOSPC while writing objects)" "$SC_RC" 1 "$T/c3.err" "$S" -Ei "$NO_SPACE"
mount -o remount,nr_inodes=100000 "$MNT" || fail "setup: could not remount $MNT with nr_inodes=100000"

# The surviving release is still whole.
sc "$T/v.out" "$T/v.err" release verify --store "$S" "$ID"
((SC_RC == 0)) || { cat "$T/v.out" "$T/v.err" >&2; fail "after the failed create: expected release verify $ID to exit 0, saw exit $(describe_rc "$SC_RC")"; }
sc_ok "$T/ls.json" "$T/ls.err" release ls --store "$S" --json
n=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$T/ls.json") ||
	fail "release ls --json: expected a JSON array, saw: $(head -c 300 "$T/ls.json")"
((n == 1)) || fail "after the failed create: expected release ls --json to list 1 release, saw $n"
note "a scrub whose repair write finds the disk full"
mkdir -p "$T/mnt2"
mount -t tmpfs -o size=2m,mode=0755 tmpfs "$T/mnt2" || fail "setup: could not mount a 2 MiB tmpfs"
mounted2=yes
S2=$T/mnt2/store
gen_file "$T/small/tree/a.bin" 100000
sc_ok "$T/s.json" "$T/s.err" release create --store "$S2" --tenant acme --name small --version 1 --json "$T/small/tree"
ID2=$(json_get "$T/s.json" id)
M2=$S2/releases/$ID2.rel.2
invert_byte "$M2" 60
cp "$M2" "$T/bad.copy"
head -c 4M /dev/zero >"$T/mnt2/filler" 2>/dev/null || true
sc "$T/sc1.json" "$T/sc1.err" store scrub --store "$S2" --now --json
((SC_RC == 1)) || { cat "$T/sc1.json" "$T/sc1.err" >&2; fail "store scrub on a full disk: expected exit 1 (a bad copy it could not rewrite), saw $(describe_rc "$SC_RC")"; }
[[ $(json_get "$T/sc1.json" repairs_failed) == 1 ]] || fail "store scrub --json: expected repairs_failed 1, saw: $(cat "$T/sc1.json")"
grep -qi "could not be rewritten.*space" "$T/sc1.json" || fail "store scrub --json: expected a finding saying the copy could not be rewritten for lack of space: $(cat "$T/sc1.json")"
cmp -s "$M2" "$T/bad.copy" || fail "store scrub on a full disk changed the bad copy it could not rewrite"
left=$(find "$S2/releases" "$S2/tmp" -name '*.tmp.*')
[[ -z $left ]] || fail "store scrub on a full disk left temporary files: $left"
sc_verify "$T/sv1" 1 "with the manifest copy still bad" "$S2" "$ID2"
rm -f "$T/mnt2/filler"
sc_ok "$T/sc2.json" "$T/sc2.err" store scrub --store "$S2" --now --json
sc_verify "$T/sv2" 0 "once the scrub had room" "$S2" "$ID2"
echo "scrub on a full disk: exit 1 naming the copy it could not rewrite, nothing changed; with room: repaired"
echo "PASS: test_disk_full"
