#!/usr/bin/env bash
# User story: an operator lists, inspects and removes releases, and finds
# help for every command: create makes the store, ls/show work plain and as
# JSON, rm removes one release, --help works everywhere and exits 0, and an
# unknown flag is a usage error (exit 2) that names the flag.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup

S=$T/store/nested # does not exist: the first create makes it
gen_file "$T/r1/alpha/x.bin" 70000
gen_file "$T/r1/alpha/y/z.bin" 12
gen_file "$T/r2/beta/only.bin" 300000
gen_file "$T/r2/beta/docs/readme.txt" 999

note "help"
# help_ok WHAT ARGS...: exit 0 and a usage text on stdout.
help_ok() {
	local what=$1
	shift
	sc "$T/h.out" "$T/h.err" "$@"
	((SC_RC == 0)) || { cat "$T/h.err" >&2; fail "seedctl $*: expected exit 0, saw exit $(describe_rc "$SC_RC")"; }
	grep -qi usage "$T/h.out" || fail "seedctl $*: expected a usage text (the word 'usage') on stdout, saw: $(head -c 300 "$T/h.out")"
	if [[ -n $what ]]; then
		grep -qF -- "$what" "$T/h.out" || fail "seedctl $*: expected the usage to mention '$what', saw: $(head -c 300 "$T/h.out")"
	fi
}
help_ok "release" --help
help_ok "create" release --help
for cmd in create ls show verify rm; do
	help_ok "$cmd" release "$cmd" --help
done
help_ok "--store" release create --help

note "unknown flags"
# unknown_flag ARGS...: exit 2, one stderr line naming --bogus-flag.
unknown_flag() {
	sc "$T/u.out" "$T/u.err" "$@"
	((SC_RC == 2)) || { cat "$T/u.err" >&2; fail "seedctl $*: expected exit 2 (usage error), saw exit $(describe_rc "$SC_RC")"; }
	one_line_stderr "$T/u.err" "seedctl $*"
	grep -qF -- --bogus-flag "$T/u.err" || fail "seedctl $*: expected the error to name '--bogus-flag', saw: $(cat "$T/u.err")"
}
unknown_flag --bogus-flag
unknown_flag release ls --store "$S" --bogus-flag
unknown_flag release create --store "$S" --tenant acme --name alpha --version 1 --bogus-flag "$T/r1/alpha"
unknown_flag release show --store "$S" --bogus-flag someid
[[ ! -e $S ]] || fail "expected no store at $S after usage errors only, one exists"

note "create two releases"
sc_ok "$T/c1.json" "$T/c1.err" release create --store "$S" --tenant acme --name alpha --version 1.0 --json "$T/r1/alpha"
[[ -d $S ]] || fail "expected the first create to make the missing store dir $S, it does not exist"
sc_ok "$T/c2.json" "$T/c2.err" release create --store "$S" --tenant zeta --name beta --version 2.5 --json "$T/r2/beta"
ID1=$(json_get "$T/c1.json" id)
ID2=$(json_get "$T/c2.json" id)
[[ $ID1 != "$ID2" ]] || fail "expected two different release ids, both are '$ID1'"

# ls_json_ids: the sorted ids of `release ls --json`, after checking each entry.
ls_json_ids() {
	ls_json "$S" "$T/ls.json"
	"$PY" -c 'import json, sys; print("\n".join(sorted(r["id"] for r in json.load(open(sys.argv[1])))))' \
		"$T/ls.json"
}

note "ls"
ids=$(ls_json_ids)
want=$(printf '%s\n' "$ID1" "$ID2" | sort)
[[ $ids == "$want" ]] || fail "release ls --json: expected ids [${want//$'\n'/ }], saw [${ids//$'\n'/ }]"
"$PY" - "$T/ls.json" "$ID1" "$ID2" <<'EOF' || exit 1
import json, sys
d = {r['id']: r for r in json.load(open(sys.argv[1], encoding='utf-8'))}
want = {sys.argv[2]: ('acme', 'alpha', '1.0'), sys.argv[3]: ('zeta', 'beta', '2.5')}
for i, (t, n, v) in want.items():
    seen = (d[i]['tenant'], d[i]['name'], d[i]['version'])
    if seen != (t, n, v):
        sys.exit('FAIL: release ls --json: expected %s to be tenant/name/version %s, saw %s' % (i, (t, n, v), seen))
EOF
sc_ok "$T/ls.txt" "$T/ls.err" release ls --store "$S"
for x in "$ID1" "$ID2" alpha beta 1.0 2.5; do
	grep -qF -- "$x" "$T/ls.txt" || fail "release ls: expected the plain listing to show '$x', saw: $(cat "$T/ls.txt")"
done

note "show"
sc_ok "$T/show.txt" "$T/show.err" release show --store "$S" "$ID1"
for x in "$ID1" acme alpha 1.0 x.bin y/z.bin; do
	grep -qF -- "$x" "$T/show.txt" || fail "release show $ID1: expected the plain output to show '$x', saw: $(head -c 1000 "$T/show.txt")"
done
sc_ok "$T/show.json" "$T/show.err" release show --store "$S" --json "$ID1"
"$PY" - "$T/show.json" "$ID1" "$T/r1/alpha" <<'EOF' || exit 1
import json, os, re, sys
try:
    d = json.load(open(sys.argv[1], encoding='utf-8'))
except Exception as e:
    sys.exit('FAIL: release show --json: expected a JSON object, could not parse (%s)' % e)
want = {'id': sys.argv[2], 'tenant': 'acme', 'name': 'alpha', 'version': '1.0'}
for k, v in want.items():
    if not isinstance(d, dict) or d.get(k) != v:
        sys.exit('FAIL: release show --json: expected "%s": %r, saw %r' % (k, v, d.get(k) if isinstance(d, dict) else d))
tree = sys.argv[3]
disk = {}
for root, _, names in os.walk(tree):
    for n in names:
        p = os.path.join(root, n)
        disk[os.path.relpath(p, tree)] = os.path.getsize(p)
files = d.get('files')
if not isinstance(files, list):
    sys.exit('FAIL: release show --json: expected a "files" array, saw %r' % files)
seen = {}
for f in files:
    seen[f.get('path')] = f.get('length')
    if not (isinstance(f.get('root'), str) and re.fullmatch('[0-9a-f]{64}', f['root'])):
        sys.exit('FAIL: release show --json: expected a 64-hex root for %s, saw %r' % (f.get('path'), f.get('root')))
if seen != disk:
    sys.exit('FAIL: release show --json: expected files %s, saw %s' % (sorted(disk.items()), sorted(seen.items())))
EOF

note "rm"
sc_ok "$T/rm.out" "$T/rm.err" release rm --store "$S" "$ID1"
ids=$(ls_json_ids)
[[ $ids == "$ID2" ]] || fail "after release rm $ID1: expected release ls --json to list only $ID2, saw [${ids//$'\n'/ }]"
sc_ok "$T/ls2.txt" "$T/ls.err" release ls --store "$S"
grep -qF -- "$ID2" "$T/ls2.txt" || fail "after release rm $ID1: expected release ls to show $ID2, saw: $(cat "$T/ls2.txt")"
! grep -qF -- "$ID1" "$T/ls2.txt" || fail "after release rm $ID1: expected release ls not to show $ID1, saw: $(cat "$T/ls2.txt")"
sc "$T/s.out" "$T/s.err" release show --store "$S" "$ID1"
((SC_RC == 1)) || fail "after release rm $ID1: expected release show $ID1 to exit 1, saw exit $(describe_rc "$SC_RC")"
sc_ok "$T/v.out" "$T/v.err" release verify --store "$S" "$ID2"
echo "PASS: test_release_manage"
