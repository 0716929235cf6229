#!/usr/bin/env bash
# The shared cache (dataplane/scache.c) under all workers at once, built with
# ThreadSanitizer: issue 19's acceptance, "no report; eviction while a send
# is in flight never frees pinned memory". The suite's own build is
# ASan+UBSan, which cannot be combined with TSan, so this test compiles
# scache.c, the stress run (scache_stress.h via tsan_scache.c) and the
# library code they call (lib/hash.c for XXH3-128, seed_err, hotmem) into a
# temporary directory with -fsanitize=thread and runs it.
# Fails on any TSan report (halt_on_error, exit code 66) or failed check;
# skips (77) only when the compiler cannot build a TSan program at all
# (gcc's runtime, Debian's libtsan2, is missing: tools/install-deps.sh).
#
# Usage: tsan_scache.sh SOURCE_ROOT [SECONDS [CC...]]
set -euo pipefail
src=${1:?source root}
secs=${2:-2}
shift $(($# >= 2 ? 2 : $#))
cc=("$@")
((${#cc[@]})) || cc=("${CC:-cc}")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf 'int main(void) { return 0; }\n' >"$tmp/probe.c"
if ! "${cc[@]}" -fsanitize=thread -o "$tmp/probe" "$tmp/probe.c" 2>"$tmp/probe.err"; then
	echo "tsan_scache: ${cc[*]} cannot build with -fsanitize=thread (install libtsan2):" >&2
	cat "$tmp/probe.err" >&2
	exit 77
fi

read -r -a deps <<<"$(pkg-config --cflags --libs libxxhash libcrypto)"
"${cc[@]}" -fsanitize=thread -O1 -g -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-Wall -Wextra -Wno-missing-field-initializers \
	-I"$src/lib" -I"$src/dataplane" -I"$src/tests/unit/dataplane" \
	"$src/dataplane/scache.c" "$src/lib/hash.c" "$src/lib/sha1mb.c" "$src/lib/seed_err.c" "$src/lib/hotmem.c" \
	"$src/tests/unit/dataplane/tsan_scache.c" \
	-o "$tmp/tsan_scache" -lIPSec_MB "${deps[@]}" -lpthread

run() {
	TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1" "$@" "$tmp/tsan_scache" "$secs" \
		>"$tmp/out" 2>&1
}
rc=0
run || rc=$?
# gcc 12's TSan refuses high-entropy ASLR layouts; run it again without
# randomization when that is the only complaint
if ((rc != 0)) && grep -q "unexpected memory mapping" "$tmp/out"; then
	rc=0
	run setarch "$(uname -m)" -R || rc=$?
fi
cat "$tmp/out"
if ((rc != 0)) || grep -q "ThreadSanitizer" "$tmp/out"; then
	echo "tsan_scache: FAILED (exit $rc)" >&2
	exit 1
fi
echo "tsan_scache: no ThreadSanitizer report, every check passed"
