# shellcheck shell=bash
# Which of this machine's apt sources is Debian 12's, and its mirror: what
# appliance/build-image.sh builds from and what the integration tests that
# build a Debian root (tests/integration/debroot.sh) check before they start.
# Sourced, never run: it defines functions and nothing else.

# debian_sources: prints the apt sources file of this machine that names
# suite bookworm (the machine may list other vendors' repositories beside
# it); prints nothing and returns 1 when there is none.
debian_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		if grep -Eq '^Suites:(.*[[:space:]])?bookworm([[:space:]]|$)' "$f" ||
			grep -Eq '^deb([[:space:]]+\[[^]]*\])?[[:space:]]+[^[:space:]]+[[:space:]]+bookworm([[:space:]]|$)' "$f"; then
			echo "$f"
			return 0
		fi
	done
	return 1
}

# debian_mirror FILE: prints the mirror URI of FILE's entry (a deb822 stanza
# or a one-line entry) with suite bookworm, not the first one of the file (it
# may be the security archive); nothing when there is none.
debian_mirror() {
	/usr/bin/python3 - "$1" <<'PYEOF'
import re, sys
text = open(sys.argv[1], encoding='utf-8').read()
for stanza in re.split(r'\n\s*\n', text):
    f = dict((m.group(1).lower(), m.group(2).split())
             for m in re.finditer(r'^([A-Za-z-]+):[ \t]*(.*)$', stanza, re.M))
    if 'bookworm' in f.get('suites', []) and f.get('uris'):
        print(f['uris'][0])
        sys.exit(0)
for line in text.splitlines():
    m = re.match(r'deb(\s+\[[^]]*\])?\s+(\S+)\s+bookworm(\s|$)', line)
    if m:
        print(m.group(2))
        sys.exit(0)
PYEOF
}
