"""What the remote commands print: a table for people, the API's JSON or YAML for scripts, problems on
stderr; and the exit codes (0 ok, 1 refused or failed, 2 usage, 3 server unreachable)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from trainer_ops.cli.remote.contexts import ConfigProblem
from trainer_ops.cli.remote.target import Flags, NoTarget, Target, resolve

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
EXIT_CODES = (
    "Exit codes: 0 ok; 1 refused or failed (the server answered 4xx or 5xx, or a check failed); "
    "2 usage (bad arguments, no server configured); 3 the server could not be reached."
)
out = Console(soft_wrap=True)
PIPED_WIDTH = 250
err = Console(stderr=True, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


OutputOption = Annotated[
    Format, typer.Option("--output", "-o", help="table (for people), json or yaml (the API's own body)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print the API's JSON (same as -o json)")]


def chosen(output: Format, as_json: bool) -> Format:
    return Format.json if as_json else output


def emit(body: Any, output: Format, table: Callable[[Any], None]) -> None:
    """The body as JSON or YAML exactly as the API answered it, or `table(body)` for people."""
    if output is Format.json:
        sys.stdout.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    elif output is Format.yaml:
        import yaml

        sys.stdout.write(yaml.safe_dump(body, sort_keys=False, allow_unicode=True))
    else:
        table(body)


def note(message: str) -> None:
    """A line for people, on stderr, so that stdout stays the data."""
    err.print(escape(message))


def fail(message: str, code: int = EXIT_REFUSED) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def problem_lines(problem: dict[str, Any], status: int) -> list[str]:
    """The problem's detail with its code and reason, then one line per invalid field."""
    codes = ", ".join(str(problem[k]) for k in ("code", "reason") if problem.get(k))
    lines = [f"{problem.get('detail') or problem.get('title') or 'HTTP ' + str(status)} ({status}"]
    lines[0] += f" {codes})" if codes else ")"
    for item in problem.get("errors") or []:
        if isinstance(item, dict):
            lines.append(f"  {item.get('field', '')}: {item.get('message', '')}")
    for key in ("failingInstances",):
        if problem.get(key):
            lines.append(f"  {key}: {json.dumps(problem[key])}")
    return lines


def target_of(ctx: typer.Context) -> Target | None:
    """The server configured for this command, or None; a bad context or contexts file ends it."""
    flags = ctx.obj if isinstance(ctx.obj, Flags) else None
    try:
        return resolve(flags)
    except NoTarget as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    except ConfigProblem as exc:
        raise fail(exc.message) from None


def require_target(ctx: typer.Context) -> Target:
    target = target_of(ctx)
    if target is None:
        raise fail(
            "no server: give --server URL (before the command), set TRAINER_OPS_SERVER, "
            "or `trainer-ops context set NAME --server URL` then `trainer-ops context use NAME`",
            EXIT_USAGE,
        )
    return target


@contextmanager
def api(ctx: typer.Context, target: Target | None = None) -> Iterator[Any]:
    """A client of the configured server. A problem answer exits 1 with its detail on stderr; a server
    that cannot be reached exits 3."""
    from trainer_ops.cli.remote.client import Api, ApiError, Unreachable

    chosen_target = target or require_target(ctx)
    try:
        with Api(chosen_target) as client:
            yield client
    except ApiError as exc:
        lines = problem_lines(exc.problem, exc.status)
        err.print(f"[red]error:[/red] {escape(lines[0])}")
        for line in lines[1:]:
            err.print(escape(line))
        raise typer.Exit(EXIT_REFUSED) from None
    except Unreachable as exc:
        raise fail(f"cannot reach the server {exc}", EXIT_UNREACHABLE) from None


def table_of(columns: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    from rich.table import Table

    if not rows:  # as kubectl does: no empty frame, a word on stderr, nothing on stdout for a pipe
        err.print(f"No {title.lower() if title else 'items'} found.")
        return
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*(escape(cell if isinstance(cell, str) else _cell(cell)) for cell in row))
    if out.is_terminal:  # fits the terminal
        out.print(table)
        return
    # Piped (grep, a file, a test): nothing is cut short, as kubectl does. A console of its own width,
    # since rich clamps print(width=) to the console's, which COLUMNS or a guess at import decided.
    Console(file=out.file, width=PIPED_WIDTH, soft_wrap=True, no_color=out.no_color).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def pairs(body: dict[str, Any], title: str | None = None) -> None:
    """A document as a two-column table: field, value."""
    table_of(["field", "value"], [[key, value] for key, value in body.items()], title)


def when(epoch_seconds: Any) -> str:
    """Epoch seconds (or milliseconds, as audit entries keep them) as UTC time."""
    from datetime import UTC, datetime

    if not isinstance(epoch_seconds, int | float):
        return "-"
    seconds = epoch_seconds / 1000 if epoch_seconds > 10**11 else epoch_seconds
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
