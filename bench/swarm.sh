#!/usr/bin/env bash
# bench/swarm.sh: swarm offload (issue 15) — how much a seed uploads while
# real leechers trade among themselves, and how long they take, for each
# seeding policy of seed-dataplane (--seeding plain, super, rarest) and for
# a python3-libtorrent seed plain and super-seeding (BEP 16), in one run.
#
# The swarm (bench/swarm_run.py): a bridge in this namespace with a local
# opentracker, the seed in a namespace of its own, one namespace per
# leecher, every link shaped with tc tbf (this kernel has no netem: no added
# delay). Leechers are python3-libtorrent (Debian's /usr/bin/python3) unless
# --mixed, which makes every third a Transmission 3.00 and every fifth an
# aria2 (a v1-only torrent, which all three take). Two arrival patterns:
# a flash crowd (--leechers, all at once) and a Poisson stream
# (--poisson-leechers, one every --poisson-gap s on average, seeded).
# Leechers stay until the last one completes.
#
# Per arrival pattern and seed it prints: the seed's upload in copies of the
# release (payload bytes: seed-dataplane's payload_bytes_bt, libtorrent's
# all_time_upload), the median and last completion time (from each
# leecher's arrival), and a plot over time of the bytes the seed and the
# peers sent (wire bytes, per 0.5 s; gnuplot's dumb terminal, when gnuplot
# is installed; the series in WORKDIR/run/*/series.tsv either way).
# Figures only; nothing passes or fails. Results: bench/results/swarm.md.
# Run it alone, under the benchmarks' lock:
#   flock /tmp/bitstream-bench.lock bench/swarm.sh ...
#
# usage: bench/swarm.sh [--leechers 20] [--size 32M] [--up 8mbit]
#          [--down 40mbit] [--seed-up 40mbit] [--poisson-leechers 40]
#          [--poisson-gap 2] [--seeds "plain super rarest lt-plain lt-super"]
#          [--mixed] [--quick] [--no-poisson] [--no-flash] [--timeout 300]
#          [--fake-seed] [--dp-args "ARGS"] [--workdir DIR] [--build DIR]
#          [--no-build]
#   --quick       6 leechers, 4M, Poisson 8 one every 1 s (a few minutes)
#   --seeds LIST  which seeds to run, in order (plain super rarest: ours)
#   --fake-seed   for our seeds: a hostile fake seed (bench/fake_seed.py: the
#                 Fast extension, HAVE_ALL, then it serves nothing) connects
#                 to the seed from this namespace before the leechers start
#                 and stays until they are done; rows say e.g. "rarest+fake",
#                 its counts are in WORKDIR/run/<arrivals>-<seed>+fake.fake.
#                 lt-plain and lt-super run without it (libtorrent closes a
#                 connection between two seeds: the claim would not stay)
#   --dp-args A   more seed-dataplane flags for our seeds (e.g. "--swarm-small 6")
#   --build DIR   the release build whose seedctl and seed-dataplane run
#                 (default build-bench, built first unless --no-build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench_name=swarm
# shellcheck source=benchlib.sh
source "$root/bench/benchlib.sh"
# the tracker and data-plane helpers of the integration tests (ot_start,
# ot_announce, dp_start, dp_stop, dp_counter)
export SRCDIR=$root/tests/integration
# shellcheck source=../tests/integration/lib.sh
source "$SRCDIR/lib.sh"

leechers=20 size=32M up=8mbit down=40mbit seed_up=40mbit pleechers=40 pgap=2
seeds="plain super rarest lt-plain lt-super" mixed=0 quick=0 no_poisson=0 no_flash=0 fake_seed=0
timeout=300 workdir=/var/tmp/bitstream-bench-swarm build=$root/build-bench no_build=0 dp_args=""
parse_args --leechers=leechers --size=size --up=up --down=down --seed-up=seed_up \
	--poisson-leechers=pleechers --poisson-gap=pgap --seeds=seeds --mixed+mixed \
	--quick+quick --no-poisson+no_poisson --no-flash+no_flash --timeout=timeout \
	--fake-seed+fake_seed --dp-args=dp_args --workdir=workdir --build=build --no-build+no_build -- "$@"
if ((quick)); then
	leechers=6 size=4M pleechers=8 pgap=1
fi
bytes=$(to_bytes "$size") || die "--size: expected a size like 32M, got '$size'"
[[ $leechers =~ ^[1-9][0-9]*$ && $pleechers =~ ^[1-9][0-9]*$ ]] || die "--leechers, --poisson-leechers: positive numbers"
((leechers <= 200 && pleechers <= 200)) || die "at most 200 leechers (addresses .11 to .210)"
[[ $(id -u) == 0 ]] || die "needs root (ip netns, tc)"
need_packages python3-libtorrent opentracker transmission-cli aria2
seed_programs "$build" "$no_build"
export SEED_DATAPLANE=$dataplane SEEDCTL=$seedctl

RUN=$root/bench/swarm_run.py
TAG=bsw$(($$ % 10000))
SUB=198.19.$(($$ % 200 + 20))
HOST=$SUB.1 SEED=$SUB.2
nmax=$((leechers > pleechers ? leechers : pleechers))
PIDS=()
finish() {
	stop_all
	dp_cleanup
	"$PY" "$RUN" down --tag "$TAG" --leechers "$nmax" >/dev/null 2>&1 || true
}
trap finish EXIT
work_dirs "$workdir"
T=$run
mkdir -p "$data/src/release"
if [[ $(stat -c %s "$data/src/release/payload.bin" 2>/dev/null) != "$bytes" ]]; then
	head -c "$bytes" /dev/urandom >"$data/src/release/payload.bin"
fi
chmod -R a+rX "$data"
TRACKER=http://$HOST:6969/announce
rm -rf "$store"
"$seedctl" release create --store "$store" --tenant bench --name swarm --version 1 --v1-only \
	--tracker "$TRACKER" --json "$data/src/release" >"$W/create.json"
IH=$(jget "$W/create.json" infohash_v1)
TOR=$(jget "$W/create.json" torrent)
plen=$(jget "$W/create.json" piece_length)
npieces=$(((bytes + plen - 1) / plen))

"$PY" "$RUN" up --tag "$TAG" --subnet "$SUB" --leechers "$nmax" --up "$up" --down "$down" \
	--seed-up "$seed_up"
ot_start "$HOST" 6969 "$IH"

clients() { # N: the --clients list of N leechers
	local i list=()
	for ((i = 1; i <= $1; i++)); do
		if ((mixed && i % 5 == 0)); then
			list+=(ar)
		elif ((mixed && i % 3 == 0)); then
			list+=(tr)
		else
			list+=(lt)
		fi
	done
	local IFS=,
	echo "${list[*]}"
}

# fake_start OUT PORT: bench/fake_seed.py against the seed at $SEED:PORT, from
# this namespace (over the bridge), its output in OUT; sets fake_pid once it
# said "connected" (exit 1 when it did not within 30 s).
fake_start() {
	"$PY" "$root/bench/fake_seed.py" --host "$SEED" --port "$2" --info-hash "$IH" \
		--pieces "$npieces" >"$1" 2>&1 &
	fake_pid=$!
	PIDS+=("$fake_pid")
	wait_for 30 "$fake_pid" "fake seed" grep -q '^fake seed: connected$' "$1" || {
		cat "$1" >&2
		exit 1
	}
}

# one_run MODE SEED: a swarm under SEED (with --fake-seed, a fake seed
# connected to ours: the rows say SEED+fake); appends a row to $run/rows.tsv
one_run() {
	local mode=$1 seed=$2 n=$leechers extra=() label=$2 up_bytes lt_pid="" fake_pid=""
	[[ $mode == poisson ]] && n=$pleechers extra=(--poisson "$pgap")
	case $seed in plain | super | rarest) ((fake_seed)) && label=$seed+fake ;; esac
	local out=$run/$mode-$label
	case $seed in
	plain | super | rarest)
		DP_WRAP=(ip netns exec "$TAG-s")
		# shellcheck disable=SC2086 # dp_args: flags, split into words
		DP_BT_HOST=$SEED DP_HTTP_HOST=$SEED dp_start "$run" --store "$store" \
			--bt-listen "$SEED:6881" --http-listen "$SEED:0" --workers 2 --cache-size 256M \
			--seeding "$seed" $dp_args
		ot_announce "$TRACKER" "$IH" "$DP_BT_PORT" "$SEED" "$TAG-s"
		((fake_seed)) && fake_start "$out.fake" "$DP_BT_PORT"
		;;
	lt-plain | lt-super)
		local script=$root/bench/lt_seed.py
		[[ $seed == lt-super ]] && script="$root/bench/swarm_peer.py --super-seed"
		# shellcheck disable=SC2086 # script: the command and its first word
		ip netns exec "$TAG-s" "$PY" $script --torrent "$TOR" --data-dir "$data/src" \
			--host "$SEED" --port 6881 >"$out.lts" 2>&1 &
		lt_pid=$!
		PIDS+=("$lt_pid")
		wait_for 120 "$lt_pid" "libtorrent seed" grep -q '^seeding ' "$out.lts" || exit 1
		ot_announce "$TRACKER" "$IH" 6881 "$SEED" "$TAG-s"
		;;
	*) die "--seeds: unknown seed '$seed' (plain, super, rarest, lt-plain, lt-super)" ;;
	esac
	local ok=1
	"$PY" "$RUN" run --tag "$TAG" --subnet "$SUB" --torrent "$TOR" --source "$data/src/release" \
		--out "$out" --clients "$(clients "$n")" --timeout "$timeout" "${extra[@]}" \
		>"$out.json" 2>"$out.err" || ok=0
	if [[ -n $fake_pid ]]; then
		pid_running "$fake_pid" || echo "$bench_name: the fake seed exited during the run" >&2
		stop_pid "$fake_pid" 10
		grep '^fake seed: done' "$out.fake" || true
	fi
	if [[ -n $lt_pid ]]; then
		stop_pid "$lt_pid" 20
		up_bytes=$(sed -nE 's/^.* uploaded ([0-9]+) bytes$/\1/p' "$out.lts" | head -1)
	else
		dp_stop 60
		up_bytes=$(dp_counter payload_bytes_bt)
		grep -o 'swarm_[a-z]*=[0-9]*' <<<"$DP_STOPPED" | tr '\n' ' ' >"$out.swarm"
	fi
	"$PY" - "$out.json" "$mode" "$label" "$n" "${up_bytes:-0}" "$bytes" "$ok" "$out.swarm" \
		>>"$run/rows.tsv" <<'EOF'
import json, os, sys
f, mode, seed, n, up, size, ok, sw = sys.argv[1:]
try:
    d = json.loads(open(f).read().strip().splitlines()[-1])
except (OSError, ValueError, IndexError):
    d = {}
done = [x for x in d.get('done_ms', []) if x is not None]
sw = open(sw).read().strip() if os.path.exists(sw) else ''
print('\t'.join([mode, seed, n, '%.2f' % (int(up) / int(size)),
                 '%.1f' % (d['median_ms'] / 1000) if d.get('median_ms') else '-',
                 '%.1f' % (d['last_ms'] / 1000) if d.get('last_ms') else '-',
                 '%d/%s' % (len(done), n) if ok == '1' else 'FAILED %d/%s' % (len(done), n),
                 '%.2f' % (d.get('seed_wire_bytes', 0) / int(size)),
                 '%.2f' % (d.get('peer_wire_bytes', 0) / int(size)), sw]))
EOF
	tail -1 "$run/rows.tsv"
	if command -v gnuplot >/dev/null && [[ -f $out/series.tsv ]]; then
		gnuplot -e "set terminal dumb 100 22; set title '$mode $label: MiB sent (wire) over s'; \
			set key top left; plot '$out/series.tsv' using (\$1/1000):(\$2/1048576) every ::1 \
			with lines title 'seed', '' using (\$1/1000):(\$3/1048576) every ::1 with lines \
			title 'peers'" 2>/dev/null || true
	fi
}

printf 'arrivals\tseed\tleechers\tseed copies\tmedian s\tlast s\tcompleted\tseed wire copies\tpeers wire copies\tswarm counters\n' >"$run/rows.tsv"
echo "swarm: $size release ($plen-byte pieces), leechers $up up / $down down, seed $seed_up up; $(nproc) CPUs"
if ((fake_seed)) && [[ " $seeds " == *" lt-"* ]]; then
	echo "swarm: --fake-seed: lt-plain and lt-super run without a fake seed (libtorrent drops seed-to-seed connections)"
fi
for mode in flash poisson; do
	[[ $mode == flash ]] && ((no_flash)) && continue
	[[ $mode == poisson ]] && ((no_poisson)) && continue
	for s in $seeds; do one_run "$mode" "$s"; done
done
echo
column -t -s $'\t' "$run/rows.tsv"
echo "rows: $run/rows.tsv; per run: $run/<arrivals>-<seed>/"
