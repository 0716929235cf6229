#!/usr/bin/env bash
# User story: `seedctl release create` of a build of 20,000 small files is
# killed (SIGKILL: an OOM kill, a power cut of the process) at a random
# moment, five times. Ingest batches its durability (one file-system sync
# for every object of the release, then the renames, then the manifest),
# and none of that may leave half a release:
#  - after each kill the store holds the release whole (a manifest naming
#    all 20,000 files) or not at all (no manifest);
#  - `seedctl release verify` passes for every release present once a
#    writer has run: a kill between the two copies of a manifest leaves
#    copy 2 missing, which verify reports until the next writer rewrites it
#    (docs/store.md, "Manifests"), so the verifies come after a last
#    complete create;
#  - the next writer clears what the killed one left: after a last complete
#    create, every object in the store belongs to a release and tmp/ is
#    empty.
# Each run changes 2,000 of the files, so every run writes new objects; the
# kills land between a fifth of a run's time and half again past its end, so
# both outcomes are seen across the runs.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup
require_cmds python3

S=$T/store
TREE=$T/src/many
# gen_many SEED COUNT: COUNT of the 20,000 files (all when 20000) get new
# random contents of 1-6 KB, in 200 folders of 100.
gen_many() {
	"$PY" - "$TREE" "$1" "$2" <<'GENEOF'
import os, random, sys
root, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
idx = range(20000) if count == 20000 else rnd.sample(range(20000), count)
for i in idx:
    d = os.path.join(root, 'd%03d' % (i // 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'f%05d.bin' % i), 'wb') as f:
        f.write(rnd.randbytes(rnd.randint(1000, 6000)))
GENEOF
}
gen_many 1 20000

note "two complete creates, the second (2,000 files changed, as each run below) timed"
t0=$(date +%s%N)
sc_ok "$T/c0.json" "$T/c0.err" release create --store "$S" --tenant acme --name many --version 0 --json "$TREE"
echo "complete create of 20,000 files: $((($(date +%s%N) - t0) / 1000000)) ms"
gen_many 99 2000
t0=$(date +%s%N)
sc_ok "$T/c00.json" "$T/c00.err" release create --store "$S" --tenant acme --name many --version 00 --json "$TREE"
full_ms=$((($(date +%s%N) - t0) / 1000000))
echo "complete create of 20,000 files, 2,000 of them new: $full_ms ms"

# check_whole ID WHAT: its manifest lists 20,000 files
check_whole() {
	sc_ok "$T/show.json" "$T/show.err" release show --store "$S" --json "$1"
	n=$("$PY" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["files"]))' "$T/show.json")
	((n == 20000)) || fail "$1 ($2): expected 20000 files in the release, saw $n"
}

mapfile -t FRACS < <("$PY" -c 'import random; r = random.Random(17); [print("%.3f" % r.uniform(0.2, 1.6)) for _ in range(5)]')
whole=0 none=0 present=()
for run in 1 2 3 4 5; do
	gen_many $((100 + run)) 2000
	delay_ms=$("$PY" -c "print(int($full_ms * ${FRACS[run - 1]}))")
	"$SEEDCTL" release create --store "$S" --tenant acme --name many --version "$run" "$TREE" \
		>"$T/k$run.out" 2>"$T/k$run.err" &
	pid=$!
	sleep "$("$PY" -c "print($delay_ms / 1000)")"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	if [[ -e $S/releases/acme.many.$run.rel ]]; then
		whole=$((whole + 1))
		state=whole
	else
		[[ ! -e $S/releases/acme.many.$run.rel.2 ]] || fail "run $run: manifest copy 2 without copy 1"
		none=$((none + 1))
		state=none
	fi
	echo "run $run: killed after $delay_ms ms of ~$full_ms: release $state"
	[[ $state == none ]] || { check_whole "acme.many.$run" "after the kill of run $run"; present+=("acme.many.$run"); }
done
echo "killed runs: $whole left the release whole, $none left nothing"

note "the next writer clears what the killed ones left"
gen_many 200 2000
sc_ok "$T/c9.json" "$T/c9.err" release create --store "$S" --tenant acme --name many --version 9 --json "$TREE"
for id in "${present[@]}" acme.many.9; do
	check_whole "$id" "after a complete create"
	sc_verify "$T/v.$id" 0 "of $id (after a complete create)" "$S" "$id"
done
[[ -z $(find "$S/tmp" -type f) ]] || fail "tmp/ holds files after a complete create: $(find "$S/tmp" -type f | head -5)"
"$PY" - "$S" <<'CHKEOF' || fail "objects no release names are left in the store (above)"
import json, os, subprocess, sys
store = sys.argv[1]
named = set()
for rel in os.listdir(os.path.join(store, 'releases')):
    if not rel.endswith('.rel'):
        continue
    out = subprocess.run([os.environ['SEEDCTL'], 'release', 'show', '--store', store, '--json', rel[:-4]],
                         check=True, capture_output=True, text=True).stdout
    named |= {f['root'] for f in json.loads(out)['files'] if f.get('root')}
have = set()
for d, _, files in os.walk(os.path.join(store, 'objects')):
    have |= {f[:-4] for f in files if f.endswith('.obj')}
extra = have - named
missing = named - have
if extra or missing:
    sys.exit('FAIL: %d objects no release names, %d named objects missing' % (len(extra), len(missing)))
print('%d objects, every one named by a release, none missing' % len(have))
CHKEOF
