"""`trainer-ops context set | use | list | delete`: named servers and tokens, like kubectl's contexts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from trainer_ops.cli.remote.contexts import (
    ConfigProblem,
    Context,
    Contexts,
    config_path,
    load,
    masked,
    save,
)
from trainer_ops.cli.remote.output import (
    EXIT_USAGE,
    Format,
    JsonOption,
    OutputOption,
    chosen,
    emit,
    fail,
    note,
    out,
    table_of,
)

context_app = typer.Typer(
    help="Named servers and their tokens, kept in ~/.config/trainer-ops/config (mode 0600).",
    no_args_is_help=True,
)
NameArgument = Annotated[str, typer.Argument(help="the context's name, e.g. prod")]


def _load() -> tuple[Path, Contexts]:
    path = config_path()
    try:
        stored = load(path)
    except ConfigProblem as exc:
        raise fail(exc.message) from None
    if stored.too_open:
        note(f"warning: {stored.too_open}; this command rewrites it 0600")
    return path, stored


@context_app.command("set")
def set_context(
    name: NameArgument,
    server: Annotated[str, typer.Option(help="the server's base URL, e.g. https://ops.example.com")],
    token: Annotated[
        str | None,
        typer.Option(help="the API token; `-` reads it from stdin (kept out of the shell's history)"),
    ] = None,
    use: Annotated[bool, typer.Option("--use", help="also make it the current context")] = False,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Add or replace a context. Without --token the context has none: TRAINER_OPS_TOKEN is used."""
    if not server.startswith(("http://", "https://")):
        raise fail(f"--server {server!r} must start with http:// or https://", EXIT_USAGE)
    if token == "-":  # noqa: S105  (the stdin marker, not a password)
        token = sys.stdin.readline().strip() or None
    path, stored = _load()
    stored.contexts[name] = Context(name, server.rstrip("/"), token)
    if use or stored.current is None:
        stored.current = name
    save(path, stored)
    _done(stored, name, chosen(output, as_json), f"context {name} saved in {path}")


@context_app.command("use")
def use_context(name: NameArgument, output: OutputOption = Format.table, as_json: JsonOption = False) -> None:
    """Make NAME the context the remote commands use."""
    path, stored = _load()
    if name not in stored.contexts:
        known = ", ".join(sorted(stored.contexts)) or "none"
        raise fail(f"no context {name!r} (known: {known})", EXIT_USAGE)
    stored.current = name
    save(path, stored)
    _done(stored, name, chosen(output, as_json), f"now using context {name}")


@context_app.command("delete")
def delete_context(
    name: NameArgument, output: OutputOption = Format.table, as_json: JsonOption = False
) -> None:
    """Forget a context and its token."""
    path, stored = _load()
    gone = stored.contexts.pop(name, None)
    if gone is None:
        raise fail(f"no context {name!r}", EXIT_USAGE)
    if stored.current == name:
        stored.current = None
    save(path, stored)
    body = {"name": name, "server": gone.server, "token": masked(gone.token), "current": False}
    emit(body, chosen(output, as_json), lambda _: out.print(f"context {name} deleted"))


def _done(stored: Contexts, name: str, output: Format, message: str) -> None:
    context = stored.contexts[name]
    body = {
        "name": name,
        "server": context.server,
        "token": masked(context.token),
        "current": stored.current == name,
    }
    emit(body, output, lambda _: out.print(message + (" (current)" if body["current"] else "")))


@context_app.command("list")
def list_contexts(output: OutputOption = Format.table, as_json: JsonOption = False) -> None:
    """The contexts; * marks the current one. Tokens are shown by their first characters only."""
    _, stored = _load()
    body = {
        "current": stored.current,
        "contexts": [
            {"name": c.name, "server": c.server, "token": masked(c.token)}
            for c in sorted(stored.contexts.values(), key=lambda c: c.name)
        ],
    }
    emit(
        body,
        chosen(output, as_json),
        lambda view: table_of(
            ["", "name", "server", "token"],
            [
                ["*" if c["name"] == view["current"] else "", c["name"], c["server"], c["token"]]
                for c in view["contexts"]
            ],
        ),
    )
