#!/usr/bin/env bash
# User story: an operator runs a build made without libdpdk-dev (meson's
# dpdk option off) and asks for the DPDK backend anyway. seed-dataplane must
# refuse before anything starts: exit 2 and one stderr line that names the
# setting and says how to get a build that has it. The same build still
# serves on the default backend (uring). The build here is the data plane
# alone, from this source tree, with -Ddpdk=disabled.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup
require_cmds meson ninja curl

ROOT=$(cd "$SRCDIR/../.." && pwd)
B=$T/build-nodpdk
note "configuring and building seed-dataplane without DPDK"
meson setup "$B" "$ROOT" -Ddpdk=disabled -Dtests=disabled --buildtype=plain >"$T/setup.log" 2>&1 ||
	{ tail -20 "$T/setup.log" >&2; fail "meson setup -Ddpdk=disabled failed (see above)"; }
grep -q "Run-time dependency libdpdk found: YES" "$T/setup.log" &&
	fail "meson setup -Ddpdk=disabled: expected libdpdk not to be looked up, it was found"
ninja -C "$B" dataplane/seed-dataplane >"$T/build.log" 2>&1 ||
	{ tail -20 "$T/build.log" >&2; fail "building seed-dataplane without DPDK failed (see above)"; }
NODPDK=$B/dataplane/seed-dataplane

S=$T/store
gen_file "$T/src/a.bin" 100000
sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name a --version 1 --json "$T/src"

note "--backend dpdk on that build"
rc=0
timeout --kill-after=5 20 "$NODPDK" --store "$S" --http-listen 127.0.0.1:0 --backend dpdk \
	--ip 192.0.2.10/24 >"$T/out" 2>"$T/err" || rc=$?
((rc == 2)) || { cat "$T/out" "$T/err" >&2; fail "--backend dpdk without DPDK: expected exit 2, saw $(describe_rc "$rc")"; }
lines=$(wc -l <"$T/err")
((lines == 1)) || { cat "$T/err" >&2; fail "--backend dpdk without DPDK: expected one stderr line, saw $lines"; }
grep -q -- "--backend dpdk: this build has no dpdk backend" "$T/err" ||
	{ cat "$T/err" >&2; fail "--backend dpdk without DPDK: the line must name --backend dpdk and say the build lacks it"; }
grep -q "libdpdk-dev" "$T/err" ||
	{ cat "$T/err" >&2; fail "--backend dpdk without DPDK: the line must say what to install (libdpdk-dev)"; }
[[ ! -s $T/out ]] || { cat "$T/out" >&2; fail "--backend dpdk without DPDK: expected nothing on stdout (it must not start)"; }

note "the same build serves on uring"
SEED_DATAPLANE=$NODPDK dp_start "$T" --store "$S" --bt-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --workers 1 --cache-size 16M
ID=$(json_get "$T/c.json" id)
http_get "$DP_URL/$ID/src/a.bin" "$T/got" "$T/hdrs"
[[ $HTTP_CODE == 200 ]] || fail "GET a.bin from the build without DPDK: expected 200, saw $HTTP_CODE"
cmp -s "$T/got" "$T/src/a.bin" || fail "GET a.bin from the build without DPDK: the bytes differ from the source"
dp_stop
