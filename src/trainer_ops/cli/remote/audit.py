"""`trainer-ops audit query` and `audit proof`: the audit log read through the API (no key needed)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trainer_ops.cli.remote.output import (
    Format,
    JsonOption,
    OutputOption,
    api,
    chosen,
    emit,
    out,
    pairs,
    table_of,
)

AUDIT = "/operator/ops/audit"


def query(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="only entries by this user id")] = None,
    action: Annotated[
        str | None,
        typer.Option(help="predict, publish, reload, update_config, access_denied, ... or a comma list"),
    ] = None,
    since: Annotated[str | None, typer.Option("--from", help="epoch seconds or ISO-8601 (inclusive)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="epoch seconds or ISO-8601 (inclusive)")] = None,
    limit: Annotated[int, typer.Option(help="entries per page, 1 to 500")] = 50,
    cursor: Annotated[str | None, typer.Option(help="nextCursor of the previous page")] = None,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Audit entries, newest first, filtered (remote).

    Filtered as GET /operator/ops/audit filters them, one page at a time: the next page's --cursor is
    printed under the table, and is `nextCursor` in --json."""
    with api(ctx) as client:
        page = client.get(
            AUDIT, userId=user, action=action, limit=limit, cursor=cursor, **{"from": since, "to": until}
        ).json()
    emit(page, chosen(output, as_json), _show_page)


def _show_page(page: dict[str, Any]) -> None:
    rows = [
        [
            item.get("seq"),
            item.get("time"),
            item.get("userId"),
            item.get("action"),
            item.get("targetId"),
            _outcome(item.get("outcome")),
        ]
        for item in page.get("items", [])
    ]
    table_of(["seq", "time", "user", "action", "target", "outcome"], rows)
    if page.get("nextCursor"):
        out.print(f"more: --cursor {page['nextCursor']}")


def _outcome(outcome: Any) -> str:
    if isinstance(outcome, dict):
        return str(outcome.get("status") or outcome.get("result") or outcome)
    return str(outcome)


def proof(
    ctx: typer.Context,
    seq: Annotated[int, typer.Argument(help="the entry's seq")],
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """An inclusion proof of one entry (remote).

    RFC 9162: entry SEQ is in the latest signed checkpoint."""
    with api(ctx) as client:
        body = client.get(f"{AUDIT}/proof", seq=seq).json()
    emit(body, chosen(output, as_json), pairs)
