"""A table piped to another program (grep, a test, a file) is never cut short, whatever width the
environment claims: kubectl's `get` does the same. On a terminal it fits the terminal."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from trainer_ops.cli.remote.output import table_of

LONG = "cr_" + "0123456789abcdef" * 4


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def show() -> None:
        table_of(["id", "state", "operation"], [[LONG, "pending", "model_config.update"]])

    return app


def test_a_piped_table_keeps_every_cell_whole_even_when_columns_says_narrow() -> None:
    for columns in ("40", "80", "200"):
        result = CliRunner().invoke(_app(), [], env={"COLUMNS": columns})
        assert result.exit_code == 0, result.output
        assert LONG in result.stdout, (columns, result.stdout)
        assert "model_config.update" in result.stdout


def test_an_empty_list_says_so_on_stderr_and_prints_nothing_on_stdout() -> None:
    app = typer.Typer()

    @app.command()
    def show() -> None:
        table_of(["id", "state"], [])

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 0
    assert (result.stdout, result.stderr.strip()) == ("", "No items found.")
