#!/usr/bin/env bash
# User story: an operator turns a directory into a release and every real
# client accepts the .torrent files seedctl writes: libtorrent 2.0 (v1, v2,
# hybrid: info-hashes, file list, magnet, and seeding from the data in place),
# transmission-show 3.00 (v1 torrents only: it refuses v2/hybrid) and
# aria2c 1.36 -S (v1 and hybrid; its hybrid info-hash is wrong by design, so
# only the file list is checked there). Also: seedctl leaves the tree alone.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup
require_cmds transmission-show aria2c

TREE=$T/data/tree
S=$T/store
make_client_tree "$TREE"
nfiles=$(find "$TREE" -type f | wc -l)
((nfiles >= 100)) || fail "expected the generated tree to hold >= 100 files, it holds $nfiles"
tree_sums "$TREE" >"$T/tree.before"

# check_json_hash MODE KEY VALUE: 40/64 lowercase hex, or null where the mode has none.
check_json_hash() {
	local mode=$1 key=$2 val=$3 want_null=$4 len=$5
	if [[ $want_null == yes ]]; then
		[[ $val == null ]] || fail "$mode: expected \"$key\": null in the create --json output, saw '$val'"
	else
		[[ $val =~ ^[0-9a-f]{$len}$ ]] || fail "$mode: expected \"$key\" to be $len lowercase hex digits, saw '$val'"
	fi
}

for mode in v1 v2 hybrid; do
	note "mode $mode"
	case $mode in
	v1) flags=(--v1-only) ;;
	v2) flags=(--v2-only) ;;
	hybrid) flags=(--also-v1) ;;
	esac
	out=$T/create-$mode.json
	sc_ok "$out" "$T/create-$mode.err" release create --store "$S" --tenant acme --name game \
		--version "$mode" --piece-length 65536 "${flags[@]}" --json "$TREE"

	id=$(json_get "$out" id)
	ih1=$(json_get "$out" infohash_v1)
	ih2=$(json_get "$out" infohash_v2)
	magnet=$(json_get "$out" magnet)
	torrent=$(json_get "$out" torrent)
	torrent_v1=$(json_get "$out" torrent_v1)
	[[ -n $id && $id != null && $id != __MISSING__ ]] || fail "$mode: expected a non-empty \"id\" in create --json, saw '$id'"
	[[ $ih1 != __MISSING__ ]] || fail "$mode: expected key \"infohash_v1\" in create --json output (null if none), it is missing"
	[[ $ih2 != __MISSING__ ]] || fail "$mode: expected key \"infohash_v2\" in create --json output (null if none), it is missing"
	[[ $magnet == magnet:\?* ]] || fail "$mode: expected \"magnet\" to start with 'magnet:?', saw '$magnet'"
	case $mode in
	v1) check_json_hash v1 infohash_v1 "$ih1" no 40; check_json_hash v1 infohash_v2 "$ih2" yes 64 ;;
	v2) check_json_hash v2 infohash_v1 "$ih1" yes 40; check_json_hash v2 infohash_v2 "$ih2" no 64 ;;
	hybrid) check_json_hash hybrid infohash_v1 "$ih1" no 40; check_json_hash hybrid infohash_v2 "$ih2" no 64 ;;
	esac

	# Default torrent paths: S/torrents/<id>.torrent, plus <id>.v1.torrent with --also-v1.
	[[ -f $torrent ]] || fail "$mode: expected \"torrent\" to name an existing file, saw '$torrent'"
	[[ $(realpath "$torrent") == $(realpath "$S/torrents/$id.torrent") ]] ||
		fail "$mode: expected the torrent at $S/torrents/$id.torrent (default path), saw '$torrent'"
	if [[ $mode == hybrid ]]; then
		[[ -f $torrent_v1 ]] || fail "hybrid --also-v1: expected \"torrent_v1\" to name an existing file, saw '$torrent_v1'"
		[[ $(realpath "$torrent_v1") == $(realpath "$S/torrents/$id.v1.torrent") ]] ||
			fail "hybrid --also-v1: expected torrent_v1 at $S/torrents/$id.v1.torrent, saw '$torrent_v1'"
	else
		[[ $torrent_v1 == __MISSING__ || $torrent_v1 == null ]] ||
			fail "$mode: expected no \"torrent_v1\" without --also-v1, saw '$torrent_v1'"
	fi

	# (a) libtorrent: hashes, files, magnet, seeding from the data in place.
	"$PY" "$SRCDIR/lt_check.py" --torrent "$torrent" --tree "$TREE" --v1 "$ih1" --v2 "$ih2" \
		--magnet "$magnet" --piece-length 65536 >"$T/lt-$mode.out" ||
		fail "$mode: libtorrent check of $torrent failed (see above)"

	# (b) transmission-show: v1 torrents only.
	if [[ $mode == v1 ]]; then
		rc=0
		transmission-show "$torrent" >"$T/tr-$mode.txt" 2>&1 || rc=$?
		((rc == 0)) || { cat "$T/tr-$mode.txt" >&2; fail "v1: expected transmission-show to parse $torrent (exit 0), saw exit $rc"; }
		"$PY" "$SRCDIR/client_listing.py" transmission "$TREE" "$T/tr-$mode.txt" --expect-infohash "$ih1" ||
			fail "v1: transmission-show's file list differs from the tree (see above)"
	fi

	# (c) aria2c -S: v1 and hybrid (file list only for hybrid: aria2 1.36 hashes it wrong).
	if [[ $mode != v2 ]]; then
		rc=0
		(cd "$T" && aria2c --no-conf -S "$torrent") >"$T/aria-$mode.txt" 2>&1 || rc=$?
		((rc == 0)) || { cat "$T/aria-$mode.txt" >&2; fail "$mode: expected aria2c -S to parse $torrent (exit 0), saw exit $rc"; }
		if [[ $mode == v1 ]]; then
			"$PY" "$SRCDIR/client_listing.py" aria2 "$TREE" "$T/aria-$mode.txt" --expect-infohash "$ih1" ||
				fail "v1: aria2c's listing of $torrent differs from the tree (see above)"
		else
			"$PY" "$SRCDIR/client_listing.py" aria2 "$TREE" "$T/aria-$mode.txt" ||
				fail "hybrid: aria2c's listing of $torrent differs from the tree (see above)"
		fi
	fi

	# The hybrid's companion v1-only torrent: its own info dict (so its own
	# v1 hash, which libtorrent computes), no v2, same data; every v1 client.
	if [[ $mode == hybrid ]]; then
		note "hybrid's torrent_v1"
		"$PY" "$SRCDIR/lt_check.py" --torrent "$torrent_v1" --tree "$TREE" --v1 any --v2 null \
			--piece-length 65536 >"$T/lt-hybrid-v1.out" ||
			fail "hybrid: libtorrent check of the companion v1 torrent $torrent_v1 failed (see above)"
		v1_of_companion=$(cut -d' ' -f1 "$T/lt-hybrid-v1.out")
		# Not in the contract, but when create --json reports it, it must be right.
		reported=$(json_get "$out" torrent_v1_infohash)
		[[ $reported == __MISSING__ || $reported == "$v1_of_companion" ]] ||
			fail "hybrid: create --json says torrent_v1_infohash $reported, libtorrent computes $v1_of_companion for $torrent_v1"
		rc=0
		transmission-show "$torrent_v1" >"$T/tr-hybrid-v1.txt" 2>&1 || rc=$?
		((rc == 0)) || { cat "$T/tr-hybrid-v1.txt" >&2; fail "hybrid: expected transmission-show to parse $torrent_v1 (exit 0), saw exit $rc"; }
		"$PY" "$SRCDIR/client_listing.py" transmission "$TREE" "$T/tr-hybrid-v1.txt" --expect-infohash "$v1_of_companion" ||
			fail "hybrid: transmission-show's listing of $torrent_v1 differs from the tree (see above)"
		rc=0
		(cd "$T" && aria2c --no-conf -S "$torrent_v1") >"$T/aria-hybrid-v1.txt" 2>&1 || rc=$?
		((rc == 0)) || { cat "$T/aria-hybrid-v1.txt" >&2; fail "hybrid: expected aria2c -S to parse $torrent_v1 (exit 0), saw exit $rc"; }
		"$PY" "$SRCDIR/client_listing.py" aria2 "$TREE" "$T/aria-hybrid-v1.txt" --expect-infohash "$v1_of_companion" ||
			fail "hybrid: aria2c's listing of $torrent_v1 differs from the tree (see above)"
	fi
done

# Options that only change the metainfo: --torrent-out, --tracker (one tier
# each), --web-seed, --private. libtorrent must see them.
note "--torrent-out --tracker --web-seed --private"
OUTT=$T/out/custom.torrent
mkdir -p "$T/out"
sc_ok "$T/opt.json" "$T/opt.err" release create --store "$S" --tenant acme --name game --version opts \
	--piece-length 65536 --torrent-out "$OUTT" --tracker http://127.0.0.1:6969/announce \
	--tracker udp://127.0.0.1:6969 --web-seed http://127.0.0.1:8080/seed/ --private --json "$TREE"
torrent=$(json_get "$T/opt.json" torrent)
[[ -f $OUTT ]] || fail "--torrent-out $OUTT: expected the torrent written there, no such file"
[[ $(realpath "$torrent") == $(realpath "$OUTT") ]] || fail "--torrent-out $OUTT: expected \"torrent\" in create --json to be it, saw '$torrent'"
"$PY" "$SRCDIR/lt_check.py" --torrent "$OUTT" --tree "$TREE" --v1 "$(json_get "$T/opt.json" infohash_v1)" \
	--v2 "$(json_get "$T/opt.json" infohash_v2)" --piece-length 65536 --no-seed >/dev/null ||
	fail "--torrent-out: libtorrent check of $OUTT failed (see above)"
"$PY" - "$OUTT" <<'EOF' || exit 1
import sys
import libtorrent as lt
ti = lt.torrent_info(sys.argv[1])
want_tr = [('http://127.0.0.1:6969/announce', 0), ('udp://127.0.0.1:6969', 1)]
seen_tr = [(t.url, t.tier) for t in ti.trackers()]
if seen_tr != want_tr:
    sys.exit('FAIL: --tracker x2: expected trackers (url, tier) %s, libtorrent sees %s' % (want_tr, seen_tr))
seen_ws = [w['url'] for w in ti.web_seeds()]
if seen_ws != ['http://127.0.0.1:8080/seed/']:
    sys.exit('FAIL: --web-seed: expected web seeds %s, libtorrent sees %s' % (['http://127.0.0.1:8080/seed/'], seen_ws))
if not ti.priv():
    sys.exit('FAIL: --private: expected the private flag set, libtorrent sees it unset')
EOF

tree_sums "$TREE" >"$T/tree.after"
if ! cmp -s "$T/tree.before" "$T/tree.after"; then
	diff "$T/tree.before" "$T/tree.after" | head -20 >&2 || true
	fail "expected the source tree to be unchanged by seedctl and the clients, it changed"
fi
echo "PASS: test_create_clients"
