#!/usr/bin/python3
"""Send a flood of TCP SYNs from a raw socket (root; for test_dpdk_loss.sh).

--count SYNs go to --dst, spread over --ports, paced evenly over about
--seconds. Each SYN has a random source port in 1024..32767 (below Linux's
ephemeral range, so none lands on the 4-tuple of a download the test runs at
the same time) and a random sequence number, and carries an MSS option as
real clients' do. A --spoof fraction of them come from random addresses of
--spoof-net (never --src, --dst or an --exclude address), the rest from --src.

While it sends, it counts the SYN-ACKs that come back to --src (a raw
IPPROTO_TCP socket sees every TCP segment the host receives); the host's
kernel answers each with a RST, as it has no such connection. Prints one line:
  synflood: sent N (own A, spoofed B) to DST ports P in S s (R SYN/s); SYN-ACKs back to SRC: K
Exit 0 when every SYN was sent, 1 with "FAIL: ..." on stderr otherwise.
"""
import argparse
import ipaddress
import random
import socket
import struct
import sys
import threading
import time


def csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def syn(src, dst, sport, dport, seq):
    # TCP header (20 bytes) + MSS option (4 bytes): data offset 6 words
    opts = struct.pack('!BBH', 2, 4, 1460)
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, 0, 6 << 4, 0x02, 64240, 0, 0) + opts
    pseudo = struct.pack('!4s4sBBH', src, dst, 0, socket.IPPROTO_TCP, len(tcp))
    c = csum(pseudo + tcp)
    tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0x4000, 64,
                     socket.IPPROTO_TCP, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return ip + tcp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dst', required=True)
    ap.add_argument('--src', required=True, help='this host\'s address (toward --dst)')
    ap.add_argument('--ports', default='8080,6881')
    ap.add_argument('--count', type=int, default=10000)
    ap.add_argument('--seconds', type=float, default=2.0)
    ap.add_argument('--spoof', type=float, default=0.2, help='fraction from spoofed sources')
    ap.add_argument('--spoof-net', help='e.g. 10.99.0.0/24 (default: no spoofing)')
    ap.add_argument('--exclude', action='append', default=[])
    args = ap.parse_args()

    dst = socket.inet_aton(args.dst)
    own = socket.inet_aton(args.src)
    ports = [int(p) for p in args.ports.split(',')]
    pool = []
    if args.spoof_net and args.spoof > 0:
        skip = {args.src, args.dst, *args.exclude}
        pool = [socket.inet_aton(str(h)) for h in ipaddress.ip_network(args.spoof_net).hosts()
                if str(h) not in skip][:1000]

    rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    rx.settimeout(0.2)
    synacks = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            try:
                pkt = rx.recv(2048)
            except socket.timeout:
                continue
            ihl = (pkt[0] & 15) * 4
            if len(pkt) < ihl + 14 or pkt[12:16] != dst or pkt[16:20] != own:
                continue
            sport = struct.unpack('!H', pkt[ihl:ihl + 2])[0]
            if sport in ports and pkt[ihl + 13] & 0x12 == 0x12:
                synacks[0] += 1

    th = threading.Thread(target=count, daemon=True)
    th.start()

    tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sent = spoofed = 0
    batch = 100
    gap = args.seconds / max(1, args.count / batch)
    t0 = time.monotonic()
    errors = 0
    while sent < args.count:
        for _ in range(min(batch, args.count - sent)):
            if pool and random.random() < args.spoof:
                src = random.choice(pool)
                spoofed += 1
            else:
                src = own
            dport = ports[sent % len(ports)]
            pkt = syn(src, dst, random.randint(1024, 32767), dport, random.getrandbits(32))
            try:
                tx.sendto(pkt, (args.dst, 0))
            except OSError:
                errors += 1  # e.g. a full socket buffer: counted, retried below
                time.sleep(0.001)
                continue
            sent += 1
        # pace: the n-th batch leaves at about t0 + n * gap
        ahead = t0 + (sent / batch) * gap - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        if errors > args.count:
            break
    secs = time.monotonic() - t0
    time.sleep(0.5)  # the last SYN-ACKs
    stop.set()
    th.join(1)
    print('synflood: sent %d (own %d, spoofed %d) to %s ports %s in %.2f s (%.0f SYN/s); '
          'SYN-ACKs back to %s: %d; send errors %d'
          % (sent, sent - spoofed, spoofed, args.dst, args.ports, secs, sent / secs if secs else 0,
             args.src, synacks[0], errors))
    if sent < args.count:
        sys.stderr.write('FAIL: synflood: expected to send %d SYNs, sent %d (%d send errors)\n'
                         % (args.count, sent, errors))
        sys.exit(1)


if __name__ == '__main__':
    main()
