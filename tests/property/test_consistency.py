"""RFC 9162 consistency proofs (section 2.1.4): the tile-cached prover and merkle.consistency_proof give
the reference proof for every pair of sizes, every such proof verifies, and a tampered one never does."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trainer_ops.audit import merkle
from trainer_ops.audit.tiles import TileCache


def leaf(i: int) -> bytes:
    return hashlib.sha256(b"\x00" + i.to_bytes(8, "big")).digest()


LEAVES = [leaf(i) for i in range(5_000)]


def read(start: int, end: int) -> list[bytes]:
    return LEAVES[start:end]


# The reference, written straight from the RFC's recursive definitions (no shared helper but the hash).
def mth(d: list[bytes]) -> bytes:
    if len(d) == 1:
        return d[0]
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def reference(m: int, n: int) -> list[bytes]:
    return subproof(m, LEAVES[:n], True)


def tampered(proof: list[bytes]) -> list[list[bytes]]:
    """Every way to spoil a proof by one edit: a node changed, dropped, added or two swapped."""
    spoiled = []
    for i in range(len(proof)):
        flipped = bytearray(proof[i])
        flipped[i % 32] ^= 1
        spoiled.append([*proof[:i], bytes(flipped), *proof[i + 1 :]])
        spoiled.append(proof[:i] + proof[i + 1 :])
    spoiled.append([*proof, proof[-1] if proof else leaf(0)])
    if len(proof) > 1 and proof[0] != proof[1]:
        spoiled.append([proof[1], proof[0], *proof[2:]])
    return spoiled


def check_pair(cache: TileCache, m: int, n: int) -> None:
    first_root, second_root, proof = cache.consistency(read, m, n)
    assert proof == reference(m, n) == merkle.consistency_proof(LEAVES[:n], m), (m, n)
    assert (first_root, second_root) == (mth(LEAVES[:m]), mth(LEAVES[:n]))
    assert merkle.verify_consistency(m, n, first_root, second_root, proof)
    for spoiled in tampered(proof):
        assert not merkle.verify_consistency(m, n, first_root, second_root, spoiled), (m, n, spoiled)
    assert not merkle.verify_consistency(m, n, second_root if m != n else leaf(1), second_root, proof)
    assert not merkle.verify_consistency(m, n, first_root, first_root if m != n else leaf(1), proof)


@pytest.mark.parametrize("tile", [2, 4, 256])
def test_every_pair_of_sizes_up_to_64_gives_the_reference_proof_which_verifies_and_no_tampered_one_does(
    tile: int,
) -> None:
    # Tiles of 2 and 4 leaves take every path of the tile-cached prover over trees this small.
    cache = TileCache(tile)
    for n in range(1, 65):
        for m in range(1, n + 1):
            check_pair(cache, m, n)


@given(data=st.data())
def test_random_larger_sizes_give_the_reference_proof_across_tiles(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=len(LEAVES)), label="second")
    m = data.draw(st.integers(min_value=1, max_value=n), label="first")
    tile = data.draw(st.sampled_from([4, 16, 256]), label="tile")
    check_pair(TileCache(tile), m, n)


@given(
    m=st.integers(min_value=1, max_value=300),
    extra=st.integers(min_value=0, max_value=300),
    shift=st.integers(min_value=-3, max_value=3).filter(bool),
)
def test_a_proof_does_not_verify_for_another_first_size(m: int, extra: int, shift: int) -> None:
    """(The second size is not bound by the proof alone: (1, 3)'s proof also checks as (1, 4). The
    witness takes it, with the root, from the signed checkpoint.)"""
    n = m + extra
    proof = merkle.consistency_proof(LEAVES[:n], m)
    first_root, second_root = merkle.root(LEAVES[:m]), merkle.root(LEAVES[:n])
    assert merkle.verify_consistency(m, n, first_root, second_root, proof)
    assert not merkle.verify_consistency(m + shift, n, first_root, second_root, proof)


def test_a_rewritten_history_has_no_proof() -> None:
    """The tree the witness holds and a tree over one changed old leaf: the honest proof over the
    rewritten leaves verifies against its own roots, never against the witnessed first root."""
    rewritten = list(LEAVES[:700])
    rewritten[3] = leaf(10_000)
    for m, n in ((5, 700), (256, 700), (300, 513), (4, 8)):
        proof = merkle.consistency_proof(rewritten[:n], m)
        assert merkle.verify_consistency(m, n, merkle.root(rewritten[:m]), merkle.root(rewritten[:n]), proof)
        assert not merkle.verify_consistency(m, n, merkle.root(LEAVES[:m]), merkle.root(rewritten[:n]), proof)


@pytest.mark.parametrize(("m", "n"), [(0, 5), (6, 5), (-1, 3), (0, 0)])
def test_sizes_outside_0_lt_first_le_second_are_refused(m: int, n: int) -> None:
    assert not merkle.verify_consistency(m, n, leaf(0), leaf(0), [])
    with pytest.raises(ValueError, match="first"):
        TileCache().consistency(read, m, n)
    with pytest.raises(ValueError, match="first"):
        merkle.consistency_proof(LEAVES[: max(n, 0)], m)


def test_equal_sizes_need_an_empty_proof_and_equal_roots() -> None:
    root = merkle.root(LEAVES[:7])
    assert merkle.verify_consistency(7, 7, root, root, [])
    assert not merkle.verify_consistency(7, 7, root, root, [root])
    assert not merkle.verify_consistency(7, 7, root, leaf(1), [])


def test_a_warm_cache_that_disagrees_with_the_signed_root_is_rebuilt_from_the_store() -> None:
    """Tiles cached before the store was restored give a proof that does not match the signed roots:
    verified_consistency hashes the tiles again from what the store holds now."""
    store = list(LEAVES[:600])
    cache = TileCache(4)
    cache.consistency(lambda a, b: store[a:b], 10, 600)
    store[2] = leaf(9_999)  # a restore from another copy: the cached tile of leaves 0..3 is stale
    first_root, second_root, proof = cache.verified_consistency(
        lambda a, b: store[a:b], 10, 600, {600: merkle.root(store)}
    )
    assert (first_root, second_root) == (merkle.root(store[:10]), merkle.root(store))
    assert proof == merkle.consistency_proof(store, 10)
