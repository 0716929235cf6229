#!/usr/bin/env bash
# User story: an engineer measures a seed with the load generator (bench/
# loadgen) and must be able to trust its figures: it reports what it really
# received, it checks every byte, and it says so loudly when something is off.
#  - against our seed-dataplane (a ~24 MiB multi-file release, hybrid torrent
#    plus the .v1.torrent beside it): `loadgen bt` with the hybrid's v1
#    info-hash, with --v2 (merkle checks), and with the v1-only torrent, and
#    `loadgen http` in range and whole mode with --verify-dir: each exits 0
#    with errors 0, payload bytes and verified pieces/bodies > 0, and (bt)
#    the data plane's CPU seconds from --server-pid > 0;
#  - against a real python3-libtorrent seed (bench/lt_seed.py, 4 MiB file,
#    64 KiB pieces): clean run exits 0; then one byte of the seeded file is
#    flipped on disk while it seeds (libtorrent 2.0 maps the file and never
#    re-hashes what it serves), so libtorrent really sends a wrong piece:
#    loadgen exits 1, mismatches > 0, naming the piece's SHA-1 check; with
#    the byte put back a run is clean again (the mismatch was that byte);
#  - HTTP whole-file mode against a --verify-file copy with one byte
#    flipped: exit 1, mismatches > 0, no bad status (the server was right);
#  - usage and setup errors: an unknown flag or a missing --torrent exit 2
#    with a message; a torrent the seed does not hold exits 1 naming the
#    handshake and the info-hash; a refused port exits 1 (bt and http).
# Every loadgen run is --duration 1 or 2 and bounded by `timeout`.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
[[ -n ${LOADGEN:-} ]] || fail "LOADGEN is not set (expected the path of the built bench/loadgen)"
[[ -x $LOADGEN ]] || fail "LOADGEN=$LOADGEN is not an executable file"


# lg WHAT ARGS...: run loadgen ARGS (at most 60 s), stdout to LG_OUT, stderr
# to LG_ERR; the exit status lands in LG_RC. WHAT names the run in messages.
LG_OUT=$T/lg.out
LG_ERR=$T/lg.err
lg() {
	LG_WHAT=$1
	shift
	LG_RC=0
	timeout --kill-after=5 60 "$LOADGEN" "$@" >"$LG_OUT" 2>"$LG_ERR" || LG_RC=$?
}

# lg_rc RC: the last run must have exited RC.
lg_rc() {
	if ((LG_RC != $1)); then
		echo "stdout:" >&2
		head -c 3000 "$LG_OUT" >&2 || true
		echo "stderr:" >&2
		head -c 3000 "$LG_ERR" >&2 || true
		fail "$LG_WHAT: expected exit $1, saw $(describe_rc "$LG_RC")"
	fi
}

# lg_expect COND...: every COND, a Python expression over the keys of the
# JSON object loadgen printed (e.g. "errors == 0"), must hold. A failure
# names each broken condition with the values it read, then prints the run
# summary on success.
lg_expect() {
	"$PY" - "$LG_OUT" "$LG_WHAT" "$@" <<'EOF' || { echo "loadgen stderr:" >&2; head -c 3000 "$LG_ERR" >&2; exit 1; }
import json, re, sys
path, what, conds = sys.argv[1], sys.argv[2], sys.argv[3:]
raw = open(path, 'rb').read()
try:
    d = json.loads(raw)
    assert isinstance(d, dict)
except Exception as e:
    sys.exit('FAIL: %s: expected one JSON object on stdout, saw %r' % (what, raw[:2000]))
bad = []
for c in conds:
    code = re.sub(r"'[^']*'", '', c)
    names = [n for n in dict.fromkeys(re.findall(r'\b[a-z_][a-z0-9_]*\b', code))
             if n not in ('and', 'or', 'not', 'in')]
    missing = [n for n in names if n not in d]
    seen = ', '.join('%s=%r' % (n, d[n]) for n in names if n in d)
    if missing:
        bad.append('%s (no key %s in the JSON)' % (c, ', '.join(missing)))
        continue
    try:
        ok = eval(c, {}, dict(d))
    except Exception as e:
        ok = False
        seen += ' (%s)' % e
    if not ok:
        bad.append('%s (saw %s)' % (c, seen))
if bad:
    sys.exit('FAIL: %s: expected %s' % (what, '; '.join(bad)))
print('%s: %s bytes in %ss (%s Gbit/s), %s requests, %s verified, %s errors, %s mismatches, server CPU %s s'
      % (what, d.get('bytes'), d.get('duration_s'), d.get('gbit_s'), d.get('requests'),
         d.get('verified'), d.get('errors'), d.get('mismatches'), d.get('server_cpu_s')))
EOF
}

# lg_clean: exit 0 and nothing on stderr (no error line, no sanitizer report).
lg_clean() {
	lg_rc 0
	[[ ! -s $LG_ERR ]] || fail "$LG_WHAT: expected nothing on stderr after a clean run, saw: $(head -c 2000 "$LG_ERR")"
}

# lg_stderr_has TEXT: loadgen's stderr must contain TEXT (fixed string).
lg_stderr_has() {
	grep -qF -- "$1" "$LG_ERR" || fail "$LG_WHAT: expected stderr to mention '$1', saw: $(head -c 2000 "$LG_ERR")"
}

# flip_byte FILE OFFSET: invert one byte of FILE in place (same inode: a
# process that has the file mapped sees the change at once).
flip_byte() {
	"$PY" - "$1" "$2" <<'EOF' || exit 1
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, 'r+b') as f:
    f.seek(off)
    b = f.read(1)
    if len(b) != 1:
        sys.exit('FAIL: expected %s to have a byte at offset %d' % (path, off))
    f.seek(off)
    f.write(bytes([b[0] ^ 0xff]))
EOF
}

# ---------------------------------------------------------------------------
note "a ~24 MiB multi-file release, hybrid + v1-only torrents"
S=$T/store
TREE=$T/src/rel
gen_file "$TREE/big.bin" $((16 * MiB + 5))
gen_file "$TREE/sub/mid.bin" $((7 * MiB + 777))
gen_file "$TREE/sub/deep/small.txt" 3000
gen_file "$TREE/sub/odd name.bin" 100000
sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name rel --version 1 --also-v1 --json "$TREE"
ID=$(json_get "$T/c.json" id)
HYBRID=$(json_get "$T/c.json" torrent)
V1ONLY=$(json_get "$T/c.json" torrent_v1)
[[ -f $HYBRID ]] || fail "release create --also-v1 --json: expected 'torrent' to name a file, saw '$HYBRID'"
[[ -f $V1ONLY ]] || fail "release create --also-v1 --json: expected 'torrent_v1' to name a file, saw '$V1ONLY'"

dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2
PEER=127.0.0.1:$DP_BT_PORT

note "loadgen bt against seed-dataplane"
bt_args=(--peer "$PEER" --conns 4 --duration 1 --json --server-pid "$DP_PID")
lg "loadgen bt (hybrid torrent, v1 handshake)" bt --torrent "$HYBRID" "${bt_args[@]}"
lg_clean
lg_expect "variant == 'v1'" "errors == 0" "mismatches == 0" "bytes > 0" "verified > 0" "server_cpu_s > 0" "verify"
lg "loadgen bt --v2 (hybrid torrent, merkle checks)" bt --torrent "$HYBRID" --v2 "${bt_args[@]}"
lg_clean
lg_expect "variant == 'v2'" "errors == 0" "mismatches == 0" "bytes > 0" "verified > 0" "server_cpu_s > 0"
lg "loadgen bt (.v1.torrent)" bt --torrent "$V1ONLY" "${bt_args[@]}"
lg_clean
lg_expect "variant == 'v1'" "errors == 0" "mismatches == 0" "bytes > 0" "verified > 0" "server_cpu_s > 0"

note "loadgen http against seed-dataplane, bodies compared with the source"
urls=()
for f in big.bin sub/mid.bin sub/deep/small.txt "sub/odd name.bin"; do
	urls+=(--url "$DP_URL/$ID/rel/$(url_path "$f")")
done
for mode in range whole; do
	lg "loadgen http --mode $mode --verify-dir" http --mode "$mode" "${urls[@]}" --verify-dir "$TREE" \
		--conns 4 --duration 1 --json --server-pid "$DP_PID"
	lg_clean
	lg_expect "variant == '$mode'" "errors == 0" "bad_status == 0" "mismatches == 0" "bytes > 0" \
		"verified > 0" "verified == requests" "server_cpu_s > 0"
done

note "HTTP: a verify file differing in one byte is caught"
BADCOPY=$T/mid.bad
cp "$TREE/sub/mid.bin" "$BADCOPY"
flip_byte "$BADCOPY" $((3 * MiB + 12345))
lg "loadgen http --mode whole --verify-file (one byte flipped)" http --mode whole \
	--url "$DP_URL/$ID/rel/sub/mid.bin" --verify-file "$BADCOPY" --conns 2 --duration 1 --json
lg_rc 1
lg_expect "mismatches > 0" "errors >= mismatches" "bad_status == 0" "verified == 0"
lg_stderr_has "differ from $BADCOPY"

note "setup errors: a torrent the seed does not hold, a refused port"
gen_file "$T/other/x/other.bin" 200000
sc_ok "$T/c2.json" "$T/c2.err" release create --store "$T/store2" --tenant acme --name other --version 1 --json "$T/other/x"
OTHER=$(json_get "$T/c2.json" torrent)
OTHER_IH=$(json_get "$T/c2.json" infohash_v1)
lg "loadgen bt with a torrent the seed does not hold" bt --torrent "$OTHER" --peer "$PEER" --conns 2 --duration 1 --json
lg_rc 1
one_line_stderr "$LG_ERR" "$LG_WHAT"
[[ ! -s $LG_OUT ]] || fail "$LG_WHAT: expected no JSON on stdout when setup fails, saw: $(head -c 500 "$LG_OUT")"
lg_stderr_has "handshake"
lg_stderr_has "$OTHER_IH"
echo "$LG_WHAT -> exit 1: $(head -1 "$LG_ERR")"

REFUSED=$(free_port)
lg "loadgen bt to a port nobody listens on" bt --torrent "$HYBRID" --peer "127.0.0.1:$REFUSED" --conns 2 --duration 1 --json
lg_rc 1
one_line_stderr "$LG_ERR" "$LG_WHAT"
lg_stderr_has "Connection refused"
echo "$LG_WHAT -> exit 1: $(head -1 "$LG_ERR")"
lg "loadgen http to a port nobody listens on" http --url "http://127.0.0.1:$REFUSED/x" --duration 1 --json
lg_rc 1
one_line_stderr "$LG_ERR" "$LG_WHAT"
lg_stderr_has "Connection refused"
echo "$LG_WHAT -> exit 1: $(head -1 "$LG_ERR")"

note "usage errors"
lg "loadgen bt --frobnicate" bt --torrent "$HYBRID" --peer "$PEER" --frobnicate
lg_rc 2
lg_stderr_has "--frobnicate"
echo "$LG_WHAT -> exit 2: $(head -1 "$LG_ERR")"
lg "loadgen bt without --torrent" bt --peer "$PEER" --duration 1
lg_rc 2
lg_stderr_has "--torrent"
lg "loadgen http --v2 (a bt-only flag)" http --url "$DP_URL/$ID/rel/big.bin" --v2
lg_rc 2
lg_stderr_has "--v2"

dp_stop 30
echo "$DP_STOPPED"
dp_expect_counter verify_failures 0

# ---------------------------------------------------------------------------
note "python3-libtorrent seed: 4 MiB, 64 KiB pieces"
LTDIR=$T/lt
gen_file "$LTDIR/payload.bin" $((4 * MiB))
sc_ok "$T/lt.json" "$T/lt.err" release create --store "$T/ltstore" --tenant acme --name ltp --version 1 \
	--v1-only --piece-length 65536 --json "$LTDIR/payload.bin"
LT_TORRENT=$(json_get "$T/lt.json" torrent)
lt_seed_start "$LT_TORRENT" "$LTDIR"
LT_PEER=127.0.0.1:$LT_PORT

lg "loadgen bt against libtorrent" bt --torrent "$LT_TORRENT" --peer "$LT_PEER" --conns 4 --duration 1 --json \
	--server-pid "$LT_PID"
lg_clean
lg_expect "errors == 0" "mismatches == 0" "bytes > 0" "verified > 0" "server_cpu_s > 0"

# One byte in the middle of piece 30 (of 64). libtorrent serves from its
# mapping of the file and does not hash what it sends, so this piece now
# goes out wrong; with 4 connections reading the 4 MiB in order for 2 s,
# every piece is asked for many times.
OFF=$((30 * 65536 + 20000))
PIECE=$((OFF / 65536))
note "flipping byte $OFF (piece $PIECE) of the seeded file while libtorrent serves it"
flip_byte "$LTDIR/payload.bin" "$OFF"
lg "loadgen bt --pattern sequential against libtorrent sending a bad piece" bt --torrent "$LT_TORRENT" \
	--peer "$LT_PEER" --conns 4 --duration 2 --pattern sequential --json
lg_rc 1
lg_expect "mismatches > 0" "errors >= mismatches" "verified > 0"
lg_stderr_has "piece $PIECE from connection"
lg_stderr_has "failed its SHA-1 check"
echo "$LG_WHAT -> exit 1: $(head -1 "$LG_ERR")"

note "byte put back: libtorrent's pieces check again"
flip_byte "$LTDIR/payload.bin" "$OFF"
lg "loadgen bt against libtorrent with the file restored" bt --torrent "$LT_TORRENT" --peer "$LT_PEER" \
	--conns 4 --duration 1 --json
lg_clean
lg_expect "errors == 0" "mismatches == 0" "bytes > 0" "verified > 0"

kill -TERM "$LT_PID"
wait_pids 15 "lt_seed.py after SIGTERM" "$LT_PID"
rc=${WAIT_RCS[$LT_PID]}
((rc == 0)) || { cat "$T/lts.err" >&2; fail "lt_seed.py: expected exit 0 after SIGTERM, saw $(describe_rc "$rc")"; }
up=$(sed -nE 's/^payload\.bin uploaded ([0-9]+) bytes$/\1/p' "$T/lts.out")
[[ $up =~ ^[1-9][0-9]*$ ]] || fail "lt_seed.py: expected 'payload.bin uploaded N bytes' with N > 0 on exit, saw: $(cat "$T/lts.out")"
echo "libtorrent uploaded $up bytes"
echo "PASS: test_loadgen"
