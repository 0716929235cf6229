#!/usr/bin/env bash
# The appliance image's root, after mmdebstrap installed the packages
# (appliance/build-image.sh runs this as its --customize-hook):
#
#   ROOT_UUID=PARTUUID bash customize.sh ROOT IMAGEDIR DEB
#
# Installs the package DEB (its dependencies are there already), copies the
# overlay (units, drop-ins, journald and sshd settings), installs
# seed-appliance, writes fstab, renders the configs' derived files from the
# package's default configs, enables the units, and removes what must differ
# per box (machine-id, SSH host keys) or per build (caches, logs).
set -euo pipefail
root=$1
here=$2
deb=$3
: "${ROOT_UUID:?ROOT_UUID must be the PARTUUID of the root partition}"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }

cp "$deb" "$root/tmp/bitstream-seed.deb"
in_root dpkg -i /tmp/bitstream-seed.deb >/dev/null
rm -f "$root/tmp/bitstream-seed.deb"
cp -r --preserve=mode "$here/overlay/." "$root/"
install -m 0755 "$here/seed-appliance" "$root/usr/sbin/seed-appliance"
mkdir -p "$root/boot/seedconf" "$root/var/log/journal"

cat >"$root/etc/fstab" <<EOF
# The appliance (docs/operations.md, "The appliance image").
PARTUUID=$ROOT_UUID / ext4 errors=remount-ro,noatime 0 1
# The first-boot file's partition, read at every boot by seed-firstboot.
LABEL=SEEDCONF /boot/seedconf vfat ro,nofail,x-systemd.device-timeout=10s,umask=0077 0 0
# The store on a drive of its own, when there is one labelled seed-data:
# writing a newer image leaves it alone.
LABEL=seed-data /var/lib/seed ext4 nofail,x-systemd.device-timeout=10s,noatime 0 2
EOF
echo seed >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"

# hugepages, firewall (and no DPDK drop-in) from the package's defaults; the
# first boot renders them again from the first-boot file
in_root seed-appliance derive --root / >/dev/null

in_root systemctl enable seed-firstboot.service seed-dpdk-bind.service seed-ssh-hostkeys.service \
	seed-control.service seed-dataplane.service nftables.service ssh.service \
	systemd-networkd.service systemd-resolved.service systemd-timesyncd.service 2>&1 |
	grep -v '^Created symlink' || true

# per box: the machine id (made at first boot) and the SSH host keys
# (seed-ssh-hostkeys.service); per build: what apt and dpkg leave behind
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
	"$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old "$root"/var/log/*.log \
	"$root"/var/log/apt/* "$root"/tmp/* "$root"/root/.cache
rm -f "$root"/var/cache/ldconfig/aux-cache
