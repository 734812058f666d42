"""Replicas started at the same moment on an empty store all come up: migrations and the first start's
writes run under the start lock, one process at a time (issue 10, item 4; ADR 0016). PostgreSQL is the
fleet's store; SQLite's processes share one host and take a file lock."""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import _create_pg_database, _drop_pg_database, _pg_url
from trainer_ops.app import DEFAULT_DOCUMENTS

REPLICAS = 4
# Each child imports the app, then waits for the go file, so every child starts its command at once.
CHILD = """
import sys, time
from pathlib import Path
from trainer_ops.cli.main import app

ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.0005)
app(sys.argv[3:], standalone_mode=False)
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    if os.environ.get("TRAINER_OPS_SKIP_PG") == "1" or not request.getfixturevalue("pg_available"):
        pytest.skip("needs the local PostgreSQL server")
    name = _create_pg_database()
    try:
        yield _pg_url(name)
    finally:
        _drop_pg_database(name)


def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    if database_url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn:
            return conn.execute(sql).fetchall()
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql).fetchall()


def shared_keys() -> dict[str, str]:
    """The keys every replica is given (as a shared secret store would give them)."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "TRAINER_OPS_AUDIT_MAC_KEY": secrets.token_urlsafe(32),
        "TRAINER_OPS_JWT_SECRET": secrets.token_urlsafe(32),
        "TRAINER_OPS_AUDIT_SIGNING_KEY": pem.decode(),
    }


def start_at_once(
    tmp_path: Path, database_url: str, commands: list[list[str]]
) -> list[subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINER_OPS_")}
    env.update(shared_keys(), TRAINER_OPS_DATABASE_URL=database_url)
    go = tmp_path / "go"
    children = []
    for i, command in enumerate(commands):
        ready, home = tmp_path / f"ready-{i}", tmp_path / f"home-{i}"
        home.mkdir()
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", CHILD, str(ready), str(go), *command],
                env={**env, "TRAINER_OPS_HOME": str(home)},
                cwd=home,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{i}").exists() for i in range(len(children))):
        assert time.monotonic() < deadline, "the children did not get ready"
        assert all(child.poll() is None for child in children), "a child died before the start"
        time.sleep(0.01)
    go.touch()
    results = []
    for child, command in zip(children, commands, strict=True):
        out, err = child.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(command, child.returncode, out, err))
    return results


def test_replicas_started_at_once_on_an_empty_database_all_come_up_and_initialise_once(
    tmp_path: Path, empty_database: str
) -> None:
    commands = [["init"]] * (REPLICAS - 1) + [["db", "upgrade"]]

    results = start_at_once(tmp_path, empty_database, commands)

    for result in results:
        assert result.returncode == 0, f"{result.args} failed:\n{result.stderr[-3000:]}"
    assert query(empty_database, "SELECT count(*) FROM alembic_version") == [(1,)]
    versions = query(empty_database, "SELECT kind, version FROM document_versions ORDER BY kind")
    assert versions == sorted((kind, 1) for kind in DEFAULT_DOCUMENTS)
    assert query(empty_database, "SELECT count(*) FROM api_tokens") == [(1,)]
    printed = [r for r in results if "admin token (printed once" in r.stdout]
    assert len(printed) == 1, [r.stdout for r in results]
