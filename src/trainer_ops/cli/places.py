"""`trainer-ops places show | set FILE`: the places catalogue on the local store, like `token`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from trainer_ops.access.types import Principal, Role
from trainer_ops.app import build_ops
from trainer_ops.config import Settings
from trainer_ops.errors import TrainerOpsError
from trainer_ops.http.body import parse_json
from trainer_ops.places.schemas import PlacesDocument

places_app = typer.Typer(help="Show or replace the places catalogue (regions, countries, branches).")
err = Console(stderr=True)
# Audited as the CLI, an admin: whoever runs it holds the store's credentials already.
CLI_ADMIN = Principal(user_id="cli", role=Role.ADMIN, via="token")


def _fail(error: TrainerOpsError) -> None:
    err.print(f"[red]error:[/red] {error.message}")
    for item in error.errors:
        err.print(f"  {item['field']}: {item['message']}")
    raise typer.Exit(2)


@places_app.command("show")
def places_show() -> None:
    """Print the catalogue in force as JSON (its version on stderr)."""
    ops = build_ops(Settings())
    try:
        ops.prepare()
        doc = ops.places.current()
    finally:
        ops.close()
    err.print(f"version {doc.version}")
    print(orjson.dumps(doc.document, option=orjson.OPT_INDENT_2).decode())


@places_app.command("set")
def places_set(
    file: Annotated[Path, typer.Argument(help='a JSON file: {"regions": [...]}, as GET /places answers')],
    if_match: Annotated[
        int | None, typer.Option("--if-match", help="refuse unless this is the current version")
    ] = None,
) -> None:
    """Replace the whole catalogue with FILE's: checked, versioned and audited as the API's PUT."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot read {file}: {exc.strerror}")
        raise typer.Exit(2) from None
    ops = build_ops(Settings())
    try:
        ops.prepare()
        document = parse_json(raw, PlacesDocument).model_dump(mode="json")
        doc = ops.places.replace(
            principal=CLI_ADMIN,
            document=document,
            if_match=frozenset({if_match}) if if_match is not None else None,
            request_id="cli",
        )
    except TrainerOpsError as error:
        _fail(error)
        return
    finally:
        ops.close()
    print(f"places catalogue at version {doc.version}")
