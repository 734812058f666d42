"""`trainer-ops places show | set FILE | history`: the places catalogue, through the API when a server is
configured, else on the local store like `token` (ADR 0028)."""

from __future__ import annotations

from typing import Any

import typer

from trainer_ops.cli.governed import request_id
from trainer_ops.cli.whole_documents import add_whole_document_commands

places_app = typer.Typer(
    help="Show or replace the places catalogue (regions, countries, branches).", no_args_is_help=True
)


def _replace_locally(ops: Any, raw: bytes, if_match: int | None) -> tuple[Any, int]:
    from trainer_ops.access.types import Principal, Role
    from trainer_ops.http.body import parse_json
    from trainer_ops.places.schemas import PlacesDocument

    document = parse_json(raw, PlacesDocument).model_dump(mode="json")
    doc = ops.places.replace(
        # Audited as the CLI, an admin: whoever runs it holds the store's credentials already.
        principal=Principal(user_id="cli", role=Role.ADMIN, via="token"),
        document=document,
        if_match=frozenset({if_match}) if if_match is not None else None,
        request_id=request_id(),
    )
    return doc.document, doc.version


add_whole_document_commands(
    places_app,
    "places",
    current=lambda ops: ops.places.current(),
    replace_locally=_replace_locally,
    show_help="Print the catalogue in force as JSON (stdout: ready for `places set`); its version on stderr.",
    set_help=(
        "Replace the whole catalogue with FILE's: checked, versioned and audited as the API's PUT.\n\n"
        "Exit 0 when stored, 1 when refused, 2 when FILE cannot be read. --apply-at and --bypass-reason are "
        "the API's (remote only)."
    ),
    file_help='a JSON file: {"regions": [...]}, as GET /places answers',
    history_help="Every version of the catalogue, newest first: who changed what (remote).",
)
