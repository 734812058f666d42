"""A live server on 127.0.0.1 and the CLI pointed at it, run in this process (CliRunner)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from conftest import ADMIN_TOKEN, LiveServer
from trainer_ops.cli.main import app
from trainer_ops.config import Settings


@dataclass
class Cli:
    """`trainer-ops` against `server` with the admin token (TRAINER_OPS_SERVER and _TOKEN), and a plain
    HTTP client of the same API to compare with."""

    server: LiveServer
    env: dict[str, str]

    def __call__(self, *args: str, input: str | None = None, **env: str) -> Result:
        return CliRunner().invoke(app, list(args), env={**self.env, **env}, input=input)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.server.url + path, headers=headers, timeout=30, **kwargs)

    def json(self, *args: str) -> Any:
        """Run with --json: exit 0, and stdout parses as JSON."""
        result = self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


def settings_for(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        home=tmp_path / ".trainer-ops",
        database_url=database_url,
        bootstrap_admin_token=ADMIN_TOKEN,
        snapshot_poll_seconds=0,
        change_notifications=False,
        token_cache_seconds=0,
    )


def serve(settings: Settings, tmp_path: Path) -> Iterator[Cli]:
    server = LiveServer(settings).start()
    try:
        yield Cli(
            server,
            {
                "TRAINER_OPS_SERVER": server.url,
                "TRAINER_OPS_TOKEN": ADMIN_TOKEN,
                "XDG_CONFIG_HOME": str(tmp_path / "config"),
                "COLUMNS": "200",  # rich fits tables to the terminal; no column is cut
            },
        )
    finally:
        server.stop()


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """The CLI against a fresh server on SQLite (the CLI is a client: one store is enough)."""
    yield from serve(settings_for(tmp_path, f"sqlite:///{tmp_path / 'store.db'}"), tmp_path)
