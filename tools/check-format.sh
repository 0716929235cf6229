#!/usr/bin/env bash
# Checks every tracked C file against .clang-format (CONVENTIONS.md rule 17).
# Prints the files that differ and exits 1; fix with
#   clang-format -i $(git ls-files '*.c' '*.h')
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format not installed" >&2; exit 1; }
bad=0
while IFS= read -r f; do
	if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "check-format: $f is not formatted" >&2
		bad=1
	fi
done < <(find lib dataplane control tools bench tests -name '*.c' -o -name '*.h' | sort)
exit $bad
