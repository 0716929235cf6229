#!/usr/bin/env bash
# User story: an operator starts seed-dataplane by hand or from a unit file.
#  - --help exits 0 and documents --store;
#  - a bad flag value exits 2 with exactly one stderr line naming the flag,
#    before listening (each run is bounded: one that starts serving fails);
#  - a store that does not exist: non-zero exit, the message names the path;
#  - SIGTERM while a big HTTP download is in progress: exit 0 within 10 s,
#    with the stopped line; the client gets only correct bytes, then EOF;
#  - IPv4 and IPv6 listeners at once (--bt-listen and --http-listen given
#    twice): curl over [::1] and over 127.0.0.1 gets the source's bytes, and
#    libtorrent downloads the release from the seed's IPv6 address.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
require_cmds curl

S=$T/store
TREE=$T/src/big
gen_file "$TREE/huge.bin" $((64 * MiB + 123))
gen_file "$TREE/small.txt" 100
sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name big --version 1 --json "$TREE"
ID=$(json_get "$T/c.json" id)

# dp_run OUT ERR ARGS...: seed-dataplane ARGS in the foreground, at most 10 s.
dp_run() {
	local out=$1 err=$2
	shift 2
	DP_RUN_RC=0
	timeout --kill-after=5 10 "$SEED_DATAPLANE" --allow-root yes "$@" >"$out" 2>"$err" || DP_RUN_RC=$?
}

note "--help"
dp_run "$T/help.out" "$T/help.err" --help
((DP_RUN_RC == 0)) || fail "seed-dataplane --help: expected exit 0, saw $(describe_rc "$DP_RUN_RC")"
grep -q -- '--store' "$T/help.out" || { cat "$T/help.out" "$T/help.err" >&2; fail "seed-dataplane --help: expected the usage on stdout to mention --store, it does not (see above)"; }

note "--version"
dp_run "$T/ver.out" "$T/ver.err" --version
((DP_RUN_RC == 0)) || fail "seed-dataplane --version: expected exit 0, saw $(describe_rc "$DP_RUN_RC")"
[[ -s $T/ver.out ]] || fail "seed-dataplane --version: expected a version on stdout, saw nothing"

# bad_flag FLAG VALUE...: with an otherwise good command line, exit 2 and one
# stderr line naming FLAG.
bad_flag() {
	local flag=$1 what
	shift
	what="seed-dataplane $flag $*"
	local args=(--store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1)
	dp_run "$T/bad.out" "$T/bad.err" "${args[@]}" "$flag" "$@"
	case $DP_RUN_RC in
	2) ;;
	124 | 137) fail "$what: expected exit 2 at once, it kept running (started serving?) until killed after 10s" ;;
	*) cat "$T/bad.err" >&2; fail "$what: expected exit 2, saw $(describe_rc "$DP_RUN_RC")" ;;
	esac
	one_line_stderr "$T/bad.err" "$what"
	grep -qF -- "$flag" "$T/bad.err" || fail "$what: expected the error line to name $flag, saw: $(cat "$T/bad.err")"
	echo "$what -> exit 2: $(cat "$T/bad.err")"
}
note "bad flag values"
bad_flag --workers abc
bad_flag --bt-listen nonsense
bad_flag --cache-size 1K
bad_flag --http-listen 127.0.0.1:99999
bad_flag --cache-size 12Q
bad_flag --workers

note "unknown flag"
dp_run "$T/unk.out" "$T/unk.err" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --frobnicate
((DP_RUN_RC == 2)) || fail "seed-dataplane --frobnicate: expected exit 2, saw $(describe_rc "$DP_RUN_RC")"
one_line_stderr "$T/unk.err" "seed-dataplane --frobnicate"
grep -qF -- --frobnicate "$T/unk.err" || fail "seed-dataplane --frobnicate: expected the error line to name --frobnicate, saw: $(cat "$T/unk.err")"

note "no --store"
dp_run "$T/nos.out" "$T/nos.err" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0
((DP_RUN_RC == 2)) || fail "seed-dataplane without --store: expected exit 2, saw $(describe_rc "$DP_RUN_RC")"
grep -qF -- --store "$T/nos.err" || fail "seed-dataplane without --store: expected stderr to name --store, saw: $(cat "$T/nos.err")"

note "store that does not exist"
NOPE=$T/no-such-store
dp_run "$T/miss.out" "$T/miss.err" --store "$NOPE" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1
case $DP_RUN_RC in
0 | 124 | 137) fail "seed-dataplane --store $NOPE: expected a non-zero exit at once, saw $(describe_rc "$DP_RUN_RC")" ;;
esac
grep -qF -- "$NOPE" "$T/miss.err" || fail "seed-dataplane --store $NOPE: expected stderr to name $NOPE, saw: $(cat "$T/miss.err")"
[[ ! -e $NOPE ]] || fail "seed-dataplane --store $NOPE: expected it not to create the store, $NOPE now exists"
echo "missing store -> exit $DP_RUN_RC: $(cat "$T/miss.err")"

note "SIGTERM during a big HTTP download"
dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2
URL="$DP_URL/$ID/big/huge.bin"
timeout --kill-after=5 120 curl -sS --limit-rate 2M -o "$T/part.bin" "$URL" 2>"$T/part.err" &
CURL_PID=$!
dp_track "$CURL_PID"
for ((i = 0; i < 100; i++)); do
	[[ -f $T/part.bin ]] && (($(stat -c %s "$T/part.bin") >= MiB)) && break
	pid_running "$CURL_PID" || break
	sleep 0.1
done
got=0
[[ -f $T/part.bin ]] && got=$(stat -c %s "$T/part.bin")
((got >= MiB)) || { cat "$T/part.err" >&2; fail "curl $URL (2 MiB/s): expected >= 1 MiB within 10 s before sending SIGTERM, saw $got bytes"; }
pid_running "$CURL_PID" || fail "curl $URL at 2 MiB/s: expected it still downloading when SIGTERM is sent, it had ended"
dp_stop 10
echo "$DP_STOPPED (exited ${DP_STOP_MS}ms after SIGTERM, curl had $got bytes)"
wait_pids 15 "curl after the data plane exited" "$CURL_PID"
got=$(stat -c %s "$T/part.bin")
full=$(stat -c %s "$TREE/huge.bin")
echo "curl: exit ${WAIT_RCS[$CURL_PID]}, $got of $full bytes"
((got < full)) || fail "curl --limit-rate 2M $URL: expected an interrupted transfer (< $full bytes, 64 MiB take 32 s), saw all $got bytes"
((WAIT_RCS[$CURL_PID] != 0)) || fail "curl $URL: expected a non-zero exit (the transfer was cut at $got of $full bytes), saw 0"
same_bytes_as_source "$TREE/huge.bin" 0 "$got" "$T/part.bin" "curl $URL (the part received before SIGTERM)"

note "IPv4 and IPv6 listeners at once"
if [[ ! -e /proc/net/if_inet6 ]] || ! ip -6 addr show dev lo 2>/dev/null | grep -q '::1'; then
	fail "this test needs IPv6 on loopback (::1), which this machine lacks"
fi
DP_BT_HOST='[::1]' DP_HTTP_HOST='[::1]' dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 \
	--bt-listen '[::1]:0' --http-listen 127.0.0.1:0 --http-listen '[::1]:0' --workers 2
V6_HTTP=$DP_HTTP_PORT
V6_BT=$DP_BT_PORT
V4_HTTP=$(sed -nE 's#^http +http://127\.0\.0\.1:([0-9]+)/$#\1#p' "$DP_OUT" | head -1)
[[ $V4_HTTP =~ ^[0-9]+$ ]] || fail "seed-dataplane stdout: expected an IPv4 http listener line too, saw: $(cat "$DP_OUT")"
http_get "http://[::1]:$V6_HTTP/$ID/big/huge.bin" "$T/v6.bin" "$T/v6.h" -g -r 1000000-5999999
[[ $HTTP_CODE == 206 ]] || fail "curl over [::1]: expected 206 for a range, saw $HTTP_CODE ($(cat "$T/v6.bin.curlerr"))"
same_bytes_as_source "$TREE/huge.bin" 1000000 5000000 "$T/v6.bin" "curl -r 1000000-5999999 over [::1]"
http_get "http://127.0.0.1:$V4_HTTP/$ID/big/small.txt" "$T/v4.txt" "$T/v4.h"
[[ $HTTP_CODE == 200 ]] || fail "curl over 127.0.0.1 beside [::1]: expected 200, saw $HTTP_CODE"
cmp -s "$TREE/small.txt" "$T/v4.txt" || fail "curl over 127.0.0.1 beside [::1]: expected small.txt's bytes"
TORRENT=$(json_get "$T/c.json" torrent)
mkdir -p "$T/lt6"
"$PY" "$SRCDIR/dp_download.py" --peer "[::1]:$V6_BT" --timeout 120 --job "$T/lt6" "$TORRENT" ||
	fail "libtorrent: expected to download $ID from the seed at [::1]:$V6_BT (see above)"
tree_sums_cmp "$TREE" "$T/lt6/big" "libtorrent over IPv6"
dp_stop 10
echo "$DP_STOPPED"
dp_expect_counter verify_failures 0
echo "PASS: test_dataplane_cli"
