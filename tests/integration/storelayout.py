"""storelayout.py: where the parts of a store object are, computed from the
layout docs/store.md describes ("Objects", "Parity"), for tests that damage
a store on purpose. Written from the documentation, not from lib/store.c, so
that a test and the store cannot share a mistake."""
import os

HDR = 4096
BLOCK = 16384


def r4k(n):
    return (n + 4095) // 4096 * 4096


class Layout:
    """The object of a file of `length` bytes in a store with parity k+m."""

    def __init__(self, length, k, m):
        self.length, self.k, self.m = length, k, m
        self.n_blocks = (length + BLOCK - 1) // BLOCK
        self.n_stripes = (self.n_blocks + k - 1) // k
        self.n_parity = self.n_stripes * m
        self.table_len = (self.n_blocks + self.n_parity) * 16
        self.table1 = HDR + r4k(length)
        self.table2 = self.table1 + r4k(self.table_len)
        self.parity = self.table2 + r4k(self.table_len)

    def shard(self, st, i):
        """(offset, length) of shard i of stripe st (data first), None past the end."""
        if i >= self.k:
            return self.parity + (st * self.m + i - self.k) * BLOCK, BLOCK
        b = st * self.k + i
        if b >= self.n_blocks:
            return None
        return HDR + b * BLOCK, min(BLOCK, self.length - b * BLOCK)


def parity_of(store):
    """(k, m) from the store's FORMAT file."""
    fmt = open(os.path.join(store, 'FORMAT')).read().split('\n')
    return tuple(map(int, fmt[1].split()[1].split('+')))


def object_path(store, root):
    return os.path.join(store, 'objects', root[:2], root + '.obj')
