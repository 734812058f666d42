"""RFC 9162 Merkle tree hashing: roots, an incremental frontier, inclusion proofs and their check.

Leaves are the entries' leaf hashes, SHA-256(0x00 || entry); inner nodes SHA-256(0x01 || left || right);
a tree of n leaves splits at the largest power of two smaller than n (RFC 9162, section 2.1.1).
"""

from __future__ import annotations

import hashlib

EMPTY_ROOT = hashlib.sha256(b"").digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes."""
    if not leaves:
        return EMPTY_ROOT
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


class Frontier:
    """The roots of the perfect subtrees covering the leaves so far (at most one per height): enough to
    append a leaf and to compute the root, in O(log n) space. Serialisable, so a checkpoint can store it
    and the next checkpoint only hashes the entries that came after."""

    def __init__(self, size: int = 0, hashes: list[bytes] | None = None) -> None:
        self.size = size
        # Largest subtree first, matching the binary digits of size from the top.
        self.hashes: list[bytes] = list(hashes or [])

    def append(self, leaf: bytes) -> None:
        self.hashes.append(leaf)
        self.size += 1
        # Merge equal-height subtrees: one merge per trailing 1 bit that the increment cleared.
        merges = (self.size & -self.size).bit_length() - 1
        for _ in range(merges):
            right = self.hashes.pop()
            left = self.hashes.pop()
            self.hashes.append(node_hash(left, right))

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            acc = node_hash(left, acc)
        return acc

    def to_hex(self) -> list[str]:
        return [h.hex() for h in self.hashes]

    @classmethod
    def from_hex(cls, size: int, hashes: list[str]) -> Frontier:
        if len(hashes) != bin(size).count("1"):
            raise ValueError("frontier does not match its size")
        return cls(size, [bytes.fromhex(h) for h in hashes])


def inclusion_proof(leaves: list[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1, for the leaf at 0-based `index`."""
    if not 0 <= index < len(leaves):
        raise ValueError("index outside the tree")
    proof: list[bytes] = []
    lo, hi = 0, len(leaves)
    m = index
    path: list[tuple[bool, int, int]] = []
    while hi - lo > 1:
        k = split(hi - lo)
        if m < k:
            path.append((True, lo + k, hi))  # sibling is the right subtree
            hi = lo + k
        else:
            path.append((False, lo, lo + k))  # sibling is the left subtree
            lo, m = lo + k, m - k
    for _is_right, start, end in reversed(path):
        proof.append(root(leaves[start:end]))
    return proof


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], expected_root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does `proof` show leaf `index` is in the tree of `size` with that root?"""
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def consistency_proof(leaves: list[bytes], first: int) -> list[bytes]:
    """PROOF(first, D[n]) of RFC 9162 section 2.1.4.1 over all the leaves of the second tree (n =
    len(leaves)): the reference that tiles.TileCache.consistency matches without reading every leaf."""
    if not 0 < first <= len(leaves):
        raise ValueError("first must be in 1..second")
    proof: list[bytes] = []
    # SUBPROOF(m, D[lo:hi], b), unrolled: each step descends into one side and records the other.
    lo, hi, m, complete = 0, len(leaves), first, True
    while m != hi - lo:
        k = split(hi - lo)
        if m <= k:
            proof.append(root(leaves[lo + k : hi]))
            hi = lo + k
        else:
            proof.append(root(leaves[lo : lo + k]))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        proof.append(root(leaves[lo:hi]))
    proof.reverse()
    return proof


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: does `proof` show that the tree of `second` leaves with `second_root`
    extends the tree of `first` leaves with `first_root` (the log only grew between them)?"""
    if not 0 < first <= second:
        return False
    if first == second:
        # Equal sizes: the proof is empty and the trees are one.
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        # The first tree is a perfect subtree of the second: its root is the proof's implicit start.
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
