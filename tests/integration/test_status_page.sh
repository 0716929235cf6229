#!/usr/bin/env bash
# User story: an operator opens seed-control's status page while a customer
# downloads a game build over HTTP, and sees the download on it.
#  - seedctl creates the release (tenant acme) in a fresh store; seed-control
#    starts on a config written here (status listener on a free loopback
#    port), serves the embedded page at GET / byte for byte, and lists the
#    release as staged until it is published through the API socket;
#  - seed-dataplane serves the catalog seed-control writes; curl downloads a
#    160 MiB file at 8 MiB/s in the background;
#  - headless Chromium loads http://127.0.0.1:PORT/ and runs the page's JS
#    (virtual time: the page polls /api/v1/status once per virtual second,
#    each fetch is real and virtual time waits for it). From the DOM it
#    dumps: at least 3 successful polls, a non-zero highest total rate, no
#    "unreachable" banner, the node name, data plane up, the release in the
#    release table as live, the tenant in the chart legend with its display
#    name as text (the name holds markup, which must not become elements);
#  - a second Chromium run saves a 1280x900 screenshot to
#    ${ARTIFACT_DIR:-$MESON_BUILD_ROOT/artifacts}/status-page.png (else
#    artifacts/ in the build tree); it must be a PNG of that size > 10 KB;
#  - the download completes with the source's bytes, the status JSON counts
#    them for the release, the data plane stops with verify_failures=0 and
#    seed-control exits 0 on SIGTERM.
# Needs SEED_CONTROL (the built seed-control) besides SEEDCTL,
# SEED_DATAPLANE and SRCDIR; Debian packages chromium and curl.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup dataplane control
require_cmds chromium curl

BIG_SIZE=$((160 * MiB))
RATE=8M
PAGE_SRC=$SRCDIR/../../control/www/index.html

# free_port: a TCP port on 127.0.0.1 nothing listens on right now.
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# jpath FILE PATH: a value in the JSON object in FILE by a dotted path
# (a.b.c); prints like json_get ("__MISSING__" when absent).
jpath() {
	"$PY" - "$1" "$2" <<'EOF'
import json, sys
try:
    v = json.load(open(sys.argv[1], encoding='utf-8'))
except Exception as e:
    sys.exit('FAIL: expected JSON in %s, could not parse it (%s)' % (sys.argv[1], e))
for k in sys.argv[2].split('.'):
    v = v.get(k, '__MISSING__') if isinstance(v, dict) else '__MISSING__'
print('null' if v is None else ('true' if v else 'false') if isinstance(v, bool)
      else json.dumps(v) if isinstance(v, (dict, list)) else v)
EOF
}

# release_field FILE ID KEY: KEY of release ID in a status or release JSON
# (a {"releases": [...]} object or one release); bytes -> bt + http.
release_field() {
	"$PY" - "$1" "$2" "$3" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1], encoding='utf-8'))
rels = d.get('releases', [d]) if isinstance(d, dict) else []
for r in rels:
    if isinstance(r, dict) and r.get('id') == sys.argv[2]:
        v = r.get(sys.argv[3], '__MISSING__')
        if isinstance(v, dict):
            v = sum(x for x in v.values() if isinstance(x, int))
        print('null' if v is None else v)
        break
else:
    print('__MISSING__')
EOF
}

# get_status OUT: GET /api/v1/status on the status listener, must be 200.
get_status() {
	http_get "$STATUS_URL/api/v1/status" "$1" "$1.hdr"
	((CURL_RC == 0)) || fail "GET $STATUS_URL/api/v1/status: expected curl exit 0, saw $CURL_RC ($(cat "$1.curlerr"))"
	[[ $HTTP_CODE == 200 ]] || fail "GET $STATUS_URL/api/v1/status: expected 200, saw $HTTP_CODE: $(head -c 500 "$1")"
}

# wait_status SECS WHAT PYEXPR: poll the status JSON (as d) once a second
# until PYEXPR is true; the last answer stays in $T/status.json.
wait_status() {
	local secs=$1 what=$2 expr=$3 i
	for ((i = 0; i <= secs; i++)); do
		get_status "$T/status.json"
		if "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$T/status.json" "$expr" 2>/dev/null; then
			return 0
		fi
		((i < secs)) && sleep 1
	done
	head -c 3000 "$T/status.json" >&2
	echo >&2
	fail "$what: expected /api/v1/status to show it within ${secs}s (test: $expr), last answer above"
}

# control_running: seed-control must still be up.
control_running() {
	pid_running "$SC_PID" && return 0
	local rc=0
	wait "$SC_PID" || rc=$?
	tail -c 3000 "$T/sc.err" >&2 || true
	fail "seed-control: expected it to keep running ($1), it exited with $(describe_rc "$rc")"
}

# ------------------------------------------------------------------ setup
note "creating release (tenant acme) with a $((BIG_SIZE / MiB)) MiB file"
TREE=$T/src/game
S=$T/store
RUN=$T/run
gen_file "$TREE/big.bin" "$BIG_SIZE"
gen_file "$TREE/readme.txt" 1234
sc_ok "$T/create.json" "$T/create.err" release create --store "$S" --tenant acme \
	--name game --version 1 --json "$TREE"
ID=$(json_get "$T/create.json" id)
[[ $ID == acme.* ]] || fail "release create --json: expected an id starting with 'acme.', saw '$ID'"

STATUS_PORT=$(free_port)
BT_PORT=$(free_port)
NODE=seed-test-01
# Markup and an ampersand in the display name: the page must show them as
# text. (seedconf allows any printable UTF-8 in a name.)
TENANT_NAME='Acme <b>Games</b> & Co'
mkdir -p "$RUN"
CONF=$T/seed.conf
{
	echo "# written by test_status_page.sh"
	node_conf "$NODE" "$S" "$RUN" "127.0.0.1:$STATUS_PORT" "$BT_PORT"
	cat <<EOF
tenants = (
  { id = "acme"; name = "$TENANT_NAME"; }
);
EOF
} >"$CONF"

note "starting seed-control (status listener 127.0.0.1:$STATUS_PORT)"
"$SEED_CONTROL" --config "$CONF" >"$T/sc.out" 2>"$T/sc.err" &
SC_PID=$!
dp_track "$SC_PID"
for ((i = 0; i < 300; i++)); do
	grep -qE '^status +http://' "$T/sc.out" 2>/dev/null && break
	control_running "until it prints its 'status http://...' line"
	sleep 0.1
done
grep -qE '^status +http://' "$T/sc.out" || {
	cat "$T/sc.out" "$T/sc.err" >&2
	fail "seed-control stdout: expected a 'status http://127.0.0.1:$STATUS_PORT/' line within 30s, none came"
}
line=$(grep -E '^status +http://' "$T/sc.out" | head -1)
[[ $line =~ ^status\ +http://127\.0\.0\.1:$STATUS_PORT/$ ]] ||
	fail "seed-control stdout: expected 'status http://127.0.0.1:$STATUS_PORT/' (status_listen of the config), saw '$line'"
STATUS_URL=http://127.0.0.1:$STATUS_PORT

note "GET / serves the embedded status page"
http_get "$STATUS_URL/" "$T/page.html" "$T/page.hdr"
((CURL_RC == 0)) || fail "GET $STATUS_URL/: expected curl exit 0, saw $CURL_RC ($(cat "$T/page.html.curlerr"))"
[[ $HTTP_CODE == 200 ]] || fail "GET $STATUS_URL/: expected 200, saw $HTTP_CODE"
ct=$(http_header "$T/page.hdr" Content-Type)
[[ $ct == text/html* ]] || fail "GET $STATUS_URL/: expected Content-Type: text/html..., saw '$ct'"
if [[ -f $PAGE_SRC ]]; then
	cmp -s "$PAGE_SRC" "$T/page.html" ||
		fail "GET $STATUS_URL/: expected the bytes of control/www/index.html ($(stat -c %s "$PAGE_SRC") bytes), saw $(stat -c %s "$T/page.html") bytes that differ"
else
	note "control/www/index.html not found beside the tests ($PAGE_SRC): not comparing the served page"
fi

get_status "$T/status0.json"
[[ $(json_get "$T/status0.json" node) == "$NODE" ]] ||
	fail "/api/v1/status: expected node \"$NODE\", saw '$(json_get "$T/status0.json" node)'"
st=$(release_field "$T/status0.json" "$ID" state)
[[ $st == staged ]] || fail "/api/v1/status before publish: expected release $ID staged, saw '$st'"
GEN0=$(json_get "$T/status0.json" catalog_generation)
[[ $GEN0 =~ ^[0-9]+$ ]] || fail "/api/v1/status: expected an integer catalog_generation, saw '$GEN0'"

note "publishing $ID through the API socket"
http_get "http://x/api/v1/releases/$ID/publish" "$T/publish.json" "$T/publish.hdr" \
	--unix-socket "$RUN/control.sock" -X POST
((CURL_RC == 0)) || fail "POST /api/v1/releases/$ID/publish: expected curl exit 0, saw $CURL_RC ($(cat "$T/publish.json.curlerr"))"
[[ $HTTP_CODE == 200 ]] || fail "POST /api/v1/releases/$ID/publish: expected 200, saw $HTTP_CODE: $(head -c 500 "$T/publish.json")"
st=$(json_get "$T/publish.json" state)
[[ $st == live ]] || fail "POST /api/v1/releases/$ID/publish: expected state live (no tenant embargo), saw '$st'"
# The data plane must start on a catalog in which the release is live.
wait_status 10 "a new catalog generation after publish" \
	"d['catalog_generation'] > $GEN0 and any(r['id'] == '$ID' and r['state'] == 'live' for r in d['releases'])"
[[ -f $RUN/catalog ]] || fail "expected seed-control to write the catalog at $RUN/catalog (run_dir/catalog), it is not there"

note "starting seed-dataplane on seed-control's catalog"
dp_start "$T" --store "$S" --bt-listen "127.0.0.1:$BT_PORT" --http-listen 127.0.0.1:0 --workers 2 \
	--cache-size 64M --catalog "$RUN/catalog" --stats-file "$RUN/dataplane.stats"
wait_status 15 "the data plane seen as running" "d['dataplane']['running'] is True"

note "downloading $((BIG_SIZE / MiB)) MiB over HTTP at $RATE/s in the background"
mkdir -p "$T/dl"
DL_URL=$DP_URL/$ID/game/big.bin
curl -sS --fail --max-time 300 --limit-rate "$RATE" -o "$T/dl/big.bin" "$DL_URL" 2>"$T/dl.err" &
DL_PID=$!
dp_track "$DL_PID"
wait_status 20 "HTTP throughput of the download" \
	"d['totals']['rate_bps']['http'] > 0 and any(t['id'] == 'acme' and t['rate_bps'] > 0 for t in d['tenants'])"
echo "seed-control sees $(jpath "$T/status.json" totals.rate_bps.http) B/s over HTTP"
pid_running "$DL_PID" || fail "curl $DL_URL: expected the download to be still running at $RATE/s, it ended: $(cat "$T/dl.err")"

# ------------------------------------------------------------------ browser
# --no-sandbox: Chromium's sandbox cannot start as root or in most
# containers, and the page under test is ours. A profile and HOME under $T
# keep the run hermetic. --virtual-time-budget runs timers in virtual time
# but waits for every network fetch, so the page's one-per-second polls each
# get a real answer from seed-control.
CHROME=(chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run
	--no-default-browser-check --hide-scrollbars --user-data-dir="$T/chromium")
mkdir -p "$T/home"

# chrome_run SECS WHAT OUT ARGS...: run Chromium (stdout to OUT, stderr to
# OUT.err) in the background, tracked, and wait at most SECS for it.
chrome_run() {
	local secs=$1 what=$2 out=$3 pid rc
	shift 3
	HOME=$T/home "${CHROME[@]}" "$@" >"$out" 2>"$out.err" &
	pid=$!
	dp_track "$pid"
	wait_pids "$secs" "chromium ($what)" "$pid"
	rc=${WAIT_RCS[$pid]}
	((rc == 0)) || {
		grep -v 'dbus' "$out.err" | tail -20 >&2 || true
		fail "chromium ($what): expected exit 0, saw $(describe_rc "$rc")"
	}
}

note "headless Chromium: the page's DOM after ~8 s of polling"
t0=$(date +%s%N)
chrome_run 120 "--dump-dom" "$T/dom.html" --virtual-time-budget=8000 --dump-dom "$STATUS_URL/"
ms=$((($(date +%s%N) - t0) / 1000000))
pid_running "$DL_PID" && during="still running" || during="already finished"
echo "chromium --dump-dom took ${ms}ms; the download was $during when it ended"
[[ -s $T/dom.html ]] || fail "chromium --dump-dom $STATUS_URL/: expected the DOM on stdout, got nothing (stderr: $(grep -v dbus "$T/dom.html.err" | tail -5))"

"$PY" - "$T/dom.html" "$ID" "$NODE" "$TENANT_NAME" <<'EOF' || exit 1
import sys
from html.parser import HTMLParser

path, rel_id, node, tenant_name = sys.argv[1:5]
VOID = {'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr'}

class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.kids = tag, dict(attrs), parent, []
    def text(self):
        return ''.join(k if isinstance(k, str) else k.text() for k in self.kids)
    def walk(self):
        yield self
        for k in self.kids:
            if not isinstance(k, str):
                yield from k.walk()
    def find(self, pred):
        return [n for n in self.walk() if pred(n)]
    def by_id(self, i):
        r = self.find(lambda n: n.attrs.get('id') == i)
        return r[0] if r else None

class P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node('#root', [], None)
        self.cur = self.root
    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.kids.append(n)
        if tag not in VOID:
            self.cur = n
    def handle_startendtag(self, tag, attrs):
        self.cur.kids.append(Node(tag, attrs, self.cur))
    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent
    def handle_data(self, data):
        self.cur.kids.append(data)

p = P()
p.feed(open(path, encoding='utf-8').read())
doc = p.root
errors = []
def check(ok, msg):
    if not ok:
        errors.append(msg)

bodies = doc.find(lambda n: n.tag == 'body')
if not bodies:
    sys.exit('FAIL: chromium --dump-dom: expected a <body> in the DOM, saw none:\n%s' % open(path).read()[:2000])
body = bodies[0]
samples, max_rate = body.attrs.get('data-samples'), body.attrs.get('data-max-rate')
print('page: data-samples=%s data-max-rate=%s' % (samples, max_rate))
check(samples is not None and samples.isdigit() and int(samples) >= 3,
      'body data-samples: expected >= 3 successful polls of /api/v1/status, saw %r' % samples)
try:
    mr = float(max_rate)
except (TypeError, ValueError):
    mr = None
check(mr is not None and mr > 0,
      'body data-max-rate: expected the highest total rate seen during the download to be > 0, saw %r' % max_rate)
banner = doc.by_id('banner')
check(banner is not None and 'hidden' in banner.attrs,
      'banner: expected it hidden (seed-control reachable), saw %r' % (banner.text() if banner else 'no #banner'))
h = doc.by_id('node')
check(h is not None and h.text().strip() == node, 'header #node: expected %r, saw %r' % (node, h and h.text()))
dp = doc.by_id('dp')
check(dp is not None and dp.text().strip() == 'up', 'header #dp (data plane): expected "up", saw %r' % (dp and dp.text()))
tbody = doc.by_id('releases')
rows = tbody.find(lambda n: n.tag == 'tr') if tbody else []
row = None
for r in rows:
    cells = [c for c in r.kids if not isinstance(c, str) and c.tag == 'td']
    if cells and cells[0].text().strip() == rel_id:
        row = cells
if row is None:
    errors.append('release table: expected a row for %s, saw rows %r'
                  % (rel_id, [r.text().strip() for r in rows]))
else:
    state = row[2].text().strip() if len(row) > 2 else None
    badges = row[2].find(lambda n: 'badge' in n.attrs.get('class', '').split()) if len(row) > 2 else []
    check(state == 'live', 'release table: expected %s in state live, saw %r' % (rel_id, state))
    check(badges and 'live' in badges[0].attrs.get('class', '').split(),
          'release table: expected a "badge live" element for %s, saw %r' % (rel_id, [b.attrs for b in badges]))
    check(len(row) > 1 and row[1].text().strip() == 'acme',
          'release table: expected tenant acme for %s, saw %r' % (rel_id, row[1].text() if len(row) > 1 else None))
legend = doc.by_id('legend')
items = legend.find(lambda n: n.attrs.get('data-tenant') == 'acme') if legend else []
check(items, 'legend: expected an item for tenant acme, saw %r' % (legend.text() if legend else 'no #legend'))
if items:
    check(tenant_name in items[0].text(),
          'legend: expected the display name %r as text, saw %r' % (tenant_name, items[0].text()))
# The name holds <b>...</b>; the page itself never uses <b>: one in the DOM
# means data went in as markup.
check(not doc.find(lambda n: n.tag == 'b'),
      'escaping: expected no <b> element (the tenant name must be text), the DOM has one')
tr = doc.by_id('trackers-section')
check(tr is not None and 'hidden' in tr.attrs, 'trackers section: expected hidden (no trackers configured)')
if errors:
    sys.exit('FAIL: status page DOM (%s):\n  %s' % (path, '\n  '.join(errors)))
EOF

if [[ -n ${ARTIFACT_DIR:-} ]]; then
	ART=$ARTIFACT_DIR
	where="ARTIFACT_DIR"
elif [[ -n ${MESON_BUILD_ROOT:-} ]]; then
	ART=$MESON_BUILD_ROOT/artifacts
	where="MESON_BUILD_ROOT/artifacts"
else
	# SEEDCTL is BUILD/tools/seedctl
	ART=$(cd "$(dirname "$SEEDCTL")/.." && pwd)/artifacts
	where="neither ARTIFACT_DIR nor MESON_BUILD_ROOT set: artifacts/ in the build tree of SEEDCTL"
fi
mkdir -p "$ART"
PNG=$ART/status-page.png
rm -f "$PNG"
note "screenshot to $PNG ($where)"
chrome_run 120 "--screenshot" "$T/shot.out" --window-size=1280,900 --virtual-time-budget=15000 \
	--screenshot="$PNG" "$STATUS_URL/"
[[ -f $PNG ]] || fail "chromium --screenshot=$PNG: expected the PNG to exist, it does not (stderr: $(grep -v dbus "$T/shot.out.err" | tail -5))"
"$PY" - "$PNG" <<'EOF' || exit 1
import struct, sys
data = open(sys.argv[1], 'rb').read()
if data[:8] != b'\x89PNG\r\n\x1a\n' or data[12:16] != b'IHDR':
    sys.exit('FAIL: %s: expected a PNG file, saw %r' % (sys.argv[1], data[:16]))
w, h = struct.unpack('>II', data[16:24])
if (w, h) != (1280, 900):
    sys.exit('FAIL: %s: expected a 1280x900 screenshot (--window-size), saw %dx%d' % (sys.argv[1], w, h))
if len(data) <= 10 * 1024:
    sys.exit('FAIL: %s: expected more than 10 KB (a rendered page, not a blank one), saw %d bytes'
             % (sys.argv[1], len(data)))
print('screenshot: %dx%d, %d bytes' % (w, h, len(data)))
EOF

# ------------------------------------------------------------------ wrap up
note "waiting for the download to finish"
wait_pids 120 "curl $DL_URL" "$DL_PID"
rc=${WAIT_RCS[$DL_PID]}
((rc == 0)) || fail "curl --limit-rate $RATE $DL_URL: expected exit 0, saw $(describe_rc "$rc") ($(cat "$T/dl.err"))"
cmp -s "$TREE/big.bin" "$T/dl/big.bin" ||
	fail "curl $DL_URL: expected the $BIG_SIZE source bytes, saw $(stat -c %s "$T/dl/big.bin") bytes that differ"
wait_status 10 "the download counted for $ID" \
	"any(r['id'] == '$ID' and r['bytes']['http'] >= $BIG_SIZE for r in d['releases'])"
control_running "through the whole story"

note "stopping seed-dataplane and seed-control"
dp_stop 30
dp_expect_counter verify_failures 0
dp_expect_counter storage_errors 0
kill -TERM "$SC_PID"
wait_pids 30 "seed-control after SIGTERM" "$SC_PID"
rc=${WAIT_RCS[$SC_PID]}
((rc == 0)) || { tail -c 2000 "$T/sc.err" >&2; fail "seed-control: expected exit 0 after SIGTERM, saw $(describe_rc "$rc")"; }
echo "PASS: test_status_page"
