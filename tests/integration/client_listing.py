#!/usr/bin/python3
"""Compare the file list another client prints for a torrent with a tree.

usage: client_listing.py transmission|aria2 TREE LISTING_FILE [--expect-infohash HEX]

  transmission: output of `transmission-show X.torrent` (3.00). Files appear as
      "  <name>/<path> (<value> <unit>)", sizes rounded (kB = 1000 bytes,
      2 decimals under 100, else 1), so a size matches when the printed value
      is the true size rounded to the printed precision.
  aria2: output of `aria2c -S X.torrent` (1.36). Files appear as
      "  N|./<name>/<path>" then "   |<human> (<bytes with commas>)".
Entries under "<name>/.pad/" (BEP 47 pad files) are ignored. Paths must equal
TREE's regular files exactly (relative to the torrent root, whose name is
basename(TREE)). --expect-infohash checks the "Hash:"/"Info Hash:" line.
Exit 0 on match, 1 with "FAIL: ..." lines on stderr otherwise.
"""
import os
import re
import sys

UNITS = {'B': 1, 'kB': 1000, 'MB': 1000 ** 2, 'GB': 1000 ** 3, 'TB': 1000 ** 4}


def tree_files(tree):
    files = {}
    for root, dirs, names in os.walk(tree):
        for n in names:
            p = os.path.join(root, n)
            if os.path.isfile(p) and not os.path.islink(p):
                files[os.path.relpath(p, tree)] = os.path.getsize(p)
    return files


def parse_transmission(text):
    """Returns ({path: (value_str, unit)}, infohash, problems)."""
    files, problems, ih = {}, [], None
    section = None
    for line in text.split('\n'):
        m = re.match(r'^  Hash: ([0-9a-fA-F]{40})$', line)
        if m:
            ih = m.group(1).lower()
        if line in ('GENERAL', 'TRACKERS', 'FILES'):
            section = line
            continue
        if section == 'FILES' and line.strip():
            m = re.match(r'^  (.*) \(([0-9]+(?:\.[0-9]+)?) (B|kB|MB|GB|TB)\)$', line)
            if not m:
                problems.append('unparsed line in FILES: %r' % line)
                continue
            if m.group(1) in files and '/.pad/' not in m.group(1):
                problems.append('file listed twice: %s' % m.group(1))
            files[m.group(1)] = (m.group(2), m.group(3))
    return files, ih, problems


def transmission_size_ok(size, value, unit):
    decimals = len(value.split('.')[1]) if '.' in value else 0
    # The printed value is size/unit rounded to `decimals` places.
    return abs(float(value) - size / UNITS[unit]) <= 0.5 * 10 ** -decimals + 1e-9


def parse_aria2(text):
    files, problems, ih = {}, [], None
    lines = text.split('\n')
    for line in lines:
        m = re.match(r'^Info Hash: ([0-9a-fA-F]{40})$', line)
        if m:
            ih = m.group(1).lower()
    for i, line in enumerate(lines):
        m = re.match(r'^\s*[0-9]+\|\./(.*)$', line)
        if not m:
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ''
        s = re.match(r'^\s*\|.*\(([0-9,]+)\)$', nxt)
        if not s:
            problems.append('no size line after %r (saw %r)' % (line, nxt))
            continue
        path = m.group(1)
        if path in files and '/.pad/' not in path:
            problems.append('file listed twice: %s' % path)
        files[path] = int(s.group(1).replace(',', ''))
    return files, ih, problems


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    kind, tree, listing = sys.argv[1:4]
    want_ih = None
    if len(sys.argv) == 6 and sys.argv[4] == '--expect-infohash':
        want_ih = sys.argv[5].lower()
    tree = tree.rstrip('/')
    name = os.path.basename(tree)
    text = open(listing, 'rb').read().decode('utf-8', 'surrogateescape')
    want = tree_files(tree)
    if kind == 'transmission':
        seen, ih, problems = parse_transmission(text)
    elif kind == 'aria2':
        seen, ih, problems = parse_aria2(text)
    else:
        sys.exit('unknown kind %s' % kind)

    rel = {}
    for p, v in seen.items():
        if not p.startswith(name + '/'):
            problems.append('expected every path under "%s/", saw "%s"' % (name, p))
            continue
        r = p[len(name) + 1:]
        if r.startswith('.pad/'):
            continue
        rel[r] = v
    for p in sorted(set(want) - set(rel)):
        problems.append('missing from the %s listing: %s (%d bytes)' % (kind, p, want[p]))
    for p in sorted(set(rel) - set(want)):
        problems.append('listed by %s but not on disk: %s' % (kind, p))
    for p in sorted(set(want) & set(rel)):
        if kind == 'transmission':
            ok = transmission_size_ok(want[p], *rel[p])
            shown = '%s %s' % rel[p]
        else:
            ok = want[p] == rel[p]
            shown = '%d bytes' % rel[p]
        if not ok:
            problems.append('%s: expected size %d bytes, %s shows %s' % (p, want[p], kind, shown))
    if want_ih is not None and ih != want_ih:
        problems.append('expected info-hash %s, %s shows %s' % (want_ih, kind, ih))
    if not seen:
        problems.append('%s listed no files at all' % kind)
    if problems:
        for p in problems[:30]:
            sys.stderr.write('FAIL: %s %s: %s\n' % (kind, listing, p))
        sys.exit(1)


if __name__ == '__main__':
    main()
