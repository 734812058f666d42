"""Where each key comes from: a setting's value, a file named by `<setting>_FILE`, or (neither given)
a file under the home directory, made here when missing but written only once the store has taken it."""

from __future__ import annotations

import contextlib
import logging
import secrets
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from trainer_ops.audit.checkpoint import CheckpointError, parse_public_key
from trainer_ops.audit.keys.types import JWT, KINDS, MAC, SIGNING, GivenKey, KeyKind, KeysRefused, ServiceKeys
from trainer_ops.config import Settings

log = logging.getLogger("trainer_ops")
# Shorter secrets are accepted, with a warning: their fingerprint makes an offline search possible.
MIN_SECRET_CHARS = 32


def load_keys(settings: Settings) -> ServiceKeys:
    """The three keys as given to this process. Writes nothing; raises KeysRefused for a key given
    both ways, an unreadable file or a malformed key."""
    home = settings.home
    return ServiceKeys(
        mac=_secret(KINDS[MAC], settings.audit_mac_key, settings.audit_mac_key_file, home),
        signing=_signing(KINDS[SIGNING], settings.audit_signing_key, settings.audit_signing_key_file, home),
        jwt=_secret(KINDS[JWT], settings.jwt_secret, settings.jwt_secret_file, home),
        verify_keys=parse_verify_keys(settings.audit_verify_keys),
    )


def parse_verify_keys(text: str) -> tuple[Ed25519PublicKey, ...]:
    keys = []
    for number, part in enumerate((p.strip() for p in text.split(",")), 1):
        if not part:
            continue
        try:
            keys.append(parse_public_key(part))
        except CheckpointError as exc:
            raise KeysRefused("keys.config", f"TRAINER_OPS_AUDIT_VERIFY_KEYS, key {number}: {exc}") from None
    return tuple(keys)


def _given(kind: KeyKind, value: str, file: str) -> tuple[str, str] | None:
    """(text, source) of a key given by setting, or None when neither way gives it."""
    if value and file:
        raise KeysRefused(
            "keys.config",
            f"the {kind.label} is given twice: set {kind.env} or {kind.env}_FILE, not both",
        )
    if value:
        return value, kind.env
    if not file:
        return None
    try:
        text = Path(file).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise KeysRefused("keys.config", f"{kind.env}_FILE: cannot read {file}: {reason}") from None
    # Files end with a newline, mounted secrets often too: the key is the text without it.
    if not text.strip():
        raise KeysRefused("keys.config", f"{kind.env}_FILE: {file} is empty")
    return text.strip(), f"{kind.env}_FILE ({file})"


def _secret(kind: KeyKind, value: str, file: str, home: Path) -> GivenKey:
    given = _given(kind, value, file)
    if given is None:
        path = home / kind.name
        if not path.exists():
            made = secrets.token_urlsafe(32)
            return GivenKey(kind, source=f"{path} (missing)", secret=made, new_file=(path, made + "\n"))
        given = (_read_home_file(kind, path), str(path))
    secret, source = given
    if len(secret) < MIN_SECRET_CHARS:
        log.warning("the %s from %s is shorter than %d characters", kind.label, source, MIN_SECRET_CHARS)
    return GivenKey(kind, source=source, secret=secret)


def _signing(kind: KeyKind, value: str, file: str, home: Path) -> GivenKey:
    given = _given(kind, value, file)
    if given is None:
        path = home / kind.name
        if not path.exists():
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            return GivenKey(kind, source=f"{path} (missing)", signing=key, new_file=(path, pem))
        given = (_read_home_file(kind, path), str(path))
    text, source = given
    loaded: object = None
    with contextlib.suppress(ValueError, TypeError, UnsupportedAlgorithm):
        loaded = serialization.load_pem_private_key(text.strip().encode(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise KeysRefused(
            "keys.config", f"the {kind.label} from {source} is not an Ed25519 private key (PKCS#8 PEM)"
        )
    return GivenKey(kind, source=source, signing=loaded)


def _read_home_file(kind: KeyKind, path: Path) -> str:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeysRefused("keys.config", f"the {kind.label}: cannot read {path}: {exc}") from None


def missing(settings: Settings) -> list[GivenKey]:
    """The audit keys this process would have to make: commands that only check the log must not (a
    new key would make a good log look forged)."""
    keys = load_keys(settings)
    return [key for key in (keys.mac, keys.signing) if key.generated]
