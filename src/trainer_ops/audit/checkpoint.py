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
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from trainer_ops.infra.secrets import write_private

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
    try:
        _origin, _kid, encoded = text.strip().rsplit("+", 2)
        raw = base64.b64decode(encoded)
        if raw[:1] != _ALG_ED25519:
            raise ValueError("not an Ed25519 key")
        return Ed25519PublicKey.from_public_bytes(raw[1:])
    except (ValueError, IndexError) as exc:
        raise CheckpointError(f"not a verifier key: {exc}") from None


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise CheckpointError(f"{path} is not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private(path, pem.decode())
    return key


def sign(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> Checkpoint:
    body = checkpoint.body()
    signature = key.sign(body.encode())
    stamp = base64.b64encode(key_id(key.public_key()) + signature).decode()
    note = f"{body}\n\u2014 {ORIGIN} {stamp}\n"
    return Checkpoint(checkpoint.size, checkpoint.root, checkpoint.chain, checkpoint.ts_ms, note)


def parse_and_verify(note: str, public: Ed25519PublicKey) -> Checkpoint:
    """Parse a signed note and check its signature; raises CheckpointError on any mismatch."""
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
    wanted = key_id(public)
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != ORIGIN:
            continue
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if raw[:4] != wanted:
            continue
        try:
            public.verify(raw[4:], body.encode())
        except InvalidSignature:
            raise CheckpointError("the checkpoint's signature does not verify (forged or edited)") from None
        return checkpoint
    raise CheckpointError("the checkpoint carries no signature by this log's key")
