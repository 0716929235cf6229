#!/usr/bin/env bash
# User story: a hostile client tries to turn read-ahead into a disk
# amplifier (issue 19, tried the way the world will). A 96 MiB release of
# 1 MiB pieces is served by two workers sharing a 32 MiB cache, the
# per-source limits on for every address (--limit-exempt none).
#  - From 127.0.0.2, 16 threads open connection after connection for
#    8 s, each asking an open-ended range (bytes=OFF-, OFF a random MiB
#    of the file: the most a range can ask to be read ahead) and hanging
#    up 0.1 s later, answered or not, so every range taken costs reads
#    nobody will send and the blocks read ahead push others out of the
#    small cache.
#  - Meanwhile python3-libtorrent downloads the release from 127.0.0.1:
#    byte for byte.
#  - The flooder's address was held to its connection rate (addr_rate
#    refusals counted, HTTP connections taken at most the burst plus the
#    rate over the flood's time), and what the store read is bounded by
#    what was asked: at most 1.5 x the release for the download plus
#    6 MiB per HTTP connection taken (its queue: READAHEAD_SEGS x 16 KiB
#    and one 1 MiB action beyond; and one read ahead past it). Read-ahead
#    that ignored a range's queue or the budget (or read a whole object
#    per miss) breaks it.
#  - No verify failure, no storage error, a clean stop.
#  - Peers that stop reading: restarted with a 64 MiB cache, 120
#    connections from 127.0.0.2 each ask an open-ended range at their own
#    MiB and never read (4 KiB receive buffers), for up to 60 s. Their
#    queued blocks (256 each: 480 MiB asked of a 64 MiB cache) and their
#    stuck sends would pin every slot; once a miss finds none, the blocks
#    of connections that have not moved for a second are let go
#    (blocks_parked > 0), and curl from 127.0.0.1 downloads the whole file
#    byte for byte meanwhile, within 30 s (a second here; a minute before
#    blocks were let go).
# Before the fix this test came with, the flood filled the 32 MiB cache
# with blocks being read ahead and blocks queued for connections already
# gone; every miss then scanned the whole cache under its lock, for each
# queued block, and the workers stalled for seconds: libtorrent's
# handshake timed out.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane

TREE=$T/src/game
S=$T/store
SIZE=$((96 << 20))
FLOOD_SECS=8
RATE=32 BURST=128 # the data plane's --addr-conn-rate and --addr-conn-burst, given below
gen_tree "$TREE" big.bin "$SIZE"
sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name flood \
	--version 1 --piece-length 1048576 --json "$TREE"
ID=$(json_get "$T/c.json" id)
TORRENT=$(json_get "$T/c.json" torrent)

dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2 \
	--cache-size 32M --limit-exempt none --addr-conn-rate "$RATE" --addr-conn-burst "$BURST" \
	--stats-file "$T/dp.stats"
URL_PATH=/$ID/game/big.bin

note "flooding from 127.0.0.2 with open-ended ranges for ${FLOOD_SECS}s while libtorrent downloads"
"$PY" - "$DP_HTTP_PORT" "$URL_PATH" "$SIZE" "$FLOOD_SECS" "$T/flood.json" <<'EOF' &
import json, random, socket, sys, threading, time
port, path, size, secs, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
counts = {'tries': 0, 'answered': 0, 'unanswered': 0, 'refused': 0, 'errors': 0}
lock = threading.Lock()
end = time.monotonic() + secs
t0 = time.monotonic()

# one connection: the range asked, whatever came within 0.1 s, hung up
def one(rng):
    s = socket.socket()
    s.settimeout(2)
    got = b''
    try:
        s.bind(('127.0.0.2', 0))
        s.connect(('127.0.0.1', port))
        off = rng.randrange(size >> 20) << 20
        s.sendall(('GET %s HTTP/1.1\r\nHost: x\r\nRange: bytes=%d-\r\n\r\n' % (path, off)).encode())
        s.settimeout(0.1)
        while len(got) < 16:
            b = s.recv(4096)
            if not b:
                return 'refused'  # closed at accept: over the address's limits
            got += b
    except socket.timeout:
        if not got:
            return 'unanswered'
    except ConnectionError:
        return 'refused'
    finally:
        s.close()
    return 'answered' if got.startswith(b'HTTP/1.1 206') else 'errors'

def run(seed):
    rng = random.Random(seed)
    while time.monotonic() < end:
        r = one(rng)
        with lock:
            counts['tries'] += 1
            counts[r] += 1

ts = [threading.Thread(target=run, args=(i,)) for i in range(16)]
for t in ts:
    t.start()
for t in ts:
    t.join()
counts['secs'] = time.monotonic() - t0
json.dump(counts, open(out, 'w'))
EOF
FLOOD_PID=$!
dp_track "$FLOOD_PID"
t0=$(date +%s%N)
rc=0
"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 240 \
	--job "$T/lt" "$TORRENT" --check-had "$(dirname "$TREE")" || rc=$?
dl_ms=$((($(date +%s%N) - t0) / 1000000))
((rc == 0)) || fail "libtorrent: download of $TORRENT from 127.0.0.1:$DP_BT_PORT during the flood failed (see above)"
tree_sums_cmp "$TREE" "$T/lt/game" "libtorrent during the flood"
wait_pids 30 "the flooder" "$FLOOD_PID"
((WAIT_RCS[$FLOOD_PID] == 0)) || fail "the flooder: expected exit 0, saw ${WAIT_RCS[$FLOOD_PID]}"

sc_ok "$T/st.json" "$T/st.err" stats --file "$T/dp.stats" --json
read -r tries answered unanswered refused errors secs < <("$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["tries"], d["answered"], d["unanswered"], d["refused"], d["errors"], int(d["secs"] + 1))' "$T/flood.json")
read -r addr_rate conns < <("$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["admit_refusals"]["addr_rate"], d["conns_accepted"]["http"])' "$T/st.json")
dp_stop 30
reads=$(dp_counter storage_read_bytes) rab=$(dp_counter readahead_blocks) waits=$(dp_counter readahead_budget_waits)
echo "download: ${dl_ms} ms; flood: $tries connections in ${secs}s: $answered answered within 0.1 s, $unanswered not, $refused refused ($addr_rate addr_rate refusals counted), $errors other answers; $conns HTTP connections taken"
echo "store read $((reads >> 20)) MiB for a $((SIZE >> 20)) MiB release ($rab blocks read ahead, $waits budget waits)"

((errors == 0)) || fail "the flooder: expected every answer a 206 or a refusal, $errors were neither"
((conns > 0)) || fail "seedctl stats --json: expected some of the flooder's connections taken (burst $BURST), conns_accepted.http is 0"
((refused > 0 && addr_rate > 0)) ||
	fail "expected the flooder refused over its rate: it saw $refused refusals, the data plane counted $addr_rate addr_rate refusals"
max_conns=$((BURST + RATE * secs))
((conns <= max_conns)) ||
	fail "seedctl stats --json: $conns HTTP connections taken from the flooder in ${secs}s, expected at most $max_conns (burst $BURST + $RATE/s)"
limit=$((SIZE + SIZE / 2 + conns * (6 << 20)))
((reads <= limit)) ||
	fail "stopped line: storage_read_bytes=$reads, expected at most $limit (1.5 x the release + 6 MiB per HTTP connection taken: $conns)"
dp_expect_counter verify_failures 0
dp_expect_counter storage_errors 0
dp_expect_counter readahead_splits 0

note "120 connections from 127.0.0.2 that never read, while curl downloads from 127.0.0.1"
mkdir -p "$T/hold"
dp_start "$T/hold" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2 \
	--cache-size 64M --limit-exempt none --stats-file "$T/hold.stats"
"$PY" - "$DP_HTTP_PORT" "$URL_PATH" "$SIZE" "$T/hold.ready" <<'EOF' &
import socket, sys, time
port, path, size, ready = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
held = []
for i in range(120):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(('127.0.0.2', 0))
    s.connect(('127.0.0.1', port))
    off = (i * 7 % (size >> 20)) << 20
    s.sendall(('GET %s HTTP/1.1\r\nHost: x\r\nRange: bytes=%d-\r\n\r\n' % (path, off)).encode())
    held.append(s)
    time.sleep(0.01)
open(ready, 'w').write('%d\n' % len(held))
time.sleep(60)
EOF
HOLD_PID=$!
dp_track "$HOLD_PID"
for ((i = 0; i < 100; i++)); do
	[[ -s $T/hold.ready ]] && break
	pid_running "$HOLD_PID" || fail "the holder exited before its 120 connections were open"
	sleep 0.1
done
[[ -s $T/hold.ready ]] || fail "the holder: expected its 120 connections open within 10 s"
sleep 3 # their queues fill and their sends stop
# 30 s is a liveness bound, not a speed figure: the download takes about a
# second here, and took about 60 s before blocks were let go (0 bytes in
# 15 s with a 32 MiB cache)
t0=$(date +%s%N)
http_get "$DP_URL$URL_PATH" "$T/hold.body" "$T/hold.hdr" -f --max-time 30
curl_ms=$((($(date +%s%N) - t0) / 1000000))
((CURL_RC == 0)) || fail "curl $DP_URL$URL_PATH while 120 connections hold their ranges unread: expected it done within 30 s (exit 0), saw exit $CURL_RC after ${curl_ms} ms: the holders' blocks starve it"
cmp -s "$T/hold.body" "$TREE/big.bin" || fail "curl $DP_URL$URL_PATH beside the holders: expected the source's bytes, they differ"
kill "$HOLD_PID" 2>/dev/null || true
wait "$HOLD_PID" 2>/dev/null || true
dp_stop 30
parked=$(dp_counter blocks_parked)
echo "beside 120 connections that never read: curl got the whole file in ${curl_ms} ms; $parked queued blocks let go"
((parked > 0)) || fail "stopped line: blocks_parked=$parked, expected the holders' blocks let go for curl's ($DP_STOPPED)"
dp_expect_counter verify_failures 0
dp_expect_counter storage_errors 0
echo "PASS: test_dataplane_readahead_flood"
