#!/usr/bin/env bash
# User story: the appliance image installs the units and default configs
# shipped in appliance/; they must be valid as shipped.
#  - systemd-analyze verify accepts both units (their ExecStart pointed at the
#    built binaries) with no warning;
#  - the units keep the hardening the operator guide promises, and
#    `systemd-analyze security --offline=yes` rates each at 2.0 or below
#    (both figures printed);
#  - the data plane's unit runs it as its own user (seed-dp, in seed-read, not
#    in seed) with no capability, and sysusers.d-seed.conf creates that user;
#  - appliance/seed.conf passes seed-control --check-config;
#  - appliance/dataplane.conf parses (seed-dataplane gets as far as opening
#    the store).
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane control
require_cmds systemd-analyze
A=$SRCDIR/../../appliance

for u in seed-control seed-dataplane; do
	sed -e "s#/usr/bin/seed-control#$SEED_CONTROL#g" -e "s#/usr/bin/seed-dataplane#$SEED_DATAPLANE#g" \
		"$A/systemd/$u.service" >"$T/$u.service"
	systemd-analyze verify "$T/$u.service" >"$T/$u.verify" 2>&1 || {
		cat "$T/$u.verify" >&2
		fail "systemd-analyze verify $u.service: expected success"
	}
	# the only tolerated line: a missing dependency unit of this container
	if grep -v 'sysinit.target\|network-online.target' "$T/$u.verify" | grep -q .; then
		cat "$T/$u.verify" >&2
		fail "systemd-analyze verify $u.service: expected no warnings"
	fi
	for d in NoNewPrivileges=yes ProtectSystem=strict Restart=on-failure CapabilityBoundingSet= \
		SystemCallFilter=@system-service SystemCallArchitectures=native UMask= RestrictSUIDSGID=yes \
		ProtectKernelLogs=yes ProtectClock=yes ProtectHostname=yes RestrictRealtime=yes \
		ProtectProc=invisible MemoryDenyWriteExecute=yes; do
		grep -q "^$d" "$A/systemd/$u.service" || fail "$u.service: expected '$d'"
	done
	# the exposure figure: "→ Overall exposure level for X.service: 1.3 OK"
	systemd-analyze security --offline=yes "$T/$u.service" >"$T/$u.security" 2>&1 || {
		cat "$T/$u.security" >&2
		fail "systemd-analyze security --offline=yes $u.service: expected success"
	}
	score=$(sed -nE 's/.*Overall exposure level for [^:]*: ([0-9]+\.[0-9]+).*/\1/p' "$T/$u.security")
	[[ $score =~ ^[0-9]+\.[0-9]+$ ]] || fail "systemd-analyze security $u.service: expected an overall exposure level, saw: $(tail -3 "$T/$u.security")"
	echo "$u.service: exposure $score"
	awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || {
		grep '✗' "$T/$u.security" >&2
		fail "$u.service: expected an exposure of 2.0 or less, saw $score (what is left above)"
	}
done
grep -q '^SystemCallFilter=.*io_uring_setup io_uring_enter io_uring_register' "$A/systemd/seed-dataplane.service" ||
	fail "seed-dataplane.service: expected its system call filter to allow the io_uring calls"
grep -q '^User=seed-dp$' "$A/systemd/seed-dataplane.service" || fail "seed-dataplane.service: expected User=seed-dp"
grep -q '^SupplementaryGroups=seed-read$' "$A/systemd/seed-dataplane.service" || fail "seed-dataplane.service: expected SupplementaryGroups=seed-read"
grep -q '^CapabilityBoundingSet=$' "$A/systemd/seed-dataplane.service" ||
	fail "seed-dataplane.service: expected no capabilities (ports above 1024, LimitMEMLOCK=infinity)"
grep -q '^IPAddressDeny=any$' "$A/systemd/seed-control.service" || fail "seed-control.service: expected IPAddressDeny=any"
grep -q '^u seed-dp ' "$A/sysusers.d-seed.conf" || fail "sysusers.d-seed.conf: expected the data plane's user seed-dp"
grep -q '^m seed-dp seed-read$' "$A/sysusers.d-seed.conf" || fail "sysusers.d-seed.conf: expected seed-dp in group seed-read"
grep -q '^m seed-dp seed$' "$A/sysusers.d-seed.conf" && fail "sysusers.d-seed.conf: seed-dp must not be in group seed (control.sock)"
grep -q '^CapabilityBoundingSet=$' "$A/systemd/seed-control.service" ||
	fail "seed-control.service: expected no capabilities at all"

"$SEED_CONTROL" --check-config "$A/seed.conf" >"$T/chk" 2>&1 || fail "appliance/seed.conf: seed-control --check-config failed: $(cat "$T/chk")"
rc=0
# as root, where no seed-dp user exists: --allow-root yes gets it past the
# user to the store (test_privs.sh covers the user)
"$SEED_DATAPLANE" --config "$A/dataplane.conf" --store "$T/no-store" --allow-root yes >"$T/dp.out" 2>&1 || rc=$?
grep -q "store $T/no-store" "$T/dp.out" || fail "appliance/dataplane.conf: expected seed-dataplane to parse it and stop at the missing store, saw (exit $rc): $(cat "$T/dp.out")"
echo "PASS: test_appliance"
