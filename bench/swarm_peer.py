#!/usr/bin/python3
"""A python3-libtorrent leecher of a swarm (bench/swarm.sh, tests/integration/test_swarm_policy.sh).

usage: swarm_peer.py --torrent FILE --save DIR --listen IP:PORT --done FILE
                     [--log FILE] [--timeout SECS]
       swarm_peer.py --super-seed ARG...   (bench/lt_seed.py, super-seeding)

Leecher: joins the swarm its torrent's tracker names (the seed and the other
leechers), over TCP only (tests/integration/ltsession.py: no DHT, LSD, UPnP,
NAT-PMP or uTP), with libtorrent's default leecher settings otherwise. When
the download is complete and checked it writes "<ms since start>" to --done
and prints "done MS", then stays in the swarm, uploading, until SIGTERM (so
every peer trades until the last one finishes). With --log, a line
"t_ms uploaded downloaded" (payload bytes) every 0.5 s. Exits 1 after
--timeout seconds (default 600) without completing.

--super-seed: runs bench/lt_seed.py with every torrent added super-seeding
(BEP 16), the libtorrent seed the policies are compared against.
"""
import argparse
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'integration'))
sys.path.insert(0, HERE)

import libtorrent as lt  # noqa: E402

STOP = []


def super_seed():
    """lt_seed.main() with super_seeding set in every add_torrent_params it
    makes (it clears only auto_managed and paused)."""
    make = lt.add_torrent_params

    def atp():
        p = make()
        p.flags |= lt.torrent_flags.super_seeding
        return p
    lt.add_torrent_params = atp
    import lt_seed
    sys.argv = [sys.argv[0]] + sys.argv[2:]
    lt_seed.main()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == '--super-seed':
        super_seed()
        return
    from ltsession import session
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--torrent', required=True)
    ap.add_argument('--save', required=True)
    ap.add_argument('--listen', required=True)
    ap.add_argument('--done', required=True)
    ap.add_argument('--log')
    ap.add_argument('--timeout', type=float, default=600)
    a = ap.parse_args()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: STOP.append(1))

    host = a.listen.rsplit(':', 1)[0]
    ses = session(listen=a.listen, outgoing_interfaces=host)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(a.torrent)
    atp.save_path = a.save
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    h = ses.add_torrent(atp)
    t0 = time.monotonic()
    log = open(a.log, 'w') if a.log else None
    done_at = None
    next_log = 0.0
    seeding = lt.torrent_status.states.seeding
    while not STOP:
        ses.pop_alerts()
        st = h.status()
        now = time.monotonic() - t0
        if done_at is None and st.state == seeding and st.progress == 1.0:
            done_at = now
            with open(a.done + '.tmp', 'w') as f:
                f.write('%d\n' % (done_at * 1000))
            os.rename(a.done + '.tmp', a.done)
            print('done %d' % (done_at * 1000), flush=True)
        if log and now >= next_log:
            log.write('%d %d %d\n' % (now * 1000, st.total_payload_upload,
                                      st.total_payload_download))
            log.flush()
            next_log = now + 0.5
        if done_at is None and now > a.timeout:
            sys.exit('swarm_peer: not complete after %.0f s (%.1f%%, %d peers)'
                     % (a.timeout, st.progress * 100, st.num_peers))
        time.sleep(0.1)
    st = h.status()
    print('uploaded %d downloaded %d' % (st.total_payload_upload, st.total_payload_download),
          flush=True)


if __name__ == '__main__':
    main()
