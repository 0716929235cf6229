#!/usr/bin/env bash
# User story: the appliance image installs the units and default configs
# shipped in appliance/; they must be valid as shipped.
#  - systemd-analyze verify accepts both units (their ExecStart pointed at the
#    built binaries) with no warning;
#  - the units keep the hardening the operator guide promises;
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
	for d in NoNewPrivileges=yes ProtectSystem=strict Restart=on-failure CapabilityBoundingSet=; do
		grep -q "^$d" "$A/systemd/$u.service" || fail "$u.service: expected '$d'"
	done
done
grep -q '^CapabilityBoundingSet=$' "$A/systemd/seed-control.service" ||
	fail "seed-control.service: expected no capabilities at all"

"$SEED_CONTROL" --check-config "$A/seed.conf" >"$T/chk" 2>&1 || fail "appliance/seed.conf: seed-control --check-config failed: $(cat "$T/chk")"
rc=0
"$SEED_DATAPLANE" --config "$A/dataplane.conf" --store "$T/no-store" >"$T/dp.out" 2>&1 || rc=$?
grep -q "store $T/no-store" "$T/dp.out" || fail "appliance/dataplane.conf: expected seed-dataplane to parse it and stop at the missing store, saw (exit $rc): $(cat "$T/dp.out")"
echo "PASS: test_appliance"
