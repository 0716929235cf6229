#!/usr/bin/python3
"""One address abusing a seed over uTP (BEP 29), for test_abuse.sh.

Bounded in datagrams and time; one UDP socket, so one source address and
port, with a connection id per connection as BEP 29 has it.

  1. --syns SYNs with fresh connection ids, never followed up: a seed that
     keeps no half-open state answers each with one STATE and holds
     nothing. Counted: syns_answered.
  2. --conns connections, at most --rate a second: SYN; on the seed's
     STATE (its sequence number is the cookie) a DATA that acknowledges it
     and carries a BitTorrent handshake on --ih; then every DATA of the
     seed's is acknowledged, so an admitted connection stays open until the
     end. A connection is "admitted" when the seed sends it data, "refused"
     when it answers RESET or FIN before any.

Writes "holding" to --ready once the --conns attempts are made, and at the
end (--seconds, or SIGTERM) a JSON object to --report: syns, syns_answered,
attempts, admitted, refused, unanswered, max_open, open_end.
"""
import argparse
import json
import os
import random
import select
import signal
import socket
import struct
import time

ST_DATA, ST_FIN, ST_STATE, ST_RESET, ST_SYN = 0, 1, 2, 3, 4
HDR = struct.Struct('>BBHIIIHH')  # BEP 29's 20-byte header


def packet(kind, conn_id, seq, ack, payload=b''):
    ts = int(time.monotonic() * 1e6) & 0xffffffff
    return HDR.pack((kind << 4) | 1, 0, conn_id, ts, 0, 1 << 20, seq, ack) + payload


def parse(d):
    """(type, conn_id, seq, ack, has_payload) or None for what is not uTP v1."""
    if len(d) < HDR.size:
        return None
    tv, ext, cid, _ts, _tsd, _wnd, seq, ack = HDR.unpack_from(d)
    if tv & 15 != 1:
        return None
    off = HDR.size
    while ext:  # extension chain: (next, length, bytes)
        if off + 2 > len(d):
            return None
        ext, n = d[off], d[off + 1]
        off += 2 + n
    if off > len(d):
        return None
    return tv >> 4, cid, seq, ack, off < len(d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--host', required=True)
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--ih', required=True, help='40-hex info-hash for the handshakes')
    ap.add_argument('--syns', type=int, default=20000)
    ap.add_argument('--conns', type=int, default=1000)
    ap.add_argument('--rate', type=float, default=500, help='connections opened per second')
    ap.add_argument('--seconds', type=float, default=30)
    ap.add_argument('--ready', default='')
    ap.add_argument('--report', required=True)
    a = ap.parse_args()
    if len(a.ih) != 40 or a.syns > 1000000 or a.conns > 30000:
        ap.error('--ih must be 40 hex digits; --syns at most 1,000,000, --conns 30,000')
    ih = bytes.fromhex(a.ih)
    hs = bytes([19]) + b'BitTorrent protocol' + bytes(8) + ih + b'-UF0001-' + os.urandom(6).hex().encode()

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.connect((a.host, a.port))
    s.setblocking(False)
    end = [time.monotonic() + a.seconds]
    signal.signal(signal.SIGTERM, lambda *_: end.__setitem__(0, 0))

    def send(d):
        try:
            s.send(d)
        except (BlockingIOError, ConnectionRefusedError):
            pass  # a full buffer or an ICMP error: as the network would lose it

    def drain(on_packet, wait):
        r, _, _ = select.select([s], [], [], wait)
        if not r:
            return
        for _ in range(4096):
            try:
                d = s.recv(4096)
            except (BlockingIOError, ConnectionRefusedError):
                return
            p = parse(d)
            if p:
                on_packet(*p)

    # 1. SYNs nobody follows up. Ids from the top half so they never meet
    # the connections of step 2.
    rep = {'syns': a.syns, 'syns_answered': 0}
    answered = set()

    def on_syn_answer(kind, cid, _seq, _ack, _pay):
        if kind == ST_STATE and cid >= 0x8000:
            answered.add(cid)

    ids = random.sample(range(0x8000, 0x10000), min(a.syns, 0x8000))
    for i in range(a.syns):
        send(packet(ST_SYN, ids[i % len(ids)], 1, 0))
        if i % 256 == 255:
            drain(on_syn_answer, 0)
    t_syn = time.monotonic() + 2
    while time.monotonic() < t_syn:
        drain(on_syn_answer, 0.1)
    rep['syns_answered'] = len(answered)

    # 2. connections: state per our receive id (even ids < 0x8000; we send
    # with id + 1)
    state = {}  # rid -> [phase, cookie]; phase: syn, sent, open, refused
    counts = {'admitted': 0, 'refused': 0}
    max_open = [0]
    n_open = [0]

    def on_packet(kind, cid, seq, ack, pay):
        st = state.get(cid)
        if not st:
            return
        if kind == ST_RESET or kind == ST_FIN:
            if st[0] == 'open':
                n_open[0] -= 1
            elif st[0] != 'refused':
                counts['refused'] += 1
            st[0] = 'refused'
            return
        if st[0] == 'syn' and kind == ST_STATE:
            st[0], st[1] = 'sent', seq
            send(packet(ST_DATA, cid + 1, 2, seq, hs))
        elif kind == ST_DATA and st[0] in ('sent', 'open'):
            if st[0] == 'sent':
                st[0] = 'open'
                counts['admitted'] += 1
                n_open[0] += 1
                max_open[0] = max(max_open[0], n_open[0])
            send(packet(ST_STATE, cid + 1, 3, seq))

    t0 = time.monotonic()
    made = 0
    while time.monotonic() < end[0]:
        due = min(a.conns, int((time.monotonic() - t0) * a.rate) + 1)
        while made < due:
            rid = 2 * made
            state[rid] = ['syn', 0]
            send(packet(ST_SYN, rid, 1, 0))
            made += 1
            if made == a.conns and a.ready:
                with open(a.ready, 'w') as f:
                    f.write('holding\n')
        drain(on_packet, 0.01)

    rep.update(attempts=made, admitted=counts['admitted'], refused=counts['refused'],
               unanswered=sum(1 for v in state.values() if v[0] in ('syn', 'sent')),
               max_open=max_open[0], open_end=n_open[0])
    with open(a.report + '.tmp', 'w') as f:
        json.dump(rep, f)
    os.rename(a.report + '.tmp', a.report)
    print(json.dumps(rep))


if __name__ == '__main__':
    main()
