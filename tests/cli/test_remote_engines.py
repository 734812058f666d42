"""`engines`, `rulesets` and `reload` against a live server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trainer_ops.cli.remote.engines import _schema_errors, _schema_of

from .conftest import Cli

ENGINES = "/operator/ops/engines"
SCHEMA_PATH = "/operator/ops/engines/{type}/schema"


def difficulty(stamp: str) -> dict[str, Any]:
    return {
        "levels": [
            {"name": f"beginner@{stamp}", "minScore": 0, "maxScore": 49},
            {"name": f"advanced@{stamp}", "minScore": 50, "maxScore": 100},
        ],
        "adaptiveStep": 0.1,
    }


def test_engines_list_and_active(cli: Cli) -> None:
    table = cli("engines", "list")
    listed = cli.json("engines", "list")
    active = cli.json("engines", "active", "difficulty")
    active_table = cli("engines", "active", "difficulty")

    assert table.exit_code == 0, table.output
    assert "difficulty" in table.stdout
    assert "ok" in table.stdout
    assert listed == cli.api("GET", ENGINES).json()
    assert active == cli.api("GET", f"{ENGINES}/difficulty/active").json()
    assert active["targetId"] in active_table.stdout
    assert "levels" in active_table.stdout


def test_rulesets_upload_list_show_and_reload_then_a_refused_reload(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "r.json"
    file.write_text(json.dumps(difficulty("v2")))

    uploaded = cli("rulesets", "upload", "difficulty", "ruleset_v2", "-", input=file.read_text())
    again = cli.json("rulesets", "upload", "difficulty", "ruleset_v2", str(file))
    listed = cli("rulesets", "list", "difficulty")
    shown = cli.json("rulesets", "show", "difficulty", "ruleset_v2")

    assert uploaded.exit_code == 0, uploaded.output
    assert "difficulty/ruleset_v2 stored" in uploaded.stdout
    assert again["targetId"] == "ruleset_v2"
    assert "ruleset_v2" in listed.stdout
    assert shown == cli.api("GET", f"{ENGINES}/difficulty/rulesets/ruleset_v2").json()
    assert shown["ruleset"] == difficulty("v2")
    reloaded = cli("reload", "difficulty", "ruleset_v2")
    assert reloaded.exit_code == 0, reloaded.output
    assert "difficulty: applied ruleset_v2" in reloaded.stdout
    assert cli.api("GET", f"{ENGINES}/difficulty/active").json()["targetId"] == "ruleset_v2"
    assert (
        cli.json("rulesets", "list", "difficulty") == cli.api("GET", f"{ENGINES}/difficulty/rulesets").json()
    )
    unchanged = cli.json("reload", "difficulty", "ruleset_v2")
    assert unchanged["status"] == "unchanged"
    missing = cli("reload", "difficulty", "no_such_ruleset")
    assert missing.exit_code == 1
    assert "NOT_FOUND" in missing.stderr


def test_a_ruleset_the_server_refuses_exits_1_with_its_errors(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"levels": "many"}))
    broken = tmp_path / "broken.json"
    broken.write_text("{")

    refused = cli("rulesets", "upload", "difficulty", "bad", str(bad))
    not_json = cli("rulesets", "upload", "difficulty", "broken", str(broken))
    unreadable = cli("rulesets", "upload", "difficulty", "x", str(tmp_path / "none.json"))

    assert refused.exit_code == 1
    assert "levels" in refused.stderr
    assert not_json.exit_code == 1
    assert unreadable.exit_code == 2
    assert "cannot read" in unreadable.stderr


def test_a_scoped_reload_names_its_place(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "r.json"
    file.write_text(json.dumps(difficulty("eu")))
    assert cli("rulesets", "upload", "difficulty", "ruleset_eu", str(file)).exit_code == 0

    done = cli.json("reload", "difficulty", "ruleset_eu", "--scope", "EU")

    assert done["status"] == "applied"
    assert done["scope"] == "EU"
    assert cli.api("GET", f"{ENGINES}/difficulty/active", params={"scope": "EU"}).json()["targetId"] == (
        "ruleset_eu"
    )
    assert cli.api("GET", f"{ENGINES}/difficulty/active").json()["targetId"] != "ruleset_eu"


def _has_schema_endpoint(cli: Cli) -> bool:
    return SCHEMA_PATH in cli.api("GET", "/openapi.json").json()["paths"]


def test_rulesets_schema_and_validate_use_the_servers_schema(cli: Cli, tmp_path: Path) -> None:
    """Runs once the server has GET /operator/ops/engines/{type}/schema (added beside this CLI)."""
    if not _has_schema_endpoint(cli):
        pytest.skip("this server has no engine schema endpoint yet")
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(difficulty("ok")))
    bad.write_text(json.dumps({"levels": "many"}))

    schema = cli.json("rulesets", "schema", "difficulty")
    valid = cli("rulesets", "validate", "difficulty", str(good))
    invalid = cli("rulesets", "validate", "difficulty", str(bad))

    assert schema == cli.api("GET", SCHEMA_PATH.format(type="difficulty")).json()
    assert valid.exit_code == 0, valid.output
    assert invalid.exit_code == 1
    assert "levels" in invalid.stdout


def test_validate_checks_a_ruleset_against_an_engine_types_schema() -> None:
    """The client side of `rulesets validate`, with a built-in engine type's own schema: the schema
    endpoint's body may be the schema or carry it in `schema`."""
    from trainer_ops.engines.builtin import DIFFICULTY as engine

    assert _schema_errors(_schema_of(engine.schema), difficulty("x")) == []
    errors = _schema_errors(_schema_of({"type": "difficulty", "schema": engine.schema}), {"levels": "many"})
    assert [e["field"] for e in errors] == ["levels"]
