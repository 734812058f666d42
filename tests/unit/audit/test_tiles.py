"""Tile-cached inclusion proofs: the same paths as merkle.inclusion_proof, reading each tile once."""

from __future__ import annotations

import hashlib
import random
import threading
import time

import pytest

from trainer_ops.audit import merkle
from trainer_ops.audit.tiles import TILE, MissingLeaves, TileCache, perfect_root

SIZES = [1, 2, 3, 255, 256, 257, 511, 512, 513, 1000, 4096, 5000, 65_536, 65_537, 70_000]
RANDOM_SIZES = random.Random(9162).sample(range(5_001, 70_001), 4)


def leaf(i: int) -> bytes:
    return hashlib.sha256(b"\x00" + i.to_bytes(8, "big")).digest()


class FakeStore:
    """A leaf source over a list, recording every read as (start, end)."""

    def __init__(self, size: int) -> None:
        self.leaves = [leaf(i) for i in range(size)]
        self.calls: list[tuple[int, int]] = []
        self.delay = 0.0

    def read(self, start: int, end: int) -> list[bytes]:
        self.calls.append((start, end))
        if self.delay:
            time.sleep(self.delay)
        return self.leaves[start:end]

    def reads_below(self, end: int) -> list[tuple[int, int]]:
        return sorted(call for call in self.calls if call[0] < end)


def indices(size: int, rng: random.Random) -> list[int]:
    """First, last, both sides of tile boundaries and of the last complete tile, and a few at random."""
    edge = size // TILE * TILE
    wanted = {0, size - 1, TILE - 1, TILE, 2 * TILE - 1, 2 * TILE, edge - 1, edge, size // 2}
    wanted.update(rng.randrange(size) for _ in range(4))
    return sorted(i for i in wanted if 0 <= i < size)


def check(cache: TileCache, store: FakeStore, size: int, index: int) -> None:
    leaves = store.leaves[:size]
    got_leaf, path = cache.proof(store.read, index, size)
    assert got_leaf == leaves[index]
    assert path == merkle.inclusion_proof(leaves, index)
    assert merkle.verify_inclusion(got_leaf, index, size, path, merkle.root(leaves))


@pytest.mark.parametrize("size", SIZES + RANDOM_SIZES)
def test_tile_proof_equals_the_reference_proof_and_verifies(size: int) -> None:
    store = FakeStore(size)
    cache = TileCache()
    for index in indices(size, random.Random(size)):
        check(cache, store, size, index)


def test_every_index_of_small_trees_equals_the_reference() -> None:
    store = FakeStore(513)
    for size in (*range(1, 20), 255, 256, 257, 511, 512, 513):
        cache = TileCache()
        for index in range(size):
            check(cache, store, size, index)


def test_perfect_root_is_the_rfc_9162_root_of_a_power_of_two() -> None:
    for count in (1, 2, 4, 256, 1024):
        hashes = [leaf(i) for i in range(count)]
        assert perfect_root(hashes) == merkle.root(hashes)


def test_an_index_outside_the_tree_is_refused() -> None:
    store = FakeStore(10)
    with pytest.raises(ValueError, match="outside"):
        TileCache().proof(store.read, 10, 10)
    with pytest.raises(ValueError, match="outside"):
        TileCache().proof(store.read, -1, 10)


def test_the_cache_grows_with_the_tree_and_reads_each_complete_tile_once() -> None:
    store = FakeStore(5000)
    cache = TileCache()

    check(cache, store, 1000, 999)
    assert cache.cached_tiles() == 3
    assert all(end <= 1000 for _, end in store.calls)  # nothing past the tree asked for
    assert store.reads_below(768) == [(0, 768)]

    store.calls.clear()
    check(cache, store, 5000, 4999)
    check(cache, store, 5000, 4900)
    assert cache.cached_tiles() == 19
    # Leaves in the partial last tile: the only read of a complete tile is the fill of the new ones.
    assert store.reads_below(19 * TILE) == [(768, 19 * TILE)]


def test_a_warm_proof_reads_at_most_two_tiles_of_leaves() -> None:
    size = 70_000
    store = FakeStore(size)
    cache = TileCache()
    cache.proof(store.read, 0, size)
    tree_root = merkle.root(store.leaves)
    rng = random.Random(1)
    for index in [rng.randrange(size) for _ in range(50)]:
        store.calls.clear()
        got_leaf, path = cache.proof(store.read, index, size)
        assert merkle.verify_inclusion(got_leaf, index, size, path, tree_root)
        assert len(store.calls) <= 2
        assert sum(end - start for start, end in store.calls) <= 2 * TILE


def test_the_fill_reads_in_chunks_covering_each_tile_once() -> None:
    size = 70_000  # 273 complete tiles: more than one chunk
    store = FakeStore(size)
    TileCache().proof(store.read, size - 1, size)
    fills = store.reads_below(size // TILE * TILE)
    assert len(fills) == 2
    assert fills[0][0] == 0
    assert fills[0][1] == fills[1][0]
    assert fills[1][1] == size // TILE * TILE


def test_concurrent_first_proofs_hash_each_tile_once() -> None:
    size = 5000
    store = FakeStore(size)
    store.delay = 0.005  # keep the fill slow enough for the threads to meet on it
    cache = TileCache()
    errors: list[BaseException] = []

    def prove(index: int) -> None:
        try:
            check(cache, store, size, index)
        except BaseException as exc:  # handed to the main thread's assert
            errors.append(exc)

    threads = [threading.Thread(target=prove, args=(size - 1 - t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.reads_below(19 * TILE) == [(0, 19 * TILE)]


def test_a_store_restored_with_other_leaves_rebuilds_the_stale_tiles() -> None:
    store = FakeStore(3000)
    cache = TileCache()
    cache.proof(store.read, 0, 3000)
    store.leaves[300] = leaf(10**9)  # what a restored copy with other entries after it would hold
    new_root = merkle.root(store.leaves)

    stale_leaf, stale = cache.proof(store.read, 2999, 3000)
    assert not merkle.verify_inclusion(stale_leaf, 2999, 3000, stale, new_root)

    got_leaf, path = cache.verified_proof(store.read, 2999, 3000, new_root)
    assert path == merkle.inclusion_proof(store.leaves, 2999)
    assert merkle.verify_inclusion(got_leaf, 2999, 3000, path, new_root)


def test_a_fresh_cache_does_not_rehash_a_store_that_disagrees_with_the_root() -> None:
    store = FakeStore(3000)
    cache = TileCache()
    _, path = cache.verified_proof(store.read, 5, 3000, b"\x00" * 32)
    assert path == merkle.inclusion_proof(store.leaves, 5)
    assert [call for call in store.calls if call[1] - call[0] > TILE] == [(0, 11 * TILE)]


def test_missing_leaves_are_refused_and_cache_nothing() -> None:
    store = FakeStore(1000)
    del store.leaves[700:]
    cache = TileCache()
    with pytest.raises(MissingLeaves):
        cache.proof(store.read, 0, 1000)
    assert cache.cached_tiles() == 0
