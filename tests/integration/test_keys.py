"""Keys shared by replicas and checked against the store (ADR 0017): given by setting or by file, recorded
as fingerprints on the first start, a foreign key refused before anything is written, the fingerprints
command, and signing-key rotation."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from trainer_ops.access.types import Principal, Role
from trainer_ops.app import Ops, build_ops
from trainer_ops.audit.checkpoint import Checkpoint, public_key_text, sign
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.cli.main import app as cli
from trainer_ops.config import Settings
from trainer_ops.db import migrate
from trainer_ops.errors import TrainerOpsError

from .support import ADMIN_TOKEN

KEY_FILES = ("audit-mac-key", "audit-signing-key", "jwt-secret")
COUNTED = ("audit_entries", "audit_checkpoints", "document_versions", "api_tokens", "key_fingerprints")
SERVE_TIMEOUT_SECONDS = 60


def pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def replica(settings: Settings, home: Path, **keys: Any) -> Settings:
    """A replica's settings: the test's store, a home of its own, the keys given (none: files in home)."""
    return Settings(
        home=home,
        database_url=settings.database_url,
        bootstrap_admin_token=ADMIN_TOKEN,
        snapshot_poll_seconds=0,
        change_notifications=False,
        token_cache_seconds=0,
        **keys,
    )


@contextmanager
def started(settings: Settings) -> Iterator[Ops]:
    ops = build_ops(settings)
    try:
        ops.prepare()
        yield ops
    finally:
        ops.close()


def refused_start(settings: Settings) -> str:
    """The message of a start that must be refused."""
    ops = build_ops(settings)
    try:
        with pytest.raises(TrainerOpsError) as refused:
            ops.prepare()
    finally:
        ops.close()
    return refused.value.message


def change_config(ops: Ops, temperature: float) -> None:
    ops.model_config.update(
        principal=Principal("tester", Role.ADMIN),
        changes={"temperature": temperature},
        if_match=None,
        request_id=f"t-{temperature}",
    )


def counts(settings: Settings) -> dict[str, int]:
    """Rows of every table a start or a command could write."""
    engine = create_engine(settings.resolved_database_url)
    try:
        present = set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            return {
                table: int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in COUNTED
                if table in present
            }
    finally:
        engine.dispose()


def flat(output: str) -> str:
    """CLI output with the terminal's line wrapping undone."""
    return " ".join(output.split())


def key_files(home: Path) -> list[str]:
    return [name for name in KEY_FILES if (home / name).exists()]


@pytest.fixture
def shared() -> dict[str, str]:
    """One set of keys, as an operator would put in a secret store."""
    return {
        "mac": "mac-" + os.urandom(24).hex(),
        "signing": pem(Ed25519PrivateKey.generate()),
        "jwt": "jwt-" + os.urandom(24).hex(),
    }


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> CliRunner:
    """The CLI reads its settings from the environment: this test's store, nothing inherited."""
    for name in list(os.environ):
        if name.startswith("TRAINER_OPS_") and name != "TRAINER_OPS_TEST_PG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRAINER_OPS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRAINER_OPS_BOOTSTRAP_ADMIN_TOKEN", ADMIN_TOKEN)
    return CliRunner()


# --- the defect: a replica with a home of its own -------------------------------------------------------


def test_replica_with_its_own_home_and_no_keys_refuses_to_start_naming_the_mac_key_and_writes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    first = replica(settings, tmp_path / "home-a")
    with started(first) as ops:
        change_config(ops, 0.7)
    before = counts(settings)
    second_home = tmp_path / "home-b"

    message = refused_start(replica(settings, second_home))

    assert "audit MAC key does not match the store's (fingerprint " in message
    assert "give every replica the same TRAINER_OPS_AUDIT_MAC_KEY(_FILE)" in message
    assert f"none given and no {second_home / 'audit-mac-key'}" in message
    assert "checkpoint signing key does not match" in message
    assert "JWT secret does not match" in message
    assert counts(settings) == before
    assert key_files(second_home) == []  # no key that is nobody's was left behind
    with started(first) as ops:  # the first replica's keys still run the store, and the log holds
        assert ops.checkpoints.verify().status == "intact"


def test_replicas_given_the_same_keys_by_environment_start_write_and_audit_verify_passes(
    settings: Settings,
    tmp_path: Path,
    shared: dict[str, str],
    cli_env: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRAINER_OPS_AUDIT_MAC_KEY", shared["mac"])
    monkeypatch.setenv("TRAINER_OPS_AUDIT_SIGNING_KEY", shared["signing"])
    monkeypatch.setenv("TRAINER_OPS_JWT_SECRET", shared["jwt"])
    token = jwt.encode(
        {"sub": "anna", "role": "admin", "exp": 4_000_000_000}, shared["jwt"], algorithm="HS256"
    )

    with started(replica(settings, tmp_path / "a")) as a, started(replica(settings, tmp_path / "b")) as b:
        change_config(a, 0.5)
        a.checkpoints.make()
        change_config(b, 0.6)
        b.checkpoints.make()  # re-verifies a's checkpoint first: same signing key
        assert a.authenticator.authenticate(f"Bearer {token}").user_id == "anna"
        assert b.authenticator.authenticate(f"Bearer {token}").user_id == "anna"
        assert a.checkpoints.verifier_key == b.checkpoints.verifier_key

    monkeypatch.setenv("TRAINER_OPS_HOME", str(tmp_path / "c"))
    result = cli_env.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    assert "2 signed checkpoint(s) matched" in result.output
    assert [key_files(tmp_path / home) for home in ("a", "b", "c")] == [[], [], []]


def test_keys_given_by_file_paths_are_the_keys(
    settings: Settings, tmp_path: Path, shared: dict[str, str]
) -> None:
    secrets = tmp_path / "secrets"  # a Kubernetes Secret's mount: each file ends with a newline
    secrets.mkdir()
    for name, value in shared.items():
        (secrets / name).write_text(value.strip() + "\n")
    by_file = {
        "audit_mac_key_file": str(secrets / "mac"),
        "audit_signing_key_file": str(secrets / "signing"),
        "jwt_secret_file": str(secrets / "jwt"),
    }
    by_value = {
        "audit_mac_key": shared["mac"],
        "audit_signing_key": shared["signing"],
        "jwt_secret": shared["jwt"],
    }

    with started(replica(settings, tmp_path / "a", **by_file)) as a:
        change_config(a, 0.5)
        a.checkpoints.make()
    with started(replica(settings, tmp_path / "b", **by_file)) as b:
        change_config(b, 0.6)
    # The same keys given by value match what the files gave: the files' contents are the keys.
    with started(replica(settings, tmp_path / "c", **by_value)) as c:
        verdict = c.checkpoints.verify()

    assert verdict.status == "intact", verdict.reason
    assert verdict.checkpoints_checked == 1
    assert [key_files(tmp_path / home) for home in ("a", "b", "c")] == [[], [], []]


@pytest.mark.parametrize(
    ("value", "file", "env"),
    [
        ("audit_mac_key", "audit_mac_key_file", "TRAINER_OPS_AUDIT_MAC_KEY"),
        ("audit_signing_key", "audit_signing_key_file", "TRAINER_OPS_AUDIT_SIGNING_KEY"),
        ("jwt_secret", "jwt_secret_file", "TRAINER_OPS_JWT_SECRET"),
    ],
)
def test_key_given_both_as_value_and_as_file_is_a_start_up_error(
    settings: Settings, tmp_path: Path, shared: dict[str, str], value: str, file: str, env: str
) -> None:
    path = tmp_path / "key"
    path.write_text(shared["signing"] if "signing" in value else shared["mac"])
    given = {value: shared["signing"] if "signing" in value else shared["mac"], file: str(path)}

    with pytest.raises(TrainerOpsError, match=rf"given twice: set {env} or {env}_FILE, not both"):
        build_ops(replica(settings, tmp_path / "home", **given))


def test_key_file_that_cannot_be_read_or_holds_no_key_is_a_start_up_error(
    settings: Settings, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key\n")

    with pytest.raises(TrainerOpsError, match=rf"TRAINER_OPS_AUDIT_MAC_KEY_FILE: cannot read {missing}"):
        build_ops(replica(settings, tmp_path / "home", audit_mac_key_file=str(missing)))
    with pytest.raises(TrainerOpsError, match="is not an Ed25519 private key"):
        build_ops(replica(settings, tmp_path / "home", audit_signing_key_file=str(garbage)))
    assert key_files(tmp_path / "home") == []


# --- the command line ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_with_a_foreign_key_exits_non_zero_naming_the_key_without_a_traceback(
    settings: Settings, tmp_path: Path
) -> None:
    with started(replica(settings, tmp_path / "a")):
        pass
    before = counts(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINER_OPS_")}
    env.update(TRAINER_OPS_HOME=str(tmp_path / "b"), TRAINER_OPS_DATABASE_URL=settings.database_url)

    done = subprocess.run(
        [sys.executable, "-m", "trainer_ops.cli.main", "serve", "--port", str(_free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SERVE_TIMEOUT_SECONDS,
        check=False,
    )

    assert done.returncode == 2, done.stdout + done.stderr
    assert "audit MAC key does not match the store's" in done.stderr
    assert "TRAINER_OPS_AUDIT_MAC_KEY(_FILE)" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "serving on" not in done.stdout
    assert counts(settings) == before


def test_cli_commands_that_write_refuse_a_foreign_key_and_write_nothing(
    settings: Settings,
    tmp_path: Path,
    shared: dict[str, str],
    cli_env: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with started(replica(settings, tmp_path / "a")) as ops:
        change_config(ops, 0.5)
    before = counts(settings)
    monkeypatch.setenv("TRAINER_OPS_HOME", str(tmp_path / "b"))

    for command in (
        ["init"],
        ["token", "create", "--role", "admin", "--user", "u1"],
        ["token", "revoke", "1"],
    ):
        result = cli_env.invoke(cli, command)
        assert result.exit_code == 2, (command, result.output)
        assert "audit MAC key does not match the store's" in result.output
        assert "Traceback" not in result.output
    # Foreign keys given by setting: a checkpoint is refused, and verification says it cannot verify.
    monkeypatch.setenv("TRAINER_OPS_AUDIT_MAC_KEY", shared["mac"])
    monkeypatch.setenv("TRAINER_OPS_AUDIT_SIGNING_KEY", shared["signing"])
    checkpoint = cli_env.invoke(cli, ["audit", "checkpoint"])
    verify = cli_env.invoke(cli, ["audit", "verify"])

    assert checkpoint.exit_code == 2, checkpoint.output
    assert "checkpoint signing key does not match the store's" in checkpoint.output
    assert verify.exit_code == 2, verify.output
    assert "cannot verify" in verify.output
    assert "audit MAC key does not match the store's" in flat(verify.output)
    assert counts(settings) == before
    assert key_files(tmp_path / "b") == []


def test_keys_fingerprints_prints_each_key_given_and_recorded_and_exits_1_on_a_mismatch(
    settings: Settings,
    tmp_path: Path,
    shared: dict[str, str],
    cli_env: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRAINER_OPS_AUDIT_MAC_KEY", shared["mac"])
    monkeypatch.setenv("TRAINER_OPS_AUDIT_SIGNING_KEY", shared["signing"])
    monkeypatch.setenv("TRAINER_OPS_JWT_SECRET", shared["jwt"])
    monkeypatch.setenv("TRAINER_OPS_HOME", str(tmp_path / "a"))
    with started(Settings()) as ops:
        verifier_key = ops.checkpoints.verifier_key

    as_json = cli_env.invoke(cli, ["keys", "fingerprints", "--json"])
    table = cli_env.invoke(cli, ["keys", "fingerprints"])

    assert as_json.exit_code == 0, as_json.output
    body = orjson.loads(as_json.stdout)
    assert body["match"] is True
    assert body["verifierKey"] == verifier_key
    assert body["retiredSigningKeys"] == []
    assert [(k["name"], k["state"], k["source"]) for k in body["keys"]] == [
        ("audit-mac-key", "match", "TRAINER_OPS_AUDIT_MAC_KEY"),
        ("audit-signing-key", "match", "TRAINER_OPS_AUDIT_SIGNING_KEY"),
        ("jwt-secret", "match", "TRAINER_OPS_JWT_SECRET"),
    ]
    for key in body["keys"]:
        assert key["given"] == key["recorded"]
        assert len(key["given"]) == 64
        assert key["generation"] == 1
    for secret in shared.values():  # fingerprints only, never a key
        assert secret not in as_json.output
        assert secret not in table.output
    assert table.exit_code == 0, table.output
    for label in ("audit MAC key", "checkpoint signing key", "JWT secret"):
        assert label in table.output
    assert table.output.count("match") == 3
    assert verifier_key in table.output

    monkeypatch.setenv("TRAINER_OPS_JWT_SECRET", "another-" + shared["jwt"])
    monkeypatch.delenv("TRAINER_OPS_AUDIT_MAC_KEY")
    monkeypatch.setenv("TRAINER_OPS_HOME", str(tmp_path / "b"))
    foreign = cli_env.invoke(cli, ["keys", "fingerprints", "--json"])
    foreign_table = cli_env.invoke(cli, ["keys", "fingerprints"])

    assert foreign.exit_code == 1, foreign.output
    mac, signing, secret = orjson.loads(foreign.stdout)["keys"]
    assert (mac["state"], mac["given"]) == ("mismatch", None)
    assert "audit MAC key does not match the store's" in mac["problem"]
    assert signing["state"] == "match"
    assert secret["state"] == "mismatch"
    assert secret["given"] != secret["recorded"]
    assert foreign_table.exit_code == 1
    assert foreign_table.output.count("MISMATCH") == 2
    assert key_files(tmp_path / "b") == []


def test_replace_jwt_secret_makes_the_new_secret_the_stores_and_refuses_the_old(
    settings: Settings,
    tmp_path: Path,
    shared: dict[str, str],
    cli_env: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = {"audit_mac_key": shared["mac"], "audit_signing_key": shared["signing"]}
    with started(replica(settings, tmp_path / "a", jwt_secret=shared["jwt"], **keys)):
        pass
    assert "JWT secret does not match" in refused_start(
        replica(settings, tmp_path / "a", jwt_secret="new-secret", **keys)
    )

    monkeypatch.setenv("TRAINER_OPS_AUDIT_MAC_KEY", shared["mac"])
    monkeypatch.setenv("TRAINER_OPS_AUDIT_SIGNING_KEY", shared["signing"])
    monkeypatch.setenv("TRAINER_OPS_JWT_SECRET", "new-secret")
    result = cli_env.invoke(cli, ["keys", "replace-jwt-secret"])

    assert result.exit_code == 0, result.output
    assert "generation 2" in result.output
    with started(replica(settings, tmp_path / "a", jwt_secret="new-secret", **keys)):
        pass
    assert "JWT secret from TRAINER_OPS_JWT_SECRET was retired (generation 1" in refused_start(
        replica(settings, tmp_path / "a", jwt_secret=shared["jwt"], **keys)
    )


# --- signing-key rotation -------------------------------------------------------------------------------


def test_signing_key_rotation_keeps_old_checkpoints_verifying_and_refuses_unknown_signers(
    settings: Settings,
    tmp_path: Path,
    shared: dict[str, str],
    cli_env: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_a, key_b, stranger = (Ed25519PrivateKey.generate() for _ in range(3))
    verifier_a = public_key_text(key_a.public_key())
    common = {"audit_mac_key": shared["mac"], "jwt_secret": shared["jwt"]}
    with_a = replica(settings, tmp_path / "home", audit_signing_key=pem(key_a), **common)
    with started(with_a) as ops:
        change_config(ops, 0.5)
        ops.checkpoints.make()

    # A new key alone is a foreign key; the message says how to rotate.
    message = refused_start(replica(settings, tmp_path / "home", audit_signing_key=pem(key_b), **common))
    assert "checkpoint signing key does not match the store's" in message
    assert f"TRAINER_OPS_AUDIT_VERIFY_KEYS={verifier_a}" in message

    rotate = replica(
        settings, tmp_path / "home", audit_signing_key=pem(key_b), audit_verify_keys=verifier_a, **common
    )
    with started(rotate) as ops:
        change_config(ops, 0.6)
        ops.checkpoints.make()
    # Later starts with B alone: the store's signed record of the rotation keeps A's checkpoints valid.
    with_b = replica(settings, tmp_path / "home", audit_signing_key=pem(key_b), **common)
    with started(with_b) as ops:
        change_config(ops, 0.7)
        ops.checkpoints.make()
        verdict = ops.checkpoints.verify()
        size = ops.checkpoints.size()
    assert verdict.status == "intact", verdict.reason
    assert verdict.checkpoints_checked == 3
    assert "was retired (generation 1" in refused_start(with_a)

    monkeypatch.setenv("TRAINER_OPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRAINER_OPS_AUDIT_MAC_KEY", shared["mac"])
    monkeypatch.setenv("TRAINER_OPS_AUDIT_SIGNING_KEY", pem(key_b))
    monkeypatch.setenv("TRAINER_OPS_JWT_SECRET", shared["jwt"])
    result = cli_env.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "3 signed checkpoint(s) matched" in result.output
    fingerprints = orjson.loads(cli_env.invoke(cli, ["keys", "fingerprints", "--json"]).stdout)
    assert fingerprints["retiredSigningKeys"][0]["verifierKey"] == verifier_a
    assert fingerprints["retiredSigningKeys"][0]["trusted"] is True

    # A checkpoint signed by a key nobody rotated to is refused, from a file or from the store, even
    # with that key written into the store's key record by someone who can write the store.
    with started(with_b) as ops:
        latest = ops.checkpoints.latest()
    assert latest is not None
    assert latest.size == size
    forged = sign(Checkpoint(latest.size, latest.root, latest.chain, latest.ts_ms + 1), stranger).note
    (tmp_path / "forged.txt").write_text(forged)
    result = cli_env.invoke(cli, ["audit", "verify", "--checkpoint", str(tmp_path / "forged.txt")])
    assert result.exit_code == 1, result.output
    assert "checkpoint file 1: the checkpoint carries no signature by this log's key" in flat(result.output)

    engine = create_engine(settings.resolved_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO key_fingerprints (name, generation, fingerprint, public_key, signature, "
                    "created_at_ms) VALUES ('audit-signing-key', 0, :fp, :pk, NULL, 0)"
                ),
                {"fp": "0" * 64, "pk": public_key_text(stranger.public_key())},
            )
            connection.execute(
                text(
                    "INSERT INTO audit_checkpoints (size, ts_ms, root_hash, chain_hash, note, frontier) "
                    "VALUES (:size, 0, :root, :chain, :note, '[]')"
                ),
                {"size": size + 1000, "root": latest.root.hex(), "chain": latest.chain, "note": forged},
            )
    finally:
        engine.dispose()
    result = cli_env.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert f"stored checkpoint at size {size + 1000}: the checkpoint carries no signature" in flat(
        result.output
    )


# --- stores and starts that race -----------------------------------------------------------------------


def test_store_written_before_fingerprints_adopts_only_the_key_that_wrote_it(
    settings: Settings, tmp_path: Path
) -> None:
    engine = create_engine(settings.resolved_database_url)
    try:
        migrate.upgrade(engine)
        migrate.downgrade(engine, "0004")  # a store of the release before key fingerprints
    finally:
        engine.dispose()
    home = tmp_path / "a"  # the key files the release before made on its first start
    home.mkdir()
    for name, content in zip(KEY_FILES, ("m" * 43, pem(Ed25519PrivateKey.generate()), "j" * 43), strict=True):
        (home / name).write_text(content + "\n")
    old = replica(settings, home)
    ops = build_ops(old)
    try:
        ops.write(
            lambda session: ops.tokens.create(session, actor=SYSTEM_ACTOR, role=Role.ADMIN, user_id="u")
        )
    finally:
        ops.close()

    message = refused_start(replica(settings, tmp_path / "b"))
    assert "audit MAC key does not verify the store's newest audit entry (seq 1" in message
    with started(old) as ops:
        assert ops.checkpoints.verify().status == "intact"
    assert counts(settings)["key_fingerprints"] == 3


def test_two_replicas_recording_different_keys_at_once_on_an_empty_store_one_wins_the_other_refuses(
    settings: Settings, tmp_path: Path
) -> None:
    engine = create_engine(settings.resolved_database_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    replicas = [build_ops(replica(settings, tmp_path / name)) for name in ("a", "b")]
    gate = threading.Barrier(2)
    outcomes: list[str] = []

    def start(ops: Ops) -> None:
        gate.wait()
        try:
            ops.keys.check_or_record()
            outcomes.append("started")
        except TrainerOpsError as refused:
            outcomes.append(refused.message)

    threads = [threading.Thread(target=start, args=(ops,)) for ops in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for ops in replicas:
        ops.close()

    assert sorted(outcomes, key=len)[0] == "started"
    assert "audit MAC key does not match the store's" in sorted(outcomes, key=len)[1]
    assert counts(settings)["key_fingerprints"] == 3
    assert sorted(len(key_files(tmp_path / name)) for name in ("a", "b")) == [0, 3]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_service_role_may_record_keys_but_never_change_or_remove_a_record(
    settings: Settings, tmp_path: Path
) -> None:
    with started(replica(settings, tmp_path / "a")):
        pass
    engine = create_engine(settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SET ROLE trainer_ops_service"))
            assert connection.execute(text("SELECT count(*) FROM key_fingerprints")).scalar_one() == 3
            connection.execute(
                text(
                    "INSERT INTO key_fingerprints (name, generation, fingerprint, created_at_ms) "
                    "VALUES ('jwt-secret', 2, :fp, 0)"
                ),
                {"fp": "f" * 64},
            )
            connection.rollback()
            for statement in (
                "UPDATE key_fingerprints SET fingerprint = 'x'",
                "DELETE FROM key_fingerprints",
                "TRUNCATE key_fingerprints",
                "ALTER TABLE key_fingerprints DISABLE TRIGGER USER",
            ):
                connection.execute(text("SET ROLE trainer_ops_service"))
                with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
                    connection.execute(text(statement))
                connection.rollback()
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as owner:
            owner.execute(text("DELETE FROM key_fingerprints"))
    finally:
        engine.dispose()


def test_a_process_that_made_its_keys_accepts_them_when_it_prepares_again(settings: Settings) -> None:
    # `serve` prepares, then its app's lifespan prepares again on the same Ops: the keys this process
    # made and recorded the first time are the store's keys the second time.
    ops = build_ops(settings)
    try:
        ops.prepare()
        ops.prepare()
        assert (settings.home / "audit-mac-key").exists()
    finally:
        ops.close()
