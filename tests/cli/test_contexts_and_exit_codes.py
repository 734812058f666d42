"""Contexts (file mode, masked tokens, which token goes where), the exit codes, `--version`, and a
`--help` that imports neither the server nor an HTTP client."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from conftest import ADMIN_TOKEN
from trainer_ops.cli.main import COMMANDS, app

from .conftest import Cli


def _config(cli: Cli) -> Path:
    return Path(cli.env["XDG_CONFIG_HOME"]) / "trainer-ops" / "config"


def test_context_set_writes_a_private_file_and_commands_use_the_current_context(cli: Cli) -> None:
    no_env = {"TRAINER_OPS_SERVER": "", "TRAINER_OPS_TOKEN": ""}
    made = cli("context", "set", "local", "--server", cli.server.url, "--token", ADMIN_TOKEN, **no_env)
    other = cli(
        "context", "set", "other", "--server", "http://127.0.0.1:9", "--token", "tops_secret-other-1234"
    )

    assert made.exit_code == 0, made.output
    assert other.exit_code == 0, other.output
    path = _config(cli)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    listed = cli("context", "list", **no_env)
    assert "* " in listed.stdout or "*" in listed.stdout
    assert ADMIN_TOKEN not in listed.stdout  # tokens are never printed whole
    assert "tops_secret-other-1234" not in listed.stdout
    as_json = cli.json("context", "list")
    assert as_json["current"] == "local"
    assert {c["name"] for c in as_json["contexts"]} == {"local", "other"}
    assert ADMIN_TOKEN not in json.dumps(as_json)
    # The first context became current: a remote command needs no flag and no variable.
    assert cli("config", "get", **no_env).exit_code == 0
    assert cli("context", "use", "other", **no_env).exit_code == 0
    assert cli("config", "get", **no_env).exit_code == 3  # nothing listens on port 9
    assert cli("--context", "local", "config", "get", **no_env).exit_code == 0
    assert cli("--context", "nowhere", "config", "get", **no_env).exit_code == 2


def test_a_contexts_token_is_never_sent_to_another_server(cli: Cli) -> None:
    no_env = {"TRAINER_OPS_SERVER": "", "TRAINER_OPS_TOKEN": ""}
    assert cli("context", "set", "local", "--server", cli.server.url, "--token", ADMIN_TOKEN).exit_code == 0

    elsewhere = cli("--server", cli.server.url + "/", "config", "get", **no_env)  # the same server
    other_host = cli("--server", cli.server.url.replace("127.0.0.1", "localhost"), "config", "get", **no_env)

    assert elsewhere.exit_code == 0, elsewhere.output
    assert other_host.exit_code == 1  # sent without a token: 401
    assert "401" in other_host.stderr


def test_a_contexts_file_readable_by_others_is_refused_until_chmod(cli: Cli) -> None:
    no_env = {"TRAINER_OPS_SERVER": "", "TRAINER_OPS_TOKEN": ""}
    assert cli("context", "set", "local", "--server", cli.server.url, "--token", ADMIN_TOKEN).exit_code == 0
    path = _config(cli)
    path.chmod(0o644)

    refused = cli("config", "get", **no_env)
    warned = cli("context", "use", "local", **no_env)

    assert refused.exit_code == 1
    assert "chmod 600" in refused.stderr
    assert warned.exit_code == 0
    assert "warning" in warned.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # rewritten private
    assert cli("config", "get", **no_env).exit_code == 0


def test_a_token_read_from_stdin_stays_out_of_the_command_line(cli: Cli) -> None:
    made = cli(
        "context", "set", "piped", "--server", cli.server.url, "--token", "-", input=ADMIN_TOKEN + "\n"
    )

    assert made.exit_code == 0, made.output
    assert json.loads(_config(cli).read_text())["contexts"]["piped"]["token"] == ADMIN_TOKEN


def test_exit_codes_2_without_a_server_3_when_unreachable_1_when_refused(cli: Cli) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening

    no_server = cli("features", "list", TRAINER_OPS_SERVER="")
    unreachable = cli("--server", closed, "features", "list")
    bad_token = cli("features", "list", TRAINER_OPS_TOKEN="tops_wrong-token-0000000000")
    bad_option = cli("features", "list", "--colour")

    assert no_server.exit_code == 2
    assert "--server" in no_server.stderr
    assert unreachable.exit_code == 3
    assert "cannot reach" in unreachable.stderr
    assert bad_token.exit_code == 1
    assert "UNAUTHORIZED" in bad_token.stderr
    assert bad_option.exit_code == 2


def test_version_and_exit_codes_in_help() -> None:
    version = CliRunner().invoke(app, ["--version"])
    shown = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})

    assert version.exit_code == 0
    assert version.stdout.startswith("trainer-ops ")
    assert "Exit codes: 0 ok; 1 refused or failed" in " ".join(shown.stdout.split())


def _help_loads(args: list[str], heavy: tuple[str, ...]) -> tuple[list[str], str]:
    """The modules of `heavy` (top-level names, or `trainer_ops.app`) that `trainer-ops ARGS --help`
    loads in a fresh interpreter, and what it printed."""
    probe = (
        "import sys\n"
        "from trainer_ops.cli.main import main\n"
        f"sys.argv = ['trainer-ops', *{args!r}, '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"heavy = {heavy!r}\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in heavy or m == 'trainer_ops.app']\n"
        "print('LOADED', sorted(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=60,
        check=True,
    )
    return [line for line in done.stdout.splitlines() if line.startswith("LOADED")], done.stdout


def test_help_imports_neither_the_server_nor_an_http_client() -> None:
    """`trainer-ops --help` stays fast because the commands' modules load only when one runs."""
    loaded, shown = _help_loads([], ("fastapi", "sqlalchemy", "httpx", "uvicorn", "pydantic"))

    assert loaded == ["LOADED []"], shown[-2000:]
    assert "config" in shown  # the help was printed


@pytest.mark.parametrize(
    ("group", "listed"),
    [(["audit"], "checkpoint"), (["keys"], "fingerprints"), (["token"], "create"), (["db"], "upgrade")],
)
def test_a_local_groups_help_imports_no_server_module(group: list[str], listed: str) -> None:
    """`trainer-ops audit --help` (and keys, token, db) stays fast: the store, the settings and the web
    app are imported inside each command, only when it runs. (typer itself loads pydantic to build a
    group's options, and the audit group's `witness` is an httpx client.)"""
    loaded, shown = _help_loads(group, ("fastapi", "sqlalchemy", "uvicorn", "pydantic_settings", "alembic"))

    assert loaded == ["LOADED []"], shown[-2000:]
    assert listed in shown  # the group's own help was printed


def test_each_listed_help_is_the_commands_own() -> None:
    """The root lists commands by the help written beside their names; it must say what the command
    itself says (the first line of its help)."""
    for entry in COMMANDS:
        command = entry.load()
        own = (command.help or "").strip().splitlines()[0]
        assert own == entry.help, (entry.name, own)


def test_the_lazy_root_builds_every_command() -> None:
    group = typer.main.get_command(app)
    context = group.make_context("trainer-ops", ["--help"], resilient_parsing=True)

    names = group.list_commands(context)

    assert {"config", "features", "audit", "serve", "policy"} <= set(names)
    for entry in COMMANDS:
        assert group.get_command(context, entry.name) is not None
