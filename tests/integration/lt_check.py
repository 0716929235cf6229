#!/usr/bin/python3
"""Check a .torrent against the tree it describes, with libtorrent 2.0.

Run with Debian's /usr/bin/python3 (the only one that imports libtorrent).
Checks, in order, and stops at the first failure with exit 1 and a line
"FAIL: ... expected ..., saw ..." on stderr:
  1. libtorrent parses the torrent; its top-level name is basename(TREE);
     optionally its piece length;
  2. its info-hashes equal --v1/--v2 (40/64 hex, "null" = must be absent,
     "any" = must be present, whatever its value; omitted = not checked);
  3. its file list (pad files excluded, paths relative to the torrent root)
     equals TREE's regular files, with their sizes;
  4. --magnet parses (lt.parse_magnet_uri) to the same info-hashes;
  5. a session on 127.0.0.1 only (no DHT/LSD/UPnP/NAT-PMP), save_path =
     dirname(TREE), checks the data in place and reaches seeding with
     progress 1.0 within --timeout seconds (unless --no-seed).
On success prints one line on stdout: "<v1 hex or null> <v2 hex or null>".
"""
import argparse
import os
import sys
import time

import libtorrent as lt

import ltsession


def fail(msg):
    sys.stderr.write('FAIL: %s: %s\n' % (ARGS.torrent, msg))
    sys.exit(1)


def hashes_of(ih):
    v1 = str(ih.v1) if ih.has_v1() else None
    v2 = str(ih.v2) if ih.has_v2() else None
    return v1, v2


def check_hash(kind, want, seen, where):
    if want is None:
        return
    if want == 'null':
        if seen is not None:
            fail('%s: expected no %s info-hash, saw %s' % (where, kind, seen))
    elif want == 'any':
        if seen is None:
            fail('%s: expected a %s info-hash, saw none' % (where, kind))
    elif seen != want.lower():
        fail('%s: expected %s info-hash %s, saw %s' % (where, kind, want.lower(), seen))


def tree_files(tree):
    files = {}
    for root, dirs, names in os.walk(tree):
        dirs.sort()
        for n in names:
            p = os.path.join(root, n)
            if os.path.isfile(p) and not os.path.islink(p):
                files[os.path.relpath(p, tree)] = os.path.getsize(p)
    return files


def torrent_files(ti, name):
    fs = ti.files()
    files = {}
    prefix = name + '/'
    for i in range(fs.num_files()):
        if fs.file_flags(i) & lt.file_storage.flag_pad_file:
            continue
        p = fs.file_path(i)
        if fs.num_files() == 1 and p == name:
            rel = name  # single-file torrent: the file is the root
        elif p.startswith(prefix):
            rel = p[len(prefix):]
        else:
            fail('expected every file under the torrent root "%s/", saw "%s"' % (name, p))
        if rel in files:
            fail('file "%s" appears twice in the torrent' % rel)
        files[rel] = fs.file_size(i)
    return files


def compare_files(want, seen):
    problems = []
    for p in sorted(set(want) - set(seen)):
        problems.append('missing from torrent: %s (%d bytes)' % (p, want[p]))
    for p in sorted(set(seen) - set(want)):
        problems.append('in torrent but not on disk: %s (%d bytes)' % (p, seen[p]))
    for p in sorted(set(want) & set(seen)):
        if want[p] != seen[p]:
            problems.append('%s: expected %d bytes (disk), torrent says %d' % (p, want[p], seen[p]))
    if problems:
        fail('file list differs from the tree (%d on disk, %d in torrent):\n  %s'
             % (len(want), len(seen), '\n  '.join(problems[:30])))


def seed_check(ti, tree, timeout):
    ses = ltsession.session()
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = os.path.dirname(os.path.abspath(tree))
    h = ses.add_torrent(atp)
    S = lt.torrent_status.states
    checking = (S.checking_files, S.checking_resume_data)
    deadline = time.monotonic() + timeout
    errors = []
    stuck_since = None
    st = h.status()
    while time.monotonic() < deadline:  # bounded by --timeout
        for a in ses.pop_alerts():
            if isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                errors.append(a.message())
        st = h.status()
        if st.errc.value() != 0:
            fail('libtorrent reports an error on the torrent: %s %s'
                 % (st.errc.message(), '; '.join(errors)))
        if st.state == S.seeding and st.progress == 1.0:
            return st
        if st.state not in checking:
            # Checking is over but we are not seeding: some pieces failed.
            stuck_since = stuck_since or time.monotonic()
            if time.monotonic() - stuck_since > 3:
                break
        time.sleep(0.1)
    fail('expected libtorrent to check the data in %s and seed (state seeding, progress 1.0) '
         'within %ds; saw state %s, progress %.4f, %d/%d pieces%s'
         % (atp.save_path, timeout, st.state, st.progress, st.num_pieces, ti.num_pieces(),
            ('; alerts: ' + '; '.join(errors[:5])) if errors else ''))


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument('--torrent', required=True)
    ap.add_argument('--tree', required=True)
    ap.add_argument('--v1')
    ap.add_argument('--v2')
    ap.add_argument('--magnet')
    ap.add_argument('--piece-length', type=int)
    ap.add_argument('--no-seed', action='store_true')
    ap.add_argument('--timeout', type=int, default=60)
    ARGS = ap.parse_args()
    tree = ARGS.tree.rstrip('/')

    try:
        ti = lt.torrent_info(ARGS.torrent)
    except Exception as e:  # libtorrent raises RuntimeError on bad metainfo
        fail('expected libtorrent to load the torrent, it refused: %s' % e)

    name = os.path.basename(tree)
    if ti.name() != name:
        fail('expected the torrent name to be "%s" (basename of the tree), saw "%s"' % (name, ti.name()))
    if ARGS.piece_length and ti.piece_length() != ARGS.piece_length:
        fail('expected piece length %d, saw %d' % (ARGS.piece_length, ti.piece_length()))

    v1, v2 = hashes_of(ti.info_hashes())
    check_hash('v1', ARGS.v1, v1, 'libtorrent torrent_info')
    check_hash('v2', ARGS.v2, v2, 'libtorrent torrent_info')

    compare_files(tree_files(tree), torrent_files(ti, name))

    if ARGS.magnet is not None:
        try:
            p = lt.parse_magnet_uri(ARGS.magnet)
        except Exception as e:
            fail('expected libtorrent to parse the magnet "%s", it refused: %s' % (ARGS.magnet, e))
        m1, m2 = hashes_of(p.info_hashes)
        if (m1, m2) != (v1, v2):
            fail('magnet "%s": expected info-hashes v1=%s v2=%s (the torrent\'s), saw v1=%s v2=%s'
                 % (ARGS.magnet, v1, v2, m1, m2))

    if not ARGS.no_seed:
        seed_check(ti, tree, ARGS.timeout)

    print('%s %s' % (v1 or 'null', v2 or 'null'))


ARGS = None
if __name__ == '__main__':
    main()
