#!/usr/bin/env bash
# User story: a launch-day burst. 64 clients hit one seed-dataplane at once
# for one --also-v1 release (~32 MiB: hybrid torrent + its v1 companion):
#  - 16 libtorrent peers (4 python processes x 4 sessions): 6 on the hybrid
#    .torrent, 8 on the companion v1 .torrent, 2 on the hybrid's magnet;
#  - 24 curl processes: whole files and ranges;
#  - 24 aria2c HTTP downloads of whole files.
# All must finish within 180 s with exactly the source bytes; the data plane
# then stops with exit 0, verify_failures=0, storage_errors=0. Per-client
# timings are printed, never asserted.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane
require_cmds aria2c curl

DEADLINE=180
TREE=$T/src/burst
S=$T/store
gen_tree "$TREE" big.bin $((18 * MiB + 3)) data/mid.bin $((9 * MiB + 5)) \
	data/small.bin $((4 * MiB - 1)) data/more/tiny.bin 1000 one.bin 1 empty.bin 0
total=$(find "$TREE" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
mapfile -t FILES < <(cd "$TREE" && find . -type f -size +0 -printf '%P\n' | sort)

sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name burst --version 1 --also-v1 --json "$TREE"
ID=$(json_get "$T/c.json" id)
HYB=$(json_get "$T/c.json" torrent)
TV1=$(json_get "$T/c.json" torrent_v1)
MAGNET=$(json_get "$T/c.json" magnet)
[[ -f $HYB && -f $TV1 ]] || fail "create --also-v1: expected \"torrent\" and \"torrent_v1\" files, saw '$HYB' and '$TV1'"

dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 2 --cache-size 64M

declare -a LT_PIDS=() CURL_PIDS=() ARIA_PIDS=()
declare -A WHAT=() CHECK=()

note "starting 64 clients"
WAIT_T0=$(date +%s%N)
# libtorrent: 4 processes x 4 sessions.
for p in 0 1 2 3; do
	args=()
	for j in 0 1 2 3; do
		n=$((p * 4 + j))
		if ((n < 2)); then
			src=$MAGNET
		elif ((n % 2)); then
			src=$TV1
		else
			src=$HYB
		fi
		args+=(--job "$T/lt/$n" "$src")
	done
	timeout --kill-after=5 $((DEADLINE - 5)) "$PY" "$SRCDIR/dp_download.py" --peer "127.0.0.1:$DP_BT_PORT" \
		--timeout $((DEADLINE - 15)) "${args[@]}" >"$T/lt-$p.out" 2>"$T/lt-$p.err" &
	LT_PIDS+=($!)
	WHAT[$!]="libtorrent process $p (sessions $((p * 4))..$((p * 4 + 3)))"
done
dp_track "${LT_PIDS[@]}"

# curl: whole files and ranges. CHECK[pid] = "FILE OFFSET COUNT OUT".
mkdir -p "$T/curl"
for ((i = 0; i < 24; i++)); do
	f=${FILES[i % ${#FILES[@]}]}
	size=$(stat -c %s "$TREE/$f")
	out=$T/curl/$i.out
	case $((i % 4)) in
	0 | 1) range=() off=0 cnt=$size ;;
	2) off=$(((i * 7919 * 1237) % size)) cnt=$((size - off)) range=(-r "$off-") ;;
	3) off=$(((i * 104729) % size)) cnt=$(((size - off) < 3 * MiB ? size - off : 3 * MiB)) range=(-r "$off-$((off + cnt - 1))") ;;
	esac
	timeout --kill-after=5 $((DEADLINE - 5)) curl -sS -f --max-time $((DEADLINE - 10)) "${range[@]}" \
		-o "$out" "$DP_URL/$ID/burst/$f" 2>"$out.err" &
	CURL_PIDS+=($!)
	WHAT[$!]="curl ${range[*]} $DP_URL/$ID/burst/$f"
	CHECK[$!]="$f $off $cnt $out"
done
dp_track "${CURL_PIDS[@]}"

# aria2c: whole files.
for ((i = 0; i < 24; i++)); do
	f=${FILES[(i + 1) % ${#FILES[@]}]}
	d=$T/aria/$i
	mkdir -p "$d"
	timeout --kill-after=5 $((DEADLINE - 5)) aria2c --no-conf --allow-overwrite=true --auto-file-renaming=false \
		--file-allocation=none --summary-interval=0 --console-log-level=warn --max-tries=1 \
		-d "$d" -o "$(basename "$f")" "$DP_URL/$ID/burst/$f" >"$d.log" 2>&1 &
	ARIA_PIDS+=($!)
	WHAT[$!]="aria2c $DP_URL/$ID/burst/$f"
	CHECK[$!]="$f 0 $(stat -c %s "$TREE/$f") $d/$(basename "$f")"
done
dp_track "${ARIA_PIDS[@]}"

launch_ms=$((($(date +%s%N) - WAIT_T0) / 1000000))
echo "64 clients launched in ${launch_ms}ms"
wait_pids "$DEADLINE" "64 concurrent clients" "${LT_PIDS[@]}" "${CURL_PIDS[@]}" "${ARIA_PIDS[@]}"
ms=$((($(date +%s%N) - WAIT_T0) / 1000000))

note "checking results"
for pid in "${LT_PIDS[@]}"; do
	if ((WAIT_RCS[$pid] != 0)); then
		cat "$T"/lt-*.out >&2
		cat "$T"/lt-*.err >&2
		fail "${WHAT[$pid]}: expected exit 0 (every session complete, no hash failure), saw $(describe_rc "${WAIT_RCS[$pid]}") (see above)"
	fi
done
for ((n = 0; n < 16; n++)); do
	tree_sums_cmp "$TREE" "$T/lt/$n/burst" "libtorrent session $n"
done
for pid in "${CURL_PIDS[@]}" "${ARIA_PIDS[@]}"; do
	read -r f off cnt out <<<"${CHECK[$pid]}"
	if ((WAIT_RCS[$pid] != 0)); then
		cat "$out.err" "$(dirname "$out").log" 2>/dev/null | tail -20 >&2 || true
		fail "${WHAT[$pid]}: expected exit 0, saw $(describe_rc "${WAIT_RCS[$pid]}")"
	fi
	[[ -f $out ]] || fail "${WHAT[$pid]}: expected the download at $out, no such file"
	same_bytes_as_source "$TREE/$f" "$off" "$cnt" "$out" "${WHAT[$pid]}"
done

# Timings (information only).
# Seconds from the first launch until the client was seen gone (polled
# every 0.1 s once all were launched: a client done during the launch reads
# as the launch time).
stats() { # NAME PID...: min / median / max seconds to finish
	local name=$1
	shift
	local p
	for p in "$@"; do echo "${WAIT_MS[$p]:-0}"; done | sort -n | awk -v n="$name" '
		{ a[NR] = $1 } END { printf "%-11s %2d clients: done after min %.1fs, median %.1fs, max %.1fs\n", n, NR, a[1] / 1000, a[int((NR + 1) / 2)] / 1000, a[NR] / 1000 }'
}
cat "$T"/lt-*.out
stats libtorrent "${LT_PIDS[@]}"
stats curl "${CURL_PIDS[@]}"
stats aria2c "${ARIA_PIDS[@]}"
dp_stop 30
echo "$DP_STOPPED"
bt=$(dp_counter payload_bytes_bt)
hb=$(dp_counter payload_bytes_http)
echo "all 64 clients done in $((ms / 1000)).$((ms % 1000 / 100))s: $(((bt + hb) / MiB)) MiB served ($((bt / MiB)) BT, $((hb / MiB)) HTTP), $(awk -v b=$((bt + hb)) -v ms="$ms" 'BEGIN { printf "%.0f", b / 1048576 / (ms / 1000) }') MiB/s"
dp_expect_counter verify_failures 0
dp_expect_counter storage_errors 0
# Each libtorrent session got every data byte from the seed alone (dp_download
# checks it saw no other peer), so the seed sent 16 x the data at least.
((bt >= 16 * total)) || fail "stopped line: expected payload_bytes_bt >= $((16 * total)) (16 sessions each got all $total data bytes from this seed only), saw $bt ($((16 * total - bt)) bytes short)"
echo "PASS: test_dataplane_many"
