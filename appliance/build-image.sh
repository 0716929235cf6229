#!/usr/bin/env bash
# Builds the seed appliance's disk image from the Debian package, with
# mmdebstrap from Debian's apt (this machine's bookworm sources):
#
#   bash appliance/build-image.sh [--deb DEB] [--out DIR] [--sources FILE] [--keep]
#
# Writes to DIR (default: the current directory):
#   bitstream-seed-VERSION.img         raw GPT disk: ESP (systemd-boot, the
#                                      kernel, the initramfs), SEEDCONF (the
#                                      first-boot file goes here), root (ext4)
#   bitstream-seed-VERSION-rootfs.tar  the root file system as a tarball
#   bitstream-seed-VERSION.manifest    every package and its version
#   bitstream-seed-VERSION.SHA256SUMS
# and prints the image's path last. Without --deb it builds the package first
# (appliance/build-deb.sh). No loop device, no mount: the file systems are
# made from directories (mkfs.ext4 -d, mkfs.vfat + mcopy), the partition
# table by sfdisk on the file, and each file system put at its offset by dd.
# Reproducible: SOURCE_DATE_EPOCH (default: the package's changelog date)
# fixes every time stamp, the UUIDs derive from it and the version, and the
# same package versions give the same bytes (the manifest names them).
# --keep keeps the work directory (the root tree among it) and says where.
# Needs root (mmdebstrap --mode=root, chroot) and the packages of
# tools/debian-packages.txt (mmdebstrap, e2fsprogs, dosfstools, mtools, fdisk).
# docs/operations.md, "The appliance image", says what the image holds.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
here=$top/appliance/image
# shellcheck source=appliance/image/apt-sources.sh
source "$here/apt-sources.sh"
# shellcheck source=appliance/workdir.sh
source "$top/appliance/workdir.sh"

# What the image holds besides the package (and what it depends on), with
# Install-Recommends off: a kernel and its initramfs, systemd-boot's EFI
# binary (copied to the ESP), systemd with networkd, resolved and timesyncd,
# SSH, nftables, python3 for seed-appliance, driverctl for the DPDK NIC.
IMAGE_PACKAGES=(
	systemd systemd-sysv udev dbus systemd-timesyncd systemd-resolved
	linux-image-amd64 initramfs-tools zstd systemd-boot-efi
	openssh-server nftables python3 driverctl kmod procps iproute2 e2fsprogs
)
ESP_MIB=256
CONF_MIB=32

die() {
	echo "build-image: $*" >&2
	exit 1
}

deb=
out=$PWD
sources=
keep=0
while (($#)); do
	case $1 in
	--deb | --out | --sources)
		(($# >= 2)) || die "$1 needs an argument"
		case $1 in
		--deb) deb=$2 ;;
		--out) out=$2 ;;
		--sources) sources=$2 ;;
		esac
		shift 2
		;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-image: unknown argument '$1' (--deb DEB, --out DIR, --sources FILE, --keep)" >&2; exit 2 ;;
	esac
done
((EUID == 0)) || die "needs root (mmdebstrap --mode=root and chroot)"
for c in mmdebstrap:mmdebstrap mkfs.ext4:e2fsprogs debugfs:e2fsprogs mkfs.vfat:dosfstools mcopy:mtools sfdisk:fdisk \
	dpkg-deb:dpkg /usr/bin/python3:python3; do
	command -v "${c%%:*}" >/dev/null || die "${c%%:*} not found: apt-get install ${c#*:}"
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [[ -z $sources ]]; then
	sources=$(debian_sources) || die "no apt source of this machine names Debian 12 (suite bookworm) in /etc/apt/sources.list*: pass --sources FILE"
fi
[[ -f $sources ]] || die "--sources $sources: no such file"

work_dir image
t0=$(date +%s)

if [[ -z $deb ]]; then
	echo "build-image: building the package (appliance/build-deb.sh)" >&2
	deb=$(bash "$top/appliance/build-deb.sh" --out "$work/deb" | tail -1)
fi
[[ -f $deb ]] || die "--deb $deb: no such file"
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
[[ $(dpkg-deb -f "$deb" Package) == bitstream-seed ]] || die "$deb is not the bitstream-seed package"
version=$(dpkg-deb -f "$deb" Version)
name=bitstream-seed-$version

# One time for every stamp: the changelog's, unless the caller set it.
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
	SOURCE_DATE_EPOCH=$(dpkg-deb --fsys-tarfile "$deb" |
		tar -xOf - ./usr/share/doc/bitstream-seed/changelog.gz | gzip -dc |
		dpkg-parsechangelog -l - -S Timestamp)
fi
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH '$SOURCE_DATE_EPOCH' is not a number of seconds"
export SOURCE_DATE_EPOCH
# The UUIDs: derived, so that two builds of one version are the same bytes.
uuid() { /usr/bin/python3 -c 'import sys, uuid; print(uuid.uuid5(uuid.NAMESPACE_URL, sys.argv[1]))' "bitstream-seed:$version:$SOURCE_DATE_EPOCH:$1"; }
disk_uuid=$(uuid disk)
esp_uuid=$(uuid esp)
conf_uuid=$(uuid conf)
root_uuid=$(uuid root)
rootfs_uuid=$(uuid rootfs)
esp_volid=$(uuid esp-volid | tr -d - | cut -c1-8)
conf_volid=$(uuid conf-volid | tr -d - | cut -c1-8)
cmdline="root=PARTUUID=$root_uuid rw console=tty0 console=ttyS0,115200n8"

echo "build-image: $name from $sources (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)" >&2
root=$work/root
# the package's dependencies (the first of each group of alternatives) come
# with the rest; customize.sh installs the package itself with dpkg -i
deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/[[:space:]]//g' | grep -v '^$' | tr '\n' ' ')
include=$(echo "${IMAGE_PACKAGES[*]} $deps" | tr ' ' '\n' | grep -v '^$' | LC_ALL=C sort -u | paste -sd,)
hook="ROOT_UUID=$root_uuid bash $(printf %q "$here/customize.sh") \"\$1\" $(printf %q "$here") $(printf %q "$deb")"
# shellcheck disable=SC2016 # the hooks' "$1" is mmdebstrap's, not ours
timeout --kill-after=30 1200 mmdebstrap --mode=root --variant=apt --format=directory \
	--aptopt='APT::Install-Recommends "false"' --dpkgopt=force-unsafe-io \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/bitstream-seed/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/man/??/*' \
	--dpkgopt='path-exclude=/usr/share/man/??_*/*' \
	--include="$include" \
	--essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d"' \
	--essential-hook="copy-in $(printf %q "$here/overlay/etc/initramfs-tools/conf.d/60-seed.conf") /etc/initramfs-tools/conf.d" \
	--customize-hook="$hook" \
	bookworm "$root" "$sources" >"$work/mmdebstrap.log" 2>&1 || {
	tail -40 "$work/mmdebstrap.log" >&2
	die "mmdebstrap bookworm from $sources failed (the end of its log is above; --keep keeps $work/mmdebstrap.log)"
}
echo "build-image: root built in $(($(date +%s) - t0)) s" >&2

# The ESP: systemd-boot as the removable-media loader (no NVRAM entry needed),
# one loader entry, the kernel and the initramfs.
kver=$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -1)
[[ -n $kver && -f $root/boot/initrd.img-$kver ]] || die "the root holds no kernel with its initramfs in /boot"
esp=$work/esp
mkdir -p "$esp/EFI/BOOT" "$esp/EFI/systemd" "$esp/loader/entries" "$esp/bitstream-seed"
cp "$root/usr/lib/systemd/boot/efi/systemd-bootx64.efi" "$esp/EFI/BOOT/BOOTX64.EFI"
cp "$root/usr/lib/systemd/boot/efi/systemd-bootx64.efi" "$esp/EFI/systemd/systemd-bootx64.efi"
cp "$root/boot/vmlinuz-$kver" "$esp/bitstream-seed/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$esp/bitstream-seed/initrd.img"
printf 'default bitstream-seed.conf\ntimeout 3\nconsole-mode keep\neditor no\n' >"$esp/loader/loader.conf"
cat >"$esp/loader/entries/bitstream-seed.conf" <<EOF
title   BitStream seed appliance $version
version $version (Linux $kver)
linux   /bitstream-seed/vmlinuz
initrd  /bitstream-seed/initrd.img
options $cmdline
EOF
# The config partition: where the operator puts seed-node.conf.
cfg=$work/seedconf
mkdir -p "$cfg"
cp "$here/seed-node.conf.example" "$cfg/seed-node.conf.example"
cat >"$cfg/README.txt" <<EOF
BitStream seed appliance $version: the first-boot file.

Copy seed-node.conf.example to seed-node.conf on this partition, fill it in,
and boot. At every boot the appliance renders /etc/seed from seed-node.conf
when it is new or changed. Without it (or with an invalid one) nothing is
served, and the console and the journal (journalctl -u seed-firstboot) say
why. docs/operations.md, "The first-boot file".
EOF
find "$esp" "$cfg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

# vfat file systems from directories: mkfs.vfat --invariant and mcopy -m
# with SOURCE_DATE_EPOCH make them the same bytes every time.
mkvfat() { # IMG MIB LABEL VOLID DIR FATBITS
	rm -f "$1"
	mkfs.vfat -C --invariant -F "$6" -n "$3" -i "$4" "$1" $(($2 * 1024)) >/dev/null
	(cd "$5" && MTOOLS_SKIP_CHECK=1 mcopy -i "$1" -s -m -Q -- * ::/) || die "mcopy into the $3 file system failed"
}
mkvfat "$work/esp.img" "$ESP_MIB" ESP "$esp_volid" "$esp" 32
mkvfat "$work/conf.img" "$CONF_MIB" SEEDCONF "$conf_volid" "$cfg" 16

# The root: its tarball, then an ext4 from the same tree, sized to it with
# room to grow (the store belongs on a drive of its own, LABEL=seed-data).
# what the build wrote carries its time: SOURCE_DATE_EPOCH instead
find "$root" -xdev -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
tar -C "$root" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --numeric-owner \
	--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	--xattrs --xattrs-include='*' --acls -cf "$work/rootfs.tar" .
used_mib=$(du -s --block-size=1M "$root" | cut -f1)
root_mib=$((used_mib + used_mib / 2 + 512))
rm -f "$work/root.img"
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mkfs.ext4 -q -F -L seed-root -U "$rootfs_uuid" \
	-E "hash_seed=$rootfs_uuid,root_owner=0:0" -T default -b 4096 -I 256 -d "$root" \
	"$work/root.img" "${root_mib}M" >/dev/null || die "mkfs.ext4 -d $root failed"
# mke2fs 1.47.0 copies each file's atime and ctime (the build's time) and
# writes the superblock's write time from the clock: set them with debugfs
# (E2FSPROGS_FAKE_TIME keeps its own write time at SOURCE_DATE_EPOCH)
(cd "$root" && find . -xdev -print0) | /usr/bin/python3 -c '
import sys
e = sys.argv[1]
for p in sys.stdin.buffer.read().split(b"\0"):
    if not p:
        continue
    p = p.decode("utf-8", "surrogateescape")[1:] or "/"
    if "\"" in p or "\n" in p:
        sys.exit("build-image: %r: a path debugfs cannot be given" % p)
    for f in ("atime", "ctime"):
        print("sif \"%s\" %s @%s" % (p, f, e))
print("ssv wtime @%s" % e)
' "$SOURCE_DATE_EPOCH" >"$work/times.debugfs" || die "could not list the root tree for debugfs"
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH debugfs -w -f "$work/times.debugfs" "$work/root.img" >"$work/times.log" 2>&1 || die "debugfs -w on the root file system failed: $(tail -3 "$work/times.log")"
if grep -v -e '^debugfs: sif ' -e '^debugfs: ssv ' -e '^debugfs [0-9.]* ' "$work/times.log" | grep -q .; then
	die "debugfs could not set every time stamp: $(grep -v -e '^debugfs: sif ' -e '^debugfs: ssv ' -e '^debugfs [0-9.]* ' "$work/times.log" | head -3)"
fi

# The disk: 1 MiB of GPT, the ESP, SEEDCONF, root, and the backup GPT.
esp_start=1
conf_start=$((esp_start + ESP_MIB))
root_start=$((conf_start + CONF_MIB))
total_mib=$((root_start + root_mib + 1))
img=$work/$name.img
rm -f "$img"
truncate -s "${total_mib}M" "$img"
sfdisk --quiet --no-reread --no-tell-kernel "$img" <<EOF || die "sfdisk could not write the partition table"
label: gpt
label-id: $disk_uuid
unit: sectors
first-lba: 2048

start=$((esp_start * 2048)), size=$((ESP_MIB * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=$esp_uuid, name="ESP"
start=$((conf_start * 2048)), size=$((CONF_MIB * 2048)), type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, uuid=$conf_uuid, name="SEEDCONF"
start=$((root_start * 2048)), size=$((root_mib * 2048)), type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=$root_uuid, name="seed-root"
EOF
dd if="$work/esp.img" of="$img" bs=1M seek="$esp_start" conv=notrunc,sparse status=none
dd if="$work/conf.img" of="$img" bs=1M seek="$conf_start" conv=notrunc,sparse status=none
dd if="$work/root.img" of="$img" bs=1M seek="$root_start" conv=notrunc,sparse status=none

dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Package} ${Version} ${Architecture}\n' |
	LC_ALL=C sort >"$work/$name.manifest"
mv "$img" "$out/$name.img"
mv "$work/rootfs.tar" "$out/$name-rootfs.tar"
mv "$work/$name.manifest" "$out/$name.manifest"
(cd "$out" && sha256sum "$name.img" "$name-rootfs.tar" "$name.manifest" >"$name.SHA256SUMS")
echo "build-image: $name.img ($total_mib MiB: ESP $ESP_MIB, SEEDCONF $CONF_MIB, root $root_mib MiB, Linux $kver) in $(($(date +%s) - t0)) s" >&2
echo "$out/$name.img"
