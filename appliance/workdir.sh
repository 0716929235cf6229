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
		return
	fi
	# A build stopped from outside (timeout's SIGTERM) can leave mmdebstrap
	# running with the host's /dev, /proc and /sys mounted in the root it
	# builds: unmount what is below $work, deepest first, and never let rm
	# cross into another file system, which would delete the host's files.
	local m
	findmnt -rn -o TARGET 2>/dev/null | awk -v w="$work/" 'index($0, w) == 1' | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf --one-file-system "$work"
}
