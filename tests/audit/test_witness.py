"""`trainer-ops audit witness` against a live server, holding only the log's public key: it accepts a log
that only grew, and exits 1 naming both checkpoints when the store's history was rewritten, truncated or
forked, even when the service itself signs the new tree (ADR 0030)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from conftest import ADMIN_TOKEN, LiveServer, _free_port
from trainer_ops.access.types import Role
from trainer_ops.app import Ops
from trainer_ops.audit.checkpoint import public_key_text
from trainer_ops.audit.types import SYSTEM_ACTOR, Action
from trainer_ops.cli.main import app
from trainer_ops.config import Settings

from .attacker import Attacker, rechain, rewrite_body

AUDIT = "/operator/ops/audit"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Checkpoints only when a test signs one, so each test knows every size the server signed.
    return settings.model_copy(update={"audit_checkpoint_every": 1_000_000, "audit_checkpoint_seconds": 3600})


class Scene:
    """A live server, its store (for the attacker) and witnesses that know only its URL, its public key
    and a read token."""

    def __init__(self, server: LiveServer, ops: Ops, tmp_path: Path) -> None:
        self.url = server.url
        self.ops = ops
        self.tmp_path = tmp_path
        self.key = public_key_text(ops.checkpoints.public_key)
        self.token = ops.write(
            lambda session: ops.tokens.create(
                session, actor=SYSTEM_ACTOR, role=Role.SERVICE, user_id="witness"
            )
        ).token
        self.admin = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    def grow(self, count: int, target: str = "t") -> None:
        def unit(session: Session) -> None:
            for n in range(count):
                self.ops.audit.append(
                    session, actor=SYSTEM_ACTOR, action=Action.RELOAD, target=f"{target}-{n}"
                )

        self.ops.write(unit)

    def sign(self) -> dict[str, Any]:
        """The service's own checkpointing (what the background job does), through the API."""
        response = self.admin.post(f"{AUDIT}/checkpoint")
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def witness(self, name: str, *extra: str, key: str | None = None, url: str | None = None) -> Any:
        args = ["audit", "witness", "--server", url or self.url, "--key", key or self.key]
        args += ["--state", str(self.tmp_path / f"{name}.json"), "--token", self.token, *extra]
        return CliRunner().invoke(app, args)

    def state(self, name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.tmp_path / f"{name}.json").read_text())
        return loaded


@pytest.fixture
def scene(live_server: LiveServer, ops: Ops, tmp_path: Path) -> Iterator[Scene]:
    live_server.start(ops)
    made = Scene(live_server, ops, tmp_path)
    yield made
    made.admin.close()
    live_server.stop()  # before `ops` closes under it


def stolen_mac_key(ops: Ops) -> bytes:
    return (ops.settings.home / "audit-mac-key").read_text().strip().encode()


def assert_alarm(result: Any, status: str, witnessed: dict[str, Any], newest: dict[str, Any]) -> None:
    """Exit 1, naming both checkpoints: sizes and root hashes."""
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"{status}:"), result.output
    for checkpoint in (witnessed, newest):
        assert f"size {checkpoint['size']}, root {checkpoint['rootHash']}" in result.output


def test_a_log_that_only_grows_is_accepted_through_several_growths(scene: Scene) -> None:
    first = scene.witness("w")
    assert (first.exit_code, first.output.split(":")[0]) == (0, "ok (no_checkpoint)")
    assert not (scene.tmp_path / "w.json").exists()
    signed = scene.sign()
    assert scene.witness("w").exit_code == 0
    assert scene.state("w")["size"] == signed["size"]
    for count in (1, 5, 300, 260):  # across 256-leaf tiles
        scene.grow(count)
        signed = scene.sign()
        result = scene.witness("w", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["status"] == "consistent"
        kept = scene.state("w")
        assert (kept["size"], kept["rootHash"], kept["checkpoint"]) == (
            signed["size"],
            signed["rootHash"],
            signed["note"],
        )
    again = scene.witness("w")
    assert again.exit_code == 0
    assert "unchanged" in again.output


def test_an_old_entry_rewritten_and_re_signed_by_the_service_is_caught(scene: Scene) -> None:
    scene.grow(20)
    witnessed = scene.sign()
    assert scene.witness("w").exit_code == 0
    # Attacker B: SQL access and the stolen MAC key. Entry 3 rewritten, the chain and MACs recomputed,
    # the stored checkpoints deleted, so the service's own checkpointing re-verifies from entry 1 and
    # signs the rewritten tree with its key.
    attacker = Attacker(scene.ops)
    rows = attacker.rows()
    rewrite_body(rows[2], after={"temperature": 0.0})
    rechain(rows, 2, mac_key=stolen_mac_key(scene.ops))
    attacker.replace_all(rows)
    attacker.sql("DELETE FROM audit_checkpoints")
    scene.grow(2)
    newest = scene.sign()
    result = scene.witness("w")
    assert_alarm(result, "rewritten", witnessed, newest)
    assert scene.state("w")["size"] == witnessed["size"]  # the alarm keeps firing until someone looks
    assert scene.witness("w").exit_code == 1


def test_a_truncated_log_is_caught_and_so_is_one_truncated_then_grown_past_the_old_size(scene: Scene) -> None:
    scene.grow(30)
    witnessed = scene.sign()
    assert scene.witness("w").exit_code == 0
    keep = witnessed["size"] - 5
    attacker = Attacker(scene.ops)
    attacker.sql("DELETE FROM audit_entries WHERE seq > :keep", keep=keep)
    attacker.sql("DELETE FROM audit_checkpoints")
    shorter = scene.sign()
    assert shorter["size"] == keep
    assert_alarm(scene.witness("w"), "truncated", witnessed, shorter)
    scene.grow(12, target="new")
    regrown = scene.sign()
    assert regrown["size"] > witnessed["size"]
    assert_alarm(scene.witness("w"), "rewritten", witnessed, regrown)


def test_a_fork_is_caught_by_the_witness_that_saw_the_other_branch(scene: Scene) -> None:
    scene.grow(10)
    branch_a = scene.sign()
    assert scene.witness("early").exit_code == 0
    # The store goes back to an older state and takes other entries to the same size: branch B.
    attacker = Attacker(scene.ops)
    attacker.sql("DELETE FROM audit_entries WHERE seq > :keep", keep=branch_a["size"] - 4)
    attacker.sql("DELETE FROM audit_checkpoints")
    scene.grow(4, target="other")
    branch_b = scene.sign()
    assert branch_b["size"] == branch_a["size"]
    assert branch_b["rootHash"] != branch_a["rootHash"]
    assert scene.witness("late").exit_code == 0  # a witness that started on branch B sees nothing wrong
    assert_alarm(scene.witness("early"), "forked", branch_a, branch_b)
    scene.grow(3)
    grown = scene.sign()
    assert scene.witness("late").exit_code == 0
    assert_alarm(scene.witness("early"), "rewritten", branch_a, grown)
    # The two witnesses' state files now hold different trees at one size: comparing them shows it too.
    (scene.tmp_path / "swapped.json").write_text((scene.tmp_path / "early.json").read_text())
    assert scene.witness("swapped").exit_code == 1


def test_a_wrong_key_is_a_bad_signature_and_a_malformed_key_a_usage_error(scene: Scene) -> None:
    scene.sign()
    other = public_key_text(Ed25519PrivateKey.generate().public_key())
    result = scene.witness("w", key=other)
    assert result.exit_code == 1
    assert result.output.startswith("bad_signature:")
    assert "no signature by this log's key" in result.output
    assert not (scene.tmp_path / "w.json").exists()
    assert scene.witness("w", key="trainer-ops/audit+nothex+AAAA").exit_code == 2
    assert scene.witness("w", key=str(scene.tmp_path / "missing.pub")).exit_code == 2
    key_file = scene.tmp_path / "log.pub"
    key_file.write_text(f"{other}\n{scene.key}\n")  # a retired key beside the current one
    assert scene.witness("w", key=str(key_file)).exit_code == 0


def test_an_unreachable_server_is_exit_3_and_leaves_the_state_alone(scene: Scene) -> None:
    scene.sign()
    assert scene.witness("w").exit_code == 0
    before = (scene.tmp_path / "w.json").read_text()
    result = scene.witness("w", url=f"http://127.0.0.1:{_free_port()}")
    assert result.exit_code == 3, result.output
    assert result.output.startswith("unreachable:")
    assert (scene.tmp_path / "w.json").read_text() == before
