"""`trainer-ops health` and `trainer-ops diagnostics`: how the service is doing, as it measures itself."""

from __future__ import annotations

from typing import Any

import typer

from trainer_ops.cli.remote.output import (
    EXIT_REFUSED,
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


def health(ctx: typer.Context, output: OutputOption = Format.table, as_json: JsonOption = False) -> None:
    """Status, latency, uptime and each engine's state.

    As far as your role sees: status ok, degraded or down (exit 1 when down); median latency; uptime;
    each engine's state."""
    with api(ctx) as client:
        body = client.get("/operator/ops/health").json()
    emit(body, chosen(output, as_json), _show_health)
    if body.get("status") == "down":
        raise typer.Exit(EXIT_REFUSED)


def _show_health(body: dict[str, Any]) -> None:
    engines = body.get("engines")
    pairs({k: v for k, v in body.items() if k != "engines"})
    if isinstance(engines, dict):
        table_of(["engine", "status"], [[name, state] for name, state in engines.items()])


def diagnostics(ctx: typer.Context, output: OutputOption = Format.table, as_json: JsonOption = False) -> None:
    """CPU, memory, error rate and slow endpoints.

    CPU and memory as fractions of the machine, the 5xx rate, upstream timeouts and the endpoints slower
    than the threshold, over the last 5 minutes."""
    with api(ctx) as client:
        body = client.get("/operator/ops/diagnostics").json()
    emit(body, chosen(output, as_json), _show_diagnostics)


def _show_diagnostics(body: dict[str, Any]) -> None:
    slow = body.get("slowQueries") or []
    pairs({k: v for k, v in body.items() if k != "slowQueries"})
    if slow:
        table_of(["slow endpoint", "avg ms"], [[q.get("endpoint"), q.get("avgMs")] for q in slow])
    else:
        out.print("no slow endpoints")
