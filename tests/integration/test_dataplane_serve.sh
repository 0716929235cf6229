#!/usr/bin/env bash
# User story: an operator publishes one game build as a v1, a v2 and a hybrid
# release in one store and starts one seed-dataplane; every real client gets
# exactly the bytes of the build:
#  (a) libtorrent 2.0 downloads the v1, v2, hybrid torrents and the hybrid's
#      companion v1 torrent, each into a fresh dir, connecting only to our BT
#      port, then the hybrid again from its magnet link alone (ut_metadata);
#  (b) aria2c downloads every file of every release over HTTP; curl range
#      requests (a-b, suffix -N, open-ended a-) return the bytes dd reads from
#      the source, with 206 and the right Content-Range; bytes=-0 and ranges
#      past EOF give 416; unknown files/releases give 404; HEAD gives
#      Content-Length and the ETag (the file's v2 pieces root);
#  (c) every downloaded file's sha256 equals the source's (all clients here
#      create empty files, so none may be missing);
#  (d) aria2c and transmission-cli over BitTorrent learn peers only from a
#      tracker: test_dataplane_swarm.sh covers them (netns + opentracker).
# The data plane must then stop on SIGTERM with exit 0, verify_failures=0 and
# storage_errors=0. Timings and throughput are printed, never asserted.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
require_cmds aria2c curl

TREE=$T/src/game
S=$T/store
note "generating the build tree"
gen_tree "$TREE" big/forty.bin $((40 * MiB + 4321)) data/sixteen.bin $((16 * MiB + 12345)) \
	data/levels/level1/map.pak $((5 * MiB + 777)) data/levels/level2/tex.pak $((3 * MiB - 1)) \
	one.bin 1 empty.bin 0 "docs/read me.txt" 1234 docs/nested/a/b/c/deep.bin 70000 \
	"données/niveau 1.bin" 16385
BIG=big/forty.bin
BIGSIZE=$(stat -c %s "$TREE/$BIG")
total=$(find "$TREE" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
((total >= 64 * MiB)) || fail "expected the generated tree to hold >= 64 MiB, it holds $total bytes"
tree_sums "$TREE" >"$T/tree.before"
mapfile -t FILES < <(cd "$TREE" && find . -type f -printf '%P\n' | sort)

declare -A ID TORRENT
create_kinds "$S" "$TREE" v1 v2 hybrid
TORRENT[hybrid_v1]=$(json_get "$T/create-hybrid.json" torrent_v1)
[[ -f ${TORRENT[hybrid_v1]} ]] || fail "hybrid: expected create --json \"torrent_v1\" to name a file, saw '${TORRENT[hybrid_v1]}'"
MAGNET=$(json_get "$T/create-hybrid.json" magnet)
[[ $MAGNET == magnet:\?* ]] || fail "hybrid: expected a magnet link in create --json, saw '$MAGNET'"
sc_ok "$T/show.json" "$T/show.err" release show --store "$S" --json "${ID[hybrid]}"

note "starting seed-dataplane"
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2 --cache-size 64M
head -1 "$DP_OUT"
grep -q "^seed-dataplane .*: serving [0-9]* torrents from .* with 2 workers\$" "$DP_OUT" ||
	fail "seed-dataplane stdout: expected a first line 'seed-dataplane V: serving N torrents from DIR with 2 workers', saw '$(head -1 "$DP_OUT")'"
# v1 + v2 + hybrid + the hybrid's companion v1 torrent.
ntorrents=$(sed -nE 's/^seed-dataplane .*: serving ([0-9]+) torrents .*/\1/p' "$DP_OUT")
((ntorrents == 4)) || fail "seed-dataplane stdout: expected 'serving 4 torrents' (v1, v2, hybrid, hybrid's v1 companion), saw '$(head -1 "$DP_OUT")'"

# ---------------------------------------------------------------- (b) HTTP
note "(b) aria2c: every file of every release over HTTP"
t0=$(date +%s%N)
nbytes=0
for kind in v1 v2 hybrid; do
	for f in "${FILES[@]}"; do
		url="$DP_URL/${ID[$kind]}/game/$(url_path "$f")"
		d=$T/aria/$kind/game/$(dirname "$f")
		mkdir -p "$d"
		rc=0
		timeout --kill-after=5 120 aria2c --no-conf --allow-overwrite=true --auto-file-renaming=false \
			--file-allocation=none --summary-interval=0 --console-log-level=warn --max-tries=1 \
			-d "$d" -o "$(basename "$f")" "$url" >"$T/aria.log" 2>&1 || rc=$?
		((rc == 0)) || { tail -20 "$T/aria.log" >&2; fail "aria2c $url: expected exit 0, saw $(describe_rc "$rc")"; }
		nbytes=$((nbytes + $(stat -c %s "$T/aria/$kind/game/$f")))
	done
	find "$T/aria/$kind" -name '*.aria2' -delete
	tree_sums_cmp "$TREE" "$T/aria/$kind/game" "aria2c HTTP, release ${ID[$kind]}"
done
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
printf 'aria2c HTTP: %d files, %d bytes in %d.%03ds (%s MiB/s)\n' $((3 * ${#FILES[@]})) "$nbytes" \
	$((ms / 1000)) $((ms % 1000)) "$(awk -v b="$nbytes" -v ms="$ms" 'BEGIN { printf "%.1f", ms ? b / 1048576 / (ms / 1000) : 0 }')"

note "(b) HEAD: Content-Length and ETag of every file"
for f in "${FILES[@]}"; do
	url="$DP_URL/${ID[hybrid]}/game/$(url_path "$f")"
	http_get "$url" "$T/head.body" "$T/head.hdr" -I
	((CURL_RC == 0)) || fail "HEAD $url: expected curl to exit 0, saw $CURL_RC ($(cat "$T/head.body.curlerr"))"
	[[ $HTTP_CODE == 200 ]] || fail "HEAD $url: expected status 200, saw $HTTP_CODE"
	want=$(stat -c %s "$TREE/$f")
	seen=$(http_header "$T/head.hdr" Content-Length)
	[[ $seen == "$want" ]] || fail "HEAD $url: expected Content-Length: $want, saw '$seen'"
	root=$("$PY" -c 'import json, sys
for x in json.load(open(sys.argv[1]))["files"]:
    if x["path"] == sys.argv[2]: print(x["root"] or "")' "$T/show.json" "$f")
	if ((want > 0)); then
		[[ $root =~ ^[0-9a-f]{64}$ ]] || fail "release show --json: expected a 64-hex root for $f, saw '$root'"
		seen=$(http_header "$T/head.hdr" ETag)
		[[ $seen == "\"$root\"" ]] || fail "HEAD $url: expected ETag: \"$root\" (the v2 pieces root), saw '$seen'"
	fi
done

note "(b) HEAD then GET on one keep-alive connection: HEAD sends no body"
"$PY" - 127.0.0.1 "$DP_HTTP_PORT" "/${ID[hybrid]}/game/one.bin" "$TREE/one.bin" <<'PYEOF' || exit 1
import http.client, sys
host, port, path, src = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
want = open(src, 'rb').read()
c = http.client.HTTPConnection(host, port, timeout=30)
for i in range(3):
    c.request('HEAD', path)
    r = c.getresponse()
    r.read()
    if r.status != 200 or r.getheader('Content-Length') != str(len(want)):
        sys.exit('FAIL: HEAD %s #%d on a kept-alive connection: expected 200 with Content-Length %d, saw %d %s'
                 % (path, i, len(want), r.status, r.getheader('Content-Length')))
    c.request('GET', path)
    r = c.getresponse()
    body = r.read()
    if r.status != 200 or body != want:
        sys.exit('FAIL: GET %s after HEAD on the same connection: expected 200 and the %d source bytes, '
                 'saw %d and %r (did HEAD send a body?)' % (path, len(want), r.status, body[:40]))
PYEOF

note "(b) curl ranges on $BIG ($BIGSIZE bytes)"
BIGURL="$DP_URL/${ID[hybrid]}/game/$BIG"
# range_ok RANGE OFFSET COUNT: curl -r RANGE gives 206, Content-Range
# bytes OFFSET-(OFFSET+COUNT-1)/SIZE and the source's bytes.
range_ok() {
	local url=$1 src=$2 range=$3 off=$4 cnt=$5 size
	size=$(stat -c %s "$src")
	http_get "$url" "$T/r.body" "$T/r.hdr" -r "$range"
	((CURL_RC == 0)) || fail "curl -r $range $url: expected exit 0, saw $CURL_RC ($(cat "$T/r.body.curlerr"))"
	[[ $HTTP_CODE == 206 ]] || fail "curl -r $range $url: expected status 206, saw $HTTP_CODE"
	local cr
	cr=$(http_header "$T/r.hdr" Content-Range)
	[[ $cr == "bytes $off-$((off + cnt - 1))/$size" ]] ||
		fail "curl -r $range $url: expected Content-Range: bytes $off-$((off + cnt - 1))/$size, saw '$cr'"
	same_bytes_as_source "$src" "$off" "$cnt" "$T/r.body" "curl -r $range $url"
}
range_416() {
	local url=$1 size=$2 what=$3
	shift 3
	http_get "$url" "$T/r.body" "$T/r.hdr" "$@"
	((CURL_RC == 0)) || fail "curl $what $url: expected exit 0 (an HTTP answer), saw $CURL_RC ($(cat "$T/r.body.curlerr"))"
	[[ $HTTP_CODE == 416 ]] || fail "curl $what $url: expected status 416, saw $HTTP_CODE"
	local cr
	cr=$(http_header "$T/r.hdr" Content-Range)
	[[ $cr == "bytes */$size" ]] || fail "curl $what $url: expected 416 with Content-Range: bytes */$size, saw '$cr'"
}
src=$TREE/$BIG
range_ok "$BIGURL" "$src" 0-0 0 1
range_ok "$BIGURL" "$src" 0-16383 0 16384
range_ok "$BIGURL" "$src" 16383-16384 16383 2
range_ok "$BIGURL" "$src" 1000-3000000 1000 2999001
range_ok "$BIGURL" "$src" $((20 * MiB - 5))-$((20 * MiB + 70000)) $((20 * MiB - 5)) 70006
range_ok "$BIGURL" "$src" $((BIGSIZE - 1))-$((BIGSIZE - 1)) $((BIGSIZE - 1)) 1
range_ok "$BIGURL" "$src" $((BIGSIZE - 100))-$((BIGSIZE + 5000)) $((BIGSIZE - 100)) 100
range_ok "$BIGURL" "$src" -1 $((BIGSIZE - 1)) 1
range_ok "$BIGURL" "$src" -100000 $((BIGSIZE - 100000)) 100000
range_ok "$BIGURL" "$src" -$((BIGSIZE + 10)) 0 "$BIGSIZE"
range_ok "$BIGURL" "$src" $((33 * MiB + 3))- $((33 * MiB + 3)) $((BIGSIZE - 33 * MiB - 3))
range_ok "$BIGURL" "$src" 0- 0 "$BIGSIZE"
range_416 "$BIGURL" "$BIGSIZE" "Range: bytes=-0" -H 'Range: bytes=-0'
range_416 "$BIGURL" "$BIGSIZE" "-r $BIGSIZE-" -r "$BIGSIZE-"
range_416 "$BIGURL" "$BIGSIZE" "-r $((BIGSIZE + 10))-$((BIGSIZE + 20))" -r "$((BIGSIZE + 10))-$((BIGSIZE + 20))"

note "(b) curl ranges on one.bin, a file in a v1 and a v2 release, and an empty file"
ONEURL="$DP_URL/${ID[hybrid]}/game/one.bin"
range_ok "$ONEURL" "$TREE/one.bin" 0-0 0 1
range_ok "$ONEURL" "$TREE/one.bin" 0- 0 1
range_ok "$ONEURL" "$TREE/one.bin" -5 0 1
range_416 "$ONEURL" 1 "-r 1-" -r 1-
range_416 "$ONEURL" 1 "Range: bytes=-0" -H 'Range: bytes=-0'
for kind in v1 v2; do
	f=data/levels/level1/map.pak
	range_ok "$DP_URL/${ID[$kind]}/game/$f" "$TREE/$f" 100000-2000000 100000 1900001
	range_ok "$DP_URL/${ID[$kind]}/game/$f" "$TREE/$f" -777 $((5 * MiB)) 777
done
f="données/niveau 1.bin"
range_ok "$DP_URL/${ID[v2]}/game/$(url_path "$f")" "$TREE/$f" 16384- 16384 1
EMPTYURL="$DP_URL/${ID[hybrid]}/game/empty.bin"
http_get "$EMPTYURL" "$T/e.body" "$T/e.hdr"
((CURL_RC == 0)) && [[ $HTTP_CODE == 200 ]] || fail "GET $EMPTYURL: expected 200 (curl exit 0), saw $HTTP_CODE (curl exit $CURL_RC)"
[[ $(http_header "$T/e.hdr" Content-Length) == 0 && ! -s $T/e.body ]] ||
	fail "GET $EMPTYURL: expected Content-Length: 0 and no body, saw '$(http_header "$T/e.hdr" Content-Length)' and $(stat -c %s "$T/e.body") bytes"

note "(b) 404s"
for url in "$DP_URL/${ID[hybrid]}/game/no-such-file.bin" "$DP_URL/${ID[hybrid]}/game/big" \
	"$DP_URL/${ID[hybrid]}/game/big/forty.bin.x" "$DP_URL/${ID[hybrid]}/other/$BIG" \
	"$DP_URL/acme.game.nope/game/$BIG"; do
	for method in GET HEAD; do
		args=()
		[[ $method == HEAD ]] && args=(-I)
		http_get "$url" "$T/n.body" "$T/n.hdr" "${args[@]}"
		((CURL_RC == 0)) || fail "$method $url: expected curl exit 0 (an HTTP answer), saw $CURL_RC ($(cat "$T/n.body.curlerr"))"
		[[ $HTTP_CODE == 404 ]] || fail "$method $url: expected status 404, saw $HTTP_CODE"
	done
done

note "the data plane still serves after all that"
range_ok "$BIGURL" "$src" 12345-67890 12345 55546

# ---------------------------------------------------------------- (a) libtorrent
lt_get() { # LABEL SOURCE: download into $T/lt/LABEL, compare the tree.
	local label=$1 src=$2 rc=0
	mkdir -p "$T/lt/$label"
	"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 120 \
		--job "$T/lt/$label" "$src" --check-had "$(dirname "$TREE")" || rc=$?
	((rc == 0)) || fail "libtorrent $label: download of $src from 127.0.0.1:$DP_BT_PORT failed (see above)"
	tree_sums_cmp "$TREE" "$T/lt/$label/game" "libtorrent $label"
	local extra
	extra=$(cd "$T/lt/$label" && find . -mindepth 1 -maxdepth 1 ! -name game)
	[[ -z $extra ]] || fail "libtorrent $label: expected only game/ in $T/lt/$label, saw also: $extra"
}
note "(a) libtorrent: v1, hybrid, hybrid's v1 companion, hybrid by magnet, v2"
for kind in v1 hybrid hybrid_v1; do
	lt_get "$kind" "${TORRENT[$kind]}"
done
lt_get magnet "$MAGNET"
lt_get v2 "${TORRENT[v2]}"

note "stopping seed-dataplane"
dp_stop 30
echo "$DP_STOPPED (stopped in ${DP_STOP_MS}ms)"
dp_expect_counter verify_failures 0
dp_expect_counter storage_errors 0
bt=$(dp_counter payload_bytes_bt)
# 5 libtorrent downloads of the whole build at least (pad bytes aside).
((bt >= 5 * total)) || fail "stopped line: expected payload_bytes_bt >= $((5 * total)) (5 full BitTorrent downloads), saw $bt"
hb=$(dp_counter payload_bytes_http)
((hb >= 3 * total)) || fail "stopped line: expected payload_bytes_http >= $((3 * total)) (3 full aria2c passes), saw $hb"

tree_sums "$TREE" >"$T/tree.after"
cmp -s "$T/tree.before" "$T/tree.after" || fail "expected the source tree unchanged, it changed"
echo "PASS: test_dataplane_serve"
