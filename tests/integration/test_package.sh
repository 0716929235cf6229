#!/usr/bin/env bash
# User story: an operator installs the appliance from its Debian package on a
# plain Debian 12, and removes it again (issue 16, point 1).
#  - appliance/build-deb.sh builds bitstream-seed_VERSION_amd64.deb (once;
#    every step below uses that file);
#  - lintian says exactly what docs/operations.md ("Installing the package")
#    and appliance/debian/bitstream-seed.lintian-overrides say: the
#    overridden tags and nothing else, at every level (-I --pedantic
#    --display-experimental);
#  - dpkg -c lists exactly the files named below, the shipped configs and
#    units are the tree's, the two configs are the conffiles, and Depends is
#    the packages of the libraries the programs link (dpkg -S of each NEEDED
#    soname) plus the sysusers provider dh_installsysusers asks for;
#  - in a fresh Debian 12 root (mmdebstrap --variant=apt from this machine's
#    Debian mirror), `apt-get install ./DEB` installs it alone (its
#    dependencies are installed first, before the snapshot), creates the
#    users and the store directory, enables no unit, and the installed
#    programs run: seed-control --check-config of /etc/seed/seed.conf,
#    seedctl --help, seed-dataplane --version;
#  - apt-get remove keeps the store and the changed config; apt-get purge
#    removes /var/lib/seed, /run/seed and /etc/seed, and the root then holds
#    the same paths as before the install: only the users and groups stay.
# Skips (77) when not root (mmdebstrap and chroot) or when the Debian mirror
# cannot be reached; tools/test-all.sh counts a skip as a failure.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
# shellcheck source=debroot.sh
source "$SRCDIR/debroot.sh"

DEB_NAME=bitstream-seed
# The package's files besides one per docs/*.md (added below).
EXPECTED_FILES=(
	./usr/bin/seedctl
	./usr/bin/seed-control
	./usr/bin/seed-dataplane
	./lib/systemd/system/seed-control.service
	./lib/systemd/system/seed-dataplane.service
	./usr/lib/sysusers.d/seed.conf
	./usr/lib/tmpfiles.d/seed.conf
	./etc/seed/seed.conf
	./etc/seed/dataplane.conf
	./usr/share/man/man1/seedctl.1.gz
	./usr/share/man/man1/seed-control.1.gz
	./usr/share/man/man1/seed-dataplane.1.gz
	./usr/share/doc/bitstream-seed/copyright
	./usr/share/doc/bitstream-seed/changelog.gz
	./usr/share/doc/bitstream-seed/README.md
	./usr/share/lintian/overrides/bitstream-seed
)
# Who the package's sysusers.d file creates (and purge leaves).
PKG_USERS=(seed seed-dp)
PKG_GROUPS=(seed seed-dp seed-read seed-ro)

# snapshot ROOT OUT: every path of ROOT with its type, but for the package
# manager's own bookkeeping (dpkg and apt state, caches, logs), /tmp and the
# kernel file systems.
snapshot() {
	(cd "$1" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp \
		-o -path ./var/lib/dpkg -o -path ./var/lib/apt -o -path ./var/cache -o -path ./var/log \) -prune \
		-o -printf '%y %p\n' | LC_ALL=C sort) >"$2"
}

# pkg_status ROOT: dpkg's status of the package in ROOT ("" when unknown).
pkg_status() {
	# shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
	chroot "$1" dpkg-query -W -f='${Status}' "$DEB_NAME" 2>/dev/null || true
}

# in_root ROOT DEB DEPS LOGDIR: the install / remove / purge story inside the
# root mmdebstrap built (a --customize-hook: /proc, /sys and /dev are mounted
# there, and mmdebstrap unmounts them). DEB is the package inside ROOT, DEPS
# a file holding its Depends field.
in_root() {
	local root=$1 deb=$2 deps=$3 L=$4 u g
	set -euo pipefail

	note "the package's dependencies first, so that the snapshot holds them"
	in_chroot_ok "$root" "$L/satisfy.log" "apt-get satisfy" apt-get satisfy -y "$(cat "$deps")"
	snapshot "$root" "$L/before.list"
	u=$(wc -l <"$L/before.list")
	((u > 1000)) || fail "snapshot of the Debian 12 root: expected more than 1000 paths, saw $u"

	note "apt-get install $deb"
	in_chroot_ok "$root" "$L/install.log" "apt-get install" apt-get install -y "$deb"
	grep -q '^0 upgraded, 1 newly installed, 0 to remove' "$L/install.log" || {
		cat "$L/install.log" >&2
		fail "apt-get install $deb: expected it to install the package alone (its dependencies were there), saw the log above"
	}
	[[ $(pkg_status "$root") == "install ok installed" ]] ||
		fail "after apt-get install: expected dpkg status 'install ok installed', saw '$(pkg_status "$root")'"
	for u in "${PKG_USERS[@]}"; do
		chroot "$root" getent passwd "$u" >/dev/null || fail "after install: expected user $u (sysusers.d/seed.conf), getent finds none"
	done
	for g in "${PKG_GROUPS[@]}"; do
		chroot "$root" getent group "$g" >/dev/null || fail "after install: expected group $g (sysusers.d/seed.conf), getent finds none"
	done
	chroot "$root" id -nG seed-dp | grep -qw seed-read || fail "after install: expected seed-dp in group seed-read, it is in: $(chroot "$root" id -nG seed-dp)"
	u=$(chroot "$root" stat -c '%U:%G %a' /var/lib/seed/store 2>&1) || true
	[[ $u == "seed:seed 750" ]] || fail "after install: expected /var/lib/seed/store as seed:seed 750 (tmpfiles.d/seed.conf), saw '$u'"
	[[ -d $root/run/seed ]] || fail "after install: expected /run/seed (tmpfiles.d/seed.conf), it is missing"
	u=$(find "$root/etc/systemd/system" -name 'seed-*' 2>/dev/null | sed "s#^$root##" || true)
	[[ -z $u ]] || fail "after install: expected no unit enabled (the operator enables them after configuring), found: $u"

	note "the installed programs run"
	in_chroot_ok "$root" "$L/check.out" "seed-control --check-config" seed-control --check-config /etc/seed/seed.conf
	grep -q '^/etc/seed/seed.conf: ok' "$L/check.out" ||
		fail "seed-control --check-config /etc/seed/seed.conf: expected '/etc/seed/seed.conf: ok ...', saw: $(cat "$L/check.out")"
	in_chroot_ok "$root" "$L/seedctl.out" "seedctl --help" seedctl --help
	grep -q '^usage: seedctl' "$L/seedctl.out" || fail "seedctl --help: expected a 'usage: seedctl' line, saw: $(head -5 "$L/seedctl.out")"
	in_chroot_ok "$root" "$L/dp.out" "seed-dataplane --version" seed-dataplane --version
	grep -q '^seed-dataplane [0-9]' "$L/dp.out" || fail "seed-dataplane --version: expected 'seed-dataplane VERSION', saw: $(cat "$L/dp.out")"
	in_chroot_ok "$root" "$L/man.out" "man pages" sh -c 'ls /usr/share/man/man1/seedctl.1.gz /usr/share/man/man1/seed-control.1.gz /usr/share/man/man1/seed-dataplane.1.gz'

	note "apt-get remove: the store and a changed config stay"
	echo "a release" >"$root/var/lib/seed/store/marker"
	echo "# changed by the operator" >>"$root/etc/seed/seed.conf"
	in_chroot_ok "$root" "$L/remove.log" "apt-get remove" apt-get remove -y "$DEB_NAME"
	[[ $(pkg_status "$root") == "deinstall ok config-files" ]] ||
		fail "after apt-get remove: expected dpkg status 'deinstall ok config-files', saw '$(pkg_status "$root")'"
	[[ ! -e $root/usr/bin/seed-dataplane ]] || fail "after apt-get remove: expected /usr/bin/seed-dataplane gone, it is there"
	[[ $(cat "$root/var/lib/seed/store/marker" 2>&1) == "a release" ]] ||
		fail "after apt-get remove: expected the store (/var/lib/seed/store/marker) untouched, saw: $(cat "$root/var/lib/seed/store/marker" 2>&1)"
	grep -q '^# changed by the operator' "$root/etc/seed/seed.conf" 2>/dev/null ||
		fail "after apt-get remove: expected the changed /etc/seed/seed.conf kept, it is $( [[ -e $root/etc/seed/seed.conf ]] && echo 'there without the change' || echo gone)"

	note "apt-get purge: /var/lib/seed, /run/seed and /etc/seed go, the users stay"
	in_chroot_ok "$root" "$L/purge.log" "apt-get purge" apt-get purge -y "$DEB_NAME"
	[[ -z $(pkg_status "$root") || $(pkg_status "$root") == "unknown ok not-installed" ]] ||
		fail "after apt-get purge: expected the package unknown to dpkg, its status is '$(pkg_status "$root")'"
	for u in /var/lib/seed /run/seed /etc/seed; do
		[[ ! -e $root$u ]] || fail "after apt-get purge: expected $u removed, it holds: $(find "$root$u" | sed "s#^$root##" | head -10 | tr '\n' ' ')"
	done
	for u in "${PKG_USERS[@]}"; do
		chroot "$root" getent passwd "$u" >/dev/null || fail "after purge: expected user $u kept (docs/operations.md), it is gone"
	done
	snapshot "$root" "$L/after.list"
	if ! cmp -s "$L/before.list" "$L/after.list"; then
		diff "$L/before.list" "$L/after.list" | head -40 >&2 || true
		fail "after apt-get purge: expected the root to hold the same paths as before the install (users and groups aside: /etc/passwd and the like only change), it differs (< before, > after)"
	fi
	echo "install, run, remove, purge: as documented"
}

if [[ ${1:-} == --in-root ]]; then
	shift
	in_root "$@"
	exit 0
fi

it_setup
skip_unless_root "mmdebstrap and chroot need root"
for c in dpkg-buildpackage:dpkg-dev dh:debhelper help2man:help2man lintian:lintian mmdebstrap:mmdebstrap \
	gpg:gpg mount:mount objdump:binutils curl:curl; do
	command -v "${c%%:*}" >/dev/null ||
		fail "${c%%:*} not installed (package ${c#*:}; see tools/debian-packages.txt)"
done
TOP=$(cd "$SRCDIR/../.." && pwd)
t_start=$(date +%s)

debroot_sources_or_skip
sources=$DEB_SOURCES

note "build the package (appliance/build-deb.sh)"
t0=$(date +%s)
bash "$TOP/appliance/build-deb.sh" --out "$T/deb" >"$T/build.out" 2>"$T/build.err" || {
	cat "$T/build.err" >&2
	fail "appliance/build-deb.sh: expected it to build the package, it failed (output above)"
}
DEB=$(tail -1 "$T/build.out")
version=$(sed -nE "s/^ *version *: *'([^']+)'.*/\1/p" "$TOP/meson.build" | head -1)
[[ $DEB == "$T/deb/${DEB_NAME}_${version}_amd64.deb" && -f $DEB ]] ||
	fail "appliance/build-deb.sh: expected it to print $T/deb/${DEB_NAME}_${version}_amd64.deb last and to write it, saw '$DEB'"
echo "built $(basename "$DEB") ($(stat -c %s "$DEB") bytes) in $(($(date +%s) - t0)) s"

note "lintian: the overridden tags and nothing else"
lintian -I --pedantic --display-experimental --show-overrides "$DEB" >"$T/lintian.out" 2>"$T/lintian.err" || {
	cat "$T/lintian.out" "$T/lintian.err" >&2
	fail "lintian $DEB: expected exit 0, it failed (output above)"
}
cat "$T/lintian.out"
# what the overrides file lists, as lintian prints an overridden tag
grep -Ev '^[[:space:]]*(#|$)' "$TOP/appliance/debian/$DEB_NAME.lintian-overrides" |
	sed "s/^/O: $DEB_NAME: /" | LC_ALL=C sort >"$T/lintian.want"
# N: lines are the overrides' comments lintian shows beside them
grep -v '^N: ' "$T/lintian.out" | LC_ALL=C sort >"$T/lintian.seen" || true
if ! cmp -s "$T/lintian.want" "$T/lintian.seen"; then
	diff "$T/lintian.want" "$T/lintian.seen" >&2 || true
	fail "lintian: expected exactly the overridden tags of appliance/debian/$DEB_NAME.lintian-overrides (each explained there and in docs/operations.md), saw the difference above (< expected, > seen)"
fi
awk '{ print $3 }' "$T/lintian.want" | sort -u >"$T/lintian.tags"
while read -r tag; do
	grep -q "$tag" "$TOP/docs/operations.md" || fail "lintian tag $tag: expected docs/operations.md to explain it, it does not name it"
done <"$T/lintian.tags"

note "dpkg -c: exactly the expected files"
for f in "$TOP"/docs/*.md; do
	EXPECTED_FILES+=("./usr/share/doc/$DEB_NAME/$(basename "$f")")
done
printf '%s\n' "${EXPECTED_FILES[@]}" | LC_ALL=C sort >"$T/files.want"
dpkg -c "$DEB" >"$T/dpkg-c" || fail "dpkg -c $DEB: expected a listing, it failed"
awk '$1 !~ /^d/ { print $6 }' "$T/dpkg-c" | LC_ALL=C sort >"$T/files.seen"
if ! cmp -s "$T/files.want" "$T/files.seen"; then
	diff "$T/files.want" "$T/files.seen" >&2 || true
	fail "dpkg -c: expected exactly the files this test names, saw the difference above (< expected, > in the package)"
fi
dpkg-deb -x "$DEB" "$T/x"
dpkg-deb -e "$DEB" "$T/ctl"
for pair in etc/seed/seed.conf:seed.conf etc/seed/dataplane.conf:dataplane.conf \
	lib/systemd/system/seed-control.service:systemd/seed-control.service \
	lib/systemd/system/seed-dataplane.service:systemd/seed-dataplane.service \
	usr/lib/sysusers.d/seed.conf:sysusers.d-seed.conf usr/lib/tmpfiles.d/seed.conf:tmpfiles.d-seed.conf; do
	cmp -s "$T/x/${pair%%:*}" "$TOP/appliance/${pair#*:}" ||
		fail "package: expected /${pair%%:*} to be the tree's appliance/${pair#*:}, it differs"
done
printf '/etc/seed/dataplane.conf\n/etc/seed/seed.conf\n' >"$T/conffiles.want"
LC_ALL=C sort "$T/ctl/conffiles" >"$T/conffiles.seen" 2>/dev/null || true
cmp -s "$T/conffiles.want" "$T/conffiles.seen" ||
	fail "package: expected conffiles to be exactly /etc/seed/dataplane.conf and /etc/seed/seed.conf, saw: $(tr '\n' ' ' <"$T/conffiles.seen")"

note "Depends: the packages of the linked libraries, and the sysusers provider"
depends=$(dpkg-deb -f "$DEB" Depends)
echo "Depends: $depends"
: >"$T/libs.want"
ldconfig -p >"$T/ldconfig" || fail "ldconfig -p: expected the list of the machine's libraries, it failed"
for b in seedctl seed-control seed-dataplane; do
	for so in $(objdump -p "$T/x/usr/bin/$b" | awk '$1 == "NEEDED" { print $2 }'); do
		path=$(awk -v s="$so" '$1 == s && /x86-64/ { print $NF; exit }' "$T/ldconfig")
		[[ -n $path ]] || fail "$b needs $so: expected ldconfig to know it on this machine, it does not"
		pkg=
		for p in "$path" "$(readlink -f "$path")" "${path#/usr}" "/usr$path"; do
			pkg=$(dpkg -S "$p" 2>/dev/null | sed -n '1s/:.*//p') || pkg=
			[[ -n $pkg ]] && break
		done
		[[ -n $pkg ]] || fail "$b needs $so ($path): expected dpkg -S to name its package, it names none"
		echo "$pkg" >>"$T/libs.want"
	done
done
LC_ALL=C sort -u "$T/libs.want" -o "$T/libs.want"
# the Depends entries but the sysusers group, without version constraints
echo "$depends" | tr ',' '\n' | sed -E 's/^ +//; s/ *\(.*\)//' |
	grep -vx 'systemd | systemd-standalone-sysusers | systemd-sysusers' | LC_ALL=C sort -u >"$T/libs.seen"
if ! cmp -s "$T/libs.want" "$T/libs.seen"; then
	diff "$T/libs.want" "$T/libs.seen" >&2 || true
	fail "Depends: expected the packages of the libraries the programs link (dpkg -S of each NEEDED), saw the difference above (< linked, > in Depends)"
fi
grep -q 'systemd | systemd-standalone-sysusers | systemd-sysusers' <<<"$depends" ||
	fail "Depends: expected 'systemd | systemd-standalone-sysusers | systemd-sysusers' (the postinst runs systemd-sysusers), saw '$depends'"

note "install, run, remove and purge in a fresh Debian 12 root (mmdebstrap from $sources)"
mkdir -p "$T/logs"
echo "$depends" >"$T/depends"
hook="SRCDIR=$(printf %q "$SRCDIR") SEEDCTL=$(printf %q "$SEEDCTL") bash $(printf %q "$SRCDIR/test_package.sh") --in-root \"\$1\" /tmp/$(basename "$DEB") $(printf %q "$T/depends") $(printf %q "$T/logs")"
t0=$(date +%s)
rc=0
timeout --kill-after=30 900 mmdebstrap --mode=root --variant=apt --format=null \
	--aptopt='APT::Install-Recommends "false"' \
	--customize-hook="copy-in $(printf %q "$DEB") /tmp" \
	--customize-hook="$hook" \
	bookworm - "$sources" >"$T/mmdebstrap.log" 2>&1 || rc=$?
if ((rc != 0)); then
	tail -40 "$T/mmdebstrap.log" >&2
	if grep -q '^FAIL: ' "$T/mmdebstrap.log"; then
		fail "in the Debian 12 root: $(grep '^FAIL: ' "$T/mmdebstrap.log" | head -1 | sed 's/^FAIL: //')"
	fi
	fail "mmdebstrap bookworm from $sources: expected a root with the package installed and purged, it exited $(describe_rc "$rc") (log above)"
fi
grep -E '^(---|install, run)' "$T/mmdebstrap.log"
grep -q '^install, run, remove, purge: as documented' "$T/mmdebstrap.log" ||
	fail "mmdebstrap succeeded but the install story did not report its end: $(tail -20 "$T/mmdebstrap.log")"
echo "Debian 12 root: $(($(date +%s) - t0)) s; the whole test: $(($(date +%s) - t_start)) s"
