"""`trainer-ops change-requests list | show | approve | reject | cancel`: through the API when a server is
configured (as the token's user), else on the local store through the same service and rules as the
API, acting as the CLI's admin user `cli` (ADR 0028)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import typer

from trainer_ops.cli.governed import LocalOption, local_ops, request_id, target_or_local
from trainer_ops.cli.remote import governance
from trainer_ops.cli.remote.output import (
    Format,
    JsonOption,
    OutputOption,
    chosen,
    emit,
    out,
    table_of,
    when,
)

changes_app = typer.Typer(
    help="List, show, approve, reject and cancel change requests.", no_args_is_help=True
)
IdArgument = Annotated[str, typer.Argument(help="the id (cr_...)")]


def _rows(items: list[dict[str, Any]]) -> None:
    table_of(
        ["id", "state", "operation", "author", "approvals", "applyAt"],
        [
            [
                item["id"],
                item["state"],
                item["operation"],
                item["author"]["userId"],
                f"{item['approvals']['given']}/{item['approvals']['required']}",
                when(item["applyAt"]) if item.get("applyAt") else "-",
            ]
            for item in items
        ],
    )


def _line(view: dict[str, Any]) -> None:
    out.print(f"{view['id']}  {view['state']}  {view['operation']}")


@changes_app.command("list")
def list_requests(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help="only requests in this state")] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first (1 to 500)")] = 100,
    local: LocalOption = False,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Change requests, newest first."""
    target = target_or_local(ctx, local)
    if target is not None:
        items = governance.change_requests(ctx, target, state=state, limit=limit)
    else:
        with local_ops() as ops:
            items = ops.change_requests.list(state=state, limit=limit)
    emit(items, chosen(output, as_json), _rows)


@changes_app.command("show")
def show(
    ctx: typer.Context,
    change_request: IdArgument,
    local: LocalOption = False,
    output: OutputOption = Format.json,
    as_json: JsonOption = False,
) -> None:
    """One change request with its diff against the current version (JSON unless -o table)."""
    target = target_or_local(ctx, local)
    if target is not None:
        view = governance.change_request(ctx, target, change_request)
    else:
        with local_ops() as ops:
            view = ops.change_requests.show(change_request)
    emit(view, chosen(output, as_json), _detail)


def _detail(view: dict[str, Any]) -> None:
    _rows([view])
    diff = view.get("diff") or {}
    if diff.get("error"):
        out.print(f"would fail now: {diff['error']}")
    before, after = diff.get("before") or {}, diff.get("after") or {}
    if isinstance(after, dict) and after:
        table_of(
            ["field", "now", "after"],
            [
                [key, before.get(key) if isinstance(before, dict) else None, value]
                for key, value in after.items()
            ],
        )


# The verbs of a review: each is a path of the API (`POST .../{id}/{verb}`) and a method of the
# change-requests service with the same keyword arguments.
Verb = Literal["approve", "reject", "cancel"]


def _review(
    ctx: typer.Context,
    verb: Verb,
    change_request: str,
    comment: str | None,
    *,
    local: bool,
    output: Format,
    as_json: bool,
) -> None:
    """What approve, reject and cancel share: through the API as the token's user, or on the local store
    as `cli`; then the request's id, state and operation (or the view itself, `--json`/`-o`)."""
    target = target_or_local(ctx, local)
    if target is not None:
        view = governance.review(ctx, target, change_request, verb, comment)
    else:
        from trainer_ops.cli.policy import cli_principal

        with local_ops() as ops:
            act: Callable[..., dict[str, Any]] = getattr(ops.change_requests, verb)
            view = act(who=cli_principal(), request_id=change_request, comment=comment, req=request_id())
    emit(view, chosen(output, as_json), _line)


@changes_app.command("approve")
def approve(
    ctx: typer.Context,
    change_request: IdArgument,
    comment: Annotated[str | None, typer.Option(help="an optional comment")] = None,
    local: LocalOption = False,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Approve (remotely as the token's user, locally as `cli`, an admin); applied once it has its
    approvals (and is due)."""
    _review(ctx, "approve", change_request, comment, local=local, output=output, as_json=as_json)


@changes_app.command("reject")
def reject(
    ctx: typer.Context,
    change_request: IdArgument,
    comment: Annotated[str, typer.Option(help="why (required)")],
    local: LocalOption = False,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Reject, saying why."""
    _review(ctx, "reject", change_request, comment, local=local, output=output, as_json=as_json)


@changes_app.command("cancel")
def cancel(
    ctx: typer.Context,
    change_request: IdArgument,
    comment: Annotated[str | None, typer.Option(help="an optional comment")] = None,
    local: LocalOption = False,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Withdraw a change request; only its author may."""
    _review(ctx, "cancel", change_request, comment, local=local, output=output, as_json=as_json)
