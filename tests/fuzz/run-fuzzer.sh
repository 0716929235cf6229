#!/usr/bin/env bash
# run-fuzzer.sh FUZZER CORPUS SECONDS: runs a libFuzzer target for SECONDS on
# a scratch copy of the committed corpus; any crash, leak or sanitizer report
# fails the test and leaves the reproducer in the scratch dir (printed).
set -euo pipefail
fuzzer=$(realpath "$1") corpus=$(realpath "$2") secs=$3
[ -x "$fuzzer" ] || { echo "run-fuzzer: no fuzzer at $1" >&2; exit 1; }
work=$(mktemp -d /tmp/fuzz.XXXXXX)
cp -r "$corpus" "$work/corpus"
cd "$work"
if ! "$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 corpus; then
	echo "run-fuzzer: finding in $work (reproducer: $work/crash-* / leak-* / timeout-*)" >&2
	exit 1
fi
rm -rf "$work"
