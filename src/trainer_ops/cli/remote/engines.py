"""`trainer-ops engines ...`, `rulesets ...` and `reload`: the engines, their rulesets, hot reloads."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from trainer_ops.cli.remote.output import (
    EXIT_REFUSED,
    EXIT_USAGE,
    Format,
    JsonOption,
    OutputOption,
    api,
    chosen,
    emit,
    fail,
    out,
    pairs,
    table_of,
    when,
)

ENGINES = "/operator/ops/engines"
engines_app = typer.Typer(help="The engines: status and the ruleset each runs.", no_args_is_help=True)
rulesets_app = typer.Typer(
    help="Rulesets: list, show, upload, validate, and each engine type's schema.", no_args_is_help=True
)
TypeArgument = Annotated[str, typer.Argument(help="engine type: scenario, prompt, missions, ...")]
TargetArgument = Annotated[str, typer.Argument(help="the ruleset's id (targetId), e.g. ruleset_v12")]
ScopeOption = Annotated[str | None, typer.Option("--scope", help="a region, country or branch code")]


@engines_app.command("list")
def list_engines(
    ctx: typer.Context, output: OutputOption = Format.table, as_json: JsonOption = False
) -> None:
    """Every engine: status, active ruleset and version, the last rollback."""
    with api(ctx) as client:
        body = client.get(ENGINES).json()
    rows = [
        [
            e["type"],
            e["status"],
            e.get("activeTargetId"),
            e.get("version"),
            len(e.get("instances") or []),
            len(e.get("scoped") or []),
            e.get("lastRollbackReason") or "-",
        ]
        for e in body
    ]
    columns = ["engine", "status", "active", "version", "instances", "scoped", "last rollback"]
    emit(body, chosen(output, as_json), lambda _: table_of(columns, rows))


@engines_app.command("active")
def active(
    ctx: typer.Context,
    engine: TypeArgument,
    scope: ScopeOption = None,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """The ruleset an instance runs (with --scope, an instance of that place), whole."""
    with api(ctx) as client:
        body = client.get(f"{ENGINES}/{engine}/active", scope=scope).json()

    def show(view: dict[str, Any]) -> None:
        pairs({k: v for k, v in view.items() if k != "ruleset"})
        out.print(json.dumps(view.get("ruleset"), indent=2, ensure_ascii=False))

    emit(body, chosen(output, as_json), show)


@rulesets_app.command("list")
def list_rulesets(
    ctx: typer.Context, engine: TypeArgument, output: OutputOption = Format.table, as_json: JsonOption = False
) -> None:
    """The rulesets stored for an engine, oldest first; * marks the active one."""
    with api(ctx) as client:
        body = client.get(f"{ENGINES}/{engine}/rulesets").json()
    rows = [
        [
            ("* " if r.get("active") else "  ") + r["targetId"],
            r["digest"][:16],
            r["sizeBytes"],
            when(r.get("createdAt")),
            r.get("createdBy"),
        ]
        for r in body
    ]
    emit(
        body,
        chosen(output, as_json),
        lambda _: table_of(["targetId", "digest", "bytes", "created", "by"], rows),
    )


@rulesets_app.command("show")
def show_ruleset(
    ctx: typer.Context,
    engine: TypeArgument,
    target_id: TargetArgument,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """One stored ruleset with its content."""
    with api(ctx) as client:
        body = client.get(f"{ENGINES}/{engine}/rulesets/{target_id}").json()

    def show(view: dict[str, Any]) -> None:
        pairs({k: v for k, v in view.items() if k != "ruleset"})
        out.print(json.dumps(view.get("ruleset"), indent=2, ensure_ascii=False))

    emit(body, chosen(output, as_json), show)


@rulesets_app.command("upload")
def upload(
    ctx: typer.Context,
    engine: TypeArgument,
    target_id: TargetArgument,
    file: Annotated[Path, typer.Argument(help="the ruleset, a JSON file (- reads stdin)")],
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Store a ruleset under TARGET_ID (validated by the server; immutable: other content under a stored
    id is refused, the same content again is fine). Then `trainer-ops reload TYPE TARGET_ID`."""
    raw = _read(file)
    with api(ctx) as client:
        response = client.call("PUT", f"{ENGINES}/{engine}/rulesets/{target_id}", content=raw)
    body = response.json()

    def show(view: dict[str, Any]) -> None:
        state = "stored" if response.status_code == 201 else "already stored (same content)"
        out.print(f"{view['type']}/{view['targetId']} {state}, digest {view['digest'][:16]}")

    emit(body, chosen(output, as_json), show)


@rulesets_app.command("schema")
def schema(
    ctx: typer.Context, engine: TypeArgument, output: OutputOption = Format.json, as_json: JsonOption = False
) -> None:
    """The JSON Schema a ruleset of this engine type must match (printed as JSON, or -o yaml)."""
    with api(ctx) as client:
        body = client.get(f"{ENGINES}/{engine}/schema").json()
    emit(body, Format.yaml if chosen(output, as_json) is Format.yaml else Format.json, lambda _: None)


@rulesets_app.command("validate")
def validate(
    ctx: typer.Context,
    engine: TypeArgument,
    file: Annotated[Path, typer.Argument(help="the ruleset, a JSON file (- reads stdin)")],
    as_json: JsonOption = False,
) -> None:
    """Check FILE against the engine type's schema from the server, before an upload. Exit 0 when it
    matches, 1 listing what does not. (The engine's own checks beyond the schema run on upload.)"""
    raw = _read(file)
    try:
        ruleset = json.loads(raw)
    except ValueError as exc:
        raise fail(f"{file} is not JSON: {exc}", EXIT_REFUSED) from None
    with api(ctx) as client:
        body = client.get(f"{ENGINES}/{engine}/schema").json()
    problems = _schema_errors(_schema_of(body), ruleset)
    if as_json:
        print(json.dumps({"valid": not problems, "errors": problems}, indent=2))
    elif problems:
        table_of(["field", "problem"], [[p["field"], p["message"]] for p in problems])
    else:
        out.print(f"{file} matches the {engine} schema")
    if problems:
        raise typer.Exit(EXIT_REFUSED)


def _schema_of(body: Any) -> dict[str, Any]:
    """The schema endpoint's answer is the schema itself, or an object that carries it in `schema`."""
    if isinstance(body, dict) and isinstance(body.get("schema"), dict) and "properties" not in body:
        return dict(body["schema"])
    return dict(body) if isinstance(body, dict) else {}


def _schema_errors(schema: dict[str, Any], ruleset: Any) -> list[dict[str, str]]:
    import jsonschema

    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    return [
        {"field": "/".join(str(p) for p in error.absolute_path) or "(root)", "message": error.message}
        for error in sorted(validator.iter_errors(ruleset), key=lambda e: list(e.absolute_path))
    ]


def _read(file: Path) -> bytes:
    """FILE's bytes; `-` reads stdin."""
    if str(file) == "-":
        return sys.stdin.buffer.read()
    try:
        return file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}", EXIT_USAGE) from None


def reload(
    ctx: typer.Context,
    engine: TypeArgument,
    target_id: TargetArgument,
    scope: ScopeOption = None,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Hot-reload an engine onto a stored ruleset.

    TARGET_ID becomes the active ruleset of every instance of the engine (with --scope, for that place
    only). All instances ACK, or all are put back and the command exits 1 naming who failed."""
    body: dict[str, Any] = {"type": engine, "targetId": target_id}
    if scope is not None:
        body["scope"] = scope
    with api(ctx) as client:
        result = client.call("POST", "/operator/ops/hot-reload", json=body).json()

    def show(view: dict[str, Any]) -> None:
        where = f" in {view['scope']}" if view.get("scope") else ""
        out.print(
            f"{view['type']}{where}: {view['status']} {view['targetId']} "
            f"(was {view.get('previousTargetId') or '-'}, version {view.get('version')}, "
            f"{view.get('durationMs')} ms)"
        )
        instances = view.get("instances") or []
        if instances:
            table_of(
                ["instance", "ok", "ms", "error"],
                [[i["instance"], i["ok"], i.get("durationMs"), i.get("error") or "-"] for i in instances],
            )

    emit(result, chosen(output, as_json), show)
