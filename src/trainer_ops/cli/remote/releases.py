"""`trainer-ops releases list | create | rollback | diff`: versioned releases and their rollback."""

from __future__ import annotations

import sys
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

RELEASES = "/operator/ops/releases"
releases_app = typer.Typer(help="List, create, compare and roll back releases.", no_args_is_help=True)
VersionArgument = Annotated[str, typer.Argument(help="a release's semantic version, e.g. 1.0.4")]


@releases_app.command("list")
def list_releases(
    ctx: typer.Context, output: OutputOption = Format.table, as_json: JsonOption = False
) -> None:
    """Every release, oldest first; * marks the one in force."""
    with api(ctx) as client:
        body = client.get(RELEASES).json()
    rows = [
        [
            ("* " if r.get("current") else "  ") + r["version"],
            when(r.get("date")),
            ", ".join(r.get("includedEngines") or []) or "-",
            r.get("notes") or "",
        ]
        for r in body
    ]
    emit(body, chosen(output, as_json), lambda _: table_of(["version", "date", "engines", "notes"], rows))


@releases_app.command("create")
def create(
    ctx: typer.Context,
    version: VersionArgument,
    notes: Annotated[str, typer.Option(help="what changed")] = "",
    engine: Annotated[
        list[str] | None, typer.Option("--engine", "-e", help="an engine to include (repeat the option)")
    ] = None,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Record a release: the included engines' active rulesets and the config versions in force now."""
    body = {"version": version, "notes": notes, "includedEngines": engine or []}
    with api(ctx) as client:
        created = client.call("POST", RELEASES, json=body).json()
    emit(created, chosen(output, as_json), lambda view: pairs(_summary(view)))


def _summary(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k != "snapshot"}


@releases_app.command("diff")
def diff(
    ctx: typer.Context,
    older: VersionArgument,
    newer: Annotated[str | None, typer.Argument(help="default: the release in force")] = None,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """What differs between two releases: each engine's ruleset and each setting's version.

    Computed from `GET /operator/ops/releases`; --json prints {from, to, changes: [...]}."""
    with api(ctx) as client:
        releases = client.get(RELEASES).json()
    first = _find(releases, older)
    second = _find(releases, newer) if newer else next((r for r in releases if r.get("current")), None)
    if second is None:
        raise fail("no release is in force: name the second release", EXIT_USAGE)
    changes = differences(first, second)
    body = {"from": first["version"], "to": second["version"], "changes": changes}
    emit(body, chosen(output, as_json), _show_diff)


def _find(releases: list[dict[str, Any]], version: str) -> dict[str, Any]:
    found = next((r for r in releases if r["version"] == version), None)
    if found is None:
        known = ", ".join(r["version"] for r in releases) or "none"
        raise fail(f"no release {version!r} (releases: {known})", EXIT_REFUSED)
    return found


def differences(first: dict[str, Any], second: dict[str, Any]) -> list[dict[str, Any]]:
    """Engines' rulesets (global and per place) and the config versions that differ, as rows."""
    a, b = first.get("snapshot") or {}, second.get("snapshot") or {}
    rows: list[dict[str, Any]] = []
    for engine in sorted({*a.get("engines", {}), *b.get("engines", {})}):
        left = (a.get("engines", {}).get(engine) or {}).get("targetId")
        right = (b.get("engines", {}).get(engine) or {}).get("targetId")
        if left != right:
            rows.append({"what": f"engine {engine}", "from": left, "to": right})
    for engine in sorted({*a.get("scoped", {}), *b.get("scoped", {})}):
        left_places, right_places = a.get("scoped", {}).get(engine, {}), b.get("scoped", {}).get(engine, {})
        for place in sorted({*left_places, *right_places}):
            left = (left_places.get(place) or {}).get("targetId")
            right = (right_places.get(place) or {}).get("targetId")
            if left != right:
                rows.append({"what": f"engine {engine} in {place}", "from": left, "to": right})
    for kind in sorted({*a.get("config", {}), *b.get("config", {})}):
        left, right = a.get("config", {}).get(kind), b.get("config", {}).get(kind)
        if left != right:
            rows.append({"what": f"{kind} version", "from": left, "to": right})
    return rows


def _show_diff(body: dict[str, Any]) -> None:
    if not body["changes"]:
        out.print(f"{body['from']} and {body['to']} are the same")
        return
    table_of(["", body["from"], body["to"]], [[c["what"], c["from"], c["to"]] for c in body["changes"]])


@releases_app.command("rollback")
def rollback(
    ctx: typer.Context,
    version: VersionArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    output: OutputOption = Format.table,
    as_json: JsonOption = False,
) -> None:
    """Put release VERSION's engines and config back, all or nothing. Asks first (--yes does not); with
    no terminal to ask on, refuses unless --yes is given."""
    with api(ctx) as client:
        if not yes:
            _confirm(client, version)
        result = client.call("POST", f"{RELEASES}/rollback", json={"targetVersion": version}).json()
    emit(
        result,
        chosen(output, as_json),
        lambda view: out.print(
            f"rolled back to {view['version']} (from {view.get('previousVersion') or '-'}, "
            f"{view.get('durationMs')} ms)"
        ),
    )


def _confirm(client: Any, version: str) -> None:
    if not sys.stdin.isatty():
        raise fail("a rollback asks for confirmation and there is no terminal: add --yes", EXIT_USAGE)
    releases = client.get(RELEASES).json()
    target = _find(releases, version)
    current = next((r for r in releases if r.get("current")), None)
    if current is not None:
        changes = differences(current, target)
        _show_diff({"from": current["version"], "to": target["version"], "changes": changes})
    if not typer.confirm(f"Roll back to {version}?", default=False, err=True):
        raise fail("not rolled back", EXIT_REFUSED)
