"""Where keys come from (a setting, a file, or the home directory) and their fingerprints."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trainer_ops.audit.checkpoint import public_key_text
from trainer_ops.audit.keys.sources import load_keys, missing
from trainer_ops.audit.keys.types import (
    JWT,
    MAC,
    SIGNING,
    KeysRefused,
    public_fingerprint,
    secret_fingerprint,
)
from trainer_ops.config import Settings

SECRET = "s" * 40


def pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def settings(home: Path, **given: str) -> Settings:
    return Settings(home=home, **given)


def test_no_key_given_and_no_file_makes_keys_in_memory_and_writes_nothing(tmp_path: Path) -> None:
    keys = load_keys(settings(tmp_path / "home"))

    assert [key.generated for key in keys.all()] == [True, True, True]
    assert not (tmp_path / "home").exists()
    assert keys.mac.new_file is not None
    assert keys.mac.new_file[0] == tmp_path / "home" / "audit-mac-key"
    assert keys.mac.new_file[1].strip() == keys.mac_key
    assert [key.name for key in missing(settings(tmp_path / "home"))] == [MAC, SIGNING]


def test_files_under_home_are_read_as_the_release_before_wrote_them(tmp_path: Path) -> None:
    signing = Ed25519PrivateKey.generate()
    (tmp_path / "audit-mac-key").write_text(SECRET + "\n")
    (tmp_path / "audit-signing-key").write_text(pem(signing))
    (tmp_path / "jwt-secret").write_text("j" * 40 + "\n")

    keys = load_keys(settings(tmp_path))

    assert keys.mac_key == SECRET
    assert keys.jwt_secret == "j" * 40
    assert keys.signing.verifier_key == public_key_text(signing.public_key())
    assert not any(key.generated for key in keys.all())
    assert missing(settings(tmp_path)) == []


def test_value_is_taken_as_given_and_a_file_without_its_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "mac").write_text(f"  {SECRET}\n")
    by_value = load_keys(settings(tmp_path / "h", audit_mac_key=SECRET, jwt_secret="j" * 40))
    by_file = load_keys(settings(tmp_path / "h", audit_mac_key_file=str(tmp_path / "mac")))

    assert by_value.mac_key == by_file.mac_key == SECRET
    assert by_value.mac.source == "TRAINER_OPS_AUDIT_MAC_KEY"
    assert by_file.mac.source == f"TRAINER_OPS_AUDIT_MAC_KEY_FILE ({tmp_path / 'mac'})"
    assert by_value.mac.fingerprint == by_file.mac.fingerprint


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ({"audit_mac_key": SECRET, "audit_mac_key_file": "/x"}, "audit MAC key is given twice"),
        ({"jwt_secret": SECRET, "jwt_secret_file": "/x"}, "JWT secret is given twice"),
        (
            {"audit_signing_key": "pem", "audit_signing_key_file": "/x"},
            "checkpoint signing key is given twice",
        ),
        (
            {"audit_mac_key_file": "/no/such/file"},
            "TRAINER_OPS_AUDIT_MAC_KEY_FILE: cannot read /no/such/file",
        ),
        (
            {"audit_signing_key": "not a pem"},
            "from TRAINER_OPS_AUDIT_SIGNING_KEY is not an Ed25519 private key",
        ),
        ({"audit_verify_keys": "trainer-ops/audit+00000000+AA=="}, "TRAINER_OPS_AUDIT_VERIFY_KEYS, key 1: "),
    ],
)
def test_bad_key_settings_are_refused_naming_the_setting(
    tmp_path: Path, given: dict[str, str], reason: str
) -> None:
    with pytest.raises(KeysRefused, match=reason):
        load_keys(settings(tmp_path, **given))


def test_empty_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(KeysRefused, match=r"TRAINER_OPS_JWT_SECRET_FILE: .* is empty"):
        load_keys(settings(tmp_path, jwt_secret_file=str(tmp_path / "empty")))


def test_rsa_key_is_not_a_signing_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    with pytest.raises(KeysRefused, match="is not an Ed25519 private key"):
        load_keys(settings(tmp_path, audit_signing_key=rsa_pem))


def test_verify_keys_are_parsed_in_order() -> None:
    old = [Ed25519PrivateKey.generate().public_key() for _ in range(2)]
    keys = load_keys(
        Settings(audit_verify_keys=", ".join(public_key_text(k) for k in old), audit_mac_key=SECRET)
    )
    assert [public_key_text(k) for k in keys.verify_keys] == [public_key_text(k) for k in old]


def test_secret_fingerprint_names_the_key_without_being_a_plain_hash_of_it() -> None:
    fingerprint = secret_fingerprint(MAC, SECRET)

    assert fingerprint == secret_fingerprint(MAC, SECRET)
    assert len(fingerprint) == 64
    assert fingerprint != secret_fingerprint(MAC, SECRET + "x")
    assert fingerprint != secret_fingerprint(JWT, SECRET)  # one secret used as two keys: two fingerprints
    assert fingerprint not in {hashlib.sha256(SECRET.encode()).hexdigest(), SECRET.encode().hex()}


def test_signing_fingerprint_comes_from_the_public_key(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    given = load_keys(Settings(home=tmp_path, audit_signing_key=pem(key), audit_mac_key=SECRET)).signing

    assert given.fingerprint == public_fingerprint(SIGNING, key.public_key())
    assert given.fingerprint != public_fingerprint(SIGNING, Ed25519PrivateKey.generate().public_key())
