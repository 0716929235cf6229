#!/usr/bin/python3
"""A swarm of real leechers in network namespaces (bench/swarm.sh, tests/integration/test_swarm_policy.sh).

usage: swarm_run.py up   --tag TAG --subnet A.B.C --leechers N
                         [--up RATE] [--down RATE] [--seed-up RATE]
       swarm_run.py down --tag TAG --leechers N
       swarm_run.py run  --tag TAG --subnet A.B.C --torrent FILE --source DIR
                         --out DIR [--clients lt,lt,tr,ar,...] [--poisson SECS]
                         [--timeout SECS] [--seed 1]

up: a bridge TAGbr in this namespace at A.B.C.1/24 (where the tracker
listens), a namespace TAG-s for the seed at A.B.C.2 and one per leecher,
TAG-1..N at A.B.C.11.., each joined to the bridge by a veth pair. Rates
(tc tbf, e.g. 8mbit; this kernel has no netem, so no added delay): --up on
each leecher's side (its uplink), --down on the bridge side of its veth
(its downlink), --seed-up on the seed's side. A rate of 0 leaves a link
unshaped. down: removes what up made (each by its name; never fails).

run: one leecher per entry of --clients in TAG-1.. (lt: bench/swarm_peer.py,
python3-libtorrent; tr: transmission-cli 3.00; ar: aria2c; the torrent must
be v1-only for tr and ar), all at once or, with --poisson S, one after
another at exponential intervals of mean S seconds (seeded). Every 0.5 s it
samples the bytes each namespace sent (the bridge side's rx counter: payload
plus headers). Once every leecher completed (or --timeout, default 300 s,
passed: exit 1), it stops them, checks every file of --source against each
leecher's copy (sha256; a client may add pad files and leave empty files
out) and writes OUT/result.json (completion times in ms from each arrival,
bytes sent by the seed and by the leechers) and OUT/series.tsv (t_ms,
seed_bytes, peer_bytes, completed). It stops only the processes it started.
"""
import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = '/usr/bin/python3'


def sh(*cmd, check=True):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode:
        sys.exit('swarm_run: %s: %s' % (' '.join(cmd), r.stderr.strip()))
    return r


def names(tag, i):
    """Namespace, bridge-side veth and namespace-side veth of member i (0: the seed)."""
    n = 's' if i == 0 else str(i)
    return '%s-%s' % (tag, n), '%sh%s' % (tag, n), '%sn%s' % (tag, n)


def addr(subnet, i):
    return '%s.%d' % (subnet, 2 if i == 0 else 10 + i)


def shape(dev, rate, ns=None):
    if not rate or rate == '0':
        return
    pre = ['ip', 'netns', 'exec', ns] if ns else []
    # burst: about 2 ms at the rate, at least 32 KiB (tbf needs a packet
    # or a few; a long burst would let a link run over its rate)
    sh(*pre, 'tc', 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', rate, 'burst', '32kb',
       'latency', '100ms')


def up(a):
    br = a.tag + 'br'
    sh('ip', 'link', 'add', br, 'type', 'bridge')
    sh('ip', 'addr', 'add', '%s.1/24' % a.subnet, 'dev', br)
    sh('ip', 'link', 'set', br, 'up')
    for i in range(0, a.leechers + 1):
        ns, vh, vn = names(a.tag, i)
        sh('ip', 'netns', 'add', ns)
        sh('ip', 'link', 'add', vh, 'type', 'veth', 'peer', 'name', vn)
        sh('ip', 'link', 'set', vn, 'netns', ns)
        sh('ip', 'link', 'set', vh, 'master', br)
        sh('ip', 'link', 'set', vh, 'up')
        sh('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', addr(a.subnet, i) + '/24', 'dev', vn)
        sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', vn, 'up')
        sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
        if i == 0:
            shape(vn, a.seed_up, ns)
        else:
            shape(vn, a.up, ns)
            shape(vh, a.down)
    static_neighbours(a, br)


def static_neighbours(a, br):
    """Every member's address resolved once, for good. The kernel's ARP
    table is one for all namespaces (gc_thresh3, 1024 by default, counts the
    entries of every namespace), and N namespaces each talking to the N
    others fill it at about 32 members: "neighbour table overflow" in dmesg,
    and a leecher that joins then waits 10-50 s for its first SYN-ACK, the
    tracker's included (bench/results/swarm.md, 2026-12-07 10:00-10:20).
    Permanent entries are not counted."""
    # a bridge takes the lowest MAC of its ports unless given one: fix it
    br_mac = json.loads(sh('ip', '-j', 'link', 'show', br).stdout)[0]['address']
    sh('ip', 'link', 'set', br, 'address', br_mac)
    macs = {'%s.1' % a.subnet: br_mac}
    for i in range(0, a.leechers + 1):
        ns, _, vn = names(a.tag, i)
        out = sh('ip', '-n', ns, '-j', 'link', 'show', vn).stdout
        macs[addr(a.subnet, i)] = json.loads(out)[0]['address']
    for i in range(0, a.leechers + 1):
        ns, _, vn = names(a.tag, i)
        me = addr(a.subnet, i)
        cmds = ''.join('neigh replace %s lladdr %s dev %s nud permanent\n' % (ip, mac, vn)
                       for ip, mac in macs.items() if ip != me)
        r = subprocess.run(['ip', '-n', ns, '-batch', '-'], input=cmds, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode:
            sys.exit('swarm_run: static neighbours in %s: %s' % (ns, r.stderr.strip()))
        # the tracker's side, on the bridge (gone with it)
        sh('ip', 'neigh', 'replace', me, 'lladdr', macs[me], 'dev', br, 'nud', 'permanent')


def down(a):
    for i in range(0, a.leechers + 1):
        ns, vh, _ = names(a.tag, i)
        sh('ip', 'link', 'del', vh, check=False)
        sh('ip', 'netns', 'del', ns, check=False)
    sh('ip', 'link', 'del', a.tag + 'br', check=False)


def rx_bytes(dev):
    try:
        with open('/sys/class/net/%s/statistics/rx_bytes' % dev) as f:
            return int(f.read())
    except OSError:
        return 0


class Leecher:
    def __init__(self, a, i, kind):
        self.i, self.kind = i, kind
        self.ns, self.vh, _ = names(a.tag, i)
        self.ip = addr(a.subnet, i)
        self.dir = os.path.join(a.out, 'l%02d-%s' % (i, kind))
        self.dl = os.path.join(self.dir, 'dl')
        self.done = os.path.join(self.dir, 'done')
        os.makedirs(self.dl, exist_ok=True)
        self.proc = None
        self.t_start = None
        self.done_ms = None

    def start(self, a):
        pre = ['ip', 'netns', 'exec', self.ns]
        if self.kind == 'lt':
            cmd = [PY, os.path.join(HERE, 'swarm_peer.py'), '--torrent', a.torrent, '--save',
                   self.dl, '--listen', '%s:6881' % self.ip, '--done', self.done + '.lt',
                   '--log', os.path.join(self.dir, 'lt.log'), '--timeout', str(a.timeout)]
        elif self.kind == 'tr':
            cfg = os.path.join(self.dir, 'cfg')
            os.makedirs(cfg, exist_ok=True)
            with open(os.path.join(cfg, 'settings.json'), 'w') as f:
                json.dump({'dht-enabled': False, 'lpd-enabled': False, 'pex-enabled': False,
                           'utp-enabled': False, 'port-forwarding-enabled': False,
                           'ratio-limit-enabled': False, 'idle-seeding-limit-enabled': False,
                           'bind-address-ipv4': self.ip}, f)
            cmd = ['transmission-cli', '-g', cfg, '-w', self.dl, '-f', self.script(), a.torrent]
        elif self.kind == 'ar':
            cmd = ['aria2c', '--seed-time=60', '--enable-dht=false', '--enable-dht6=false',
                   '--bt-enable-lpd=false', '--enable-peer-exchange=false',
                   '--bt-require-crypto=false', '--file-allocation=none',
                   '--summary-interval=0', '--console-log-level=warn',
                   '--on-bt-download-complete=' + self.script(), '--dir', self.dl, a.torrent]
        else:
            sys.exit('swarm_run: unknown client %r (lt, tr or ar)' % self.kind)
        self.t_start = time.monotonic()
        with open(os.path.join(self.dir, 'out.log'), 'w') as out:
            self.proc = subprocess.Popen(pre + cmd, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def script(self):
        """A completion hook for tr and ar: touches self.done."""
        p = os.path.join(self.dir, 'done.sh')
        with open(p, 'w') as f:
            f.write('#!/bin/sh\ntouch "%s"\n' % self.done)
        os.chmod(p, 0o755)
        return p

    def poll(self, now):
        if self.done_ms is None and self.t_start is not None and (
                os.path.exists(self.done) or os.path.exists(self.done + '.lt')):
            self.done_ms = int((now - self.t_start) * 1000)
        return self.done_ms is not None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def sha(p):
    h = hashlib.sha256()
    with open(p, 'rb') as f:
        for b in iter(lambda: f.read(1 << 20), b''):
            h.update(b)
    return h.hexdigest()


def check_data(src, leechers, name):
    """Every non-empty file under src, byte for byte in each leecher's tree."""
    bad = []
    want = {}
    for d, _, fs in os.walk(src):
        for f in fs:
            p = os.path.join(d, f)
            if os.path.getsize(p):
                want[os.path.relpath(p, src)] = sha(p)
    for lc in leechers:
        for rel, h in want.items():
            got = os.path.join(lc.dl, name, rel)
            if not os.path.exists(got):  # a single-file torrent
                got = os.path.join(lc.dl, rel)
            if not os.path.exists(got) or sha(got) != h:
                bad.append('%s %s' % (os.path.basename(lc.dir), rel))
    return bad


def run(a):
    kinds = a.clients.split(',')
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    leechers = [Leecher(a, i + 1, k) for i, k in enumerate(kinds)]
    at = []
    t = 0.0
    for _ in leechers:
        at.append(t)
        if a.poisson:
            t += rng.expovariate(1.0 / a.poisson)
    seed_dev = names(a.tag, 0)[1]
    base_seed = rx_bytes(seed_dev)
    base_peers = sum(rx_bytes(lc.vh) for lc in leechers)
    series = []
    t0 = time.monotonic()
    started = 0
    next_sample = 0.0
    ok = False
    try:
        while True:
            now = time.monotonic()
            el = now - t0
            while started < len(leechers) and el >= at[started]:
                leechers[started].start(a)
                started += 1
            done = sum(lc.poll(now) for lc in leechers)
            if el >= next_sample:
                series.append((int(el * 1000), rx_bytes(seed_dev) - base_seed,
                               sum(rx_bytes(lc.vh) for lc in leechers) - base_peers, done))
                next_sample = el + 0.5
            if done == len(leechers):
                ok = True
                break
            dead = [lc for lc in leechers if lc.proc and lc.proc.poll() is not None
                    and lc.done_ms is None and not lc.poll(now)]
            if dead or el > a.timeout + (at[-1] if at else 0):
                break
            time.sleep(0.05)
        series.append((int((time.monotonic() - t0) * 1000), rx_bytes(seed_dev) - base_seed,
                       sum(rx_bytes(lc.vh) for lc in leechers) - base_peers,
                       sum(lc.done_ms is not None for lc in leechers)))
    finally:
        for lc in leechers:
            lc.stop()
    with open(os.path.join(a.out, 'series.tsv'), 'w') as f:
        f.write('t_ms\tseed_bytes\tpeer_bytes\tcompleted\n')
        for row in series:
            f.write('%d\t%d\t%d\t%d\n' % row)
    name = os.path.basename(os.path.normpath(a.source))
    bad = check_data(a.source, [lc for lc in leechers if lc.done_ms is not None], name) if ok else []
    done_ms = sorted(lc.done_ms for lc in leechers if lc.done_ms is not None)
    res = {
        'clients': kinds,
        'arrivals_ms': [int(x * 1000) for x in at],
        'done_ms': [lc.done_ms for lc in leechers],
        'median_ms': done_ms[len(done_ms) // 2] if done_ms else None,
        'last_ms': done_ms[-1] if done_ms else None,
        'seed_wire_bytes': series[-1][1],
        'peer_wire_bytes': series[-1][2],
        'complete': ok,
        'bad_files': bad,
    }
    with open(os.path.join(a.out, 'result.json'), 'w') as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res))
    if not ok:
        late = [os.path.basename(lc.dir) for lc in leechers if lc.done_ms is None]
        sys.exit('swarm_run: not every leecher completed: %s (logs in %s)' % (
            ', '.join(late), a.out))
    if bad:
        sys.exit('swarm_run: files differ from the source: %s' % ', '.join(bad[:5]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('what', choices=['up', 'down', 'run'])
    ap.add_argument('--tag', required=True)
    ap.add_argument('--subnet', default='198.19.0')
    ap.add_argument('--leechers', type=int, default=0)
    ap.add_argument('--up', default='0')
    ap.add_argument('--down', default='0')
    ap.add_argument('--seed-up', default='0')
    ap.add_argument('--torrent')
    ap.add_argument('--source')
    ap.add_argument('--out')
    ap.add_argument('--clients', default='lt')
    ap.add_argument('--poisson', type=float, default=0)
    ap.add_argument('--timeout', type=float, default=300)
    ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_args()
    if len(a.tag) > 8:
        sys.exit('swarm_run: --tag %r: at most 8 characters (interface names)' % a.tag)
    {'up': up, 'down': down, 'run': run}[a.what](a)


if __name__ == '__main__':
    main()
