#!/usr/bin/env bash
# User story: a release published on the appliance can be found through its
# tenant's tracker, and disappears from it when retired. Against a real
# opentracker (Debian build: whitelist, chroot, drops to nobody; see
# shared/reference/clients.md):
#  (a) opentracker on 127.0.0.1 serves HTTP and UDP on one port, with a
#      whitelist of the release's v1 info-hash and its v2 one truncated to
#      40 hex digits;
#  (b) seed-control runs with tenant "acme" whose tracker is that
#      opentracker (first http://, then udp://) and announce_ip 127.0.0.1, so
#      it announces from 127.0.0.1 (opentracker takes the peer's address from
#      the source);
#  (c) after `publish`, a test client announcing to opentracker itself
#      (left=1, another peer id) gets 127.0.0.1:announce_port in the compact
#      peers of both info-hashes, and GET /api/v1/status lists the tracker
#      rows with last_result "ok";
#  (d) after `retire`, seed-control announces `stopped` and the client's next
#      announce no longer returns the appliance.
# Every wait is bounded. Only processes this script started are stopped.
# Needs: SEED_CONTROL (the built seed-control), SEEDCTL, SRCDIR; root, for
# opentracker's chroot.
# shellcheck source=lib.sh
source "${SRCDIR:?SRCDIR must point at tests/integration}/lib.sh"
it_setup control
require_cmds opentracker curl
skip_unless_root "opentracker chroots into its directory: needs root"

HOST=127.0.0.1
BT_PORT=6881 # announced only: nothing needs to listen there for this test

# free_port: a TCP and UDP port nothing uses now (bound, then released).
free_port() {
	"$PY" - <<'EOF'
import socket
for _ in range(50):
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p))
    except OSError:
        t.close(); continue
    t.close(); u.close(); print(p); break
EOF
}

note "creating the release"
mkdir -p "$T/src/game"
gen_file "$T/src/game/data.bin" 300000
gen_file "$T/src/game/readme.txt" 1234
S=$T/store
sc_ok "$T/c.json" "$T/c.err" release create --store "$S" --tenant acme --name game --version 1 --json "$T/src/game"
ID=$(json_get "$T/c.json" id)
IH1=$(json_get "$T/c.json" infohash_v1)
IH2=$(json_get "$T/c.json" infohash_v2)
[[ $ID == acme.game.1 ]] || fail "release create --json: expected id acme.game.1, saw '$ID'"
[[ $IH1 =~ ^[0-9a-f]{40}$ && $IH2 =~ ^[0-9a-f]{64}$ ]] ||
	fail "release create --json: expected a 40-hex infohash_v1 and a 64-hex infohash_v2, saw '$IH1' '$IH2'"
IH2T=${IH2:0:40}

note "opentracker on $HOST (whitelist: v1 $IH1, v2 truncated $IH2T)"
OT_PORT=$(free_port)
[[ $OT_PORT =~ ^[0-9]+$ ]] || fail "could not find a free port for opentracker"
ot_start "$HOST" "$OT_PORT" "$IH1" "$IH2T"

# client_announce IH OUT: announce as a downloading client (left=1) from
# 127.0.0.1 with its own peer id and port, body to OUT; 0 when the tracker
# answered with an interval (not a failure).
CLIENT_PORT=51413
client_announce() {
	local ih=$1 out=$2
	curl -sS --max-time 5 --interface "$HOST" -o "$out" \
		"http://$HOST:$OT_PORT/announce?info_hash=$(pct "$ih")&peer_id=-TEST01-clientpeer01&port=$CLIENT_PORT&uploaded=0&downloaded=0&left=1&compact=1&numwant=50" \
		2>"$out.err" || return 1
	grep -aq 'interval' "$out" && ! grep -aq 'failure reason' "$out"
}

# compact_peers FILE: the peers of a bencoded announce answer, one
# "IP:PORT" a line (compact string or list of dicts; peers6 too).
compact_peers() {
	"$PY" - "$1" <<'EOF'
import socket, sys
b = open(sys.argv[1], 'rb').read()
def dec(i):
    c = b[i:i+1]
    if c == b'i':
        j = b.index(b'e', i); return int(b[i+1:j]), j + 1
    if c == b'l':
        i += 1; r = []
        while b[i:i+1] != b'e':
            v, i = dec(i); r.append(v)
        return r, i + 1
    if c == b'd':
        i += 1; r = {}
        while b[i:i+1] != b'e':
            k, i = dec(i); v, i = dec(i); r[k] = v
        return r, i + 1
    j = b.index(b':', i); n = int(b[i:j]); return b[j+1:j+1+n], j + 1 + n
try:
    d, _ = dec(0)
except Exception as e:
    sys.exit('FAIL: expected a bencoded announce answer, could not decode it (%s): %r' % (e, b[:300]))
out = []
p = d.get(b'peers', b'')
if isinstance(p, bytes):
    for k in range(0, len(p) - len(p) % 6, 6):
        out.append('%s:%d' % (socket.inet_ntop(socket.AF_INET, p[k:k+4]), int.from_bytes(p[k+4:k+6], 'big')))
else:
    for e in p:
        out.append('%s:%d' % (e[b'ip'].decode(), e[b'port']))
p6 = d.get(b'peers6', b'')
for k in range(0, len(p6) - len(p6) % 18, 18):
    out.append('[%s]:%d' % (socket.inet_ntop(socket.AF_INET6, p6[k:k+16]), int.from_bytes(p6[k+16:k+18], 'big')))
print('\n'.join(out))
EOF
}

# wait_tracker_ready: opentracker loads its whitelist in a thread a moment
# after it listens; a client announce is refused until then (bounded: 10 s).
wait_tracker_ready() {
	local i
	for ((i = 0; i < 50; i++)); do
		client_announce "$IH1" "$T/ready.out" && return 0
		pid_running "$OT_PID" || {
			cat "$T/ot.log" >&2
			fail "opentracker exited early (log above)"
		}
		sleep 0.2
	done
	fail "opentracker: expected it to accept announces for the whitelisted $IH1 within 10 s, last answer: $(head -c 300 "$T/ready.out" 2>/dev/null)"
}
wait_tracker_ready

# api METHOD PATH OUT: curl the API socket; sets HTTP_CODE.
api() {
	HTTP_CODE=$(curl -sS --max-time 10 --unix-socket "$RUN/control.sock" -X "$1" -o "$3" \
		-w '%{http_code}' "http://x$2" 2>"$3.err") || fail "curl $1 $2 on the API socket failed: $(cat "$3.err")"
}

# start_control TRACKER_URL TAG: seed-control with tenant acme on that
# tracker; waits (30 s) for its "api unix:PATH" line. Sets CTL_PID.
start_control() {
	local url=$1 tag=$2
	RUN=$T/run-$tag
	mkdir -p "$RUN"
	# the status page is off: this test uses the API socket only
	{
		node_conf tracker-test "$S" "$RUN" "" "$BT_PORT" "announce_ip = \"$HOST\";"
		cat <<EOF
tenants = (
  { id = "acme"; name = "Acme"; trackers = [ "$url" ]; }
);
EOF
	} >"$T/seed-$tag.conf"
	CTL_OUT=$T/ctl-$tag.out
	CTL_ERR=$T/ctl-$tag.err
	"$SEED_CONTROL" --config "$T/seed-$tag.conf" >"$CTL_OUT" 2>"$CTL_ERR" &
	CTL_PID=$!
	dp_track "$CTL_PID"
	wait_line 30 "$CTL_PID" "seed-control --config $T/seed-$tag.conf" "$CTL_OUT" '^api +unix:' "$CTL_ERR"
}

stop_control() {
	kill -TERM "$CTL_PID" 2>/dev/null || true
	local i
	for ((i = 0; i < 100; i++)); do
		pid_running "$CTL_PID" || break
		sleep 0.1
	done
	if pid_running "$CTL_PID"; then
		kill -KILL "$CTL_PID" 2>/dev/null || true
	fi
	wait "$CTL_PID" 2>/dev/null || true
}

# appliance_listed IH: the client's announce for IH returns the appliance.
appliance_listed() {
	client_announce "$1" "$T/peers.out" || return 1
	compact_peers "$T/peers.out" >"$T/peers.txt" || return 1
	grep -qx "$HOST:$BT_PORT" "$T/peers.txt"
}

# wait_listed IH WHAT SECS: bounded wait until the appliance is listed.
wait_listed() {
	local i
	for ((i = 0; i < $3 * 5; i++)); do
		appliance_listed "$1" && return 0
		sleep 0.2
	done
	echo "seed-control stderr:" >&2
	tail -c 3000 "$CTL_ERR" >&2 || true
	fail "$2: expected opentracker to return the appliance $HOST:$BT_PORT among the peers of $1 within $3 s; it returned [$(tr '\n' ' ' <"$T/peers.txt" 2>/dev/null)] (answer: $(head -c 200 "$T/peers.out" 2>/dev/null | tr -d '\0'))"
}

# wait_unlisted IH WHAT SECS: bounded wait until it is gone.
wait_unlisted() {
	local i
	for ((i = 0; i < $3 * 5; i++)); do
		if client_announce "$1" "$T/peers.out" && compact_peers "$T/peers.out" >"$T/peers.txt" &&
			! grep -qx "$HOST:$BT_PORT" "$T/peers.txt"; then
			return 0
		fi
		sleep 0.2
	done
	tail -c 3000 "$CTL_ERR" >&2 || true
	fail "$2: expected opentracker to stop returning $HOST:$BT_PORT for $1 within $3 s of retire (seed-control announces 'stopped'); still listed: [$(tr '\n' ' ' <"$T/peers.txt")]"
}

# check_status_rows URL: GET /api/v1/status lists a row for URL and each
# info-hash with last_result "ok" (bounded: the first answer may be pending).
check_status_rows() {
	local url=$1 i
	for ((i = 0; i < 50; i++)); do
		api GET /api/v1/status "$T/status.json"
		if [[ $HTTP_CODE == 200 ]] && "$PY" - "$T/status.json" "$url" "$IH1" "$IH2T" "$ID" <<'EOF'; then
import json, sys
d = json.load(open(sys.argv[1]))
url, want, rel = sys.argv[2], set(sys.argv[3:5]), sys.argv[5]
rows = [r for r in d.get('trackers', []) if r.get('url') == url and r.get('release') == rel]
ok = {r.get('info_hash') for r in rows if r.get('last_result') == 'ok'}
sys.exit(0 if want <= ok else 1)
EOF
			return 0
		fi
		sleep 0.2
	done
	fail "GET /api/v1/status: expected tracker rows for $url, release $ID, info-hashes $IH1 and $IH2T with last_result \"ok\"; saw HTTP $HTTP_CODE: $("$PY" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])).get("trackers")))' "$T/status.json" 2>/dev/null || head -c 1000 "$T/status.json")"
}

# run_story URL TAG: publish, found, status ok, retire, gone.
run_story() {
	local url=$1 tag=$2
	note "[$tag] seed-control with tracker $url"
	start_control "$url" "$tag"
	api POST "/api/v1/releases/$ID/publish" "$T/pub-$tag.json"
	[[ $HTTP_CODE == 200 ]] || fail "POST /api/v1/releases/$ID/publish: expected 200, saw $HTTP_CODE: $(cat "$T/pub-$tag.json")"
	[[ $(json_get "$T/pub-$tag.json" state) == live ]] ||
		fail "publish: expected state live, saw $(json_get "$T/pub-$tag.json" state)"

	note "[$tag] a client announce finds the appliance (v1 and truncated v2)"
	wait_listed "$IH1" "[$tag] v1 info-hash" 20
	wait_listed "$IH2T" "[$tag] v2 info-hash (truncated)" 20
	check_status_rows "$url"

	note "[$tag] retire: the appliance must leave the swarm"
	api POST "/api/v1/releases/$ID/retire" "$T/ret-$tag.json"
	[[ $HTTP_CODE == 200 ]] || fail "POST /api/v1/releases/$ID/retire: expected 200, saw $HTTP_CODE: $(cat "$T/ret-$tag.json")"
	wait_unlisted "$IH1" "[$tag] v1 info-hash" 15
	wait_unlisted "$IH2T" "[$tag] v2 info-hash (truncated)" 15
	grep -q "stopped" "$CTL_ERR" ||
		fail "[$tag] seed-control stderr: expected a line saying 'stopped' was announced, saw: $(tail -c 2000 "$CTL_ERR")"
	stop_control
}

run_story "http://$HOST:$OT_PORT/announce" http

# retire is final: the UDP story needs the release published again, so it
# uses a second version of the same tree.
ID_HTTP=$ID
gen_file "$T/src/game/patch.bin" 777
sc_ok "$T/c2.json" "$T/c2.err" release create --store "$S" --tenant acme --name game --version 2 --json "$T/src/game"
ID=$(json_get "$T/c2.json" id)
IH1=$(json_get "$T/c2.json" infohash_v1)
IH2=$(json_get "$T/c2.json" infohash_v2)
IH2T=${IH2:0:40}
printf '%s\n%s\n' "$IH1" "$IH2T" >"$T/ot/whitelist"
kill -HUP "$OT_PID" # reloads the whitelist
wait_tracker_ready

run_story "udp://$HOST:$OT_PORT/announce" udp

echo "PASS: $ID_HTTP and $ID announced to opentracker over HTTP and UDP, found by a client, gone after retire"
