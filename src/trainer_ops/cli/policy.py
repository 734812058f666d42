"""`trainer-ops policy show | set FILE | schema`: the scope policy, through the API when a server is
configured, else on the local store through the API's own checks (ADR 0028)."""

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

policy_app = typer.Typer(help="Show and replace the scope policy.", no_args_is_help=True)


def cli_principal() -> Any:
    """Audited as this user: a CLI on the store's host acts as an admin, as `token create` does."""
    from trainer_ops.access.types import Principal, Role

    return Principal(user_id="cli", role=Role.ADMIN)


def _print_document(document: Any, output: Format) -> None:
    """The document itself (ready for `set`) in every format: a policy is read and edited as JSON."""
    emit(document, Format.yaml if output is Format.yaml else Format.json, lambda _: None)


@policy_app.command("show")
def policy_show(
    ctx: typer.Context,
    local: LocalOption = False,
    output: OutputOption = Format.json,
    as_json: JsonOption = False,
) -> None:
    """Print the policy in force as JSON (stdout: ready for `policy set`); its version on stderr."""
    target = target_or_local(ctx, local)
    if target is not None:
        document, version = governance.read_document(ctx, target, "policy")
    else:
        with local_ops() as ops:
            doc = ops.policy_editor.current()
        document, version = doc.document, doc.version
    _print_document(document, chosen(output, as_json))
    note(f"policy version {version}")


@policy_app.command("set")
def policy_set(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="a JSON policy document, e.g. edited from `policy show`")],
    if_match: IfMatchOption = None,
    apply_at: ApplyAtOption = None,
    bypass_reason: BypassOption = None,
    local: LocalOption = False,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Replace the policy with FILE: the same schema, checks and lock-out guard as PUT /operator/ops/policy.

    Exit 0 when stored (or unchanged), 1 when the policy is refused, 2 when FILE cannot be read as JSON.
    --apply-at and --bypass-reason are the API's (remote only)."""
    try:
        document = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {file}: {exc}", EXIT_USAGE) from None
    fmt = chosen(output, as_json)
    target = target_or_local(ctx, local)
    if target is not None:
        status, body, version = governance.replace_document(
            ctx, target, "policy", document, if_match=if_match, apply_at=apply_at, bypass_reason=bypass_reason
        )
        if accepted_view(status, body, fmt):
            return
    else:
        body, version = _replace_locally(document, if_match)
    emit(body, fmt, lambda _: out.print(f"policy version {version}"))


def _replace_locally(document: Any, if_match: int | None) -> tuple[Any, int]:
    with local_ops() as ops:
        doc = ops.policy_editor.replace(
            principal=cli_principal(),
            document=document,
            if_match=frozenset({if_match}) if if_match is not None else None,
            request_id=request_id(),
        )
    return doc.document, doc.version


@policy_app.command("schema")
def policy_schema(
    ctx: typer.Context, output: OutputOption = Format.json, as_json: JsonOption = False
) -> None:
    """The policy's JSON Schema: the operations, roles, views and engine types it may name (remote)."""
    with api(ctx) as client:
        body = client.get("/operator/ops/policy/schema").json()
    _print_document(body, chosen(output, as_json))


@policy_app.command("history")
def policy_history(
    ctx: typer.Context,
    limit: LimitOption = 20,
    cursor: CursorOption = None,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Every version of the policy, newest first: who changed what (remote)."""
    with api(ctx) as client:
        page = client.get("/operator/ops/policy/history", limit=limit, cursor=cursor).json()
    emit(page, chosen(output, as_json), history_table)
