"""`trainer-ops config ...` and `trainer-ops limits ...`: get, set FIELD=VALUE, history, remotely."""

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
    when,
)
from trainer_ops.cli.remote.writes import (
    ApplyAtOption,
    BypassOption,
    IfMatchOption,
    accepted,
    changed_rows,
    parse_assignments,
    preconditions,
)

AssignmentsArgument = Annotated[
    list[str] | None, typer.Argument(help="FIELD=VALUE pairs, e.g. temperature=0.2 toneProfile=coaching")
]
LimitOption = Annotated[int, typer.Option(help="versions per page, 1 to 200")]
CursorOption = Annotated[str | None, typer.Option(help="nextCursor of the previous page")]


def document_app(path: str, what: str, example: str) -> typer.Typer:
    """The commands of one whole-document setting at `path` (GET, PATCH, history)."""
    app = typer.Typer(help=f"Show and change the {what}.", no_args_is_help=True)

    @app.command("get")
    def get(ctx: typer.Context, output: OutputOption = Format.table, as_json: JsonOption = False) -> None:
        """The values in force now, with their version."""
        with api(ctx) as client:
            response = client.get(path)
        fmt = chosen(output, as_json)
        emit(response.json(), fmt, lambda body: pairs(body, title=_title(what, response)))

    @app.command("set", help=f"Change some fields (a partial update), e.g. `set {example}`.")
    def set_(
        ctx: typer.Context,
        assignments: AssignmentsArgument = None,
        if_match: IfMatchOption = None,
        apply_at: ApplyAtOption = None,
        bypass_reason: BypassOption = None,
        output: OutputOption = Format.table,
        as_json: JsonOption = False,
    ) -> None:
        with api(ctx) as client:
            current = client.get(path)
            before = current.json()
            changes = parse_assignments(assignments or [], before)
            response = client.call(
                "PATCH",
                path,
                json=changes,
                params={"applyAt": apply_at},
                headers=preconditions(current, if_match, bypass_reason),
            )
        fmt = chosen(output, as_json)
        if accepted(response, fmt):
            return
        after = response.json()
        emit(after, fmt, lambda body: _changed(what, before, body, response))

    add_history(app, path, "Every version, newest first: who changed what, when.")
    return app


def add_history(app: typer.Typer, path: str, help_text: str) -> None:
    """`history`: the versions of the document at `path`, newest first, a page at a time."""

    @app.command("history", help=help_text)
    def history(
        ctx: typer.Context,
        limit: LimitOption = 20,
        cursor: CursorOption = None,
        output: OutputOption = Format.table,
        as_json: JsonOption = False,
    ) -> None:
        with api(ctx) as client:
            response = client.get(f"{path}/history", limit=limit, cursor=cursor)
        emit(response.json(), chosen(output, as_json), history_table)


def _title(what: str, response: Any) -> str:
    return f"{what} (version {response.headers.get('etag', '?').strip(chr(34))})"


def _changed(what: str, before: dict[str, Any], after: dict[str, Any], response: Any) -> None:
    rows = changed_rows(before, after)
    if rows:
        table_of(["field", "before", "after"], rows)
    else:
        out.print("nothing changed")
    out.print(_title(what, response))


def history_table(page: dict[str, Any]) -> None:
    rows = []
    for item in page.get("items", []):
        actor = item.get("actor") or {}
        rows.append(
            [
                item.get("version"),
                when(item.get("at") or item.get("timestamp") or item.get("createdAt")),
                actor.get("userId") if isinstance(actor, dict) else actor,
                _summary(item),
            ]
        )
    table_of(["version", "when", "who", "changed"], rows)
    if page.get("nextCursor"):
        out.print(f"more: --cursor {page['nextCursor']}")


def _summary(item: dict[str, Any]) -> str:
    after = item.get("after")
    if isinstance(after, dict):
        return ", ".join(f"{k}={v}" for k, v in after.items())[:120]
    return "-"


config_app = document_app(
    "/operator/ops/model-config", "model config", "temperature=0.2 toneProfile=coaching"
)
limits_app = document_app("/operator/ops/limits", "limits", "aiCallsPerMinute=120")
