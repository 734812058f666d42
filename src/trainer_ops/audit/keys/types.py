"""Keys as values: which keys there are, a key as given to this process, fingerprints, the rotation
statement a new signing key signs, and the refusal (no I/O)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from trainer_ops.audit.checkpoint import public_key_text
from trainer_ops.errors import TrainerOpsError

MAC = "audit-mac-key"
SIGNING = "audit-signing-key"
JWT = "jwt-secret"
NAMES = (MAC, SIGNING, JWT)

_CONTEXT = b"trainer-ops key fingerprint v1"
# scrypt's interactive cost (16 MiB, ~80 ms): the store's readers see the fingerprints, and a
# short secret chosen by a person must not fall to a search over them.
_SCRYPT_N = 2**14


@dataclass(frozen=True)
class KeyKind:
    name: str
    label: str
    env: str  # the setting that gives it; `<env>_FILE` gives a file holding it


KINDS = {
    MAC: KeyKind(MAC, "audit MAC key", "TRAINER_OPS_AUDIT_MAC_KEY"),
    SIGNING: KeyKind(SIGNING, "checkpoint signing key", "TRAINER_OPS_AUDIT_SIGNING_KEY"),
    JWT: KeyKind(JWT, "JWT secret", "TRAINER_OPS_JWT_SECRET"),
}


class KeysRefused(TrainerOpsError):
    """A key given twice or unreadable, or not the one the store belongs to: the process must not
    start, and must not write anything."""

    status = 503
    family_code = "INTERNAL_ERROR"
    title = "Keys refused"


def secret_fingerprint(name: str, secret: str) -> str:
    """Names a secret without revealing it: scrypt over the secret, salted with a context of its own
    and the key's name (the same secret used as two keys gives two fingerprints)."""
    salt = _CONTEXT + b"\n" + name.encode()
    return hashlib.scrypt(secret.encode(), salt=salt, n=_SCRYPT_N, r=8, p=1, maxmem=2**26, dklen=32).hex()


def public_fingerprint(name: str, public: Ed25519PublicKey) -> str:
    """An Ed25519 key is named by its public half, which is no secret."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(_CONTEXT + b"\n" + name.encode() + b"\n" + raw).hexdigest()


def short(fingerprint: str) -> str:
    return fingerprint[:16] + "…"


@dataclass(frozen=True)
class GivenKey:
    """One key as this process has it, and where from."""

    kind: KeyKind
    # Where it came from, for messages: a setting's name or a file's path.
    source: str
    secret: str = ""
    signing: Ed25519PrivateKey | None = None
    # A key made here because none was given: (file, its content), written only when the store
    # records the key (its first start). Until then the key is nobody's.
    new_file: tuple[Path, str] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def generated(self) -> bool:
        return self.new_file is not None

    @cached_property
    def fingerprint(self) -> str:
        if self.signing is not None:
            return public_fingerprint(self.name, self.signing.public_key())
        return secret_fingerprint(self.name, self.secret)

    @property
    def verifier_key(self) -> str | None:
        return public_key_text(self.signing.public_key()) if self.signing is not None else None


@dataclass(frozen=True)
class ServiceKeys:
    mac: GivenKey
    signing: GivenKey
    jwt: GivenKey
    # Public keys of retired signing keys, named by the operator (TRAINER_OPS_AUDIT_VERIFY_KEYS).
    verify_keys: tuple[Ed25519PublicKey, ...] = ()

    def all(self) -> tuple[GivenKey, GivenKey, GivenKey]:
        return (self.mac, self.signing, self.jwt)

    def written(self) -> ServiceKeys:
        """The same keys once the ones made here are in their files and recorded: from now on they are
        this deployment's keys like any other (a second start of the same process must accept them)."""

        def settled(key: GivenKey) -> GivenKey:
            if key.new_file is None:
                return key
            return dataclasses.replace(key, source=str(key.new_file[0]), new_file=None)

        return dataclasses.replace(
            self, mac=settled(self.mac), signing=settled(self.signing), jwt=settled(self.jwt)
        )

    @property
    def mac_key(self) -> str:
        return self.mac.secret

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        assert self.signing.signing is not None  # sources.load_keys builds it so
        return self.signing.signing

    @property
    def jwt_secret(self) -> str:
        return self.jwt.secret


def rotation_statement(*, generation: int, retired: str, current: str, at_ms: int) -> bytes:
    """What a new signing key signs when it takes over: the key it retires, by its verifier key."""
    return (
        f"trainer-ops key rotation v1\n{SIGNING}\ngeneration {generation}\n"
        f"retired {retired}\ncurrent {current}\ntime {at_ms}\n"
    ).encode()


def sign_rotation(key: Ed25519PrivateKey, statement: bytes) -> str:
    return base64.b64encode(key.sign(statement)).decode()
