"""Progress of the long audit jobs: make() and verify() report every entry they check, and the CLI shows
it on stderr (lines off a terminal), never with --json or --quiet."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from trainer_ops.app import Ops
from trainer_ops.audit.types import SYSTEM_ACTOR, Action
from trainer_ops.cli import progress
from trainer_ops.cli.main import app as cli
from trainer_ops.config import Settings


def grow(ops: Ops, count: int) -> None:
    def unit(session: Session) -> None:
        for n in range(count):
            ops.audit.append(session, actor=SYSTEM_ACTOR, action=Action.RELOAD, target=f"t-{n}")

    ops.write(unit)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_make_and_verify_report_each_batch_of_entries_checked(log: Ops) -> None:
    first = log.checkpoints.make().size
    grow(log, 10_500)
    pending = log.checkpoints.pending()
    assert pending == 10_500
    made: list[int] = []
    log.checkpoints.make(progress=made.append)
    assert made == [10_000, 500]
    assert log.checkpoints.pending() == 0
    verified: list[int] = []
    assert log.checkpoints.verify(progress=verified.append).status == "intact"
    assert sum(verified) == first + 10_500
    assert verified[0] == 10_000


@pytest.fixture
def cli_env(log: Ops, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TRAINER_OPS_HOME", str(settings.home))
    monkeypatch.setenv("TRAINER_OPS_DATABASE_URL", settings.database_url)
    monkeypatch.setattr(progress, "EVERY_SECONDS", 0.0)  # a line at every batch, however quick
    return CliRunner()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_jobs_show_progress_lines_on_stderr_unless_json_or_quiet(cli_env: CliRunner, log: Ops) -> None:
    size = log.checkpoints.size()
    result = cli_env.invoke(cli, ["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1].startswith(f"re-verifying: {size} of {size} entries (100%)")
    assert result.stdout.startswith("trainer-ops/audit\n")
    grow(log, 3)
    result = cli_env.invoke(cli, ["audit", "checkpoint", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert json.loads(result.stdout)["size"] == size + 3
    for args in (["audit", "verify"], ["audit", "export"]):
        shown = cli_env.invoke(cli, args)
        assert shown.exit_code == 0, shown.output
        assert f"{size + 3} of {size + 3} entries (100%)" in shown.stderr, args
        quiet = cli_env.invoke(cli, [*args, "--quiet"])
        assert (quiet.exit_code, quiet.stderr) == (0, ""), args
    assert cli_env.invoke(cli, ["audit", "verify", "--json"]).stderr == ""
