#!/usr/bin/env bash
# User story: an appliance with 2 MiB hugepages reserved backs its block cache
# with them (fewer TLB misses, memory pinned once for io_uring), and serves
# exactly the same bytes as from plain pages.
#  - with hugepages reserved (vm.nr_hugepages raised by this test, restored
#    on exit), seed-dataplane --cache-size 64M says "cache 64 MiB, 2 MiB
#    hugepages, shared by the workers" and the kernel's HugePages_Free drops
#    by the cache's 32 pages while it runs (one cache for both workers);
#  - curl downloads every file and libtorrent the whole release from it, all
#    equal to the source (sha256);
#  - --hugepages no keeps the cache on plain pages though hugepages are free.
# Needs root (vm.nr_hugepages).
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
OLD_NR=
restore() {
	[[ -n $OLD_NR ]] && echo "$OLD_NR" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
}
it_on_exit restore
skip_unless_root "needs root to reserve hugepages"
[[ -w /proc/sys/vm/nr_hugepages ]] || fail "/proc/sys/vm/nr_hugepages is not writable: this kernel has no hugetlb support"

huge_free() {
	sed -nE 's/^HugePages_Free: +([0-9]+)$/\1/p' /proc/meminfo
}

TREE=$T/src/game
S=$T/store
gen_file "$TREE/big.bin" $((24 * MiB + 17))
gen_file "$TREE/data/a.pak" $((5 * MiB - 1))
gen_file "$TREE/data/b.pak" 123457
sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name game --version 1 --json "$TREE"
ID=$(json_get "$T/c.json" id)
TORRENT=$(json_get "$T/c.json" torrent)

OLD_NR=$(cat /proc/sys/vm/nr_hugepages)
echo $((OLD_NR + 40)) >/proc/sys/vm/nr_hugepages
free0=$(huge_free)
((free0 >= 32)) || fail "expected the kernel to reserve >= 32 free 2 MiB hugepages after raising vm.nr_hugepages to $((OLD_NR + 40)), HugePages_Free is $free0 (memory too fragmented?)"
note "$free0 hugepages free"

dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2 --cache-size 64M
line=$(grep '^cache ' "$DP_OUT" || true)
[[ $line =~ ^cache\ +64\ MiB,\ 2\ MiB\ hugepages,\ shared\ by\ the\ workers$ ]] || fail "seed-dataplane stdout: expected 'cache       64 MiB, 2 MiB hugepages, shared by the workers' with $free0 hugepages free, saw '$line'"
free1=$(huge_free)
((free0 - free1 >= 32)) || fail "expected HugePages_Free to drop by >= 32 (one 64 MiB cache) while seed-dataplane runs, it went from $free0 to $free1"
echo "HugePages_Free $free0 -> $free1 while serving"

while IFS= read -r -d '' f; do
	rel=${f#./}
	http_get "$DP_URL/$ID/game/$(url_path "$rel")" "$T/got.bin" "$T/got.h"
	[[ $HTTP_CODE == 200 ]] || fail "GET $rel from the hugepage cache: expected 200, saw $HTTP_CODE"
	cmp -s "$TREE/$rel" "$T/got.bin" || fail "GET $rel from the hugepage cache: expected the source's bytes, they differ"
done < <(cd "$TREE" && find . -type f -print0)
mkdir -p "$T/lt"
"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 120 --job "$T/lt" "$TORRENT" ||
	fail "libtorrent: expected to download $ID from the hugepage-backed seed (see above)"
tree_sums_cmp "$TREE" "$T/lt/game" "libtorrent from the hugepage-backed cache"
dp_stop 30
dp_expect_counter verify_failures 0
# the kernel unpins io_uring's registered buffers (the cache) in the ring's
# exit work, which may finish after the process is gone: up to 5 s
for ((i = 0; i < 50; i++)); do
	free2=$(huge_free)
	((free2 == free0)) && break
	sleep 0.1
done
((free2 == free0)) || fail "expected every hugepage back within 5 s of seed-dataplane exiting (HugePages_Free $free0), saw $free2"

note "--hugepages no"
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2 --cache-size 64M --hugepages no
line=$(grep '^cache ' "$DP_OUT" || true)
[[ $line =~ ^cache\ +64\ MiB,\ plain\ pages,\ shared\ by\ the\ workers$ ]] || fail "seed-dataplane --hugepages no: expected 'cache       64 MiB, plain pages, shared by the workers', saw '$line'"
[[ $(huge_free) == "$free0" ]] || fail "seed-dataplane --hugepages no: expected HugePages_Free to stay $free0, saw $(huge_free)"
http_get "$DP_URL/$ID/game/data/a.pak" "$T/a.bin" "$T/a.h"
cmp -s "$TREE/data/a.pak" "$T/a.bin" || fail "GET data/a.pak from plain pages: expected the source's bytes"
dp_stop 30
echo "PASS: test_dataplane_hugepages"
