#!/usr/bin/env bash
# User story: launch day from a cold store (issue 19, read-ahead by piece).
# A release of 1 MiB pieces (a 24 MiB file and a 4 MiB one) is served by
# one worker whose cache holds it all, so every block is read from the
# store exactly once, by whichever request misses it first.
#  - HTTP ranges read what they ask and no more: a 16 KiB range at a block
#    boundary costs one read of 16 KiB; a 40,000-byte range over three
#    blocks costs one read of those three blocks (a read ahead, with two
#    blocks beyond the first), never a block past the range.
#  - python3-libtorrent downloads the release, byte for byte; the store
#    is read in reads of several blocks (readahead_reads > 0, at least 8
#    blocks per read on average: a piece is 64 blocks) and every byte once
#    (storage_read_bytes is the release's size: nothing read twice or
#    past a file's end).
#  - The same download from a data plane started with --readahead 0 reads
#    one block per read (storage_reads at least the release's blocks,
#    readahead_reads 0): the figures above are the read-ahead's doing.
#  - With a budget of two blocks (--readahead 32K) misses past it are read
#    alone (readahead_budget_waits > 0), some still ahead within it, and
#    still every byte once.
#  - No verify failure and no storage error anywhere; `seedctl stats`
#    shows the read-ahead counters while it runs.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
require_cmds curl

TREE=$T/src/game
S=$T/store
gen_tree "$TREE" big.bin $((24 << 20)) range.bin $((4 << 20))
sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name ra --version 1 \
	--piece-length 1048576 --json "$TREE"
ID=$(json_get "$T/c.json" id)
TORRENT=$(json_get "$T/c.json" torrent)
BLOCKS=$(((28 << 20) / 16384))
SIZE=$((28 << 20))

# dpstat NAME: counter NAME from seedctl stats --json of the running data plane
dpstat() {
	sc_ok "$T/st.json" "$T/st.err" stats --file "$T/dp.stats" --json
	json_get "$T/st.json" "$1"
}

dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 \
	--cache-size 128M --stats-file "$T/dp.stats"

grep -qE '^storage +reads (polled \(IOPOLL\): .+|complete by interrupt \(.+\))$' "$DP_OUT" ||
	fail "seed-dataplane's banner: expected a line 'storage     reads polled (IOPOLL): ...' or 'storage     reads complete by interrupt (why)', saw: $(cat "$DP_OUT")"

note "a 16 KiB range at a block boundary: one read of 16 KiB"
A=$(((1 << 20) + 5 * 16384))
http_get "$DP_URL/$ID/game/range.bin" "$T/r1" "$T/r1.hdr" -f -r "$A-$((A + 16383))"
same_bytes_as_source "$TREE/range.bin" "$A" 16384 "$T/r1" "curl -r $A-$((A + 16383))"
r=$(dpstat storage_reads) b=$(dpstat storage_read_bytes) ra=$(dpstat readahead_blocks)
[[ $r == 1 && $b == 16384 && $ra == 0 ]] || fail "after one 16 KiB range: expected storage_reads 1, storage_read_bytes 16384, readahead_blocks 0; saw $r, $b, $ra"

note "a 40,000-byte range over three blocks: one read of those three"
A=$(((3 << 20) + 1000))
http_get "$DP_URL/$ID/game/range.bin" "$T/r2" "$T/r2.hdr" -f -r "$A-$((A + 39999))"
same_bytes_as_source "$TREE/range.bin" "$A" 40000 "$T/r2" "curl -r $A-$((A + 39999))"
r=$(dpstat storage_reads) b=$(dpstat storage_read_bytes) rr=$(dpstat readahead_reads) ra=$(dpstat readahead_blocks)
[[ $r == 2 && $b == $((16384 + 3 * 16384)) && $rr == 1 && $ra == 2 ]] ||
	fail "after the 40,000-byte range: expected storage_reads 2, storage_read_bytes $((4 * 16384)), readahead_reads 1, readahead_blocks 2; saw $r, $b, $rr, $ra"
sc_ok "$T/st.txt" "$T/st.err" stats --file "$T/dp.stats"
grep -qE '^read ahead: reads 1, blocks 2, split 0, budget waits 0$' "$T/st.txt" ||
	fail "seedctl stats: expected a line 'read ahead: reads 1, blocks 2, split 0, budget waits 0', saw: $(grep -i 'read ahead' "$T/st.txt")"

# lt_whole DIR WHAT: libtorrent downloads the release from the running data
# plane into DIR, byte for byte, and the data plane is stopped (the counters
# are then on its stopped line)
lt_whole() {
	local rc=0
	"$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" --timeout 240 \
		--job "$1" "$TORRENT" --check-had "$(dirname "$TREE")" || rc=$?
	((rc == 0)) || fail "$2: download of $TORRENT from 127.0.0.1:$DP_BT_PORT failed (see above)"
	tree_sums_cmp "$TREE" "$1/game" "$2"
	dp_stop 30
}

note "libtorrent: the whole release, cold"
lt_whole "$T/lt1" "libtorrent"
reads=$(dp_counter storage_reads) bytes=$(dp_counter storage_read_bytes)
rar=$(dp_counter readahead_reads) rab=$(dp_counter readahead_blocks)
note "with read-ahead: $reads reads ($rar of several blocks, $rab blocks ahead) for $BLOCKS blocks, $bytes bytes"
((rar > 0)) || fail "stopped line: readahead_reads=$rar, expected reads of several blocks ($DP_STOPPED)"
((reads * 8 <= BLOCKS)) || fail "stopped line: storage_reads=$reads for $BLOCKS blocks: expected at least 8 blocks per read on average"
((bytes == SIZE)) || fail "stopped line: storage_read_bytes=$bytes: expected every byte of the $SIZE-byte release read once (the ranges' blocks included), none twice"
dp_expect_counter verify_failures 0
dp_expect_counter storage_errors 0
dp_expect_counter readahead_splits 0

note "the same download without read-ahead (--readahead 0): one read per block"
mkdir -p "$T/off"
dp_start "$T/off" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 \
	--cache-size 128M --readahead 0
lt_whole "$T/lt2" "libtorrent (--readahead 0)"
reads0=$(dp_counter storage_reads)
note "without: $reads0 reads for $BLOCKS blocks"
((reads0 >= BLOCKS)) || fail "--readahead 0: storage_reads=$reads0, expected one read per block (at least $BLOCKS)"
dp_expect_counter readahead_reads 0
dp_expect_counter storage_read_bytes "$SIZE"
dp_expect_counter verify_failures 0

note "a budget of two blocks (--readahead 32K): misses past it are read alone, nothing twice"
mkdir -p "$T/small"
dp_start "$T/small" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 \
	--cache-size 128M --readahead 32K
lt_whole "$T/lt3" "libtorrent (--readahead 32K)"
waits=$(dp_counter readahead_budget_waits) rab=$(dp_counter readahead_blocks)
note "budget of 32 KiB: $waits misses read alone for the budget, $rab blocks read ahead"
((waits > 0)) || fail "--readahead 32K: readahead_budget_waits=$waits, expected misses that waited for the budget ($DP_STOPPED)"
((rab > 0)) || fail "--readahead 32K: readahead_blocks=$rab, expected some read ahead within the budget ($DP_STOPPED)"
dp_expect_counter storage_read_bytes "$SIZE"
dp_expect_counter verify_failures 0
dp_expect_counter readahead_splits 0

note "--storage-poll yes: polled reads where the device can, a clear refusal where it cannot"
rc=0
timeout 20 "$SEED_DATAPLANE" --allow-root yes --store "$S" --http-listen 127.0.0.1:0 --workers 1 \
	--storage-poll yes --cache-size 16M >"$T/poll.out" 2>"$T/poll.err" &
PP=$!
dp_track "$PP"
poll_until 10 "$PP" grep -q '^http ' "$T/poll.out" 2>/dev/null || true
if pid_running "$PP"; then
	grep -qE '^storage +reads polled \(IOPOLL\)' "$T/poll.out" ||
		fail "--storage-poll yes started: expected the banner to say 'storage     reads polled (IOPOLL)', saw: $(cat "$T/poll.out")"
	kill "$PP"
	wait "$PP" || true
	note "this machine's store device polls: the data plane runs polled"
else
	wait "$PP" || rc=$?
	((rc == 2)) || fail "--storage-poll yes on a device that cannot poll: expected exit 2, saw $(describe_rc "$rc")"
	expect_line "$T/poll.err" "--storage-poll yes on a device that cannot poll: expected one line saying why" \
		"--storage-poll yes: the store's device cannot poll"
	note "this machine's store device cannot poll: --storage-poll yes is refused ($(head -1 "$T/poll.err"))"
fi
dp_untrack "$PP"
