"""`trainer-ops change-requests list | show | approve | reject` on the local store (issue #13, item 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from conftest import ROOMY_STORE_TIMEOUT
from trainer_ops.cli.main import app as cli
from trainer_ops.config import Settings

from .support import ADMIN_TOKEN, MODEL_CONFIG, app_client

POLICY = "/operator/ops/policy"


@pytest.fixture
def home(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("TRAINER_OPS_BOOTSTRAP_ADMIN_TOKEN", "TRAINER_OPS_JWT_SECRET", "TRAINER_OPS_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "cli-home"
    monkeypatch.setenv("TRAINER_OPS_DATABASE_URL", database_url)
    monkeypatch.setenv("TRAINER_OPS_HOME", str(home))
    # The store bound of the tests that do not test it (tests/conftest.py): a loaded machine.
    monkeypatch.setenv("TRAINER_OPS_STORE_TIMEOUT_SECONDS", str(ROOMY_STORE_TIMEOUT))
    return home


def test_the_cli_lists_shows_rejects_and_approves_as_the_cli_user(home: Path, database_url: str) -> None:
    settings = Settings(
        home=home,
        database_url=database_url,
        bootstrap_admin_token=ADMIN_TOKEN,
        snapshot_poll_seconds=0,
        token_cache_seconds=0,
        change_notifications=False,
    )
    with app_client(settings) as client:
        policy: dict[str, Any] = client.get(POLICY).json()
        policy["operations"]["model_config.update"]["admin"] = {"approvals": {"minApprovals": 1}}
        assert client.put(POLICY, json=policy).status_code == 200
        kept = client.patch(MODEL_CONFIG, json={"temperature": 0.2}).json()["id"]
        dropped = client.patch(MODEL_CONFIG, json={"maxTokens": 10}).json()["id"]

    listed = CliRunner().invoke(cli, ["change-requests", "list", "--json"])
    shown = CliRunner().invoke(cli, ["change-requests", "show", kept])
    no_comment = CliRunner().invoke(cli, ["change-requests", "reject", dropped])
    rejected = CliRunner().invoke(cli, ["change-requests", "reject", dropped, "--comment", "too few tokens"])
    approved = CliRunner().invoke(cli, ["change-requests", "approve", kept])
    again = CliRunner().invoke(cli, ["change-requests", "approve", kept])

    assert listed.exit_code == 0, listed.output
    assert {item["id"] for item in orjson.loads(listed.stdout)} == {kept, dropped}
    assert orjson.loads(shown.stdout)["diff"]["after"] == {"temperature": 0.2}
    assert no_comment.exit_code == 2
    assert rejected.exit_code == 0, rejected.output
    assert f"{dropped}  rejected" in rejected.stdout
    assert approved.exit_code == 0, approved.output
    assert f"{kept}  applied" in approved.stdout
    assert again.exit_code == 1  # refused, as a refused remote command (ADR 0028)
    assert "is applied" in again.stderr
    with app_client(settings) as client:
        assert client.get(MODEL_CONFIG).json()["temperature"] == 0.2
        audit = client.get("/operator/ops/audit", params={"action": "change_request", "limit": 10}).json()
    assert {e["actor"]["userId"] for e in audit["items"] if e["details"]["event"] == "approved"} == {"cli"}


def test_a_reload_approved_from_the_cli_is_left_due_for_a_server_to_run(
    home: Path, database_url: str
) -> None:
    settings = Settings(
        home=home,
        database_url=database_url,
        bootstrap_admin_token=ADMIN_TOKEN,
        snapshot_poll_seconds=0,
        token_cache_seconds=0,
        change_notifications=False,
    )
    ruleset = {"scenarios": [{"id": "u", "title": "t", "objectives": ["o"], "difficulty": 2}]}
    with app_client(settings) as client:
        assert client.put("/operator/ops/engines/scenario/rulesets/v12", json=ruleset).status_code == 201
        policy: dict[str, Any] = client.get(POLICY).json()
        policy["operations"]["hot_reload"]["admin"] = {"approvals": {"minApprovals": 1}}
        assert client.put(POLICY, json=policy).status_code == 200
        held = client.post("/operator/ops/hot-reload", json={"type": "scenario", "targetId": "v12"}).json()

    # The CLI's process is no member of the fleet: it approves, and leaves the round to a server.
    approved = CliRunner().invoke(cli, ["change-requests", "approve", held["id"], "--json"])

    assert approved.exit_code == 0, approved.output
    assert orjson.loads(approved.stdout)["state"] == "approved"
    with app_client(settings) as client:  # its start runs what is due
        assert client.get(f"/operator/ops/change-requests/{held['id']}").json()["state"] == "applied"
        assert client.get("/operator/ops/engines/scenario/active").json()["targetId"] == "v12"
