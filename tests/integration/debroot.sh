# shellcheck shell=bash
# Helpers for the integration tests that work in a Debian 12 root built by
# mmdebstrap (test_package.sh, test_image.sh). Sourced after lib.sh (fail,
# describe_rc, T), never run.

# debian_sources and debian_mirror, shared with appliance/build-image.sh.
# shellcheck source=../../appliance/image/apt-sources.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../appliance/image/apt-sources.sh"

# debroot_sources_or_skip: sets DEB_SOURCES (this machine's apt sources
# file naming Debian 12, suite bookworm) and DEB_MIRROR (its mirror), or
# exits 77 (skipped, saying why) when there is none or the mirror cannot be
# reached: the one reason these tests may skip (tools/test-all.sh counts a
# skip as a failure).
debroot_sources_or_skip() {
	DEB_SOURCES=$(debian_sources) || {
		echo "SKIP: no apt source of this machine names Debian 12 (suite bookworm) in /etc/apt/sources.list*" >&2
		exit 77
	}
	DEB_MIRROR=$(debian_mirror "$DEB_SOURCES")
	[[ -n $DEB_MIRROR ]] || fail "$DEB_SOURCES: expected a Debian mirror URI for suite bookworm in it, found none"
	if ! curl -sSf --max-time 30 -o /dev/null "${DEB_MIRROR%/}/dists/bookworm/InRelease" 2>"$T/curl.err"; then
		echo "SKIP: mmdebstrap cannot reach Debian's apt: ${DEB_MIRROR%/}/dists/bookworm/InRelease (from $DEB_SOURCES): $(cat "$T/curl.err")" >&2
		exit 77
	fi
}

# in_chroot ROOT OUT CMD...: CMD inside ROOT (a clean environment, at most
# 300 s), its stdout and stderr in OUT; sets IN_RC.
in_chroot() {
	local root=$1 out=$2
	shift 2
	IN_RC=0
	timeout --kill-after=10 300 chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@" >"$out" 2>&1 || IN_RC=$?
}

# in_chroot_ok ROOT OUT WHAT CMD...: in_chroot, which must exit 0.
in_chroot_ok() {
	local root=$1 out=$2 what=$3
	shift 3
	in_chroot "$root" "$out" "$@"
	if ((IN_RC != 0)); then
		tail -40 "$out" >&2
		fail "$what ($*) in the Debian 12 root: expected exit 0, saw exit $(describe_rc "$IN_RC") (output above)"
	fi
}
