"""storelayout.py: where the parts of a store object are, computed from the
layout docs/store.md describes ("Objects", "Parity"), for tests that damage
a store on purpose. Written from the documentation, not from lib/store.c, so
that a test and the store cannot share a mistake."""
import os

HDR = 4096
BLOCK = 16384


def r4k(n):
    return (n + 4095) // 4096 * 4096


LEAF_GROUP = 128  # SHA-256 leaves per leaf group (version 5)


class Layout:
    """The object of a file of `length` bytes in a store with parity k+m, in
    object version `version` (5: today's; 4: without leaves, written before
    format 5; 3: written before format 4)."""

    def __init__(self, length, k, m, version=5):
        self.length, self.k, self.m, self.version = length, k, m, version
        self.n_blocks = (length + BLOCK - 1) // BLOCK
        self.n_stripes = (self.n_blocks + k - 1) // k
        self.n_parity = self.n_stripes * m
        # version 5: a table entry per group of 128 leaves, and after each
        # table copy's entries a copy of the leaves (32 bytes a block)
        self.n_leafgrp = (self.n_blocks + LEAF_GROUP - 1) // LEAF_GROUP if version >= 5 else 0
        self.table_len = (self.n_blocks + self.n_parity + self.n_leafgrp) * 16
        meta = self.table_len + (self.n_blocks * 32 if self.n_leafgrp else 0)
        # version 4: the parity shards of a last stripe holding one block
        # are that block's length rounded up to 4 KiB
        self.last_plen = BLOCK
        if version >= 4 and self.n_stripes and self.n_blocks - (self.n_stripes - 1) * k == 1:
            self.last_plen = r4k(length - (self.n_blocks - 1) * BLOCK)
        parity_len = (self.n_parity - m) * BLOCK + m * self.last_plen if self.n_stripes else 0
        if version >= 4 and meta <= HDR - 128:
            # each table copy in its header's sector, after the 128 bytes of fields
            self.parity = HDR + r4k(length)
            self.header2 = self.parity + parity_len
            self.table1 = 128
            self.table2 = self.header2 + 128
        else:
            self.table1 = HDR + r4k(length)
            self.table2 = self.table1 + r4k(meta)
            self.parity = self.table2 + r4k(meta)
            self.header2 = self.parity + parity_len
        self.leaves1 = self.table1 + self.table_len
        self.leaves2 = self.table2 + self.table_len
        self.size = self.header2 + HDR

    def leaf_group_at(self, off):
        """(group, copy) of the leaves that hold byte off, or None."""
        for copy, start in ((1, self.leaves1), (2, self.leaves2)):
            if self.n_leafgrp and start <= off < start + self.n_blocks * 32:
                return (off - start) // (LEAF_GROUP * 32), copy
        return None

    def shard(self, st, i):
        """(offset, length) of shard i of stripe st (data first), None past the end."""
        if i >= self.k:
            plen = self.last_plen if st == self.n_stripes - 1 else BLOCK
            return self.parity + st * self.m * BLOCK + (i - self.k) * plen, plen
        b = st * self.k + i
        if b >= self.n_blocks:
            return None
        return HDR + b * BLOCK, min(BLOCK, self.length - b * BLOCK)

    def parity_at(self, off):
        """The parity shard (stripe * m + j) that holds byte off, or None."""
        if not self.parity <= off < self.header2:
            return None
        st = min((off - self.parity) // (self.m * BLOCK), self.n_stripes - 1)
        o, plen = self.shard(st, self.k)
        return st * self.m + (off - o) // plen


def parity_of(store):
    """(k, m) from the store's FORMAT file."""
    fmt = open(os.path.join(store, 'FORMAT')).read().split('\n')
    return tuple(map(int, fmt[1].split()[1].split('+')))


def object_path(store, root):
    return os.path.join(store, 'objects', root[:2], root + '.obj')
