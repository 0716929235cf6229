#!/usr/bin/python3
"""A hostile fake seed: claims every piece, serves nothing (bench/swarm.sh --fake-seed).

usage: fake_seed.py --host HOST --port PORT --info-hash HEX40 [--pieces N]
                    [--tries 3] [--pause 2] [--keepalive 30] [--timeout 10]

It connects to HOST:PORT over TCP and sends the BitTorrent handshake for the
v1 info-hash HEX40 with a random peer id ("-FS0001-" and 12 random bytes)
and the Fast extension (BEP 6: reserved byte 7, bit 0x04) set, and nothing
else (no BEP 10, so the peer sends no extension handshake). It reads the
peer's handshake and exits 2 when the info-hash differs. Then it claims
every piece: HAVE_ALL (id 14) when the peer's handshake has the Fast bit
too, else a BITFIELD of --pieces N ones (spare bits zero; without --pieces
it exits 2). From then on it reads and discards the peer's messages
(length-prefixed; a length over 1 MiB is refused: the connection is
dropped), answers nothing, never unchokes, and sends a keep-alive every
--keepalive seconds. A peer that seeds by the rarest policy counts every
piece as held by it, which is the attack bench/swarm.sh measures.

When the connection drops (or cannot be made), it reconnects after --pause
seconds, at most --tries times in all; then it exits 1. SIGTERM or SIGINT
end it cleanly (exit 0). Every wait is a select() on the socket and a
wake-up pipe the signal handler writes to: no busy waiting.

Output (stdout): "fake seed: connected" once the first handshake and claim
are sent (bench/swarm.sh waits for it), "fake seed: reconnected" after each
reconnection, and on exit one line of counts: connections made, messages
received by type, keep-alives sent, bytes received and sent. Errors go to
stderr as "fake_seed: ...".
"""
import argparse
import os
import select
import signal
import socket
import struct
import sys
import time

PSTR = b'\x13BitTorrent protocol'
HS_LEN = 68
MAX_MSG = 1 << 20
FAST_BIT = 0x04  # reserved byte 7 (BEP 6)

# message ids (BEP 3, 6, 10, 52) to the names of the final counts
NAMES = {0: 'choke', 1: 'unchoke', 2: 'interested', 3: 'not_interested', 4: 'have',
         5: 'bitfield', 6: 'request', 7: 'piece', 8: 'cancel', 9: 'port', 13: 'suggest',
         14: 'have_all', 15: 'have_none', 16: 'reject', 17: 'allowed_fast', 20: 'extended',
         21: 'hash_request', 22: 'hashes', 23: 'hash_reject'}


class Fatal(Exception):
    """No point in reconnecting: the peer is not the one we were told of."""


class Dropped(Exception):
    """The connection ended or broke: reconnect while tries last."""


class Stopped(Exception):
    """SIGTERM or SIGINT arrived."""


class FakeSeed:
    def __init__(self, a, wake_r):
        self.a = a
        self.wake_r = wake_r
        self.info_hash = bytes.fromhex(a.info_hash)
        self.peer_id = b'-FS0001-' + os.urandom(12)
        self.counts = {}
        self.rx = self.tx = self.keepalives = self.connects = self.oversized = 0
        self.sock = None

    def wait(self, timeout, readable=True):
        """Sleep at most timeout s or until the socket is readable (when readable);
        raise Stopped when a signal came. True when the socket is readable."""
        fds = [self.wake_r] + ([self.sock] if readable and self.sock else [])
        r, _, _ = select.select(fds, [], [], max(0.0, timeout))
        if self.wake_r in r:
            raise Stopped()
        return bool(r)

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Dropped('send: %s' % e)
        self.tx += len(data)

    def recv(self, limit):
        try:
            b = self.sock.recv(limit)
        except OSError as e:
            raise Dropped('recv: %s' % e)
        if not b:
            raise Dropped('closed by the peer')
        self.rx += len(b)
        return b

    def recv_exact(self, n, deadline):
        buf = b''
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not self.wait(left):
                raise Dropped('no handshake within %gs' % self.a.timeout)
            buf += self.recv(n - len(buf))
        return buf

    def connect(self):
        a = self.a
        self.sock = None
        try:
            s = socket.create_connection((a.host, a.port), timeout=a.timeout)
        except OSError as e:
            raise Dropped('connect to %s:%d: %s' % (a.host, a.port, e))
        self.sock = s
        s.settimeout(a.timeout)  # bounds sendall; reads wait in select first
        reserved = bytes([0, 0, 0, 0, 0, 0, 0, FAST_BIT])
        self.send(PSTR + reserved + self.info_hash + self.peer_id)
        try:
            hs = self.recv_exact(HS_LEN, time.monotonic() + a.timeout)
        except Dropped as e:
            # a seed closes at once on an info-hash it does not serve
            raise Dropped('%s before its handshake (does it serve %s?)' % (e, a.info_hash))
        if hs[:20] != PSTR:
            raise Fatal('%s:%d does not speak BitTorrent (its first bytes: %r)'
                        % (a.host, a.port, hs[:20]))
        if hs[28:48] != self.info_hash:
            raise Fatal('%s:%d answered for info-hash %s, not %s'
                        % (a.host, a.port, hs[28:48].hex(), a.info_hash))
        if hs[27] & FAST_BIT:
            self.send(struct.pack('>IB', 1, 14))  # HAVE_ALL
        elif a.pieces:
            nbytes = (a.pieces + 7) // 8
            bits = bytearray(b'\xff' * nbytes)
            if a.pieces % 8:
                bits[-1] = (0xff00 >> (a.pieces % 8)) & 0xff  # spare bits zero
            self.send(struct.pack('>IB', 1 + nbytes, 5) + bytes(bits))
        else:
            raise Fatal('%s:%d has no Fast extension: a BITFIELD is needed, give --pieces N'
                        % (a.host, a.port))
        self.connects += 1

    def serve_nothing(self):
        """Read and discard until the connection drops; a keep-alive every --keepalive s."""
        buf = bytearray()
        last_tx = time.monotonic()
        while True:
            now = time.monotonic()
            if now - last_tx >= self.a.keepalive:
                self.send(b'\0\0\0\0')
                self.keepalives += 1
                last_tx = now
                continue
            if not self.wait(last_tx + self.a.keepalive - now):
                continue
            buf += self.recv(65536)
            while len(buf) >= 4:
                n = struct.unpack_from('>I', buf)[0]
                if n > MAX_MSG:
                    self.oversized += 1
                    raise Dropped('a message of %d bytes (over %d): refused' % (n, MAX_MSG))
                if len(buf) < 4 + n:
                    break
                self.count(NAMES.get(buf[4], 'id_%d' % buf[4]) if n else 'keepalive')
                del buf[:4 + n]

    def count(self, name):
        self.counts[name] = self.counts.get(name, 0) + 1

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def summary(self):
        msgs = ' '.join('%s=%d' % kv for kv in sorted(self.counts.items())) or 'none'
        return ('fake seed: done connections=%d messages=%d (%s) oversized=%d '
                'keepalives_sent=%d bytes_received=%d bytes_sent=%d'
                % (self.connects, sum(self.counts.values()), msgs, self.oversized,
                   self.keepalives, self.rx, self.tx))


def main():
    ap = argparse.ArgumentParser(
        description='A hostile fake seed: handshake with the Fast bit, HAVE_ALL (or a full '
        'BITFIELD), then serve nothing until SIGTERM.')
    ap.add_argument('--host', required=True, help='the peer to connect to')
    ap.add_argument('--port', required=True, type=int, help="the peer's BitTorrent port")
    ap.add_argument('--info-hash', required=True, help='v1 info-hash, 40 hex digits')
    ap.add_argument('--pieces', type=int, default=0,
                    help="the release's piece count: the BITFIELD for a peer without the "
                    'Fast extension (default: none, such a peer is an error)')
    ap.add_argument('--tries', type=int, default=3,
                    help='reconnections at most, in all, after a drop (default 3)')
    ap.add_argument('--pause', type=float, default=2.0,
                    help='seconds between a drop and the reconnection (default 2)')
    ap.add_argument('--keepalive', type=float, default=30.0,
                    help='seconds between keep-alives (default 30)')
    ap.add_argument('--timeout', type=float, default=10.0,
                    help="seconds for the connection and the peer's handshake (default 10)")
    a = ap.parse_args()
    try:
        if len(a.info_hash) != 40:
            raise ValueError
        bytes.fromhex(a.info_hash)
    except ValueError:
        ap.error('--info-hash: expected 40 hex digits, got %r' % a.info_hash)
    a.info_hash = a.info_hash.lower()
    if not 0 < a.port < 65536 or a.pieces < 0 or not 0 <= a.tries <= 100:
        ap.error('--port 1..65535, --pieces 0 or more, --tries 0..100')
    if not (0 < a.pause <= 600 and 1 <= a.keepalive <= 3600 and 0 < a.timeout <= 600):
        ap.error('--pause 0..600 s, --keepalive 1..3600 s, --timeout 0..600 s')

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, f: None)  # the wake-up pipe tells the loop

    fs = FakeSeed(a, wake_r)
    rc, drops = 0, 0
    try:
        while True:
            try:
                fs.connect()
                print('fake seed: %s' % ('connected' if fs.connects == 1 else 'reconnected'),
                      flush=True)
                fs.serve_nothing()
            except Dropped as e:
                fs.close()
                print('fake_seed: %s:%d: %s' % (a.host, a.port, e), file=sys.stderr, flush=True)
                if drops >= a.tries:
                    print('fake_seed: giving up after %d reconnection(s)' % drops,
                          file=sys.stderr)
                    rc = 1
                    break
                drops += 1
                fs.wait(a.pause, readable=False)
    except Stopped:
        pass
    except Fatal as e:
        print('fake_seed: %s' % e, file=sys.stderr)
        rc = 2
    finally:
        fs.close()
    print(fs.summary(), flush=True)
    return rc


if __name__ == '__main__':
    sys.exit(main())
