"""`trainer-ops change-requests list | show ID | approve ID | reject ID --comment`: on the local store,
through the same service and rules as the API, acting as the CLI's admin user `cli`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from trainer_ops.app import Ops, build_ops
from trainer_ops.cli.policy import CLI_PRINCIPAL
from trainer_ops.config import Settings
from trainer_ops.errors import TrainerOpsError

changes_app = typer.Typer(help="List, show, approve and reject change requests.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
JSON_OPTION = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


@contextmanager
def _local() -> Iterator[Ops]:
    """The local store's services; a refusal exits 2 with its message (as `policy set` does)."""
    ops = build_ops(Settings())
    ops.change_requests.rounds_here = False  # not in the fleet: a server runs approved reloads
    try:
        ops.prepare()
        yield ops
    except TrainerOpsError as error:
        err.print(f"[red]error:[/red] {error.message}")
        raise typer.Exit(2) from None
    finally:
        ops.close()


def _request_id() -> str:
    return f"cli-{uuid.uuid4().hex[:12]}"


def _print(view: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(view, indent=2, sort_keys=True))
    else:
        out.print(f"{view['id']}  {view['state']}  {view['operation']}")


@changes_app.command("list")
def list_requests(
    state: Annotated[str | None, typer.Option(help="only requests in this state")] = None,
    as_json: JSON_OPTION = False,
) -> None:
    """Change requests, newest first."""
    with _local() as ops:
        items = ops.change_requests.list(state=state, limit=500)
    if as_json:
        print(json.dumps(items, indent=2, sort_keys=True))
        return
    table = Table("id", "state", "operation", "author", "approvals", "applyAt")
    for item in items:
        approvals = f"{item['approvals']['given']}/{item['approvals']['required']}"
        table.add_row(
            item["id"],
            item["state"],
            item["operation"],
            item["author"]["userId"],
            approvals,
            str(item["applyAt"] or ""),
        )
    out.print(table)


@changes_app.command("show")
def show(request_id: Annotated[str, typer.Argument(help="the id (cr_...)")]) -> None:
    """One change request with its diff against the current version, as JSON."""
    with _local() as ops:
        view = ops.change_requests.show(request_id)
    print(json.dumps(view, indent=2, sort_keys=True))


def _act(action: Callable[[Ops], dict[str, Any]], as_json: bool) -> None:
    with _local() as ops:
        view = action(ops)
    _print(view, as_json)


@changes_app.command("approve")
def approve(
    request_id: Annotated[str, typer.Argument(help="the id (cr_...)")],
    comment: Annotated[str | None, typer.Option(help="an optional comment")] = None,
    as_json: JSON_OPTION = False,
) -> None:
    """Approve as the user `cli` (an admin); applied once it has its approvals (and is due)."""
    _act(
        lambda ops: ops.change_requests.approve(
            who=CLI_PRINCIPAL, request_id=request_id, comment=comment, req=_request_id()
        ),
        as_json,
    )


@changes_app.command("reject")
def reject(
    request_id: Annotated[str, typer.Argument(help="the id (cr_...)")],
    comment: Annotated[str, typer.Option(help="why (required)")],
    as_json: JSON_OPTION = False,
) -> None:
    """Reject as the user `cli`, saying why."""
    _act(
        lambda ops: ops.change_requests.reject(
            who=CLI_PRINCIPAL, request_id=request_id, comment=comment, req=_request_id()
        ),
        as_json,
    )
