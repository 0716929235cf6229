#!/usr/bin/env bash
# User story: an operator writes the appliance image to a server's disk,
# drops a first-boot file beside it, boots, and later upgrades the package
# without losing the store (issue 16, points 2 to 4). Booting is not possible
# here (no KVM, no systemd as PID 1), so this checks what a boot would use:
#  - appliance/build-image.sh builds the raw GPT image, the root tarball, the
#    manifest and their SHA256SUMS from package version N, in one command;
#  - sfdisk verifies the partition table: ESP, SEEDCONF and a root partition
#    of the discoverable x86-64 root type whose PARTUUID the loader entry's
#    root= names; fsck.vfat and fsck.ext4 check each file system, taken out
#    of the image by offset; the ESP holds systemd-boot as EFI/BOOT/BOOTX64.EFI
#    (a PE file), the loader entry, the kernel and the initramfs; SEEDCONF
#    the example first-boot file; every time stamp of the ext4 (superblock,
#    inodes) and of the tarball is SOURCE_DATE_EPOCH or older (reproducible;
#    docs/operations.md says how two builds were compared);
#  - the root (the ext4 of the image read with debugfs, and the tarball)
#    holds the enabled units, the users, the hugepage sysctl sized from
#    dataplane.conf, the nftables ruleset with exactly SSH and the data
#    plane's ports, journald limits, SSH with keys only, time sync, an empty
#    machine-id and no SSH host key; systemd-analyze verify accepts the
#    image's units and systemd-analyze security --offline rates them
#    (printed; the seed units at 2.0 or below);
#  - in a chroot of the root (/proc and /dev bound) its own programs:
#    seed-appliance renders the example first-boot file and seed-control
#    --check-config accepts the result, refuses a broken one; first boot
#    without the file fails with its reason and changes nothing, with a
#    sample file renders everything (host name, keys, network, hugepages,
#    firewall ports), an invalid change is refused and keeps the old
#    configs; with backend = dpdk it renders the NIC's PCI address into
#    dpdk-args, DPDK's hugepages, the unit's DPDK drop-in, and dpdk-bind
#    names the driverctl command (dry run: no NIC here); seed-dataplane from the image serves a release that the
#    image's seedctl wrote into /var/lib/seed/store, and curl on the host
#    downloads it over loopback with the right sha256;
#  - upgrade: package N+1 (build-deb.sh --version) installed over N with
#    apt-get: the changed configs are kept, the store is untouched, the
#    postinst restarts the data plane, and the new data plane serves the
#    store.
# Skips (77) when not root or when the Debian mirror cannot be reached;
# tools/test-all.sh counts a skip as a failure.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
# shellcheck source=debroot.sh
source "$SRCDIR/debroot.sh"

it_setup
skip_unless_root "mmdebstrap, chroot and mount need root"
require_cmds mmdebstrap sfdisk fsck.ext4 fsck.vfat mcopy mdir debugfs curl systemd-analyze \
	dpkg-buildpackage dh help2man
TOP=$(cd "$SRCDIR/../.." && pwd)
t_start=$(date +%s)
debroot_sources_or_skip

version=$(sed -nE "s/^ *version *: *'([^']+)'.*/\1/p" "$TOP/meson.build" | head -1)
VN1=$version+imagetest1

# build_deb VERSION [ARGS...]: appliance/build-deb.sh into $T/deb-VERSION.
build_deb() {
	local v=$1
	shift
	timeout --kill-after=30 600 bash "$TOP/appliance/build-deb.sh" --out "$T/deb-$v" "$@" \
		>"$T/build-$v.out" 2>"$T/build-$v.err" || {
		tail -30 "$T/build-$v.err" >&2
		fail "appliance/build-deb.sh $*: expected it to build bitstream-seed $v, it failed (output above)"
	}
}
note "build package $version (N), then the image from it while $VN1 (N+1) builds"
t0=$(date +%s)
build_deb "$version"
DEB_N=$T/deb-$version/bitstream-seed_${version}_amd64.deb
[[ -f $DEB_N ]] || fail "build-deb.sh: expected $DEB_N, saw: $(ls "$T/deb-$version")"
echo "package N built in $(($(date +%s) - t0)) s"
# in the background: timeout's PID is tracked, and SIGTERM to it (dp_cleanup,
# when the test fails first) reaches build-deb.sh
timeout --kill-after=30 600 bash "$TOP/appliance/build-deb.sh" --out "$T/deb-$VN1" --version "$VN1" \
	>"$T/build-$VN1.out" 2>"$T/build-$VN1.err" &
n1_pid=$!
dp_track "$n1_pid"

note "build the image (appliance/build-image.sh --deb N)"
t0=$(date +%s)
rc=0
timeout --kill-after=30 900 bash "$TOP/appliance/build-image.sh" --deb "$DEB_N" --out "$T/img" \
	>"$T/image.out" 2>"$T/image.err" || rc=$?
if ((rc != 0)); then
	tail -40 "$T/image.err" >&2
	fail "appliance/build-image.sh: expected it to build the image, it exited $(describe_rc "$rc") (output above)"
fi
t_image=$(($(date +%s) - t0))
rc=0
wait "$n1_pid" || rc=$?
dp_untrack "$n1_pid"
if ((rc != 0)); then
	tail -30 "$T/build-$VN1.err" >&2
	fail "appliance/build-deb.sh --version $VN1: expected package N+1, it exited $(describe_rc "$rc") (output above)"
fi
DEB_N1=$T/deb-$VN1/bitstream-seed_${VN1}_amd64.deb
[[ -f $DEB_N1 ]] || fail "build-deb.sh --version $VN1: expected $DEB_N1, saw: $(ls "$T/deb-$VN1")"
grep '^build-image: ' "$T/image.err" || true
NAME=bitstream-seed-$version
IMG=$T/img/$NAME.img
[[ $(tail -1 "$T/image.out") == "$IMG" && -f $IMG ]] ||
	fail "build-image.sh: expected it to print $IMG last and to write it, saw '$(tail -1 "$T/image.out")'"
for f in "$NAME-rootfs.tar" "$NAME.manifest" "$NAME.SHA256SUMS"; do
	[[ -s $T/img/$f ]] || fail "build-image.sh: expected $f beside the image, it is missing or empty"
done
(cd "$T/img" && sha256sum --quiet -c "$NAME.SHA256SUMS") >"$T/sums.out" 2>&1 ||
	fail "build-image.sh: expected $NAME.SHA256SUMS to match its files, sha256sum -c says: $(cat "$T/sums.out")"
grep -q "^bitstream-seed $version amd64\$" "$T/img/$NAME.manifest" ||
	fail "$NAME.manifest: expected 'bitstream-seed $version amd64' in it, saw: $(grep bitstream "$T/img/$NAME.manifest")"
for p in linux-image-amd64 systemd systemd-boot-efi openssh-server nftables systemd-timesyncd python3 driverctl; do
	grep -q "^$p " "$T/img/$NAME.manifest" || fail "$NAME.manifest: expected package $p in the image, it is not listed"
done
echo "image built in $t_image s: $(($(stat -c %s "$IMG") / MiB)) MiB ($(du -m "$IMG" | cut -f1) MiB allocated), $(wc -l <"$T/img/$NAME.manifest") packages"

note "the partition table (sfdisk) and the file systems (fsck)"
sfdisk --verify "$IMG" >"$T/verify.out" 2>&1 || fail "sfdisk --verify $IMG: expected no problem, it says: $(cat "$T/verify.out")"
sfdisk --json "$IMG" >"$T/pt.json" || fail "sfdisk --json $IMG: expected the partition table, it failed"
"$PY" - "$T/pt.json" >"$T/parts" <<'EOF' || exit 1
import json, sys
pt = json.load(open(sys.argv[1]))['partitiontable']
want = [('C12A7328-F81F-11D2-BA4B-00A0C93EC93B', 'ESP'),
        ('EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', 'SEEDCONF'),
        ('4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709', 'seed-root')]
parts = pt.get('partitions', [])
seen = [(p.get('type', '').upper(), p.get('name', '')) for p in parts]
if pt.get('label') != 'gpt' or seen != want or pt.get('sectorsize', 512) != 512:
    sys.exit('FAIL: partition table: expected GPT with %s, saw %s %s' % (want, pt.get('label'), seen))
for p in parts:
    if p['start'] % 2048:
        sys.exit('FAIL: partition %s: expected it to start on a 1 MiB boundary, it starts at sector %d' % (p['name'], p['start']))
    print(p['name'], p['start'], p['size'], p['uuid'].lower())
EOF
cat "$T/parts"
declare -A PUUID
while read -r n s z u; do
	PUUID[$n]=$u
	dd if="$IMG" of="$T/$n.part" bs=512 skip="$s" count="$z" conv=sparse status=none
done <"$T/parts"
fsck.vfat -n "$T/ESP.part" >"$T/fsck-esp" 2>&1 || { cat "$T/fsck-esp" >&2; fail "fsck.vfat -n on the ESP: expected no error (output above)"; }
fsck.vfat -n "$T/SEEDCONF.part" >"$T/fsck-conf" 2>&1 || { cat "$T/fsck-conf" >&2; fail "fsck.vfat -n on SEEDCONF: expected no error (output above)"; }
fsck.ext4 -fn "$T/seed-root.part" >"$T/fsck-root" 2>&1 || { cat "$T/fsck-root" >&2; fail "fsck.ext4 -fn on the root: expected a clean file system (output above)"; }
tail -1 "$T/fsck-root"
# reproducible: every time stamp is SOURCE_DATE_EPOCH (or older, for the
# files of the packages), in the ext4 and in the tarball
sde=$(sed -nE 's/.*\(SOURCE_DATE_EPOCH=([0-9]+)\)$/\1/p' "$T/image.err" | head -1)
[[ $sde =~ ^[0-9]+$ ]] || fail "build-image.sh: expected '(SOURCE_DATE_EPOCH=N)' on its first line, saw: $(head -1 "$T/image.err")"
wtime=$(TZ=UTC dumpe2fs -h "$T/seed-root.part" 2>/dev/null | sed -nE 's/^Last write time: +//p')
[[ $wtime == "$(TZ=UTC LC_ALL=C date -d "@$sde" '+%a %b %e %H:%M:%S %Y')" ]] ||
	fail "the root file system: expected its last write time to be SOURCE_DATE_EPOCH ($sde), dumpe2fs says '$wtime'"
debugfs -R 'stat /etc/fstab' "$T/seed-root.part" >"$T/stat-fstab" 2>/dev/null
for f in ctime atime mtime crtime; do
	grep -Eq "^ *$f: $(printf '0x%08x' "$sde"):00000000 " "$T/stat-fstab" ||
		fail "the root file system: expected /etc/fstab's $f to be SOURCE_DATE_EPOCH ($(printf '0x%08x' "$sde")), debugfs says: $(grep -E "^ *$f:" "$T/stat-fstab")"
done
"$PY" - "$T/img/bitstream-seed-$version-rootfs.tar" "$sde" <<'EOF' || exit 1
import sys, tarfile
sde = int(sys.argv[2])
late = [m.name for m in tarfile.open(sys.argv[1]) if m.mtime > sde]
if late:
    sys.exit('FAIL: the root tarball: expected no time stamp after SOURCE_DATE_EPOCH (%d), %d members have one: %s'
             % (sde, len(late), late[:5]))
EOF
blkid -p -o export "$T/SEEDCONF.part" | grep -qx 'LABEL=SEEDCONF' ||
	fail "the config partition: expected a file system labelled SEEDCONF (fstab mounts it by label), blkid says: $(blkid -p -o export "$T/SEEDCONF.part" | tr '\n' ' ')"
export MTOOLS_SKIP_CHECK=1
mdir -i "$T/ESP.part" -/ -b ::/ | sed 's#^::##' | LC_ALL=C sort >"$T/esp.list"
for f in /EFI/BOOT/BOOTX64.EFI /EFI/systemd/systemd-bootx64.efi /loader/loader.conf \
	/loader/entries/bitstream-seed.conf /bitstream-seed/vmlinuz /bitstream-seed/initrd.img; do
	grep -qx "$f" "$T/esp.list" || fail "the ESP: expected $f on it, it holds: $(tr '\n' ' ' <"$T/esp.list")"
done
[[ $(mtype -i "$T/ESP.part" ::/EFI/BOOT/BOOTX64.EFI | head -c 2) == MZ ]] ||
	fail "the ESP: expected EFI/BOOT/BOOTX64.EFI to be a PE executable (MZ), it is not"
mtype -i "$T/ESP.part" ::/loader/entries/bitstream-seed.conf >"$T/entry"
cat "$T/entry"
grep -Eq "^options .*root=PARTUUID=${PUUID[seed-root]}( |\$)" "$T/entry" ||
	fail "loader entry: expected root=PARTUUID=${PUUID[seed-root]} (the root partition) on its options line, saw: $(grep options "$T/entry")"
mcopy -i "$T/ESP.part" ::/bitstream-seed/initrd.img "$T/initrd.img"
(($(stat -c %s "$T/initrd.img") > 4 * MiB)) || fail "the ESP: expected an initramfs of more than 4 MiB, saw $(stat -c %s "$T/initrd.img") bytes"
mcopy -i "$T/SEEDCONF.part" ::/seed-node.conf.example "$T/seed-node.conf.example" ||
	fail "SEEDCONF: expected seed-node.conf.example on it, mcopy cannot read it"
cmp -s "$T/seed-node.conf.example" "$TOP/appliance/image/seed-node.conf.example" ||
	fail "SEEDCONF: expected seed-node.conf.example to be the tree's appliance/image/seed-node.conf.example, it differs"
if mdir -i "$T/SEEDCONF.part" ::/seed-node.conf >/dev/null 2>&1; then
	fail "SEEDCONF: expected no seed-node.conf in the image as built (every box gets its own), there is one"
fi

note "the root: enabled units, users, hugepages, firewall, journald, SSH, time sync"
# the ext4 itself (debugfs reads it without a mount) ...
for w in multi-user sysinit; do
	debugfs -R "ls -p /etc/systemd/system/$w.target.wants" "$T/seed-root.part" 2>/dev/null |
		awk -F/ 'NF > 5 && $6 != "." && $6 != ".." { print $6 }'
done | LC_ALL=C sort >"$T/wants.ext4"
debugfs -R 'cat /etc/seed/dataplane.conf' "$T/seed-root.part" >"$T/dataplane.ext4" 2>/dev/null
# ... and the tarball, which is extracted for the chroot
R=$T/root
mkdir -p "$R"
tar --numeric-owner --xattrs --xattrs-include='*' --acls -xpf "$T/img/$NAME-rootfs.tar" -C "$R" ||
	fail "tar -x $NAME-rootfs.tar: expected the root tree, tar failed"
(cd "$R/etc/systemd/system" && ls multi-user.target.wants sysinit.target.wants) | grep -v -e : -e '^$' | LC_ALL=C sort >"$T/wants.tar"
cmp -s "$T/wants.ext4" "$T/wants.tar" ||
	fail "the root: expected the ext4 and the tarball to enable the same units, ext4: $(tr '\n' ' ' <"$T/wants.ext4"), tarball: $(tr '\n' ' ' <"$T/wants.tar")"
cmp -s "$T/dataplane.ext4" "$R/etc/seed/dataplane.conf" ||
	fail "the root: expected /etc/seed/dataplane.conf to be the same in the ext4 and the tarball, it differs"
cmp -s "$R/etc/seed/dataplane.conf" "$TOP/appliance/dataplane.conf" ||
	fail "the root: expected /etc/seed/dataplane.conf to be the package's default until the first boot, it differs"
echo "enabled (multi-user.target, sysinit.target): $(tr '\n' ' ' <"$T/wants.tar")"
for u in seed-firstboot seed-control seed-dataplane seed-dpdk-bind seed-ssh-hostkeys nftables ssh \
	systemd-networkd systemd-resolved systemd-timesyncd; do
	grep -qx "$u.service" "$T/wants.tar" || fail "the root: expected $u.service enabled (in multi-user.target.wants or sysinit.target.wants), it is not"
done
for u in seed-control seed-dataplane; do
	grep -q '^Requires=seed-firstboot.service' "$R/etc/systemd/system/$u.service.d/50-appliance.conf" 2>/dev/null ||
		fail "the root: expected $u.service to Require= seed-firstboot.service (nothing served until the first boot succeeded), its drop-in does not"
done
for u in seed seed-dp; do
	chroot "$R" getent passwd "$u" >/dev/null || fail "the root: expected user $u (the package's sysusers.d), getent finds none"
done
chroot "$R" id -nG seed-dp | grep -qw seed-read || fail "the root: expected seed-dp in group seed-read, it is in: $(chroot "$R" id -nG seed-dp)"
[[ $(chroot "$R" passwd -S root | awk '{ print $2 }') == L ]] ||
	fail "the root: expected root's password locked (SSH keys only), passwd -S says: $(chroot "$R" passwd -S root)"
# hugepages: the shipped cache-size = 8G in 2 MiB pages
cache=$(sed -nE 's/^cache-size *= *([0-9]+)G$/\1/p' "$R/etc/seed/dataplane.conf")
[[ -n $cache ]] || fail "the root: expected 'cache-size = NG' in /etc/seed/dataplane.conf, saw: $(grep cache-size "$R/etc/seed/dataplane.conf")"
grep -qx "vm.nr_hugepages = $((cache * 512))" "$R/etc/sysctl.d/60-seed-hugepages.conf" 2>/dev/null ||
	fail "the root: expected vm.nr_hugepages = $((cache * 512)) (cache-size ${cache}G in 2 MiB pages) in /etc/sysctl.d/60-seed-hugepages.conf, saw: $(grep -v '^#' "$R/etc/sysctl.d/60-seed-hugepages.conf" 2>&1)"
# the firewall: exactly SSH and the data plane's ports (the status listener is on loopback)
nft_ports() { # FILE: "tcp PORTS / udp PORTS" of the accept rules
	"$PY" - "$1" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
out = {'tcp': set(), 'udp': set()}
for proto, ports in re.findall(r'^\s*(tcp|udp) dport (\{[^}]*\}|\d+) accept', text, re.M):
    out[proto] |= set(int(p) for p in re.findall(r'\d+', ports))
print('tcp %s / udp %s' % (','.join(map(str, sorted(out['tcp']))), ','.join(map(str, sorted(out['udp'])))))
EOF
}
[[ $(nft_ports "$R/etc/nftables.conf") == "tcp 22,6881,8080 / udp 6881" ]] ||
	fail "the root: expected /etc/nftables.conf to accept exactly tcp 22,6881,8080 / udp 6881, saw: $(nft_ports "$R/etc/nftables.conf")"
grep -q 'policy drop' "$R/etc/nftables.conf" || fail "the root: expected the nftables input chain to drop by default, it has no 'policy drop'"
grep -qx 'SystemMaxUse=1G' "$R/etc/systemd/journald.conf.d/60-seed.conf" 2>/dev/null ||
	fail "the root: expected journald limits (SystemMaxUse=1G) in /etc/systemd/journald.conf.d/60-seed.conf, it is missing"
[[ ! -s $R/etc/machine-id ]] || fail "the root: expected an empty /etc/machine-id (made at first boot), it holds $(cat "$R/etc/machine-id")"
compgen -G "$R/etc/ssh/ssh_host_*" >/dev/null && fail "the root: expected no SSH host key (made at first boot), found: $(ls "$R"/etc/ssh/ssh_host_*)"
grep -q "^PARTUUID=${PUUID[seed-root]} / ext4 " "$R/etc/fstab" ||
	fail "the root: expected /etc/fstab to mount PARTUUID=${PUUID[seed-root]} on /, it says: $(grep -v '^#' "$R/etc/fstab")"

note "systemd-analyze verify and security --offline against the root"
units=(seed-firstboot.service seed-dpdk-bind.service seed-ssh-hostkeys.service seed-control.service seed-dataplane.service)
rc=0
systemd-analyze verify --root="$R" "${units[@]/#//etc/systemd/system/}" >"$T/verify.log" 2>&1 || rc=$?
cat "$T/verify.log"
((rc == 0)) || fail "systemd-analyze verify --root: expected the image's units to verify, it exited $rc (output above)"
for u in "${units[@]}"; do
	systemd-analyze security --offline=yes --root="$R" --no-pager "$u" >"$T/sec-$u" 2>&1 ||
		true # it exits non-zero above its threshold: the figure is what counts
	fig=$(sed -nE 's/^→ Overall exposure level for .*: ([0-9.]+) .*/\1/p' "$T/sec-$u")
	[[ -n $fig ]] || { cat "$T/sec-$u" >&2; fail "systemd-analyze security --offline=yes --root: expected an exposure level for $u, saw the output above"; }
	printf '%-28s exposure %s\n' "$u" "$fig"
	case $u in
	seed-control.service | seed-dataplane.service)
		awk -v f="$fig" 'BEGIN { exit !(f <= 2.0) }' ||
			fail "systemd-analyze security: expected $u at 2.0 or below in the image (docs/operations.md, Hardening), saw $fig"
		;;
	esac
done

# ---------------------------------------------------------------- chroot
note "the image's own programs in a chroot of its root (/proc and /dev bound)"
umount_root() {
	local m
	for m in "$R/dev" "$R/proc"; do
		mountpoint -q "$m" && { umount "$m" || umount -l "$m"; }
	done
}
it_on_exit umount_root
mount --bind /proc "$R/proc" || fail "mount --bind /proc $R/proc failed"
mount --bind /dev "$R/dev" || fail "mount --bind /dev $R/dev failed"

cp "$T/seed-node.conf.example" "$R/tmp/example.conf"
in_chroot_ok "$R" "$T/render.out" "seed-appliance render of the example first-boot file" \
	seed-appliance render /tmp/example.conf /tmp/example
in_chroot_ok "$R" "$T/check.out" "seed-control --check-config of the rendered seed.conf" \
	seed-control --check-config /tmp/example/etc/seed/seed.conf
grep -q '^/tmp/example/etc/seed/seed.conf: ok' "$T/check.out" ||
	fail "seed-control --check-config of the example's rendering: expected '...: ok', saw: $(cat "$T/check.out")"
echo "example: $(cat "$T/check.out")"

# broken: a rate seed-control refuses (the renderer passes it through)
sed 's#^bandwidth = 5Gbit/s#bandwidth = 5 gigabits#' "$T/seed-node.conf.example" >"$R/tmp/broken.conf"
cmp -s "$T/seed-node.conf.example" "$R/tmp/broken.conf" && fail "test bug: the broken sample is the example"
in_chroot "$R" "$T/broken.out" seed-appliance render /tmp/broken.conf /tmp/broken
((IN_RC == 1)) || fail "seed-appliance render of a file with bandwidth = 5 gigabits: expected exit 1, saw $(describe_rc "$IN_RC"): $(cat "$T/broken.out")"
one_line_stderr "$T/broken.out" "seed-appliance render of a broken file"
grep -q 'seed-control --check-config refused the rendered seed.conf: .*bandwidth' "$T/broken.out" ||
	fail "seed-appliance render of a broken file: expected the check-config line naming bandwidth, saw: $(cat "$T/broken.out")"
in_chroot "$R" "$T/broken-check.out" seed-control --check-config /tmp/broken/etc/seed/seed.conf
{ ((IN_RC == 1)) && grep -Eq '^(seed-control: )?/tmp/broken/etc/seed/seed.conf:[0-9]+: .*bandwidth' "$T/broken-check.out"; } ||
	fail "seed-control --check-config of the broken rendering: expected exit 1 and 'FILE:LINE: ...bandwidth...', saw exit $IN_RC: $(cat "$T/broken-check.out")"
echo "broken: $(cat "$T/broken-check.out")"
# broken in the first-boot file itself: a misspelt key is named
sed 's/^cache_size = /cache_sise = /' "$T/seed-node.conf.example" >"$R/tmp/typo.conf"
in_chroot "$R" "$T/typo.out" seed-appliance render /tmp/typo.conf /tmp/typo
{ ((IN_RC == 1)) && grep -q 'unknown key "cache_sise"' "$T/typo.out"; } ||
	fail "seed-appliance render of a file with cache_sise: expected exit 1 naming the unknown key, saw exit $IN_RC: $(cat "$T/typo.out")"

note "first boot: without the file nothing changes and the reason is given"
mkdir -p "$T/etc0"
cp -a "$R/etc/seed" "$T/etc0/"
in_chroot "$R" "$T/fb0.out" seed-appliance firstboot
((IN_RC == 1)) || fail "seed-appliance firstboot without the file: expected exit 1 (nothing served), saw $(describe_rc "$IN_RC"): $(cat "$T/fb0.out")"
grep -q 'FAILED: /boot/seedconf/seed-node.conf is absent' "$T/fb0.out" ||
	fail "seed-appliance firstboot without the file: expected 'FAILED: /boot/seedconf/seed-node.conf is absent ...', saw: $(cat "$T/fb0.out")"
echo "no file: $(cat "$T/fb0.out")"
diff -r "$T/etc0/seed" "$R/etc/seed" >/dev/null || fail "seed-appliance firstboot without the file: expected /etc/seed unchanged, it changed"
grep -q '^StandardError=journal+console' "$R/etc/systemd/system/seed-firstboot.service" ||
	fail "seed-firstboot.service: expected StandardError=journal+console (the reason on the console and in the journal)"

note "first boot with a sample file: configs, host name, keys, network, hugepages, firewall"
key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc2ZWVkLWltYWdlLXRlc3Qta2V5LWZvci1yb290AAAA test@image"
cat >"$R/boot/seedconf/seed-node.conf" <<EOF
[node]
name = seed-test-07
address = 192.0.2.7/24
gateway = 192.0.2.1
dns = 192.0.2.53
status_listen = *:9199
bt_port = 7881
http_port = 8088
cache_size = 64M
workers = 1

[ssh]
authorized_keys =
    $key

[tenant acme]
name = ACME Games
bandwidth = 100MB/s
trackers = udp://tracker.example.net:6969/announce
EOF
in_chroot_ok "$R" "$T/fb1.out" "seed-appliance firstboot with a sample file" seed-appliance firstboot
cat "$T/fb1.out"
grep -q 'rendered /boot/seedconf/seed-node.conf .*node seed-test-07, 1 tenant(s), 1 SSH key(s)' "$T/fb1.out" ||
	fail "seed-appliance firstboot: expected 'rendered ... node seed-test-07, 1 tenant(s), 1 SSH key(s)', saw: $(cat "$T/fb1.out")"
in_chroot_ok "$R" "$T/check1.out" "seed-control --check-config /etc/seed/seed.conf after the first boot" \
	seed-control --check-config /etc/seed/seed.conf
grep -q 'name = "seed-test-07";' "$R/etc/seed/seed.conf" || fail "after the first boot: expected node name seed-test-07 in /etc/seed/seed.conf"
grep -q '^    id = "acme";' "$R/etc/seed/seed.conf" || fail "after the first boot: expected tenant acme in /etc/seed/seed.conf"
[[ $(cat "$R/etc/hostname") == seed-test-07 ]] || fail "after the first boot: expected /etc/hostname seed-test-07, saw $(cat "$R/etc/hostname")"
[[ $(cat "$R/root/.ssh/authorized_keys") == "$key" && $(stat -c %a "$R/root/.ssh/authorized_keys") == 600 ]] ||
	fail "after the first boot: expected root's authorized_keys to hold the key, mode 600; saw mode $(stat -c %a "$R/root/.ssh/authorized_keys"): $(cat "$R/root/.ssh/authorized_keys")"
{ grep -qx 'Address=192.0.2.7/24' "$R/etc/systemd/network/50-seed.network" && grep -qx 'Gateway=192.0.2.1' "$R/etc/systemd/network/50-seed.network"; } ||
	fail "after the first boot: expected Address=192.0.2.7/24 and Gateway=192.0.2.1 in 50-seed.network, saw: $(cat "$R/etc/systemd/network/50-seed.network")"
grep -qx 'vm.nr_hugepages = 32' "$R/etc/sysctl.d/60-seed-hugepages.conf" ||
	fail "after the first boot: expected vm.nr_hugepages = 32 (cache_size 64M), saw: $(grep -v '^#' "$R/etc/sysctl.d/60-seed-hugepages.conf")"
[[ $(nft_ports "$R/etc/nftables.conf") == "tcp 22,7881,8088,9199 / udp 7881" ]] ||
	fail "after the first boot: expected the firewall to accept exactly tcp 22,7881,8088,9199 (status on *:9199) / udp 7881, saw: $(nft_ports "$R/etc/nftables.conf")"
in_chroot_ok "$R" "$T/nft.out" "nft -c -f /etc/nftables.conf (the rendered ruleset)" nft -c -f /etc/nftables.conf
in_chroot_ok "$R" "$T/dpdk.out" "seed-appliance dpdk-bind with backend uring" seed-appliance dpdk-bind
grep -q 'backend uring: no NIC to bind' "$T/dpdk.out" || fail "seed-appliance dpdk-bind with backend uring: expected 'no NIC to bind', saw: $(cat "$T/dpdk.out")"
# backend = dpdk: the NIC to bind, DPDK's share of hugepages, the unit's drop-in
cat >"$R/tmp/dpdk.conf" <<EOF
[node]
name = seed-dpdk-01
backend = dpdk
dpdk_nic = 0000:3b:00.1
dpdk_ip = 198.51.100.10/24
dpdk_gateway = 198.51.100.1
cache_size = 1G
workers = 4

[tenant acme]
EOF
in_chroot_ok "$R" "$T/dpdk-render.out" "seed-appliance render with backend = dpdk" seed-appliance render /tmp/dpdk.conf /tmp/dpdk
in_chroot_ok "$R" "$T/dpdk-derive.out" "seed-appliance derive with backend = dpdk" seed-appliance derive --root /tmp/dpdk
for kv in 'backend = dpdk' 'dpdk-args = -a 0000:3b:00.1 --huge-unlink' 'ip = 198.51.100.10/24' 'gateway = 198.51.100.1'; do
	grep -qx "$kv" "$R/tmp/dpdk/etc/seed/dataplane.conf" || fail "backend = dpdk: expected '$kv' in the rendered dataplane.conf, saw: $(cat "$R/tmp/dpdk/etc/seed/dataplane.conf")"
done
grep -qx "vm.nr_hugepages = $((512 + 4 * 16))" "$R/tmp/dpdk/etc/sysctl.d/60-seed-hugepages.conf" ||
	fail "backend = dpdk: expected vm.nr_hugepages = $((512 + 4 * 16)) (1G of cache, 16 pages for each of 4 workers), saw: $(grep -v '^#' "$R/tmp/dpdk/etc/sysctl.d/60-seed-hugepages.conf")"
grep -qx 'Requires=seed-dpdk-bind.service' "$R/tmp/dpdk/etc/systemd/system/seed-dataplane.service.d/60-dpdk.conf" 2>/dev/null ||
	fail "backend = dpdk: expected seed-dataplane's drop-in 60-dpdk.conf to Require= seed-dpdk-bind.service, it is missing or does not"
in_chroot_ok "$R" "$T/dpdk-bind.out" "seed-appliance dpdk-bind --dry-run with backend = dpdk" seed-appliance dpdk-bind --root /tmp/dpdk --dry-run
grep -qx 'driverctl --nosave set-override 0000:3b:00.1 vfio-pci' "$T/dpdk-bind.out" ||
	fail "seed-appliance dpdk-bind --dry-run with backend = dpdk: expected 'driverctl --nosave set-override 0000:3b:00.1 vfio-pci', saw: $(cat "$T/dpdk-bind.out")"
[[ -x $R/usr/sbin/driverctl ]] || fail "the root: expected /usr/sbin/driverctl (package driverctl) for seed-dpdk-bind, it is missing"
echo "dpdk: $(cat "$T/dpdk-bind.out")"
in_chroot_ok "$R" "$T/keygen.out" "ssh-keygen (a host key for sshd -T)" ssh-keygen -q -t ed25519 -N "" -f /tmp/hostkey
mkdir -p "$R/run/sshd"
in_chroot_ok "$R" "$T/sshd.out" "sshd -T (the effective SSH settings)" /usr/sbin/sshd -T -h /tmp/hostkey
for kv in 'passwordauthentication no' 'kbdinteractiveauthentication no' 'permitrootlogin without-password' 'pubkeyauthentication yes'; do
	grep -qx "$kv" "$T/sshd.out" || fail "sshd -T in the image: expected '$kv', saw: $(grep -E "^${kv%% *} " "$T/sshd.out")"
done
in_chroot_ok "$R" "$T/fb2.out" "seed-appliance firstboot again" seed-appliance firstboot
grep -q 'unchanged since it was rendered' "$T/fb2.out" || fail "seed-appliance firstboot with the same file: expected 'unchanged since it was rendered', saw: $(cat "$T/fb2.out")"
# an invalid change: refused, the running configs stay
sha_before=$(cat "$R/etc/seed/seed.conf" "$R/etc/seed/dataplane.conf" | sha256sum)
sed -i 's/^bt_port = 7881/bt_port = 78810/' "$R/boot/seedconf/seed-node.conf"
in_chroot "$R" "$T/fb3.out" seed-appliance firstboot
{ ((IN_RC == 1)) && grep -q 'FAILED: seed-node.conf: \[node\] bt_port: "78810" is not a port' "$T/fb3.out"; } ||
	fail "seed-appliance firstboot with bt_port = 78810: expected exit 1 and 'FAILED: ... bt_port: \"78810\" is not a port ...', saw exit $IN_RC: $(cat "$T/fb3.out")"
[[ $(cat "$R/etc/seed/seed.conf" "$R/etc/seed/dataplane.conf" | sha256sum) == "$sha_before" ]] ||
	fail "seed-appliance firstboot with an invalid file: expected /etc/seed kept as it was, it changed"
echo "invalid: $(cat "$T/fb3.out")"
sed -i 's/^bt_port = 78810/bt_port = 7881/' "$R/boot/seedconf/seed-node.conf"

note "seed-dataplane from the image serves a release from /var/lib/seed/store to curl on the host"
gen_tree "$R/tmp/src/game" big.bin $((9 * MiB + 4321)) data/small.bin 70001
chmod -R a+rX "$R/tmp/src"
in_chroot_ok "$R" "$T/create.json" "seedctl release create (as user seed)" \
	setpriv --reuid=seed --regid=seed --init-groups seedctl release create --store /var/lib/seed/store \
	--tenant acme --name game --version 1 --json /tmp/src/game
RID=$(json_get "$T/create.json" id)
[[ -n $RID && $RID != __MISSING__ ]] || fail "seedctl release create --json in the image: expected an id, saw: $(cat "$T/create.json")"
store_snapshot "$R/var/lib/seed/store" "$T/store.before"
SEED_DATAPLANE=/usr/bin/seed-dataplane
serve_check() { # LABEL: the image's data plane, as seed-dp, serves RID to curl
	local label=$1 f
	DP_WRAP=(chroot "$R")
	dp_start "$T" --allow-root no --user seed-dp --store /var/lib/seed/store --bt-listen 127.0.0.1:0 \
		--http-listen 127.0.0.1:0 --workers 1 --cache-size 32M --hugepages no
	DP_WRAP=()
	head -1 "$DP_OUT"
	for f in big.bin data/small.bin; do
		rm -f "$T/got"
		timeout --kill-after=5 60 curl -sSf --max-time 50 -o "$T/got" "$DP_URL/$RID/game/$f" 2>"$T/curl.err" ||
			fail "$label: curl $DP_URL/$RID/game/$f: expected the file, curl says: $(cat "$T/curl.err")"
		[[ $(sha256sum <"$T/got") == $(sha256sum <"$R/tmp/src/game/$f") ]] ||
			fail "$label: $f over HTTP: expected the sha256 of the source, saw $(sha256sum <"$T/got" | cut -c1-16)... vs $(sha256sum <"$R/tmp/src/game/$f" | cut -c1-16)..."
	done
	echo "$label: big.bin and data/small.bin downloaded from $DP_URL/$RID/game/, sha256 as the source"
	dp_stop 30
	echo "$label: $DP_STOPPED"
	dp_expect_counter verify_failures 0
}
serve_check "image $version"

note "upgrade: $VN1 over $version keeps the changed configs and serves the store"
echo "# changed by the operator" >>"$R/etc/seed/dataplane.conf"
sha_conf=$(cat "$R/etc/seed/seed.conf" "$R/etc/seed/dataplane.conf" | sha256sum)
cp "$DEB_N1" "$R/tmp/"
in_chroot_ok "$R" "$T/upgrade.log" "apt-get install of $VN1 over $version" apt-get install -y "/tmp/$(basename "$DEB_N1")"
grep -q '^1 upgraded, 0 newly installed, 0 to remove' "$T/upgrade.log" ||
	fail "apt-get install $VN1: expected '1 upgraded, 0 newly installed, 0 to remove', saw: $(grep -E 'upgraded|newly' "$T/upgrade.log")"
grep -q "Unpacking bitstream-seed ($VN1) over ($version)" "$T/upgrade.log" ||
	fail "apt-get install $VN1: expected 'Unpacking bitstream-seed ($VN1) over ($version)', saw: $(grep -i unpacking "$T/upgrade.log")"
# shellcheck disable=SC2016 # a dpkg-query format
[[ $(chroot "$R" dpkg-query -W -f='${Version} ${Status}' bitstream-seed) == "$VN1 install ok installed" ]] ||
	fail "after the upgrade: expected bitstream-seed $VN1 installed, dpkg says: $(chroot "$R" dpkg-query -W -f='${Version} ${Status}' bitstream-seed)"
[[ $(cat "$R/etc/seed/seed.conf" "$R/etc/seed/dataplane.conf" | sha256sum) == "$sha_conf" ]] ||
	fail "after the upgrade: expected the changed /etc/seed/seed.conf and dataplane.conf kept (conffiles), they changed"
[[ ! -e $R/etc/seed/seed.conf.dpkg-new && ! -e $R/etc/seed/dataplane.conf.dpkg-new ]] ||
	fail "after the upgrade: expected no .dpkg-new beside the configs (the defaults did not change), found one"
store_snapshot "$R/var/lib/seed/store" "$T/store.after"
same_snapshot "$T/store.before" "$T/store.after" "the upgrade"
grep -Eq "deb-systemd-invoke (\\\$_dh_action|restart) .*seed-dataplane.service" "$R/var/lib/dpkg/info/bitstream-seed.postinst" ||
	fail "after the upgrade: expected the postinst to restart seed-dataplane.service on upgrade (deb-systemd-invoke), it does not"
in_chroot_ok "$R" "$T/v.out" "seed-dataplane --version after the upgrade" seed-dataplane --version
grep -qx "seed-dataplane $VN1" "$T/v.out" || fail "after the upgrade: expected 'seed-dataplane $VN1', saw: $(cat "$T/v.out")"
serve_check "upgraded to $VN1"

echo "image: $t_image s to build; the whole test: $(($(date +%s) - t_start)) s"
