#!/usr/bin/env bash
# Builds the Debian package bitstream-seed_VERSION_amd64.deb from this tree
# with Debian's own tooling (dpkg-buildpackage, debhelper, meson).
#
#   bash appliance/build-deb.sh [--out DIR] [--keep] [--version V]
#
# The tree (tracked and untracked files git does not ignore; no build
# directories) is copied to a temporary directory, appliance/debian/ becomes
# its debian/, and dpkg-buildpackage -b builds there: the tree itself is
# never written to. The .deb, .buildinfo and .changes land in DIR (default:
# the current directory); the last line printed is the .deb's path. --keep
# keeps the temporary build directory and says where it is. --version V
# builds version V instead of the project's (meson.build): the copy's
# meson.build and a new changelog entry say V, so the programs' --version
# does too (tests/integration/test_image.sh builds N and N+1 this way).
#
# Needs the packages of tools/debian-packages.txt (dpkg-buildpackage checks
# the Build-Depends of appliance/debian/control and names what is missing).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=appliance/workdir.sh
source "$top/appliance/workdir.sh"
out=$PWD
keep=0
set_version=
while (($#)); do
	case $1 in
	--out)
		(($# >= 2)) || { echo "build-deb: --out needs a directory" >&2; exit 2; }
		out=$2
		shift 2
		;;
	--keep) keep=1; shift ;;
	--version)
		(($# >= 2)) || { echo "build-deb: --version needs a version" >&2; exit 2; }
		[[ $2 =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || { echo "build-deb: --version '$2' is not a Debian upstream version (digits first, then A-Z a-z 0-9 . + ~)" >&2; exit 2; }
		set_version=$2
		shift 2
		;;
	-h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-deb: unknown argument '$1' (--out DIR, --keep, --version V)" >&2; exit 2 ;;
	esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

for c in dpkg-buildpackage dh help2man; do
	command -v "$c" >/dev/null || {
		echo "build-deb: $c not found: apt-get install $(grep -v '^\s*#' "$top/tools/debian-packages.txt" | grep -E '^(dpkg-dev|debhelper|help2man)$' | tr '\n' ' ')" >&2
		exit 1
	}
done

# The package's version is the project's: the changelog must say the same.
version=$(sed -nE "s/^ *version *: *'([^']+)'.*/\1/p" "$top/meson.build" | head -1)
deb_version=$(dpkg-parsechangelog -l "$top/appliance/debian/changelog" -S Version)
if [[ -z $version || $version != "$deb_version" ]]; then
	echo "build-deb: meson.build says version '$version', appliance/debian/changelog says '$deb_version': add a changelog entry for $version" >&2
	exit 1
fi
if [[ -n $set_version ]]; then
	dpkg --compare-versions "$set_version" gt "$version" ||
		echo "build-deb: note: --version $set_version is not newer than the project's $version" >&2
	version=$set_version
fi

work_dir deb

src=$work/bitstream-seed-$version
mkdir -p "$src"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# what git knows or would add, as it is in the working tree
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done |
		tar --null -T - -cf -) | tar -xf - -C "$src"
else
	(cd "$top" && tar --exclude='./build*' --exclude=./.git -cf - .) | tar -xf - -C "$src"
fi
rm -rf "$src/debian"
cp -a "$src/appliance/debian" "$src/debian"
if [[ -n $set_version ]]; then
	sed -i -E "0,/^( *version *: *)'[^']+'/s//\\1'$set_version'/" "$src/meson.build"
	{
		echo "bitstream-seed ($set_version) bookworm; urgency=medium"
		echo
		echo "  * Built with appliance/build-deb.sh --version $set_version."
		echo
		# the date of the entry below it: the build stays reproducible
		echo " -- $(dpkg-parsechangelog -l "$src/debian/changelog" -S Maintainer)  $(dpkg-parsechangelog -l "$src/debian/changelog" -S Date)"
		echo
		cat "$src/debian/changelog"
	} >"$src/debian/changelog.new"
	mv "$src/debian/changelog.new" "$src/debian/changelog"
fi

echo "build-deb: building bitstream-seed $version in $src" >&2
jobs=$(nproc 2>/dev/null || echo 1)
(cd "$src" && dpkg-buildpackage -b -us -uc -J"$jobs") >"$work/build.log" 2>&1 || {
	tail -60 "$work/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (the end of its log is above; --keep keeps $work/build.log)" >&2
	exit 1
}

deb=bitstream-seed_${version}_amd64.deb
[[ -f $work/$deb ]] || { echo "build-deb: dpkg-buildpackage succeeded but $deb is missing in $work" >&2; exit 1; }
for f in "$work/$deb" "$work"/bitstream-seed_"${version}"_amd64.buildinfo "$work"/bitstream-seed_"${version}"_amd64.changes; do
	[[ -f $f ]] && cp "$f" "$out/"
done
echo "$out/$deb"
