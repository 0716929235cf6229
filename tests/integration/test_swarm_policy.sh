#!/usr/bin/env bash
# User story: "the swarm does most of the work" — six real leechers arrive at
# once for a 2 MiB release and every one of them completes with the right
# bytes under each seeding policy (--seeding plain, super, rarest); under
# rarest the seed uploads fewer than 2 copies of the release (its
# payload_bytes_bt counter), the rest going from leecher to leecher.
# seed-control runs beside the data plane (the counters file in its run
# directory): GET /api/v1/tenants shows the tenant's seeding from its config
# ("rarest"), and after each run /metrics (which promtool passes) shows the
# swarm counters the data plane published: all 0 under plain, pieces
# injected under super and rarest, and under rarest more pieces passed on by
# the peers than injected by the seed.
#
# The swarm (bench/swarm_run.py): a bridge in this namespace where a real
# opentracker listens, the seed in a namespace of its own (uplink shaped to
# 16 Mbit/s with tc tbf) and each leecher in its own (8 Mbit/s up, 40 down):
# four python3-libtorrent leechers, Transmission 3.00 and aria2 1.36, on a
# v1-only torrent (Transmission and aria2 cannot take a hybrid). Leechers
# keep uploading until the last one completes. Addresses come from
# 198.19.X.0/24, X from this test's PID, and only on links the test makes.
# Timings are printed, never asserted. Needs root (ip netns, tc).
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane control
require_cmds ip tc opentracker transmission-cli aria2c curl promtool
skip_unless_root "needs root for ip netns and tc"
SWARM=$SRCDIR/../../bench/swarm_run.py
TAG=sp$(($$ % 100000))
SUB=198.19.$(($$ % 200 + 20))
N=6
remove_swarm() {
	"$PY" "$SWARM" down --tag "$TAG" --leechers "$N" >/dev/null 2>&1 || true
}
it_on_exit remove_swarm
HOST=$SUB.1
SEED=$SUB.2
OT_PORT=6969

note "bridge ${TAG}br on $HOST, the seed's namespace $TAG-s at $SEED, $N leechers"
"$PY" "$SWARM" up --tag "$TAG" --subnet "$SUB" --leechers "$N" --up 8mbit --down 40mbit \
	--seed-up 16mbit || fail "swarm_run.py up: expected the namespaces and links, it failed"

TREE=$T/src/game
S=$T/store
gen_file "$TREE/data/pak0.pak" $((2 * MiB - 12345))
gen_file "$TREE/readme.txt" 12345
size=$((2 * MiB))
TRACKER=http://$HOST:$OT_PORT/announce
sc_ok "$T/v1.json" "$T/v1.err" release create --store "$S" --tenant acme --name game --version v1 \
	--v1-only --tracker "$TRACKER" --json "$TREE"
IH=$(json_get "$T/v1.json" infohash_v1)
TOR=$(json_get "$T/v1.json" torrent)
ot_start "$HOST" "$OT_PORT" "$IH"

ctl_dirs
PORT=$(free_port)
ctl_config "$T/seed.conf" "$S" "$RUN" "$PORT" '{ id = "acme"; name = "Acme"; seeding = "rarest"; }'
ctl_start "$T" "$T/seed.conf"
export SEED_API_SOCKET=$CTL_SOCK
api_ok GET /api/v1/tenants
[[ $(jq_py '[t["seeding"] for t in d["tenants"] if t["id"] == "acme"][0]') == rarest ]] ||
	fail "GET /api/v1/tenants: expected acme's seeding \"rarest\" (its config), saw $(head -c 400 "$API_OUT")"

for policy in plain super rarest; do
	note "[$policy] seed-dataplane --seeding $policy in $TAG-s"
	DP_WRAP=(ip netns exec "$TAG-s")
	DP_BT_HOST=$SEED DP_HTTP_HOST=$SEED dp_start "$T" --store "$S" --bt-listen "$SEED:6881" \
		--http-listen "$SEED:0" --workers 2 --cache-size 64M --seeding "$policy" \
		--stats-file "$RUN/dataplane.stats"
	ot_announce "$TRACKER" "$IH" "$DP_BT_PORT" "$SEED" "$TAG-s"
	t0=$(date +%s%N)
	"$PY" "$SWARM" run --tag "$TAG" --subnet "$SUB" --torrent "$TOR" --source "$TREE" \
		--out "$T/run-$policy" --clients lt,lt,lt,lt,tr,ar --timeout 60 >"$T/run-$policy.json" ||
		fail "[$policy] expected all $N leechers to complete with the source's bytes within 60 s: $(tail -c 600 "$T/run-$policy.json")"
	t1=$(date +%s%N)
	# the main thread publishes the sums at each catalog poll (200 ms)
	sleep 1
	inj=$(ctl_metric seed_dataplane_swarm_injected_total)
	passed=$(ctl_metric seed_dataplane_swarm_passed_total)
	promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 ||
		fail "[$policy] promtool check metrics: $(cat "$T/promtool.out")"
	[[ -n $inj && -n $passed ]] ||
		fail "[$policy] /metrics: expected seed_dataplane_swarm_injected_total and _passed_total, saw: $(grep -c seed_dataplane_swarm "$T/metrics.txt") swarm lines"
	echo "[$policy] /metrics: seed_dataplane_swarm_injected_total $inj, seed_dataplane_swarm_passed_total $passed"
	# the same per release: this run's one release has the sums' values
	rel_inj=$(sed -nE 's/^seed_swarm_injected_total\{tenant="acme",release="[^"]+"\} ([0-9]+)$/\1/p' "$T/metrics.txt")
	if [[ $policy == plain ]]; then
		[[ $inj == 0 ]] || fail "[plain] /metrics: expected seed_dataplane_swarm_injected_total 0 (no view), saw $inj"
		[[ -z $rel_inj ]] || fail "[plain] /metrics: expected no seed_swarm_injected_total series (no view), saw $rel_inj"
	else
		((inj > 0)) || fail "[$policy] /metrics: expected seed_dataplane_swarm_injected_total above 0 after a run, saw $inj"
		[[ $rel_inj == "$inj" ]] ||
			fail "[$policy] /metrics: expected seed_swarm_injected_total{tenant=\"acme\",release=...} = the sum $inj, saw '$rel_inj': $(grep '^seed_swarm_' "$T/metrics.txt" | head -8)"
		grep -qE '^seed_swarm_leechers\{tenant="acme",release="[^"]+"\} 0$' "$T/metrics.txt" ||
			fail "[$policy] /metrics: expected seed_swarm_leechers 0 for the release (every leecher completed): $(grep '^seed_swarm_leechers' "$T/metrics.txt")"
	fi
	if [[ $policy == rarest ]]; then
		((passed > inj)) || fail "[rarest] /metrics: expected more pieces passed on by peers ($passed) than the seed injected ($inj)"
	fi
	if [[ $policy != plain ]]; then
		# SIGUSR1: one line per release with a view. We are the only
		# origin and everyone completed: every piece went out from us
		# and some peer reported it
		kill -USR1 "$DP_PID"
		line=
		for ((i = 0; i < 100; i++)); do
			line=$(grep -a 'swarm release=' "$DP_ERR" | tail -1) && [[ -n $line ]] && break
			sleep 0.05
		done
		[[ -n $line ]] || fail "[$policy] SIGUSR1: expected a 'swarm release=' line in the data plane's log within 5 s"
		kv() { sed -nE "s/.* $1=(-?[0-9]+).*/\1/p" <<<"$line"; }
		pieces=$(kv pieces) covered=$(kv covered) landed=$(kv landed) late=$(kv late)
		first_late=$(kv first_late_ms)
		[[ -n $pieces && -n $late && -n $first_late ]] ||
			fail "[$policy] SIGUSR1: expected pieces=, late= and first_late_ms= numbers: $line"
		((pieces > 0 && covered == pieces && landed == pieces)) ||
			fail "[$policy] SIGUSR1: expected covered= and landed= equal to pieces=$pieces (all went out, all complete): $line"
		if ((late > 0)); then
			((first_late >= 0)) || fail "[$policy] SIGUSR1: $late latecomers but first_late_ms=$first_late: $line"
		else
			((first_late == -1)) || fail "[$policy] SIGUSR1: no latecomer but first_late_ms=$first_late: $line"
		fi
		echo "[$policy] SIGUSR1: covered $covered of $pieces, landed $landed, $late latecomers (first at ${first_late} ms)"
	fi
	dp_stop
	dp_expect_counter verify_failures 0
	served=$(dp_counter payload_bytes_bt)
	[[ -n $served ]] || fail "[$policy] seed-dataplane stopped line: expected payload_bytes_bt=N: $DP_STOPPED"
	copies=$(awk -v b="$served" -v s="$size" 'BEGIN { printf "%.2f", b / s }')
	times=$(API_OUT=$T/run-$policy.json jq_py '"median %s ms, last %s ms" % (d["median_ms"], d["last_ms"])')
	echo "[$policy] $N leechers complete in $(((t1 - t0) / 1000000)) ms ($times); seed uploaded $served bytes = $copies copies; $(grep -o 'swarm_injected=[0-9]* swarm_second=[0-9]* swarm_fallbacks=[0-9]*' <<<"$DP_STOPPED")"
	if [[ $policy == rarest ]]; then
		((served < 2 * size)) || fail "[rarest] expected the seed to upload fewer than 2 copies ($((2 * size)) bytes), it uploaded $served ($copies copies)"
	fi
	((served >= size)) || fail "[$policy] expected the seed to upload at least one copy ($size bytes): it is the only source, it uploaded $served"
done
echo "PASS: $N leechers completed with the right bytes under plain, super and rarest; rarest uploaded $copies copies"
