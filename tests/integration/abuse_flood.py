#!/usr/bin/python3
"""One address abusing a seed, for test_abuse.sh. Bounded in connections and time.

Modes:
  hold  open --conns connections as fast as the seed takes them, a share
        --http-share of them HTTP requests that never finish (a header line
        now and then), the rest BitTorrent handshakes on --ih (the public
        info-hash) followed by keep-alives (4 zero bytes) every --keepalive
        seconds: nothing that asks for data. Connections the seed closes are
        opened again, at most --reopen-rate a second, until --seconds pass.
        Writes "holding" to --ready once the first --conns attempts are made.
        SIGTERM ends it early (with its report).
  mse   --conns connections, each sending an MSE public key (96 random
        bytes: the seed cannot tell them from a real one before its own
        exponentiation) and random padding, then reading what comes back;
        each is closed once the seed answered or closed, or after 5 s.

--report FILE gets a JSON object: attempts, connected, closed_by_seed,
answered (BitTorrent handshakes or MSE keys the seed answered), open_end
(connections still open at the end, after a 3 s wait for closes in flight)
and max_open.
"""
import argparse
import json
import os
import random
import resource
import selectors
import signal
import socket
import sys
import time


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, min(need, hard if hard != resource.RLIM_INFINITY else need))
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class Conn:
    __slots__ = ('sock', 'kind', 'connected', 'answered', 'next_ka', 'opened')

    def __init__(self, sock, kind, now):
        self.sock = sock
        self.kind = kind
        self.connected = False
        self.answered = False
        self.next_ka = now
        self.opened = now


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--host', required=True)
    ap.add_argument('--bt-port', type=int, required=True)
    ap.add_argument('--http-port', type=int, default=0)
    ap.add_argument('--ih', default='')
    ap.add_argument('--mode', choices=['hold', 'mse'], required=True)
    ap.add_argument('--conns', type=int, default=10000)
    ap.add_argument('--http-share', type=float, default=0.5)
    ap.add_argument('--seconds', type=float, default=30)
    ap.add_argument('--keepalive', type=float, default=5)
    ap.add_argument('--reopen-rate', type=float, default=100)
    ap.add_argument('--ready', default='')
    ap.add_argument('--report', required=True)
    a = ap.parse_args()
    if a.mode == 'hold' and (len(a.ih) != 40 or not a.http_port):
        sys.exit('FAIL: hold needs --ih (40 hex digits) and --http-port')
    raise_nofile(a.conns + 200)
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 100
    hs = b'\x13BitTorrent protocol' + bytes(8) + bytes.fromhex(a.ih or '00' * 20) + b'-FL0001-' + \
        os.urandom(12)
    sel = selectors.DefaultSelector()
    conns = {}
    st = dict(attempts=0, connected=0, closed_by_seed=0, answered=0, open_end=0, max_open=0,
              refused_connect=0)
    t0 = time.monotonic()
    end = [t0 + a.seconds]

    def stop(_sig, _frame):
        end[0] = 0  # SIGTERM: wind down and report

    signal.signal(signal.SIGTERM, stop)
    reopen_budget = 0.0
    last = t0
    ready_written = False
    next_sweep = t0

    def open_one(now):
        kind = 'mse' if a.mode == 'mse' else (
            'http' if random.random() < a.http_share else 'bt')
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        port = a.http_port if kind == 'http' else a.bt_port
        try:
            s.connect((a.host, port))
        except BlockingIOError:
            pass
        except OSError:
            st['refused_connect'] += 1
            s.close()
            return
        c = Conn(s, kind, now)
        conns[s.fileno()] = c
        sel.register(s, selectors.EVENT_WRITE, c)
        st['attempts'] += 1

    def drop(c, by_seed):
        if by_seed:
            st['closed_by_seed'] += 1
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        conns.pop(c.sock.fileno(), None)
        c.sock.close()

    def received(c):
        """What the seed sent c, or None when it closed c (then dropped)."""
        try:
            data = c.sock.recv(65536)
        except OSError:
            data = b''
        if not data:
            drop(c, True)
            return None
        return data

    def first_bytes(c):
        if c.kind == 'bt':
            return hs
        if c.kind == 'http':
            return b'GET /never/finished HTTP/1.1\r\nHost: seed\r\n'
        return os.urandom(96) + os.urandom(random.randrange(0, 512))

    while True:
        now = time.monotonic()
        if now >= end[0]:
            break
        # opening: the first --conns at once (as fast as connect goes),
        # then what the seed closed again, at a bounded rate
        if st['attempts'] < a.conns:
            for _ in range(200):
                if st['attempts'] >= a.conns or len(conns) >= limit:
                    break
                open_one(now)
        elif a.mode == 'hold':
            if not ready_written and a.ready:
                with open(a.ready, 'w') as f:
                    f.write('holding\n')
                ready_written = True
            reopen_budget = min(reopen_budget + (now - last) * a.reopen_rate, a.reopen_rate)
            while reopen_budget >= 1 and len(conns) < min(a.conns, limit):
                open_one(now)
                reopen_budget -= 1
        elif not conns:
            break
        last = now
        for key, ev in sel.select(timeout=0.05):
            c = key.data
            if ev & selectors.EVENT_WRITE and not c.connected:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    st['refused_connect'] += 1
                    drop(c, False)
                    continue
                c.connected = True
                st['connected'] += 1
                try:
                    c.sock.send(first_bytes(c))
                except OSError:
                    drop(c, True)
                    continue
                c.next_ka = now + a.keepalive
                sel.modify(c.sock, selectors.EVENT_READ, c)
                continue
            if ev & selectors.EVENT_READ:
                if received(c) is None:
                    continue
                if not c.answered:
                    c.answered = True
                    st['answered'] += 1
                if c.kind == 'mse':
                    drop(c, False)
        # keep-alives, and the MSE connections' 5 s bound: a sweep every
        # 0.5 s (every pass would cost the flooder more CPU than the seed)
        if now < next_sweep:
            continue
        next_sweep = now + 0.5
        st['max_open'] = max(st['max_open'], sum(1 for c in conns.values() if c.connected))
        for c in list(conns.values()):
            if not c.connected:
                if now - c.opened > 10:
                    drop(c, False)
                continue
            if c.kind == 'mse':
                if now - c.opened > 5:
                    drop(c, False)
                continue
            if now >= c.next_ka:
                c.next_ka = now + a.keepalive
                try:
                    c.sock.send(b'\0\0\0\0' if c.kind == 'bt' else b'X-Wait: 1\r\n')
                except OSError:
                    drop(c, True)
    # closes in flight: wait a moment, then count what is really still open
    settle = time.monotonic() + 3
    while time.monotonic() < settle and conns:
        for key, ev in sel.select(timeout=0.1):
            c = key.data
            if c.connected:
                received(c)
    st['open_end'] = sum(1 for c in conns.values() if c.connected)
    st['seconds'] = round(time.monotonic() - t0, 2)
    for c in list(conns.values()):
        c.sock.close()
    with open(a.report, 'w') as f:
        json.dump(st, f)
    print(json.dumps(st))


if __name__ == '__main__':
    main()
