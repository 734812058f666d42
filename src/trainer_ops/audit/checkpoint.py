"""Signed checkpoints in the signed-note format (as used by Go's sumdb and tlog checkpoints):

    trainer-ops/audit            origin
    1024                         tree size
    <base64 Merkle root>         RFC 9162 root over the first `size` entries
    chain <hex>                  the hash chain's head at that size
    time <epoch ms>

    — trainer-ops/audit <base64(key id (4 bytes) || Ed25519 signature)>

The signature covers every line above the blank line. A verifier needs only the public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ORIGIN = "trainer-ops/audit"
_ALG_ED25519 = b"\x01"


class CheckpointError(ValueError):
    """A checkpoint that cannot be parsed, or whose signature does not hold."""


@dataclass(frozen=True)
class Checkpoint:
    size: int
    root: bytes
    chain: str
    ts_ms: int
    note: str = ""

    def body(self) -> str:
        return (
            f"{ORIGIN}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
            f"chain {self.chain}\ntime {self.ts_ms}\n"
        )


def key_id(public: Ed25519PublicKey) -> bytes:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(ORIGIN.encode() + b"\n" + _ALG_ED25519 + raw).digest()[:4]


def public_key_text(public: Ed25519PublicKey) -> str:
    """The verifier key as `origin+keyid+base64(alg||key)`, like a signed-note verifier key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{ORIGIN}+{key_id(public).hex()}+{base64.b64encode(_ALG_ED25519 + raw).decode()}"


def parse_public_key(text: str) -> Ed25519PublicKey:
    """The key in a verifier key `origin+keyid+base64(alg||key)` (Go's signed-note format).

    The origin and the key id never contain `+`, but standard base64 does: the text is split at its
    first two `+` only. Raises CheckpointError saying what is wrong."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise CheckpointError(
            f"not a verifier key: expected origin+keyid+key, got {len(parts)} part(s) separated by '+'"
        )
    origin, kid, encoded = parts
    if origin != ORIGIN:
        raise CheckpointError(f"not a verifier key of this log: origin {origin!r}, expected {ORIGIN!r}")
    if len(kid) != 8 or any(c not in "0123456789abcdef" for c in kid):
        raise CheckpointError(f"not a verifier key: key id {kid!r} is not 8 lowercase hex digits")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError("not a verifier key: the key data is not standard base64") from None
    if raw[:1] != _ALG_ED25519:
        found = f"0x{raw[0]:02x}" if raw else "nothing"
        raise CheckpointError(f"not a verifier key: algorithm byte {found}, expected 0x01 (Ed25519)")
    if len(raw) != 1 + 32:
        raise CheckpointError(f"not a verifier key: an Ed25519 key has 32 bytes, this one {len(raw) - 1}")
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    if key_id(public).hex() != kid:
        raise CheckpointError(
            f"not a verifier key: key id {kid} does not match the key ({key_id(public).hex()})"
        )
    return public


def sign(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> Checkpoint:
    body = checkpoint.body()
    signature = key.sign(body.encode())
    stamp = base64.b64encode(key_id(key.public_key()) + signature).decode()
    note = f"{body}\n\u2014 {ORIGIN} {stamp}\n"
    return Checkpoint(checkpoint.size, checkpoint.root, checkpoint.chain, checkpoint.ts_ms, note)


def signer_key_ids(note: str) -> list[str]:
    """The key ids (hex) of this log's signature lines in a note, whether or not they verify: what an
    operator compares with the verifier key they hold."""
    found = []
    for line in note.partition("\n\n")[2].splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "\u2014" and parts[1] == ORIGIN:
            try:
                found.append(base64.b64decode(parts[2], validate=True)[:4].hex())
            except ValueError:
                continue
    return found


def parse_and_verify(
    note: str, public: Ed25519PublicKey, *, also: Sequence[Ed25519PublicKey] = ()
) -> Checkpoint:
    """Parse a signed note and check its signature by `public`, or by one of the keys in `also` (retired
    signing keys, ADR 0017), chosen by the key id in the signature line. Raises CheckpointError on any
    mismatch."""
    body, sep, signatures = note.partition("\n\n")
    if not sep:
        raise CheckpointError("no signature block (expected a blank line after the body)")
    body += "\n"
    lines = body.splitlines()
    try:
        origin, size_text, root_b64, chain_line, time_line = lines
        if origin != ORIGIN or not chain_line.startswith("chain ") or not time_line.startswith("time "):
            raise ValueError("unexpected lines")
        checkpoint = Checkpoint(
            size=int(size_text),
            root=base64.b64decode(root_b64, validate=True),
            chain=chain_line[len("chain ") :],
            ts_ms=int(time_line[len("time ") :]),
            note=note,
        )
    except ValueError as exc:
        raise CheckpointError(f"malformed checkpoint body: {exc}") from None
    trusted = {key_id(key): key for key in (*also, public)}
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != ORIGIN:
            continue
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        signer = trusted.get(raw[:4])
        if signer is None:
            continue
        try:
            signer.verify(raw[4:], body.encode())
        except InvalidSignature:
            raise CheckpointError("the checkpoint's signature does not verify (forged or edited)") from None
        return checkpoint
    raise CheckpointError("the checkpoint carries no signature by this log's key")
