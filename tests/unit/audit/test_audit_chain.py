"""Audit entries as values: RFC 8785 canonical bytes and the SHA-256 hash chain."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import pytest
import rfc8785

from trainer_ops.audit.types import GENESIS_HASH, SYSTEM_ACTOR, Actor, canonical, chain_hash, entry_body

ACTOR = Actor(user_id="u1", role="region", scope={"region": "EU"})


def body(seq: int, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "seq": seq,
        "ts_ms": 1_712_100_000_000 + seq,
        "actor": ACTOR,
        "action": "update_config",
        "target": "model-config",
        "before": {"temperature": 0.4},
        "after": {"temperature": 0.2},
        "outcome": "success",
        "request_id": f"req-{seq}",
        "details": None,
    }
    values.update(changes)
    return entry_body(**values)


def chain(bodies: list[bytes]) -> list[str]:
    hashes, prev = [], GENESIS_HASH
    for raw in bodies:
        prev = chain_hash(prev, raw)
        hashes.append(prev)
    return hashes


def test_canonical_sorts_keys_and_has_no_whitespace() -> None:
    assert canonical({"b": 1, "a": [1, 2], "c": {"z": True, "y": None}}) == (
        b'{"a":[1,2],"b":1,"c":{"y":null,"z":true}}'
    )


def test_canonical_matches_rfc8785_primitive_example() -> None:
    # RFC 8785 section 3.2.2: numbers in ECMAScript form, minimal string escaping, UTF-8 output.
    source = r"""{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"""
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    ).encode()

    assert canonical(json.loads(source)) == expected


def test_canonical_sorts_keys_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3: the emoji (surrogates D83D DE00) sorts before U+FB33, unlike code points.
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]

    out = json.loads(canonical(dict.fromkeys(keys, 0)))

    assert list(out) == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_canonical_is_the_same_for_equal_entries_built_in_any_key_order() -> None:
    forward = body(1)
    backward = dict(reversed(list(forward.items())))

    assert canonical(forward) == canonical(backward)


def test_entry_body_covers_seq_time_actor_and_defaults_details() -> None:
    entry = body(3)

    assert entry["seq"] == 3
    assert entry["tsMs"] == 1_712_100_000_003
    assert entry["actor"] == {"userId": "u1", "role": "region", "scope": {"region": "EU"}}
    assert entry["requestId"] == "req-3"
    assert entry["details"] == {}


def test_system_actor_has_no_scope() -> None:
    assert SYSTEM_ACTOR.as_json() == {"userId": "system", "role": "system", "scope": {}}


def test_chain_hash_is_sha256_of_previous_hash_bytes_and_body() -> None:
    raw = canonical(body(1))

    assert chain_hash(GENESIS_HASH, raw) == hashlib.sha256(bytes(32) + raw).hexdigest()


def test_chain_hash_links_each_entry_to_the_previous_one() -> None:
    bodies = [canonical(body(seq)) for seq in (1, 2, 3)]
    hashes = chain(bodies)

    assert hashes[1] == chain_hash(hashes[0], bodies[1])
    assert hashes[2] == chain_hash(hashes[1], bodies[2])
    assert len(set(hashes)) == 3


def test_changing_one_byte_of_an_entry_changes_its_hash_and_every_later_one() -> None:
    bodies = [canonical(body(seq)) for seq in (1, 2, 3)]
    tampered = list(bodies)
    tampered[0] = bodies[0].replace(b'"temperature":0.2', b'"temperature":0.3')

    original, changed = chain(bodies), chain(tampered)

    assert tampered[0] != bodies[0]
    assert len(tampered[0]) == len(bodies[0])
    assert all(a != b for a, b in zip(original, changed, strict=True))


def test_changing_the_previous_hash_changes_the_hash() -> None:
    raw = canonical(body(2))

    assert chain_hash(GENESIS_HASH, raw) != chain_hash("0" * 63 + "1", raw)


# canonical() writes most entries with orjson and falls back to the rfc8785 reference for the rest;
# both paths must give the reference's bytes.


def reference(value: Any) -> bytes:
    return bytes(rfc8785.dumps(value))


def random_document(rng: random.Random, depth: int = 0) -> Any:
    """Nested JSON with the values audit entries hold: ints, floats, text in many scripts, nulls."""
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randrange(-(2**53) + 1, 2**53) >> rng.randrange(0, 53)
    if kind == 2:
        # From 1e-12 to 1e22, across both edges of the fast path (1e-5 and 1e21).
        exponent = rng.uniform(-12, 22)
        return rng.choice([1, -1]) * 10**exponent
    if kind in (3, 4):
        alphabet = 'az09 _-/\\"\n\t\x00\x1f\x7fé€한中\u2028\ud7ff\ue000\uffff\U0001f600'
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))
    if kind == 5:
        return [random_document(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["a", "B", "", "é", "€", "한", "\ud7ff", "\ue000", "\ufb33", "\U0001f600", "1", "\r"]
    return {rng.choice(keys): random_document(rng, depth + 1) for _ in range(rng.randrange(5))}


@pytest.mark.parametrize(
    "value",
    [
        {"seq": 1, "n": -(2**53) + 1, "m": 2**53 - 1, "zero": 0},
        {"f": [0.1, 0.30000000000000004, 1.5, -2.25, 123456789012.345, 1e-5, 1e-7, 1e21, 1e20, 5e-324]},
        {"z": -0.0, "i": 3.0, "e": 1e16},
        {"s": '\x00\x1f\x7f\b\f\n\r\t"\\/ é€\u2028\U0001f600'},
        {"é": 1, "e": 2, "\ud7ff": 3, "": 4, "Z": 5},
        {"\ue000": 1, "\U0001f600": 2, "\ufb33": 3},
        {"nested": {"list": [{"b": 1, "a": [True, None]}, []], "empty": {}}},
    ],
)
def test_canonical_agrees_with_the_rfc8785_reference(value: Any) -> None:
    assert canonical(value) == reference(value)


def test_canonical_agrees_with_the_reference_on_random_documents() -> None:
    rng = random.Random(8785)
    for _ in range(3000):
        document = {"entry": random_document(rng)}
        assert canonical(document) == reference(document), document


# orjson writes 1e-6 <= |x| < 1e-5 with an exponent ('5e-6') where RFC 8785 (ECMAScript) writes
# '0.000005'; such entries (e.g. PATCH temperature 0.000005) must not take the fast path.
@pytest.mark.parametrize("value", [1e-6, 5e-6, -2.5e-6, 9.999e-6])
def test_canonical_small_floats_are_written_in_full(value: float) -> None:
    assert canonical({"temperature": value}) == reference({"temperature": value})
    assert b"e" not in canonical({"v": value})
