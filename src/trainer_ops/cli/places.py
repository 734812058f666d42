"""`trainer-ops places show | set FILE`: the places catalogue, through the API when a server is
configured, else on the local store like `token` (ADR 0028)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from trainer_ops.cli.governed import LocalOption, local_ops, request_id, target_or_local
from trainer_ops.cli.remote import governance
from trainer_ops.cli.remote.documents import CursorOption, LimitOption, history_table
from trainer_ops.cli.remote.output import (
    EXIT_USAGE,
    Format,
    JsonOption,
    OutputOption,
    api,
    chosen,
    emit,
    fail,
    note,
    out,
)
from trainer_ops.cli.remote.writes import ApplyAtOption, BypassOption, IfMatchOption, accepted_view

places_app = typer.Typer(
    help="Show or replace the places catalogue (regions, countries, branches).", no_args_is_help=True
)


@places_app.command("show")
def places_show(
    ctx: typer.Context,
    local: LocalOption = False,
    output: OutputOption = Format.json,
    as_json: JsonOption = False,
) -> None:
    """Print the catalogue in force as JSON (stdout: ready for `places set`); its version on stderr."""
    target = target_or_local(ctx, local)
    if target is not None:
        document, version = governance.read_document(ctx, target, "places")
    else:
        with local_ops() as ops:
            doc = ops.places.current()
        document, version = doc.document, doc.version
    emit(document, Format.yaml if chosen(output, as_json) is Format.yaml else Format.json, lambda _: None)
    note(f"places version {version}")


@places_app.command("set")
def places_set(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help='a JSON file: {"regions": [...]}, as GET /places answers')],
    if_match: IfMatchOption = None,
    apply_at: ApplyAtOption = None,
    bypass_reason: BypassOption = None,
    local: LocalOption = False,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Replace the whole catalogue with FILE's: checked, versioned and audited as the API's PUT.

    Exit 0 when stored, 1 when refused, 2 when FILE cannot be read. --apply-at and --bypass-reason are
    the API's (remote only)."""
    try:
        raw = file.read_bytes()
        document = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {file}: {exc}", EXIT_USAGE) from None
    fmt = chosen(output, as_json)
    target = target_or_local(ctx, local)
    if target is not None:
        status, body, version = governance.replace_document(
            ctx, target, "places", document, if_match=if_match, apply_at=apply_at, bypass_reason=bypass_reason
        )
        if accepted_view(status, body, fmt):
            return
    else:
        body, version = _replace_locally(raw, if_match)
    emit(body, fmt, lambda _: out.print(f"places version {version}"))


def _replace_locally(raw: bytes, if_match: int | None) -> tuple[Any, int]:
    from trainer_ops.access.types import Principal, Role
    from trainer_ops.http.body import parse_json
    from trainer_ops.places.schemas import PlacesDocument

    with local_ops() as ops:
        document = parse_json(raw, PlacesDocument).model_dump(mode="json")
        doc = ops.places.replace(
            # Audited as the CLI, an admin: whoever runs it holds the store's credentials already.
            principal=Principal(user_id="cli", role=Role.ADMIN, via="token"),
            document=document,
            if_match=frozenset({if_match}) if if_match is not None else None,
            request_id=request_id(),
        )
    return doc.document, doc.version


@places_app.command("history")
def places_history(
    ctx: typer.Context,
    limit: LimitOption = 20,
    cursor: CursorOption = None,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Every version of the catalogue, newest first: who changed what (remote)."""
    with api(ctx) as client:
        page = client.get("/operator/ops/places/history", limit=limit, cursor=cursor).json()
    emit(page, chosen(output, as_json), history_table)
