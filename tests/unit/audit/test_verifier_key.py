"""The verifier key `origin+keyid+base64(alg||key)`: what the service publishes parses back to its key,
whatever the key's base64 holds, and malformed text is refused saying why."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from trainer_ops.audit.checkpoint import (
    ORIGIN,
    Checkpoint,
    CheckpointError,
    key_id,
    parse_and_verify,
    parse_public_key,
    public_key_text,
    sign,
)

KEYS = 4000


def raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def generated(index: int) -> Ed25519PrivateKey:
    """A key as `Ed25519PrivateKey.generate()` makes it, but from a seed: a failure names its index."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"verifier-key-%d" % index).digest())


def key_data(text: str) -> str:
    return text.split("+", 2)[2]


def test_published_verifier_key_parses_back_to_the_same_key_for_thousands_of_keys() -> None:
    with_plus = 0
    for index in range(KEYS):
        public = generated(index).public_key()
        text = public_key_text(public)
        with_plus += "+" in key_data(text)
        assert raw(parse_public_key(text)) == raw(public), f"key {index}: {text}"
    # Half of all keys carry a `+` in their base64: the case the old right-to-left split refused.
    assert with_plus > KEYS // 3


def test_freshly_generated_keys_round_trip_and_verify_a_checkpoint_through_the_parsed_key() -> None:
    for _ in range(200):
        private = Ed25519PrivateKey.generate()
        parsed = parse_public_key(public_key_text(private.public_key()))
        note = sign(Checkpoint(3, b"\x01" * 32, "ab" * 32, 1_712_100_000_000), private).note
        assert parse_and_verify(note, parsed).size == 3


def _text(data: bytes, kid: str | None = None) -> str:
    return f"{ORIGIN}+{kid or '00000000'}+{base64.b64encode(data).decode()}"


# A key whose base64 holds a `+`, so that every malformed case below also has one.
GOOD = next(
    key for key in (generated(i).public_key() for i in range(KEYS)) if "+" in key_data(public_key_text(key))
)
GOOD_DATA = key_data(public_key_text(GOOD))
GOOD_KID = key_id(GOOD).hex()


def test_key_with_plus_in_its_data_parses_with_surrounding_whitespace() -> None:
    assert raw(parse_public_key(f"  {public_key_text(GOOD)}\n")) == raw(GOOD)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected origin\\+keyid\\+key, got 1 part"),
        (ORIGIN, "expected origin\\+keyid\\+key, got 1 part"),
        (f"{ORIGIN}+{GOOD_KID}", "expected origin\\+keyid\\+key, got 2 part"),
        (f"other/log+{GOOD_KID}+{GOOD_DATA}", "origin 'other/log', expected 'trainer-ops/audit'"),
        (f"+{GOOD_KID}+{GOOD_DATA}", "origin '', expected"),
        (f"{ORIGIN}+zzzzzzzz+{GOOD_DATA}", "key id 'zzzzzzzz' is not 8 lowercase hex digits"),
        (f"{ORIGIN}+{GOOD_KID}00+{GOOD_DATA}", "is not 8 lowercase hex digits"),
        (f"{ORIGIN}+{GOOD_KID.upper()}+{GOOD_DATA}", "is not 8 lowercase hex digits"),
        (f"{ORIGIN}+{GOOD_KID}+not base64!", "the key data is not standard base64"),
        (f"{ORIGIN}+{GOOD_KID}+{GOOD_DATA[:-1]}", "the key data is not standard base64"),
        (f"{ORIGIN}+{GOOD_KID}+{GOOD_DATA.replace('+', '-')}", "not standard base64"),  # URL-safe alphabet
        (f"{ORIGIN}+{GOOD_KID}+{GOOD_DATA[:10]} {GOOD_DATA[10:]}", "not standard base64"),
        (f"{ORIGIN}+{GOOD_KID}+", "algorithm byte nothing, expected 0x01"),
        (_text(b"\x02" + raw(GOOD), GOOD_KID), "algorithm byte 0x02, expected 0x01 \\(Ed25519\\)"),
        (_text(b"\x01" + raw(GOOD)[:31], GOOD_KID), "an Ed25519 key has 32 bytes, this one 31"),
        (_text(b"\x01" + raw(GOOD) + b"\x00", GOOD_KID), "an Ed25519 key has 32 bytes, this one 33"),
        (_text(b"\x01" + raw(generated(1).public_key()), GOOD_KID), "does not match the key"),
    ],
)
def test_malformed_verifier_key_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(CheckpointError, match=reason):
        parse_public_key(text)


def test_checkpoint_verifies_with_any_trusted_key_chosen_by_key_id() -> None:
    old, new, stranger = generated(10), generated(11), generated(12)
    body = Checkpoint(3, b"\x01" * 32, "ab" * 32, 1_712_100_000_000)
    by_old = sign(body, old).note

    assert parse_and_verify(by_old, new.public_key(), also=[old.public_key()]).size == 3
    with pytest.raises(CheckpointError, match="no signature by this log's key"):
        parse_and_verify(by_old, new.public_key(), also=[stranger.public_key()])
