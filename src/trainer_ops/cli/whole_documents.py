"""`show`, `set FILE` and `history` for a document edited whole (the places catalogue, the policy):
through the API when a server is configured, else on the local store through the service's own checks
(ADR 0028). Each document's module gives its reading and replacing on the local store."""

# No `from __future__ import annotations`: typer reads the commands' annotations, and `file`'s help is a
# variable of the factory, which a string annotation could not reach.
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from trainer_ops.cli.governed import LocalOption, local_ops, target_or_local
from trainer_ops.cli.remote import governance
from trainer_ops.cli.remote.documents import add_history
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
)
from trainer_ops.cli.remote.writes import ApplyAtOption, BypassOption, IfMatchOption, accepted_view

# (the store's ops, the file's bytes, If-Match) -> (the document stored, its version)
ReplaceLocally = Callable[[Any, bytes, int | None], tuple[Any, int]]


def print_document(document: Any, output: Format) -> None:
    """The document itself (ready for `set`) in every format: it is read and edited as JSON."""
    emit(document, Format.yaml if output is Format.yaml else Format.json, lambda _: None)


def add_whole_document_commands(
    app: typer.Typer,
    kind: str,
    *,
    current: Callable[[Any], Any],
    replace_locally: ReplaceLocally,
    show_help: str,
    set_help: str,
    file_help: str,
    history_help: str,
) -> None:
    """`show`, `set` and `history` of the document `kind` (`/operator/ops/{kind}`). `current(ops)` is
    the versioned document on the local store."""

    @app.command("show", help=show_help)
    def show(
        ctx: typer.Context,
        local: LocalOption = False,
        output: OutputOption = Format.json,
        as_json: JsonOption = False,
    ) -> None:
        target = target_or_local(ctx, local)
        if target is not None:
            document, version = governance.read_document(ctx, target, kind)
        else:
            with local_ops() as ops:
                doc = current(ops)
            document, version = doc.document, doc.version
        print_document(document, chosen(output, as_json))
        note(f"{kind} version {version}")

    @app.command("set", help=set_help)
    def set_(
        ctx: typer.Context,
        file: Annotated[Path, typer.Argument(help=file_help)],
        if_match: IfMatchOption = None,
        apply_at: ApplyAtOption = None,
        bypass_reason: BypassOption = None,
        local: LocalOption = False,
        output: OutputOption = Format.table,
        as_json: JsonOption = False,
    ) -> None:
        try:
            raw = file.read_bytes()
            document = json.loads(raw)
        except (OSError, ValueError) as exc:
            raise fail(f"cannot read {file}: {exc}", EXIT_USAGE) from None
        fmt = chosen(output, as_json)
        target = target_or_local(ctx, local)
        if target is not None:
            status, body, version = governance.replace_document(
                ctx, target, kind, document, if_match=if_match, apply_at=apply_at, bypass_reason=bypass_reason
            )
            if accepted_view(status, body, fmt):
                return
        else:
            with local_ops() as ops:
                body, version = replace_locally(ops, raw, if_match)
        emit(body, fmt, lambda _: out.print(f"{kind} version {version}"))

    add_history(app, f"/operator/ops/{kind}", history_help)
