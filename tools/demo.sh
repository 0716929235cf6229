#!/usr/bin/env bash
# demo.sh [DIR]: installs what is missing, builds (release build, build/),
# creates a release of DIR (or of a generated sample tree) in a store under
# $SEED_STORE (default /var/tmp/bitstream-store), printing the release id,
# both info-hashes, the magnet link and the torrent paths, then runs the
# appliance on localhost until Ctrl-C: seed-control (embedded defaults: one
# tenant "demo", API socket and catalog in $SEED_RUN, default
# /var/tmp/bitstream-run; status page and /metrics on 127.0.0.1:9180)
# publishes the release, and seed-dataplane serves it (BitTorrent on
# 127.0.0.1:6881, HTTP on 127.0.0.1:8080; SEED_BT_PORT, SEED_HTTP_PORT,
# SEED_STATUS_PORT change the ports).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# node_conf (the seed-control config's node block), shared with the tests.
# shellcheck source=SCRIPTDIR/../tests/integration/common.sh
source "$root/tests/integration/common.sh"
bash "$root/tools/install-deps.sh"
build="$root/build"
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release -Db_lto=true >/dev/null
ninja -C "$build" >/dev/null
store=${SEED_STORE:-/var/tmp/bitstream-store}
src=${1:-}
if [ -z "$src" ]; then
	src=/var/tmp/bitstream-sample/sample-game
	if [ ! -d "$src" ]; then
		echo "demo: no directory given; generating a sample build in $src" >&2
		mkdir -p "$src/bin" "$src/data/levels" "$src/data/audio"
		head -c $((24 << 20)) /dev/urandom >"$src/data/levels/world.pak"
		head -c $((6 << 20)) /dev/urandom >"$src/data/audio/music.ogg"
		head -c 3000000 /dev/urandom >"$src/bin/game"
		for i in $(seq 1 40); do head -c $((i * 997)) /dev/urandom >"$src/data/levels/chunk_$i.bin"; done
		printf 'sample build\n' >"$src/README.txt"
	fi
fi
version=$(date -u +%Y%m%d%H%M%S)
name=$(basename "$src" | tr -c 'A-Za-z0-9_\n-' _)
bt=${SEED_BT_PORT:-6881} http=${SEED_HTTP_PORT:-8080}
id="demo.$name.$version"
"$build/tools/seedctl" release create --store "$store" --tenant demo --name "$name" \
	--version "$version" --also-v1 --web-seed "http://127.0.0.1:$http/$id/" "$src"
run=${SEED_RUN:-/var/tmp/bitstream-run}
status=${SEED_STATUS_PORT:-9180}
mkdir -p "$run"
{
	echo "# written by tools/demo.sh: one node, one tenant, everything on localhost"
	node_conf demo "$store" "$run" "127.0.0.1:$status" "$bt"
	echo 'tenants = ( { id = "demo"; name = "Demo tenant"; } );'
} >"$run/seed.conf"
"$build/control/seed-control" --config "$run/seed.conf" >"$run/control.out" 2>"$run/control.log" &
ctl=$!
dp=
stop() {
	[ -n "$dp" ] && kill -TERM "$dp" 2>/dev/null && wait "$dp" 2>/dev/null
	kill -TERM "$ctl" 2>/dev/null && wait "$ctl" 2>/dev/null
	exit 0
}
trap stop INT TERM
for _ in $(seq 1 100); do
	[ -S "$run/control.sock" ] && grep -q '^status ' "$run/control.out" 2>/dev/null && break
	kill -0 "$ctl" 2>/dev/null || { cat "$run/control.log" >&2; exit 1; }
	sleep 0.1
done
export SEED_API_SOCKET="$run/control.sock"
"$build/tools/seedctl" release publish --now "$id"
echo
echo "store:  $store   (list it: $build/tools/seedctl release ls --store $store)"
echo "http:   http://127.0.0.1:$http/$id/$(basename "$src")/<file path>"
echo "peers:  connect a BitTorrent client to 127.0.0.1:$bt with the torrent or magnet above"
echo "status: http://127.0.0.1:$status/  (metrics: /metrics; seedctl status / top with"
echo "        SEED_API_SOCKET=$run/control.sock)"
echo
# --allow-root yes: a demo started as root on a box without the appliance's
# seed-dp user stays root (the appliance's units never do)
"$build/dataplane/seed-dataplane" --allow-root yes --store "$store" --bt-listen "127.0.0.1:$bt" \
	--http-listen "127.0.0.1:$http" --catalog "$run/catalog" \
	--stats-file "$run/dataplane.stats" &
dp=$!
wait "$dp" || true
dp=
stop
