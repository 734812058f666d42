"""`releases`, `health`, `diagnostics` and `audit query` against a live server; the rollback asks first."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .conftest import Cli
from .test_remote_engines import difficulty

RELEASES = "/operator/ops/releases"


def _two_releases(cli: Cli, tmp_path: Path) -> None:
    """1.0.0 on the initial difficulty ruleset; 1.1.0 on ruleset_v2 with a newer model config."""
    assert cli("releases", "create", "1.0.0", "--notes", "first", "-e", "difficulty").exit_code == 0
    file = tmp_path / "r.json"
    file.write_text(json.dumps(difficulty("v2")))
    assert cli("rulesets", "upload", "difficulty", "ruleset_v2", str(file)).exit_code == 0
    assert cli("reload", "difficulty", "ruleset_v2").exit_code == 0
    assert cli("config", "set", "temperature=0.3").exit_code == 0
    assert cli("releases", "create", "1.1.0", "--notes", "second", "-e", "difficulty").exit_code == 0


def test_releases_create_list_and_diff(cli: Cli, tmp_path: Path) -> None:
    _two_releases(cli, tmp_path)

    table = cli("releases", "list")
    listed = cli.json("releases", "list")
    diff = cli("releases", "diff", "1.0.0")
    diff_json = cli.json("releases", "diff", "1.0.0", "1.1.0")
    same = cli("releases", "diff", "1.1.0", "1.1.0")
    unknown = cli("releases", "diff", "9.9.9")
    not_greater = cli("releases", "create", "1.0.5")

    assert table.exit_code == 0, table.output
    assert "* 1.1.0" in table.stdout
    assert "second" in table.stdout
    assert listed == cli.api("GET", RELEASES).json()
    assert diff.exit_code == 0, diff.output
    assert "engine difficulty" in diff.stdout
    assert "ruleset_v2" in diff.stdout
    assert diff_json["from"] == "1.0.0"
    assert diff_json["to"] == "1.1.0"
    assert {"what": "engine difficulty", "from": "initial", "to": "ruleset_v2"} in diff_json["changes"]
    assert {"what": "model_config version", "from": 1, "to": 2} in diff_json["changes"]
    assert "are the same" in same.stdout
    assert unknown.exit_code == 1
    assert not_greater.exit_code == 1
    assert "must be greater" in not_greater.stderr


def test_rollback_without_a_terminal_refuses_unless_yes(cli: Cli, tmp_path: Path) -> None:
    _two_releases(cli, tmp_path)

    refused = cli("releases", "rollback", "1.0.0")
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    assert cli.api("GET", "/operator/ops/engines/difficulty/active").json()["targetId"] == "ruleset_v2"

    done = cli.json("releases", "rollback", "1.0.0", "--yes")
    assert done["status"] == "rolled_back"
    assert done["previousVersion"] == "1.1.0"
    assert cli.api("GET", "/operator/ops/engines/difficulty/active").json()["targetId"] == "initial"
    assert cli.api("GET", "/operator/ops/model-config").json()["temperature"] == 0.4


def _rollback_on_a_terminal(cli: Cli, answer: str) -> tuple[int, str]:
    """`releases rollback 1.0.0` in a process whose stdin is a terminal, answering the prompt."""
    master, slave = pty.openpty()
    env = {**os.environ, **cli.env, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "trainer_ops.cli.main", "releases", "rollback", "1.0.0"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    os.close(slave)
    try:
        time.sleep(0.2)
        os.write(master, answer.encode() + b"\n")
        output, _ = process.communicate(timeout=60)
    finally:
        os.close(master)
    return process.returncode, output.decode()


def test_rollback_on_a_terminal_shows_the_diff_and_asks(cli: Cli, tmp_path: Path) -> None:
    _two_releases(cli, tmp_path)

    declined, said = _rollback_on_a_terminal(cli, "n")
    assert declined == 1, said
    assert "Roll back to 1.0.0?" in said
    assert "ruleset_v2" in said  # what the rollback would change
    assert "not rolled back" in said
    assert cli.api("GET", "/operator/ops/engines/difficulty/active").json()["targetId"] == "ruleset_v2"

    accepted, said = _rollback_on_a_terminal(cli, "y")
    assert accepted == 0, said
    assert "rolled back to 1.0.0" in said
    assert cli.api("GET", "/operator/ops/engines/difficulty/active").json()["targetId"] == "initial"


def test_health_and_diagnostics(cli: Cli) -> None:
    health = cli("health")
    diagnostics = cli("diagnostics")
    as_yaml = cli("health", "-o", "yaml")

    assert health.exit_code == 0, health.output
    assert "status" in health.stdout
    assert "difficulty" in health.stdout
    assert cli.json("health")["status"] == cli.api("GET", "/operator/ops/health").json()["status"]
    assert (
        yaml.safe_load(as_yaml.stdout)["engines"] == cli.api("GET", "/operator/ops/health").json()["engines"]
    )
    assert diagnostics.exit_code == 0, diagnostics.output
    assert "errorRate" in diagnostics.stdout
    assert set(cli.json("diagnostics")) == set(cli.api("GET", "/operator/ops/diagnostics").json())


def test_audit_query_filters_and_pages(cli: Cli) -> None:
    cli("config", "set", "temperature=0.3")
    cli("config", "set", "temperature=0.5")

    table = cli("audit", "query", "--action", "update_config", "--limit", "1")
    user = cli.json("audit", "query", "--action", "update_config")["items"][0]["userId"]
    page = cli.json("audit", "query", "--action", "update_config", "--user", user, "--limit", "1")
    rest = cli.json(
        "audit", "query", "--action", "update_config", "--limit", "1", "--cursor", page["nextCursor"]
    )
    bad_time = cli("audit", "query", "--from", "yesterday")

    assert table.exit_code == 0, table.output
    assert "update_config" in table.stdout
    assert "more: --cursor" in table.stdout
    expected = cli.api(
        "GET", "/operator/ops/audit", params={"action": "update_config", "userId": user, "limit": 1}
    ).json()
    assert page == expected
    assert rest["items"][0]["seq"] < page["items"][0]["seq"]
    assert bad_time.exit_code == 1
    assert "from" in bad_time.stderr
