"""`config`, `limits` and `features` against a live server: tables, --json equal to the API's body,
-o yaml, If-Match, governed writes (202), refusals (exit 1 with the problem's detail)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .conftest import Cli, serve, settings_for

MODEL_CONFIG = "/operator/ops/model-config"


def test_config_get_prints_a_table_and_json_that_is_the_api_body(cli: Cli) -> None:
    table = cli("config", "get")
    as_json = cli.json("config", "get")
    as_yaml = cli("config", "get", "-o", "yaml")

    assert table.exit_code == 0, table.output
    assert "temperature" in table.stdout
    assert "0.4" in table.stdout
    assert "model config (version 1)" in table.stdout
    assert as_json == cli.api("GET", MODEL_CONFIG).json()
    assert yaml.safe_load(as_yaml.stdout) == as_json


def test_config_set_types_values_by_the_current_document_and_shows_what_changed(cli: Cli) -> None:
    done = cli("config", "set", "temperature=0.2", "toneProfile=coaching", "language=ko")

    assert done.exit_code == 0, done.output
    assert "temperature" in done.stdout
    assert "0.4" in done.stdout
    assert "0.2" in done.stdout
    assert "coaching" in done.stdout
    body = cli.api("GET", MODEL_CONFIG).json()
    assert body["temperature"] == 0.2
    assert body["toneProfile"] == "coaching"
    assert body["language"] == "ko"
    # A string field stays a string even when the value looks like a number: the server reads a model
    # name, not an integer (which would be a type error).
    numeric = cli("config", "set", "model=5")
    assert numeric.exit_code == 1
    assert "unknown model '5'" in numeric.stderr
    again = cli.json("config", "set", "model=gpt-4o", "enabled=off")
    assert again == cli.api("GET", MODEL_CONFIG).json()
    assert again["model"] == "gpt-4o"
    assert again["enabled"] is False


def test_config_set_refused_prints_detail_and_fields_on_stderr_and_exits_1(cli: Cli) -> None:
    out_of_range = cli("config", "set", "temperature=7")
    unknown = cli("config", "set", "colour=blue")
    stale = cli("config", "set", "temperature=0.3", "--if-match", "99")

    assert out_of_range.exit_code == 1
    assert "temperature" in out_of_range.stderr
    assert "VALIDATION_ERROR" in out_of_range.stderr
    assert out_of_range.stdout == ""
    assert unknown.exit_code == 1
    assert "colour" in unknown.stderr
    assert stale.exit_code == 1
    assert "412" in stale.stderr
    assert cli.api("GET", MODEL_CONFIG).json()["temperature"] == 0.4


def test_config_set_with_if_match_of_a_stale_read_refuses_and_of_the_current_one_applies(cli: Cli) -> None:
    cli.api("PATCH", MODEL_CONFIG, json={"maxTokens": 100})  # version 2 now

    old = cli("config", "set", "maxTokens=200", "--if-match", "1")
    current = cli("config", "set", "maxTokens=300", "--if-match", "2")

    assert old.exit_code == 1
    assert "current version is 2" in old.stderr
    assert current.exit_code == 0, current.output
    assert cli.api("GET", MODEL_CONFIG).json()["maxTokens"] == 300


def test_config_set_without_pairs_or_with_a_bad_pair_is_a_usage_error(cli: Cli) -> None:
    assert cli("config", "set").exit_code == 2
    bad = cli("config", "set", "temperature")
    assert bad.exit_code == 2
    assert "FIELD=VALUE" in bad.stderr


def test_config_history_lists_versions_newest_first(cli: Cli) -> None:
    cli("config", "set", "temperature=0.3")

    table = cli("config", "history")
    page = cli.json("config", "history")

    assert table.exit_code == 0, table.output
    assert "temperature=0.3" in table.stdout
    assert page == cli.api("GET", f"{MODEL_CONFIG}/history", params={"limit": 20}).json()
    assert page["items"][0]["version"] == 2


def test_a_governed_write_answers_202_and_the_cli_shows_the_change_request(cli: Cli) -> None:
    policy = cli.api("GET", "/operator/ops/policy").json()
    policy["operations"]["limits.update"]["admin"] = {"approvals": {"minApprovals": 1}}
    assert cli.api("PUT", "/operator/ops/policy", json=policy).status_code == 200

    held = cli("limits", "set", "aiCallsPerMinute=120")
    as_json = cli.json("limits", "set", "maxConcurrentSessions=40")

    assert held.exit_code == 0, held.output
    assert "pending" in held.stdout
    assert "limits.update" in held.stdout
    assert as_json["state"] == "pending"
    stored = cli.api("GET", f"/operator/ops/change-requests/{as_json['id']}").json()
    assert as_json == {key: value for key, value in stored.items() if key != "diff"}
    assert cli.api("GET", "/operator/ops/limits").json()["aiCallsPerMinute"] == 60


def test_limits_get_and_set(cli: Cli) -> None:
    done = cli("limits", "set", "aiCallsPerMinute=120")
    shown = cli.json("limits", "get")

    assert done.exit_code == 0, done.output
    assert shown == cli.api("GET", "/operator/ops/limits").json()
    assert shown["aiCallsPerMinute"] == 120


def test_features_list_get_set_create_with_regions(cli: Cli) -> None:
    created = cli.json("features", "create", "new_flow", "--on", "--region-overridable", "--description", "x")
    assert created == cli.api("GET", "/operator/ops/features/new_flow").json()
    listed = cli("features", "list")
    assert listed.exit_code == 0, listed.output
    assert "new_flow" in listed.stdout
    off_in_eu = cli("features", "set", "new_flow", "off", "--region", "EU")
    assert off_in_eu.exit_code == 0, off_in_eu.output
    assert "new_flow is off in EU" in off_in_eu.stdout
    eu = cli.json("features", "list", "--region", "EU")
    assert eu == cli.api("GET", "/operator/ops/features", params={"region": "EU"}).json()
    assert eu["new_flow"] is False
    one = cli.json("features", "get", "new_flow")
    assert one == cli.api("GET", "/operator/ops/features/new_flow").json()
    assert one["overrides"] == {"EU": False}
    unset = cli("features", "set", "new_flow", "--unset", "--region", "EU")
    assert unset.exit_code == 0, unset.output
    assert cli.api("GET", "/operator/ops/features/new_flow").json()["overrides"] == {}
    switched = cli.json("features", "set", "quiz_auto_generate", "on")
    assert switched == cli.api("GET", "/operator/ops/features/quiz_auto_generate").json()
    assert switched["enabled"] is True
    assert cli.json("features", "list") == cli.api("GET", "/operator/ops/features").json()


def test_features_at_a_branch_inherit_from_its_country_and_region_most_specific_wins(cli: Cli) -> None:
    places = {
        "regions": [
            {
                "code": "APAC",
                "name": "Asia Pacific",
                "countries": [
                    {"code": "KR", "name": "Korea", "branches": [{"code": "KR-0012", "name": "Gangnam"}]}
                ],
            }
        ]
    }
    version = cli.api("GET", "/operator/ops/places").headers["etag"]
    assert (
        cli.api("PUT", "/operator/ops/places", json=places, headers={"If-Match": version}).status_code == 200
    )
    assert cli("features", "set", "quiz_auto_generate", "on", "--region", "APAC").exit_code == 0
    branch_off = cli("features", "set", "quiz_auto_generate", "off", "--place", "KR-0012")
    assert branch_off.exit_code == 0, branch_off.output
    assert "quiz_auto_generate is off in KR-0012" in branch_off.stdout

    at_branch = cli.json("features", "list", "--place", "KR-0012")
    at_country = cli.json("features", "list", "--place", "KR")

    assert at_branch == cli.api("GET", "/operator/ops/features", params={"place": "KR-0012"}).json()
    assert (at_branch["quiz_auto_generate"], at_country["quiz_auto_generate"]) == (False, True)
    assert cli("features", "set", "quiz_auto_generate", "--unset", "--place", "KR-0012").exit_code == 0
    assert cli.json("features", "list", "--place", "KR-0012")["quiz_auto_generate"] is True
    unknown = cli("features", "list", "--place", "JP")
    assert unknown.exit_code == 1
    assert "places.unknown" in unknown.stderr or "422" in unknown.stderr


def test_features_refusals_and_usage(cli: Cli) -> None:
    missing = cli("features", "get", "no_such_feature")
    twice = cli("features", "create", "quiz_auto_generate")
    maybe = cli("features", "set", "quiz_auto_generate", "maybe")

    assert missing.exit_code == 1
    assert "NOT_FOUND" in missing.stderr
    assert twice.exit_code == 1
    assert "409" in twice.stderr
    assert maybe.exit_code == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_smoke_on_postgresql(database_url: str, tmp_path: Path) -> None:
    """The CLI is a client and the store does not matter to it; one pass on PostgreSQL all the same."""
    for pg in serve(settings_for(tmp_path, database_url), tmp_path):
        assert pg("config", "set", "temperature=0.2").exit_code == 0
        assert pg.json("config", "get") == pg.api("GET", MODEL_CONFIG).json()
        assert pg.json("features", "set", "quiz_auto_generate", "on")["enabled"] is True
        assert pg("health").exit_code == 0
