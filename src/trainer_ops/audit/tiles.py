"""RFC 9162 inclusion and consistency proofs from a cache of tile roots, reading only the leaves a proof
needs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from trainer_ops.audit.merkle import (
    inclusion_proof,
    node_hash,
    root,
    split,
    verify_consistency,
    verify_inclusion,
)

TILE = 256  # leaves per tile: a complete tile's root is a level-8 node of every tree that covers it
CHUNK_TILES = 256  # tiles hashed per store read while filling the cache (65,536 leaves)

# read_leaves(start, end): the leaf hashes at 0-based positions start..end-1, in order.
ReadLeaves = Callable[[int, int], list[bytes]]


class MissingLeaves(ValueError):
    """The store returned fewer leaf hashes than the range asked for."""


def _read(read_leaves: ReadLeaves, start: int, end: int) -> list[bytes]:
    leaves = read_leaves(start, end)
    if len(leaves) != end - start:
        raise MissingLeaves(f"the store holds {len(leaves)} of the leaves {start}..{end - 1}")
    return leaves


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """The root over a power-of-two count of nodes of one level, hashed a level at a time (cheaper than
    merkle.root's frontier, and a perfect tree needs no split rule)."""
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def _is_perfect(size: int) -> bool:
    return size & (size - 1) == 0


class TileCache:
    """The roots of the complete tiles of the log, extended lazily; thread safe. Valid because the log is
    append-only: a complete tile's leaves, hence its root, never change (verified_proof() rebuilds the
    cache if the store was restored from an older copy since)."""

    def __init__(self, tile: int = TILE) -> None:
        if tile < 2 or not _is_perfect(tile):
            raise ValueError("a tile holds a power of two leaves")
        # A parameter for the tests only (small tiles exercise every path over small trees).
        self.tile = tile
        self._roots: list[bytes] = []
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._roots = []

    def cached_tiles(self) -> int:
        with self._lock:
            return len(self._roots)

    def complete_roots(self, size: int, read_leaves: ReadLeaves) -> list[bytes]:
        """The roots of the complete tiles of a tree of `size` leaves, hashing those not cached yet."""
        wanted = size // self.tile
        # Held while reading: a second caller waits for the first one's tiles instead of hashing them too.
        with self._lock:
            while len(self._roots) < wanted:
                first = len(self._roots)
                last = min(wanted, first + CHUNK_TILES)
                self._roots.extend(self._hash_tiles(first, last, read_leaves))
            return self._roots[:wanted]

    def _hash_tiles(self, first: int, last: int, read_leaves: ReadLeaves) -> list[bytes]:
        tile = self.tile
        leaves = _read(read_leaves, first * tile, last * tile)
        return [perfect_root(leaves[i : i + tile]) for i in range(0, len(leaves), tile)]

    def _prover(self, read_leaves: ReadLeaves, size: int) -> _Prover:
        return _Prover(self.complete_roots(size, read_leaves), read_leaves, self.tile)

    def proof(self, read_leaves: ReadLeaves, index: int, size: int) -> tuple[bytes, list[bytes]]:
        """(leaf hash, PATH(index, D[size])) of RFC 9162 section 2.1.3.1: the same path as
        merkle.inclusion_proof over all the leaves."""
        if not 0 <= index < size:
            raise ValueError("index outside the tree")
        return self._prover(read_leaves, size).path(index, 0, size)

    def verified_proof(
        self, read_leaves: ReadLeaves, index: int, size: int, expected_root: bytes
    ) -> tuple[bytes, list[bytes]]:
        """As proof(), checked against the signed root. A proof that does not verify may come from
        tiles cached before the store was restored or rewritten: rebuild them from what the store
        holds now, once, and return that proof whether or not it verifies (as one recomputed from
        the whole store would be)."""
        cached_before = self.cached_tiles()
        leaf, path = self.proof(read_leaves, index, size)
        if cached_before == 0 or verify_inclusion(leaf, index, size, path, expected_root):
            # Tiles all hashed just now would hash the same again: the store itself disagrees.
            return leaf, path
        self.clear()
        return self.proof(read_leaves, index, size)

    def consistency(
        self, read_leaves: ReadLeaves, first: int, second: int
    ) -> tuple[bytes, bytes, list[bytes]]:
        """(MTH(D[first]), MTH(D[second]), PROOF(first, D[second])) of RFC 9162 section 2.1.4: the same
        proof as merkle.consistency_proof over all the leaves."""
        if not 0 < first <= second:
            raise ValueError("sizes must satisfy 0 < first <= second")
        prover = self._prover(read_leaves, second)
        return (
            prover.subtree_root(0, first),
            prover.subtree_root(0, second),
            prover.subproof(first, 0, second),
        )

    def verified_consistency(
        self, read_leaves: ReadLeaves, first: int, second: int, expected: dict[int, bytes]
    ) -> tuple[bytes, bytes, list[bytes]]:
        """As consistency(), checked against the signed roots known at either size (`expected`); like
        verified_proof(), a mismatch from a warm cache rebuilds it once from the store."""
        cached_before = self.cached_tiles()
        result = self.consistency(read_leaves, first, second)
        first_root, second_root, proof = result
        agrees = all(
            expected.get(size, got) == got for size, got in ((first, first_root), (second, second_root))
        )
        if cached_before == 0 or (
            agrees and verify_consistency(first, second, first_root, second_root, proof)
        ):
            return result
        self.clear()
        return self.consistency(read_leaves, first, second)


class _Prover:
    """One proof's walk down the tree, over a snapshot of the complete tiles' roots."""

    def __init__(self, roots: list[bytes], read_leaves: ReadLeaves, tile: int) -> None:
        self._roots = roots
        self._read_leaves = read_leaves
        self._tile = tile

    def path(self, m: int, start: int, end: int) -> tuple[bytes, list[bytes]]:
        """(leaf m, PATH(m - start, D[start:end])), leaf nearest first."""
        if end - start <= self._tile:
            # Every range of the split recursion lies inside one aligned block of the next power of two
            # of its size, so a range of at most one tile's leaves is within a single tile: one read.
            leaves = _read(self._read_leaves, start, end)
            return leaves[m - start], inclusion_proof(leaves, m - start)
        k = split(end - start)
        if m < start + k:
            leaf, path = self.path(m, start, start + k)
            path.append(self.subtree_root(start + k, end))
        else:
            leaf, path = self.path(m, start + k, end)
            path.append(self.subtree_root(start, start + k))
        return leaf, path

    def subproof(self, m: int, start: int, end: int) -> list[bytes]:
        """SUBPROOF(m, D[start:end], true) of RFC 9162 section 2.1.4.1, innermost node first. Every
        node it names is a range of the split recursion, which subtree_root() computes from tiles."""
        outer: list[bytes] = []
        complete = True
        while m != end - start:
            k = split(end - start)
            if m <= k:
                outer.append(self.subtree_root(start + k, end))
                end = start + k
            else:
                outer.append(self.subtree_root(start, start + k))
                start, m, complete = start + k, m - k, False
        if not complete:
            outer.append(self.subtree_root(start, end))
        outer.reverse()
        return outer

    def subtree_root(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range of the split recursion."""
        size, tile = end - start, self._tile
        if size >= tile and _is_perfect(size) and start % tile == 0:
            # Tile roots are the level-8 nodes: a perfect, aligned subtree of 2^k tiles is their root.
            return perfect_root(self._roots[start // tile : end // tile])
        if size > tile:
            # The right edge of the tree, not a power of two: the same split as RFC 9162.
            k = split(size)
            return node_hash(self.subtree_root(start, start + k), self.subtree_root(start + k, end))
        leaves = _read(self._read_leaves, start, end)
        # Inside one tile: a sub-tile range, or the right edge in the partial last tile.
        return perfect_root(leaves) if _is_perfect(size) else root(leaves)
