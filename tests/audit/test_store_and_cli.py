"""The store refuses edits; rollback of the whole store; writers in several processes; the CLI verdicts."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from conftest import ROOMY_STORE_TIMEOUT
from trainer_ops.access.types import Role
from trainer_ops.app import Ops, build_ops
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.cli.main import app as cli
from trainer_ops.config import Settings

from .attacker import Attacker


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET action = 'predict'",
        "DELETE FROM audit_entries",
        "UPDATE audit_checkpoints SET size = 0",
        "DELETE FROM audit_checkpoints",
        "UPDATE document_versions SET version = 99",
        "DELETE FROM document_versions",
    ],
)
def test_store_refuses_update_and_delete(log: Ops, statement: str) -> None:
    log.checkpoints.make()
    with pytest.raises(DBAPIError, match="append-only"), log.database.engine.begin() as conn:
        conn.execute(text(statement))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("table", ["audit_entries", "audit_checkpoints", "document_versions"])
def test_postgres_refuses_truncate_even_as_replica(log: Ops, table: str) -> None:
    with log.database.engine.begin() as conn:
        # ENABLE ALWAYS: a session that pretends to be a replication replica still fires the triggers.
        conn.execute(text("SET session_replication_role = replica"))
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text(f"TRUNCATE {table}"))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_store_rolled_back_to_an_older_copy_is_caught_by_a_newer_checkpoint(
    client: TestClient, log: Ops, tmp_path: Path
) -> None:
    db_file = Path(log.database.engine.url.database or "")
    old_size = log.checkpoints.size()
    log.writer.stop()  # the writer holds its connection between batches; it starts again when used
    log.database.engine.dispose()
    with log.database.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(db_file, tmp_path / "old.db")
    for value in (0.5, 0.6, 0.7):
        assert client.patch("/operator/ops/model-config", json={"temperature": value}).status_code == 200
    exported = log.checkpoints.make().note
    log.writer.stop()
    log.database.engine.dispose()
    for suffix in ("-wal", "-shm"):
        Path(str(db_file) + suffix).unlink(missing_ok=True)
    shutil.copy(tmp_path / "old.db", db_file)
    verdict = log.checkpoints.verify(extra=[exported])
    assert (verdict.status, verdict.first_bad_seq) == ("tampered", old_size + 1)


def _append_tokens(settings: Settings, worker: int, count: int) -> None:
    ops = build_ops(settings)
    try:
        for i in range(count):
            ops.write(
                lambda session, i=i: ops.tokens.create(
                    session, actor=SYSTEM_ACTOR, role=Role.SERVICE, user_id=f"w{worker}-{i}"
                )
            )
    finally:
        ops.close()


def test_concurrent_writers_in_several_processes_leave_no_gap_and_no_fork(
    log: Ops, settings: Settings
) -> None:
    before = log.checkpoints.size()
    context = multiprocessing.get_context("spawn")
    # What is tested is the chain, not the store's bounds: four processes taking turns at SQLite's one
    # write lock may wait longer than a request would on a loaded machine, so they may wait long.
    roomy = settings.model_copy(
        update={
            "store_timeout_seconds": 60,
            "store_lock_timeout_seconds": 50,
            "store_statement_timeout_seconds": 50,
        }
    )
    workers = [context.Process(target=_append_tokens, args=(roomy, w, 40)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    verdict = log.checkpoints.verify()
    assert verdict.status == "intact"
    assert verdict.size == before + 4 * 40


@pytest.fixture
def cli_env(log: Ops, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TRAINER_OPS_HOME", str(settings.home))
    monkeypatch.setenv("TRAINER_OPS_DATABASE_URL", settings.database_url)
    # The store bound of the tests that do not test it (tests/conftest.py): a loaded machine.
    monkeypatch.setenv("TRAINER_OPS_STORE_TIMEOUT_SECONDS", str(ROOMY_STORE_TIMEOUT))
    return CliRunner()


def test_cli_verify_exit_codes(cli_env: CliRunner, log: Ops, settings: Settings, tmp_path: Path) -> None:
    out_file = tmp_path / "witness.txt"
    result = cli_env.invoke(cli, ["audit", "checkpoint", "--out", str(out_file)])
    assert result.exit_code == 0, result.output
    result = cli_env.invoke(cli, ["audit", "verify", "--checkpoint", str(out_file)])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output

    Attacker(log).sql("UPDATE audit_entries SET user_id = 'x' WHERE seq = 4")
    result = cli_env.invoke(cli, ["audit", "verify", "--json"])
    assert result.exit_code == 1
    assert '"firstBadSeq":4' in result.output

    (settings.home / "audit-mac-key").unlink()
    result = cli_env.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 2
    assert "missing" in result.output


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgres_service_role_may_only_insert_and_select_the_audit_log(log: Ops) -> None:
    with log.database.engine.connect() as conn:
        conn.execute(text("SET ROLE trainer_ops_service"))
        assert conn.execute(text("SELECT count(*) FROM audit_entries")).scalar() > 0
        for statement in (
            "UPDATE audit_entries SET action = 'predict'",
            "DELETE FROM audit_entries",
            "ALTER TABLE audit_entries DISABLE TRIGGER USER",
            "TRUNCATE audit_checkpoints",
        ):
            with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
                conn.execute(text(statement))
            conn.rollback()
            conn.execute(text("SET ROLE trainer_ops_service"))
