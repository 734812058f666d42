"""The `trainer-ops` CLI against a real store, and the admin token a first start creates."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from conftest import ROOMY_STORE_TIMEOUT
from trainer_ops.cli.main import app as cli
from trainer_ops.config import Settings

from .support import FEATURES, MODEL_CONFIG, SPEC_FEATURES, app_client, assert_problem, bearer


@pytest.fixture
def cli_home(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment the CLI reads its settings from: this test's store, a fresh home, nothing else."""
    for name in ("TRAINER_OPS_BOOTSTRAP_ADMIN_TOKEN", "TRAINER_OPS_JWT_SECRET", "TRAINER_OPS_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "cli-home"
    monkeypatch.setenv("TRAINER_OPS_DATABASE_URL", database_url)
    monkeypatch.setenv("TRAINER_OPS_HOME", str(home))
    # The store bound of the tests that do not test it (tests/conftest.py): a loaded machine.
    monkeypatch.setenv("TRAINER_OPS_STORE_TIMEOUT_SECONDS", str(ROOMY_STORE_TIMEOUT))
    return home


def server_settings(home: Path, database_url: str) -> Settings:
    """What a server on the same store and home would run with."""
    return Settings(home=home, database_url=database_url, snapshot_poll_seconds=0, token_cache_seconds=0)


def test_token_create_prints_a_token_that_works_against_the_app(cli_home: Path, database_url: str) -> None:
    result = CliRunner().invoke(
        cli, ["token", "create", "--role", "region", "--region", "EU", "--user", "u1"]
    )

    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("tops_")
    with app_client(server_settings(cli_home, database_url), token=None) as client:
        features = client.get(FEATURES, headers=bearer(token))
        model = client.get(MODEL_CONFIG, headers=bearer(token))
        admin = (cli_home / "admin-token").read_text().strip()
        created = client.get(
            "/operator/ops/audit", params={"action": "token_created", "userId": "cli"}, headers=bearer(admin)
        )

    assert features.status_code == 200, features.text
    assert features.json() == SPEC_FEATURES
    assert_problem(model, 403, code="INVALID_SCOPE")
    [entry] = created.json()["items"]
    assert entry["after"]["userId"] == "u1"
    assert entry["after"]["scope"] == {"region": "EU"}
    assert token not in created.text  # only a prefix of the token is ever recorded


def test_token_create_without_required_scope_or_with_unknown_role_fails_with_clear_message(
    cli_home: Path,
) -> None:
    no_region = CliRunner().invoke(cli, ["token", "create", "--role", "region", "--user", "u1"])
    bad_role = CliRunner().invoke(cli, ["token", "create", "--role", "overlord", "--user", "u1"])

    assert no_region.exit_code != 0
    assert "--region" in no_region.output
    assert "tops_" not in no_region.stdout
    assert bad_role.exit_code != 0
    assert "overlord" in bad_role.output
    assert "tops_" not in bad_role.stdout


def test_first_init_without_bootstrap_token_writes_private_admin_token_once(
    cli_home: Path, database_url: str
) -> None:
    result = CliRunner().invoke(cli, ["init"])

    assert result.exit_code == 0, result.output
    path = cli_home / "admin-token"
    token = path.read_text().strip()
    assert token.startswith("tops_")
    assert token in result.stdout
    assert path.stat().st_mode & 0o777 == 0o600
    with app_client(server_settings(cli_home, database_url), token=token) as client:
        response = client.patch(MODEL_CONFIG, json={"temperature": 0.2})
    assert response.status_code == 200, response.text
    # A second start finds the store initialised: no new token, the file is kept.
    again = CliRunner().invoke(cli, ["init"])
    assert again.exit_code == 0, again.output
    assert path.read_text().strip() == token
    assert "tops_" not in again.stdout


def test_first_server_start_without_bootstrap_token_writes_private_admin_token(
    tmp_path: Path, database_url: str
) -> None:
    home = tmp_path / "server-home"

    with app_client(server_settings(home, database_url), token=None) as client:
        path = home / "admin-token"
        token = path.read_text().strip()
        as_admin = client.get(MODEL_CONFIG, headers=bearer(token))
        anonymous = client.get(MODEL_CONFIG)

    assert path.stat().st_mode & 0o777 == 0o600
    assert as_admin.status_code == 200
    assert_problem(anonymous, 401)


def test_policy_show_prints_the_policy_in_force_and_set_replaces_it_through_the_same_checks(
    cli_home: Path, database_url: str, tmp_path: Path
) -> None:
    import json

    shown = CliRunner().invoke(cli, ["policy", "show"])
    assert shown.exit_code == 0, shown.output
    policy = json.loads(shown.stdout)
    assert policy["operations"]["limits.read"] == {"admin": {}}
    assert "policy version 1" in shown.stderr
    policy["operations"]["limits.read"]["region"] = {}
    edited = tmp_path / "policy.json"
    edited.write_text(json.dumps(policy))

    stale = CliRunner().invoke(cli, ["policy", "set", str(edited), "--if-match", "7"])
    done = CliRunner().invoke(cli, ["policy", "set", str(edited), "--if-match", "1"])
    locked = tmp_path / "locked.json"
    locked.write_text(json.dumps({"operations": {"policy.update": {}}}))
    refused = CliRunner().invoke(cli, ["policy", "set", str(locked)])
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"operations": {"limits.read": {"regoin": {}}}}))
    invalid = CliRunner().invoke(cli, ["policy", "set", str(unknown)])
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    unreadable = CliRunner().invoke(cli, ["policy", "set", str(broken)])

    # Refused: 1; a file that is not JSON: 2, a usage error (ADR 0028's exit codes, as remotely).
    assert stale.exit_code == 1
    assert "current version is 1" in stale.stderr
    assert done.exit_code == 0, done.output
    assert "policy version 2" in done.stdout  # a write's outcome on stdout, as `places set` prints it
    assert refused.exit_code == 1
    assert "nobody could change it" in refused.stderr
    assert invalid.exit_code == 1
    assert "operations/limits.read/regoin" in invalid.stderr
    assert unreadable.exit_code == 2
    token = CliRunner().invoke(cli, ["token", "create", "--role", "region", "--region", "EU", "--user", "u1"])
    region = token.stdout.strip().splitlines()[-1]
    with app_client(server_settings(cli_home, database_url), token=None) as client:
        assert client.get("/operator/ops/limits", headers=bearer(region)).status_code == 200
        admin = bearer((cli_home / "admin-token").read_text().strip())
        [entry] = client.get(
            "/operator/ops/audit", params={"action": "update_config", "userId": "cli"}, headers=admin
        ).json()["items"]
    assert entry["after"] == {"limits.read": {"admin": {}, "region": {}}}


def test_places_set_and_show_on_the_local_store_and_tokens_are_then_checked_against_them(
    cli_home: Path, database_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    empty = runner.invoke(cli, ["places", "show"])
    assert empty.exit_code == 0, empty.output
    assert orjson.loads(empty.stdout) == {"regions": []}
    file = tmp_path / "places.json"
    asia = {"code": "apac", "name": "Asia", "countries": [{"code": "kr", "name": "K"}]}
    file.write_bytes(orjson.dumps({"regions": [asia, {"code": "EU", "name": "Europe"}]}))
    stale = runner.invoke(cli, ["places", "set", str(file), "--if-match", "7"])
    assert stale.exit_code == 1
    assert "current version is 1" in stale.stderr
    done = runner.invoke(cli, ["places", "set", str(file), "--if-match", "1"])
    assert done.exit_code == 0, done.output
    assert "version 2" in done.stdout
    shown = orjson.loads(runner.invoke(cli, ["places", "show"]).stdout)
    assert shown["regions"][0]["code"] == "APAC"
    assert shown["regions"][0]["countries"][0]["code"] == "KR"
    file.write_text('{"regions": [{"code": "A B", "name": "x"}]}')
    bad = runner.invoke(cli, ["places", "set", str(file)])
    assert bad.exit_code == 1
    assert "regions.0.code" in bad.stderr
    wrong = runner.invoke(
        cli, ["token", "create", "--role", "country", "--country", "KR", "--region", "EU", "--user", "u"]
    )
    assert wrong.exit_code == 1
    assert "under region 'APAC', not 'EU'" in wrong.stderr
    unknown = runner.invoke(cli, ["token", "create", "--role", "country", "--country", "JP", "--user", "u"])
    assert unknown.exit_code == 1
    assert "known countries: KR" in unknown.stderr
    ok = runner.invoke(cli, ["token", "create", "--role", "country", "--country", "kr", "--user", "u"])
    assert ok.exit_code == 0, ok.output
