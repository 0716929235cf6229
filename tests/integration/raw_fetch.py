#!/usr/bin/env python3
"""raw_fetch.py: asks a seed for every piece of a hybrid torrent over the
raw peer wire, once under the v1 info-hash and once under the v2 one, and
checks each piece it gets: SHA-1 against the torrent's pieces (v1), the
SHA-256 merkle root of its 16 KiB blocks against the piece layer or the
file's pieces root (v2, BEP 52), computed here from the torrent file alone.

A piece is "served" (every block came and the piece checks), "refused" (a
block was rejected: BEP 6 reject_request) or "corrupt" (it came and does not
check). Prints one JSON object: {"v1": {...}, "v2": {...}}, each with the
three lists of piece indexes.

usage: raw_fetch.py --peer HOST:PORT --torrent FILE [--timeout SEC]
"""
import argparse
import hashlib
import json
import socket
import struct
import sys
import time

BLOCK = 16384


def bdecode(b, i=0):
    """(value, end); dicts also record their raw span in '__span__'."""
    c = b[i:i + 1]
    if c == b'i':
        e = b.index(b'e', i)
        return int(b[i + 1:e]), e + 1
    if c == b'l':
        i += 1
        out = []
        while b[i:i + 1] != b'e':
            v, i = bdecode(b, i)
            out.append(v)
        return out, i + 1
    if c == b'd':
        start, i = i, i + 1
        out = {}
        while b[i:i + 1] != b'e':
            k, i = bdecode(b, i)
            v, i = bdecode(b, i)
            out[k] = v
        out['__span__'] = (start, i + 1)
        return out, i + 1
    colon = b.index(b':', i)
    n = int(b[i:colon])
    return b[colon + 1:colon + 1 + n], colon + 1 + n


def merkle(hashes, leaves):
    """The root over hashes padded with zero hashes to `leaves` (a power of two)."""
    layer = list(hashes) + [bytes(32)] * (leaves - len(hashes))
    while len(layer) > 1:
        layer = [hashlib.sha256(layer[i] + layer[i + 1]).digest() for i in range(0, len(layer), 2)]
    return layer[0]


def pow2(n):
    p = 1
    while p < n:
        p *= 2
    return p


class Torrent:
    def __init__(self, path):
        raw = open(path, 'rb').read()
        t, _ = bdecode(raw)
        info = t[b'info']
        s, e = info['__span__']
        self.ih_v1 = hashlib.sha1(raw[s:e]).digest()
        self.ih_v2 = hashlib.sha256(raw[s:e]).digest()[:20]
        self.pl = info[b'piece length']
        self.sha1 = info[b'pieces']
        self.layers = t.get(b'piece layers', {})
        # v1 file list (with BEP 47 pads): every real file starts a piece
        self.pieces = []  # per piece: (length, root, first piece of its file, file length)
        roots = {}

        def walk(tree, path):
            for k, v in tree.items():
                if k == '__span__':
                    continue
                if b'' in v:
                    roots[tuple(path + [k])] = v[b''].get(b'pieces root')
                else:
                    walk(v, path + [k])
        walk(info[b'file tree'], [])
        files = info.get(b'files') or [{b'length': info[b'length'], b'path': []}]
        for f in files:
            ln = f[b'length']
            if f.get(b'attr', b'').find(b'p') >= 0 or ln == 0:
                continue
            key = tuple(f[b'path']) if f[b'path'] else (info[b'name'],)
            first = len(self.pieces)
            for off in range(0, ln, self.pl):
                self.pieces.append((min(self.pl, ln - off), roots.get(key), first, ln))
        assert len(self.pieces) * 20 == len(self.sha1), 'pieces and the file list disagree'

    def check_v1(self, i, data):
        return hashlib.sha1(data + bytes(self.pl - len(data)) if len(data) < self.pl and i + 1 < len(self.pieces) else data).digest() == self.sha1[20 * i:20 * i + 20]

    def check_v2(self, i, data):
        ln, root, first, flen = self.pieces[i]
        leaves = [hashlib.sha256(data[o:o + BLOCK]).digest() for o in range(0, len(data), BLOCK)]
        if flen <= self.pl:
            return merkle(leaves, pow2(len(leaves))) == root
        layer = self.layers.get(root, b'')
        k = i - first
        return merkle(leaves, self.pl // BLOCK) == layer[32 * k:32 * k + 32]


def recv_exact(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError('the seed closed the connection')
        b += c
    return bytes(b)


def fetch(t, peer, ih, check, timeout):
    host, port = peer.rsplit(':', 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    reserved = bytearray(8)
    reserved[7] |= 0x04  # BEP 6 fast extension: rejects instead of silence
    s.sendall(b'\x13BitTorrent protocol' + bytes(reserved) + ih + b'-RF0001-' + b'0' * 12)
    hs = recv_exact(s, 68)
    if hs[28:48] != ih:
        raise RuntimeError('the seed answered another info-hash')
    s.sendall(struct.pack('>IB', 1, 2))  # interested
    n = len(t.pieces)
    reqs = [(i, o, min(BLOCK, t.pieces[i][0] - o)) for i in range(n) for o in range(0, t.pieces[i][0], BLOCK)]
    got = {i: bytearray(t.pieces[i][0]) for i in range(n)}
    left = {i: len(range(0, t.pieces[i][0], BLOCK)) for i in range(n)}
    refused, unchoked, nxt, inflight = set(), False, 0, 0
    deadline = time.time() + timeout
    while (nxt < len(reqs) or inflight) and time.time() < deadline:
        while unchoked and nxt < len(reqs) and inflight < 32:
            i, o, ln = reqs[nxt]
            s.sendall(struct.pack('>IBIII', 13, 6, i, o, ln))
            nxt += 1
            inflight += 1
        mlen = struct.unpack('>I', recv_exact(s, 4))[0]
        if mlen == 0:
            continue
        msg = recv_exact(s, mlen)
        mid = msg[0]
        if mid == 1:
            unchoked = True
        elif mid == 0:
            unchoked = False
        elif mid == 7:
            i, o = struct.unpack('>II', msg[1:9])
            got[i][o:o + len(msg) - 9] = msg[9:]
            left[i] -= 1
            inflight -= 1
        elif mid == 16:  # reject_request
            i = struct.unpack('>I', msg[1:5])[0]
            refused.add(i)
            left[i] -= 1
            inflight -= 1
    s.close()
    if nxt < len(reqs) or inflight:
        raise RuntimeError('timed out with %d requests unsent, %d unanswered' % (len(reqs) - nxt, inflight))
    out = {'served': [], 'refused': sorted(refused), 'corrupt': []}
    for i in range(n):
        if i in refused:
            continue
        out['served' if check(i, bytes(got[i])) else 'corrupt'].append(i)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--peer', required=True)
    ap.add_argument('--torrent', required=True)
    ap.add_argument('--timeout', type=float, default=60)
    a = ap.parse_args()
    t = Torrent(a.torrent)
    res = {'pieces': len(t.pieces), 'piece_length': t.pl,
           'files': sorted({(p[2], p[3]) for p in t.pieces})}
    res['v1'] = fetch(t, a.peer, t.ih_v1, t.check_v1, a.timeout)
    res['v2'] = fetch(t, a.peer, t.ih_v2, t.check_v2, a.timeout)
    json.dump(res, sys.stdout)
    print()


if __name__ == '__main__':
    main()
