#!/usr/bin/python3
"""A python3-libtorrent (2.0, Debian's /usr/bin/python3) seed for bench/compare.sh.

usage: lt_seed.py --torrent FILE [--torrent FILE ...] --data-dir DIR --port N
                  [--host 127.0.0.1] [--slots N] [--connections N]
                  [--seed-mode] [--check-timeout SECS] [--resume-dir DIR] [--utp]

Starts from libtorrent's own high_performance_seed() settings, then: listens
on HOST:PORT only (TCP, and uTP with --utp; DHT, LSD, UPnP, NAT-PMP off), unchokes up to
--slots peers (default 1000, fixed-slots choker), takes --connections peers
(default 4000), several of them from one address (the load generator's
connections all come from 127.0.0.1).

Each torrent's files are expected under --data-dir (the save path). Without
--seed-mode, libtorrent checks every piece first (it reads the data once) and
the seed answers only once all torrents are complete: then no hashing happens
while it serves. With --seed-mode it trusts the data and hashes each piece the
first time a peer asks for it.

--resume-dir DIR: on exit, write each complete torrent's resume data to
DIR/<info-hash>.resume; on start, add a torrent from its resume file when there
is one, so a restarted seed neither re-reads (checks) nor hashes its data
(bench/compare.sh restarts it for every cold-cache run: libtorrent maps files
into memory, and dropping the page cache does not evict mapped pages).

Prints "listening HOST:PORT" when bound, "seeding N torrents" once every torrent
is complete, then serves until SIGTERM or SIGINT, and prints the bytes uploaded
per torrent on exit. Exits 1 with "lt_seed: ..." on stderr when the data does
not match a torrent or the check takes longer than --check-timeout (default 600).
"""
import argparse
import os
import signal
import sys
import time

import libtorrent as lt

# The isolation every libtorrent session here has (no DHT, LSD, UPnP,
# NAT-PMP or uTP): one list, kept with the integration tests' sessions.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'integration'))
from ltsession import ISOLATED  # noqa: E402

STOP = []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--torrent', action='append', required=True)
    ap.add_argument('--data-dir', required=True)
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--slots', type=int, default=1000)
    ap.add_argument('--connections', type=int, default=4000)
    ap.add_argument('--seed-mode', action='store_true')
    ap.add_argument('--check-timeout', type=float, default=600)
    ap.add_argument('--resume-dir')
    ap.add_argument('--utp', action='store_true',
                    help='also take uTP connections (libtorrent\'s default; off otherwise)')
    a = ap.parse_args()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: STOP.append(1))

    s = lt.high_performance_seed()
    cat = lt.alert.category_t
    s.update(ISOLATED)
    s.update({
        'listen_interfaces': '%s:%d' % (a.host, a.port),
        'outgoing_interfaces': a.host,
        'choking_algorithm': 0,  # fixed_slots_choker
        'unchoke_slots_limit': a.slots,
        'connections_limit': a.connections,
        'allow_multiple_connections_per_ip': True,
        'active_seeds': -1,
        'active_limit': -1,
        'alert_mask': cat.error_notification | cat.status_notification | cat.storage_notification,
    })
    if a.utp:
        s.update({'enable_incoming_utp': True, 'enable_outgoing_utp': True})
    ses = lt.session(s)
    handles = []
    resumed = 0
    for t in a.torrent:
        ti = lt.torrent_info(t)
        rf = resume_file(a.resume_dir, ti)
        if rf and os.path.exists(rf):
            atp = lt.read_resume_data(open(rf, 'rb').read())
            resumed += 1
        else:
            atp = lt.add_torrent_params()
        atp.ti = ti
        atp.save_path = os.path.abspath(a.data_dir)
        atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        if a.seed_mode:
            atp.flags |= lt.torrent_flags.seed_mode
        handles.append(ses.add_torrent(atp))

    t0 = time.monotonic()
    while not ses.is_listening() and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    if not ses.is_listening():
        sys.exit('lt_seed: could not listen on %s:%d' % (a.host, a.port))
    print('listening %s:%d' % (a.host, ses.listen_port()), flush=True)

    seeding = lt.torrent_status.states.seeding
    while True:
        errs = [m.message() for m in ses.pop_alerts()
                if isinstance(m, (lt.torrent_error_alert, lt.file_error_alert))]
        if errs:
            sys.exit('lt_seed: %s' % '; '.join(errs[:3]))
        sts = [h.status() for h in handles]
        if all(st.state == seeding and st.progress == 1.0 for st in sts):
            break
        checking = any(st.state in (lt.torrent_status.states.checking_files,
                                    lt.torrent_status.states.checking_resume_data)
                       for st in sts)
        if not checking and time.monotonic() - t0 > 2:
            bad = [(st.name, st.progress) for st in sts if st.progress < 1.0]
            if bad:
                sys.exit('lt_seed: the data under %s does not match: %s' % (
                    a.data_dir, ', '.join('%s %.1f%% complete' % (n, p * 100) for n, p in bad)))
        if STOP:
            sys.exit(1)
        if time.monotonic() - t0 > a.check_timeout:
            sys.exit('lt_seed: checking took longer than %.0f s' % a.check_timeout)
        time.sleep(0.1)
    print('seeding %d torrents (%d from resume data; %.1f s to check)'
          % (len(handles), resumed, time.monotonic() - t0), flush=True)

    while not STOP:
        ses.pop_alerts()
        time.sleep(0.2)
    for h in handles:
        st = h.status()
        print('%s uploaded %d bytes' % (st.name, st.all_time_upload), flush=True)
    if a.resume_dir:
        save_resume(ses, handles, a.resume_dir)


def resume_file(d, ti):
    if not d:
        return None
    return os.path.join(d, '%s.resume' % ti.info_hashes().get_best())


def save_resume(ses, handles, d):
    """Write every handle's resume data to d, waiting at most 10 s."""
    os.makedirs(d, exist_ok=True)
    want = {}
    for h in handles:
        want[str(h.info_hashes().get_best())] = h
        h.save_resume_data()
    t0 = time.monotonic()
    while want and time.monotonic() - t0 < 10:
        ses.wait_for_alert(500)
        for m in ses.pop_alerts():
            if isinstance(m, lt.save_resume_data_alert):
                ih = str(m.handle.info_hashes().get_best())
                tmp = os.path.join(d, ih + '.tmp')
                with open(tmp, 'wb') as f:
                    f.write(lt.write_resume_data_buf(m.params))
                os.rename(tmp, os.path.join(d, ih + '.resume'))
                want.pop(ih, None)
            elif isinstance(m, lt.save_resume_data_failed_alert):
                want.pop(str(m.handle.info_hashes().get_best()), None)
    if want:
        sys.stderr.write('lt_seed: no resume data for %d torrents\n' % len(want))


if __name__ == '__main__':
    main()
