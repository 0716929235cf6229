# shellcheck shell=bash
# Sourced by appliance/build-deb.sh and appliance/build-image.sh.
#
# work_dir PROG: a fresh temporary directory in $work (bitstream-PROG.XXXXXX
# under TMPDIR), removed when the script exits unless $keep is 1, in which
# case PROG says on stderr where it was kept.
work_dir() {
	_work_prog=$1
	work=$(mktemp -d "${TMPDIR:-/tmp}/bitstream-$1.XXXXXX")
	trap _work_cleanup EXIT
}

_work_cleanup() {
	if ((${keep:-0})); then
		echo "build-$_work_prog: work directory kept: $work" >&2
	else
		rm -rf "$work"
	fi
}
