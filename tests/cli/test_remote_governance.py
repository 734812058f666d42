"""`policy`, `places` and `change-requests`: remote when a server is configured, local with --local or
without a server (ADR 0028)."""

from __future__ import annotations

import json
from pathlib import Path

from trainer_ops.access.types import Role
from trainer_ops.audit.types import SYSTEM_ACTOR

from .conftest import Cli

POLICY = "/operator/ops/policy"
CHANGE_REQUESTS = "/operator/ops/change-requests"


def test_policy_show_and_set_go_to_the_server_as_the_tokens_user(cli: Cli, tmp_path: Path) -> None:
    shown = cli("policy", "show")
    assert shown.exit_code == 0, shown.output
    policy = json.loads(shown.stdout)
    assert policy == cli.api("GET", POLICY).json()
    assert "policy version 1" in shown.stderr
    policy["operations"]["limits.read"]["region"] = {}
    file = tmp_path / "policy.json"
    file.write_text(json.dumps(policy))

    stale = cli("policy", "set", str(file), "--if-match", "7")
    done = cli("policy", "set", str(file))
    locked = tmp_path / "locked.json"
    locked.write_text(json.dumps({"operations": {"policy.update": {}}}))
    refused = cli("policy", "set", str(locked))

    assert stale.exit_code == 1
    assert "412" in stale.stderr
    assert done.exit_code == 0, done.output
    assert "policy version 2" in done.stdout
    assert cli.api("GET", POLICY).json()["operations"]["limits.read"] == {"admin": {}, "region": {}}
    assert refused.exit_code == 1
    assert "nobody could change it" in refused.stderr
    [entry] = cli.api("GET", "/operator/ops/audit", params={"action": "update_config", "limit": 1}).json()[
        "items"
    ]
    assert entry["userId"] != "cli"  # the token's user, not the local CLI's
    assert cli.json("policy", "schema") == cli.api("GET", f"{POLICY}/schema").json()
    history = cli.json("policy", "history")
    assert history == cli.api("GET", f"{POLICY}/history", params={"limit": 20}).json()
    assert "limits.read" in cli("policy", "history").stdout


def test_places_remote_and_local_are_two_stores(cli: Cli, tmp_path: Path, monkeypatch: object) -> None:
    file = tmp_path / "places.json"
    file.write_text(json.dumps({"regions": [{"code": "EU", "name": "Europe"}]}))
    local_store = {
        "TRAINER_OPS_DATABASE_URL": f"sqlite:///{tmp_path / 'local.db'}",
        "TRAINER_OPS_HOME": str(tmp_path / "local-home"),
    }

    done = cli("places", "set", str(file))
    remote = cli("places", "show")
    local = cli("places", "show", "--local", **local_store)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"regions": [{"code": "A B", "name": "x"}]}))
    refused = cli("places", "set", str(bad))

    assert done.exit_code == 0, done.output
    assert "places version 2" in done.stdout
    assert json.loads(remote.stdout) == cli.api("GET", "/operator/ops/places").json()
    assert json.loads(remote.stdout)["regions"][0]["code"] == "EU"
    assert local.exit_code == 0, local.output
    assert json.loads(local.stdout) == {"regions": []}
    assert "places version 1" in local.stderr
    assert refused.exit_code == 1
    assert "regions.0.code" in refused.stderr
    assert cli.json("places", "history")["items"][0]["version"] == 2


def _second_admin(cli: Cli) -> str:
    ops = cli.server.ops
    assert ops is not None
    made = ops.write(
        lambda session: ops.tokens.create(session, actor=SYSTEM_ACTOR, role=Role.ADMIN, user_id="reviewer")
    )
    return made.token


def test_change_requests_list_show_approve_reject_cancel_remotely(cli: Cli) -> None:
    policy = cli.api("GET", POLICY).json()
    policy["operations"]["model_config.update"]["admin"] = {"approvals": {"minApprovals": 1}}
    assert cli.api("PUT", POLICY, json=policy).status_code == 200
    kept = cli.api("PATCH", "/operator/ops/model-config", json={"temperature": 0.2}).json()["id"]
    dropped = cli.api("PATCH", "/operator/ops/model-config", json={"maxTokens": 10}).json()["id"]
    withdrawn = cli.api("PATCH", "/operator/ops/model-config", json={"language": "ko"}).json()["id"]
    reviewer = _second_admin(cli)

    table = cli("change-requests", "list")
    listed = cli.json("change-requests", "list", "--state", "pending")
    shown = cli.json("change-requests", "show", kept)
    shown_table = cli("change-requests", "show", kept, "-o", "table")

    assert table.exit_code == 0, table.output
    assert kept in table.stdout
    assert listed == cli.api("GET", CHANGE_REQUESTS, params={"state": "pending"}).json()
    assert {item["id"] for item in listed} == {kept, dropped, withdrawn}
    assert shown == cli.api("GET", f"{CHANGE_REQUESTS}/{kept}").json()
    assert shown["diff"]["after"] == {"temperature": 0.2}
    assert "temperature" in shown_table.stdout

    own = cli("change-requests", "approve", kept)
    approved = cli("change-requests", "approve", kept, "--comment", "fine", TRAINER_OPS_TOKEN=reviewer)
    rejected = cli("change-requests", "reject", dropped, "--comment", "no", TRAINER_OPS_TOKEN=reviewer)
    cancelled = cli.json("change-requests", "cancel", withdrawn)

    assert own.exit_code == 1  # no self-approval by default: the server's rule, not the CLI's
    assert approved.exit_code == 0, approved.output
    assert f"{kept}  applied" in approved.stdout
    assert rejected.exit_code == 0, rejected.output
    assert f"{dropped}  rejected" in rejected.stdout
    assert cancelled["state"] == "cancelled"
    assert cli.api("GET", "/operator/ops/model-config").json()["temperature"] == 0.2
