#!/usr/bin/python3
"""Download torrents from one seed with libtorrent 2.0 (Debian's /usr/bin/python3).

Each --job SAVE_DIR SOURCE runs in its own session (its own peer id and
listen port on 127.0.0.1, or ::1 for an IPv6 seed), so N jobs are N distinct peers. SOURCE is a
.torrent path or a magnet: URI (metadata then comes from the seed over
ut_metadata). Every session has DHT, LSD, UPnP, NAT-PMP and uTP off and
knows one peer only: --peer HOST:PORT, given with handle.connect_peer.

All jobs run at once; the script waits at most --timeout seconds for all
of them. A job is complete when libtorrent says seeding with progress 1.0.
Per job it prints "label seconds bytes MiB/s" on stdout (information only).

Exit 1 with "FAIL: ..." lines on stderr when:
  - a job is not complete at the deadline (unless --allow-incomplete);
  - a session was connected to any peer but --peer (peer alerts, and the
    peer list sampled every 0.5 s);
  - libtorrent reports a hash failure: the seed sent bytes that do not match
    the torrent's hashes (never allowed);
  - --check-had SRC_PARENT: a piece libtorrent reports as had differs from
    the source (SRC_PARENT/<torrent name>/...), read back from SAVE_DIR;
  - --forbid REL_PATH OFFSET BYTE: the piece holding byte OFFSET of file
    REL_PATH (relative to the torrent root) is reported as had, or the
    downloaded file holds BYTE (decimal) at OFFSET.
With --allow-incomplete a job also ends once --settle seconds pass
without a new piece (it waits for the seed to stop sending). Without it, a
job with no new piece for --stall seconds (default 30) fails at once.
--report FILE writes a JSON list, one object per job, of what happened.
"""
import argparse
import json
import os
import sys
import time

import libtorrent as lt

import ltsession

FAILS = []
LISTEN = ['127.0.0.1:0']
# libtorrent's default outgoing policy tries an encrypted (MSE) handshake
# first and falls back to a plain one; --out-enc and --enc-level set the
# policy and what it offers (--plain-handshake: out-enc disabled).
OUT_ENC = [None]
ENC_LEVEL = [None]


def failure(msg):
    FAILS.append(msg)
    sys.stderr.write('FAIL: %s\n' % msg)


# --transport: tcp (the isolated default), utp (uTP only: TCP off both
# ways) or both (libtorrent's own default: uTP tried first).
TRANSPORT = {
    'tcp': {},
    'utp': {'enable_outgoing_utp': True, 'enable_incoming_utp': True,
            'enable_outgoing_tcp': False, 'enable_incoming_tcp': False},
    'both': {'enable_outgoing_utp': True, 'enable_incoming_utp': True},
}
TRANSPORT_SET = ['tcp']


def new_session(listen):
    cat = lt.alert.category_t
    return ltsession.session(
        listen, cat.peer_notification | cat.connect_notification | cat.storage_notification,
        out_enc_policy=OUT_ENC[0], allowed_enc_level=ENC_LEVEL[0],
        **TRANSPORT[TRANSPORT_SET[0]])


class Job:
    def __init__(self, idx, save, source, peer):
        self.idx = idx
        self.save = os.path.abspath(save)
        self.source = source
        self.peer = peer
        self.label = '%s[%d]' % (os.path.basename(source) if not source.startswith('magnet:')
                                 else 'magnet', idx)
        os.makedirs(self.save, exist_ok=True)
        self.ses = new_session(LISTEN[0])
        if source.startswith('magnet:'):
            atp = lt.parse_magnet_uri(source)
        else:
            atp = lt.add_torrent_params()
            atp.ti = lt.torrent_info(source)
        atp.save_path = self.save
        self.t0 = time.monotonic()
        self.h = self.ses.add_torrent(atp)
        self.h.connect_peer(peer)
        self.done_at = None
        self.last_piece_at = self.t0
        self.last_pieces = 0
        self.hash_failures = []
        self.errors = []
        self.peer_events = []
        self.ended = False
        self.peers_seen = set()
        self.last_peer_poll = 0.0
        self.first_byte = None  # seconds from the start to the first payload byte

    def poll(self):
        for a in self.ses.pop_alerts():
            if isinstance(a, lt.peer_alert):
                self.peers_seen.add('%s:%d' % (a.endpoint[0], a.endpoint[1]))
            if isinstance(a, lt.hash_failed_alert):
                self.hash_failures.append(a.piece_index)
            elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert,
                                lt.metadata_failed_alert)):
                self.errors.append(a.message())
            elif isinstance(a, (lt.peer_disconnected_alert, lt.peer_error_alert,
                                lt.peer_ban_alert)):
                if len(self.peer_events) < 20:
                    self.peer_events.append('%.1fs %s' % (time.monotonic() - self.t0, a.message()))
        st = self.h.status()
        now = time.monotonic()
        if self.first_byte is None and st.total_payload_download > 0:
            self.first_byte = now - self.t0
        if now - self.last_peer_poll > 0.5:
            self.last_peer_poll = now
            for p in self.h.get_peer_info():
                self.peers_seen.add('%s:%d' % (p.ip[0], p.ip[1]))
        if st.num_pieces != self.last_pieces:
            self.last_pieces = st.num_pieces
            self.last_piece_at = time.monotonic()
        if self.done_at is None and st.state == lt.torrent_status.states.seeding \
                and st.progress == 1.0:
            self.done_at = time.monotonic()
        return st


def piece_matches(ti, save, src_parent, piece):
    """True when piece `piece` read from save equals the source bytes."""
    fs = ti.files()
    for sl in ti.map_block(piece, 0, ti.piece_size(piece)):
        if fs.file_flags(sl.file_index) & lt.file_storage.flag_pad_file:
            continue
        rel = fs.file_path(sl.file_index)
        try:
            with open(os.path.join(save, rel), 'rb') as f:
                f.seek(sl.offset)
                got = f.read(sl.size)
        except OSError as e:
            return '%s: cannot read (%s)' % (rel, e)
        with open(os.path.join(src_parent, rel), 'rb') as f:
            f.seek(sl.offset)
            want = f.read(sl.size)
        if got != want:
            for i in range(min(len(got), len(want))):
                if got[i] != want[i]:
                    break
            else:
                i = min(len(got), len(want))
            return '%s: %d bytes at offset %d, first difference at file offset %d' % (
                rel, sl.size, sl.offset, sl.offset + i)
    return None


def piece_of(ti, rel, offset):
    fs = ti.files()
    for i in range(fs.num_files()):
        if fs.file_path(i) == os.path.join(ti.name(), rel) or \
                (fs.num_files() == 1 and fs.file_path(i) == rel):
            return ti.map_file(i, offset, 1).piece, fs.file_path(i)
    return None, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--job', nargs=2, action='append', metavar=('SAVE_DIR', 'SOURCE'), required=True)
    ap.add_argument('--peer', required=True, help='HOST:PORT of the seed')
    ap.add_argument('--timeout', type=float, default=120)
    ap.add_argument('--allow-incomplete', action='store_true')
    ap.add_argument('--settle', type=float, default=10)
    ap.add_argument('--stall', type=float, default=30)
    ap.add_argument('--check-had', metavar='SRC_PARENT')
    ap.add_argument('--forbid', nargs=3, metavar=('REL_PATH', 'OFFSET', 'BYTE'))
    ap.add_argument('--report')
    ap.add_argument('--plain-handshake', action='store_true',
                    help='out_enc_policy disabled: no MSE attempt before the plain handshake')
    ap.add_argument('--out-enc', choices=['disabled', 'enabled', 'forced'],
                    help='out_enc_policy: forced never falls back to a plain handshake')
    ap.add_argument('--enc-level', choices=['plaintext', 'rc4', 'both'],
                    help='allowed_enc_level: what an MSE handshake offers')
    ap.add_argument('--listen', help='ADDR:PORT the sessions listen on (default 127.0.0.1:0, '
                    'or [::1]:0 for an IPv6 seed): in a network namespace, its address')
    ap.add_argument('--transport', choices=sorted(TRANSPORT), default='tcp',
                    help='tcp (default), utp (TCP off), both (libtorrent\'s default)')
    args = ap.parse_args()
    TRANSPORT_SET[0] = args.transport
    if args.out_enc:
        OUT_ENC[0] = int(getattr(lt.enc_policy, args.out_enc))
    if args.enc_level:
        ENC_LEVEL[0] = int({'plaintext': lt.enc_level.plaintext, 'rc4': lt.enc_level.rc4,
                            'both': lt.enc_level.both}[args.enc_level])
    host, port = args.peer.rsplit(':', 1)
    # An IPv6 seed is given as [ADDR]:PORT; the sessions then listen on ::1.
    if host.startswith('[') and host.endswith(']'):
        host = host[1:-1]
        LISTEN[0] = '[::1]:0'
    peer = (host, int(port))
    if args.listen:
        LISTEN[0] = args.listen
    if args.plain_handshake:
        OUT_ENC[0] = int(lt.enc_policy.disabled)

    jobs = [Job(i, save, src, peer) for i, (save, src) in enumerate(args.job)]
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:  # bounded by --timeout
        pending = 0
        for j in jobs:
            if j.ended:
                continue
            j.poll()
            if j.done_at is not None:
                j.ended = True
            elif args.allow_incomplete and time.monotonic() - j.last_piece_at > args.settle:
                j.ended = True
            elif time.monotonic() - j.last_piece_at > args.stall:
                j.ended = True  # stalled: fails below, no need to wait out --timeout
            else:
                pending += 1
        if not pending:
            break
        # finely while a job waits for its first byte (--report's first_byte)
        time.sleep(0.1 if all(j.first_byte is not None for j in jobs) else 0.005)

    report = []
    for j in jobs:
        st = j.poll()
        has_meta = j.h.status().has_metadata
        ti = j.h.torrent_file() if has_meta else None
        have = [i for i, b in enumerate(st.pieces) if b] if ti else []
        total = 0
        if ti:
            fs = ti.files()
            total = sum(fs.file_size(i) for i in range(fs.num_files())
                        if not fs.file_flags(i) & lt.file_storage.flag_pad_file)
        secs = (j.done_at or time.monotonic()) - j.t0
        complete = j.done_at is not None
        print('%-28s %s %7.2fs %11d bytes %8.1f MiB/s  pieces %d/%d  received %d' % (
            j.label, 'complete  ' if complete else 'INCOMPLETE', secs, total,
            (total / secs / 1048576.0) if complete and secs > 0 else 0.0,
            st.num_pieces, ti.num_pieces() if ti else -1, st.total_payload_download))
        if not complete and not args.allow_incomplete:
            failure('%s: expected the download into %s to complete within %gs, saw after %.0fs '
                    '(no new piece for %.0fs) state %s, '
                    'progress %.4f, %d/%d pieces, metadata %s, %d peer(s) connected%s%s'
                    % (j.label, j.save, args.timeout, secs, time.monotonic() - j.last_piece_at,
                       st.state, st.progress, st.num_pieces,
                       ti.num_pieces() if ti else -1, 'yes' if has_meta else 'NO', st.num_peers,
                       ('; errors: ' + '; '.join(j.errors[:5])) if j.errors else '',
                       ('; peer events: ' + ' | '.join(j.peer_events[:8])) if j.peer_events else ''))
        if j.errors and not args.allow_incomplete:
            failure('%s: expected no torrent/file errors, libtorrent reported: %s'
                    % (j.label, '; '.join(j.errors[:5])))
        if j.hash_failures:
            failure('%s: expected every piece from the seed to pass its hash check, libtorrent '
                    'saw %d hash failure(s), pieces %s: the seed sent wrong bytes'
                    % (j.label, len(j.hash_failures), sorted(set(j.hash_failures))[:20]))
        if args.check_had and ti:
            bad = []
            for p in have:
                why = piece_matches(ti, j.save, args.check_had, p)
                if why:
                    bad.append('piece %d (%s)' % (p, why))
            if bad:
                failure('%s: expected every piece libtorrent reports as had to equal the source, '
                        '%d differ: %s' % (j.label, len(bad), '; '.join(bad[:5])))
        seed = '%s:%d' % peer
        others = sorted(j.peers_seen - {seed})
        if others:
            failure('%s: expected to be connected to the seed %s only, libtorrent was also connected '
                    'to %s' % (j.label, seed, ', '.join(others[:10])))
        forbidden = None
        if args.forbid and ti:
            rel, off, byte = args.forbid[0], int(args.forbid[1]), int(args.forbid[2])
            forbidden, tpath = piece_of(ti, rel, off)
            if forbidden is None:
                failure('%s: --forbid: no file %s in the torrent' % (j.label, rel))
            else:
                if forbidden in have:
                    failure('%s: expected piece %d (holding the corrupt byte at offset %d of %s) '
                            'NOT to be had, libtorrent reports it had' % (j.label, forbidden, off, rel))
                if complete:
                    failure('%s: expected the download NOT to complete (byte %d of %s is corrupt '
                            'in the store), it completed' % (j.label, off, rel))
                path = os.path.join(j.save, tpath)
                if os.path.exists(path) and os.path.getsize(path) > off:
                    with open(path, 'rb') as f:
                        f.seek(off)
                        got = f.read(1)[0]
                    if got == byte:
                        failure('%s: expected the downloaded %s NOT to hold the corrupt byte 0x%02x '
                                'at offset %d, it does' % (j.label, path, byte, off))
        report.append({'label': j.label, 'save': j.save, 'complete': complete,
                       'seconds': round(secs, 3), 'bytes': total,
                       'num_pieces': ti.num_pieces() if ti else None, 'have': have,
                       'hash_failures': j.hash_failures, 'errors': j.errors,
                       'peer_events': j.peer_events, 'forbidden_piece': forbidden,
                       'state': str(st.state), 'peers_seen': sorted(j.peers_seen),
                       'payload_download': st.total_payload_download,
                       'first_byte': round(j.first_byte, 3) if j.first_byte is not None else None})
    if args.report:
        with open(args.report, 'w') as f:
            json.dump(report, f)
    # Closing the sessions flushes every write to disk before we return.
    for j in jobs:
        j.ses.pause()
    j = None
    del jobs
    sys.exit(1 if FAILS else 0)


if __name__ == '__main__':
    main()
