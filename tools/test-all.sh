#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, builds with
# ASan+UBSan and -Werror, runs every unit, fuzz-corpus and integration test
# ("full" setup). A skipped test fails the run: nothing is counted as passing
# that did not run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
build=${BUILD_DIR:-build-test}
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Db_sanitize=address,undefined -Dwerror=true \
		-Dtests=enabled --buildtype=debugoptimized -Dc_args=-fno-sanitize-recover=all
fi
ninja -C "$build"
rc=0
meson test -C "$build" --setup full --print-errorlogs --num-processes 2 || rc=$?

# libFuzzer needs clang: a second build runs each fuzz target for a while.
fbuild=${FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$fbuild/build.ninja" ]; then
	CC=clang meson setup "$fbuild" -Db_sanitize=address,undefined -Dfuzz=true \
		-Dfuzz_seconds="${FUZZ_SECONDS:-60}" -Dtests=enabled -Db_lundef=false
fi
ninja -C "$fbuild"
meson test -C "$fbuild" --suite fuzz-long --print-errorlogs --num-processes 2 || rc=$?
log="$build/meson-logs/testlog-full.json"
if [ -f "$log" ]; then
	skipped=$(/usr/bin/python3 -c 'import json,sys
n=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(" ".join(t["name"] for t in n if t["result"]=="SKIP"))' "$log")
	if [ -n "$skipped" ]; then
		echo "test-all: skipped tests count as failures here: $skipped" >&2
		rc=1
	fi
fi
exit $rc
