"""`trainer-ops keys ...`: the fingerprints of the keys every replica shares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# The server's modules are imported inside each command, so that `trainer-ops keys --help` loads none.
if TYPE_CHECKING:
    from trainer_ops.audit.keys.service import KeyCheck, KeyReport, RetiredKey
    from trainer_ops.config import Settings

keys_app = typer.Typer(
    help="The keys every replica shares: fingerprints, JWT secret change.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)


@contextmanager
def _key_check(settings: Settings) -> Iterator[KeyCheck]:
    from trainer_ops.audit.keys.service import KeyCheck
    from trainer_ops.audit.keys.sources import load_keys
    from trainer_ops.db.engine import make_database
    from trainer_ops.infra.clock import SystemClock

    keys = load_keys(settings)
    database = make_database(settings)
    try:
        yield KeyCheck(database=database, keys=keys, clock=SystemClock())
    finally:
        database.engine.dispose()


@keys_app.command("fingerprints")
def fingerprints(
    as_json: Annotated[bool, typer.Option("--json", help="print the fingerprints as JSON")] = False,
) -> None:
    """Show each key's fingerprint, as given to this process and as the store recorded it.

    Exit 0 when every key matches the store's (or the store has none yet), 1 when one does not: this
    process would not start. Prints no key, only fingerprints and the signing keys' public verifier keys.
    """
    from trainer_ops.config import Settings

    with _key_check(Settings()) as check:
        reports, retired = check.report()
        signing = check.keys.signing
        verifier_key = None if signing.generated else signing.verifier_key
    matches = all(report.state != "mismatch" for report in reports)
    if as_json:
        body = {
            "match": matches,
            "keys": [report.as_json() for report in reports],
            "verifierKey": verifier_key,
            "retiredSigningKeys": [
                {
                    "generation": key.generation,
                    "fingerprint": key.fingerprint,
                    "verifierKey": key.verifier_key,
                    "trusted": key.trusted,
                }
                for key in retired
            ],
        }
        print(orjson.dumps(body).decode())
    else:
        _print_table(reports, retired, verifier_key)
    raise typer.Exit(0 if matches else 1)


def _print_table(reports: list[KeyReport], retired: list[RetiredKey], verifier_key: str | None) -> None:
    from trainer_ops.audit.keys.types import short

    table = Table("key", "state", "given", "recorded")
    states = {"match": "[green]match[/green]", "mismatch": "[red]MISMATCH[/red]"}
    for report in reports:
        table.add_row(
            report.label,
            states.get(report.state, "not recorded yet"),
            short(report.given) if report.given else "none",
            short(report.recorded) if report.recorded else "-",
        )
    out.print(table)
    for report in reports:
        out.print(f"{report.label} from {escape(report.source)}", soft_wrap=True)
    out.print(f"signing key's verifier key: {verifier_key or 'none given'}", soft_wrap=True)
    for key in retired:
        trust = "still verifies its checkpoints" if key.trusted else "NOT trusted"
        line = f"retired signing key, generation {key.generation} ({trust}): {key.verifier_key}"
        out.print(line, soft_wrap=True)
    for report in reports:
        if report.problem:
            out.print(f"[red]{escape(report.problem)}[/red]", soft_wrap=True)


@keys_app.command("replace-jwt-secret")
def replace_jwt_secret() -> None:
    """Make the JWT secret given to this process the store's (after a leak, say).

    Give the new secret in TRAINER_OPS_JWT_SECRET or its _FILE. Replicas with the old secret keep running
    until restarted, and then refuse to start with it; JWTs signed with the old secret stop working.
    """
    from trainer_ops.audit.keys.types import short
    from trainer_ops.config import Settings

    with _key_check(Settings()) as check:
        row = check.replace_jwt_secret()
    if row is None:
        out.print("the store already has this JWT secret")
    else:
        out.print(f"the store's JWT secret is now generation {row.generation} ({short(row.fingerprint)})")
