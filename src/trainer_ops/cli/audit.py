"""`trainer-ops audit ...`: verify the log, export a signed checkpoint, export entries as JSON lines, and
(cli/witness.py) witness the log from another machine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console

from trainer_ops.cli.progress import progress
from trainer_ops.cli.witness import witness

# The server's modules are imported inside each command, so that `trainer-ops audit --help` loads none.
if TYPE_CHECKING:
    from trainer_ops.audit.verify import Verdict
    from trainer_ops.config import Settings

audit_app = typer.Typer(help="Verify and export the tamper-evident audit log.", no_args_is_help=True)
audit_app.command("witness")(witness)
out = Console()
err = Console(stderr=True)
QUIET = typer.Option("--quiet", "-q", help="show no progress on stderr")


def _missing_keys(settings: Settings) -> list[str]:
    """Verification must never create keys: a new key would make a good log look forged."""
    from trainer_ops.audit.keys.sources import missing as missing_keys

    return [
        f"the {key.kind.label} ({key.kind.env}, {key.kind.env}_FILE or {key.new_file[0]})"
        for key in missing_keys(settings)
        if key.new_file is not None
    ]


@audit_app.command("verify")
def verify(
    checkpoint: Annotated[
        list[Path] | None, typer.Option(help="a checkpoint exported earlier (repeatable)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False,
    quiet: Annotated[bool, QUIET] = False,
) -> None:
    """Recompute the whole log. Exit 0 when intact, 1 naming the first bad entry, 2 when it cannot verify.
    Shows progress on stderr (a bar on a terminal, a line every few seconds otherwise)."""
    from trainer_ops.app import build_ops
    from trainer_ops.audit.keys.types import MAC, KeysRefused
    from trainer_ops.audit.verify import UNVERIFIABLE, Verdict
    from trainer_ops.config import Settings

    settings = Settings()
    missing = _missing_keys(settings)
    if missing:
        _report(Verdict(UNVERIFIABLE, reason="missing " + " and ".join(missing)), as_json)
        raise typer.Exit(2)
    notes = []
    for path in checkpoint or []:
        try:
            notes.append(path.read_text())
        except OSError as exc:
            _report(Verdict(UNVERIFIABLE, reason=f"cannot read checkpoint {path}: {exc}"), as_json)
            raise typer.Exit(2) from None
    ops = build_ops(settings)
    try:
        ops.keys.check(MAC)  # another MAC key would call every entry forged
    except KeysRefused as refused:
        ops.close()
        _report(Verdict(UNVERIFIABLE, reason=refused.message), as_json)
        raise typer.Exit(2) from None
    try:
        with progress("verifying", ops.checkpoints.size(), quiet=quiet or as_json) as advance:
            verdict = ops.checkpoints.verify(extra=notes, progress=advance)
    finally:
        ops.close()
    _report(verdict, as_json)
    raise typer.Exit(verdict.exit_code)


def _report(verdict: Verdict, as_json: bool) -> None:
    if as_json:
        print(orjson.dumps(verdict.as_json()).decode())
        return
    if verdict.status == "intact":
        out.print(
            f"[green]intact[/green]: {verdict.size} entries, {verdict.checkpoints_checked} signed "
            f"checkpoint(s) matched; root {verdict.root}"
        )
    elif verdict.status == "tampered":
        where = f"first bad entry: {verdict.first_bad_seq}; " if verdict.first_bad_seq else ""
        out.print(f"[red]TAMPERED[/red]: {where}{verdict.reason}")
    else:
        out.print(f"[yellow]cannot verify[/yellow]: {verdict.reason}")


@audit_app.command("checkpoint")
def checkpoint(
    out_file: Annotated[Path | None, typer.Option("--out", help="write the signed checkpoint here")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the checkpoint as GET .../audit/checkpoint answers it")
    ] = False,
    quiet: Annotated[bool, QUIET] = False,
) -> None:
    """Sign a checkpoint over every entry now (re-verifying new entries first) and export it for an
    outside witness. Keep the file away from the store: it catches truncation and rollback later.
    Shows progress on stderr while re-verifying (a bar on a terminal, a line every few seconds
    otherwise)."""
    from trainer_ops.app import build_ops
    from trainer_ops.audit.keys.types import KeysRefused
    from trainer_ops.config import Settings
    from trainer_ops.errors import TrainerOpsError

    settings = Settings()
    missing = _missing_keys(settings)
    if missing:
        err.print("[red]error:[/red] missing " + " and ".join(missing))
        raise typer.Exit(2)
    ops = build_ops(settings)
    try:
        ops.keys.check()  # never sign with a key that is not the store's
        with progress("re-verifying", ops.checkpoints.pending(), quiet=quiet or as_json) as advance:
            made = ops.checkpoints.make(progress=advance)
    except KeysRefused:
        raise  # reported by the root command group, exit 2
    except TrainerOpsError as error:
        err.print(f"[red]error:[/red] {error.message}")
        raise typer.Exit(1) from None
    finally:
        ops.close()
    if out_file:
        out_file.write_text(made.note)
        if not quiet:
            err.print(f"checkpoint at size {made.size} written to {out_file}")
    if as_json:
        shown = {
            "size": made.size,
            "rootHash": made.root.hex(),
            "chainHash": made.chain,
            "timestamp": made.ts_ms // 1000,
            "note": made.note,
            "verifierKey": ops.checkpoints.verifier_key,
            "keyId": ops.checkpoints.key_id,
        }
        sys.stdout.write(orjson.dumps(shown).decode() + "\n")
    elif not out_file:
        sys.stdout.write(made.note)


@audit_app.command("export")
def export(
    action: Annotated[str | None, typer.Option(help="one action or a comma list")] = None,
    user: Annotated[str | None, typer.Option(help="only this user id")] = None,
    page: Annotated[int, typer.Option(help="entries fetched per query")] = 500,
    quiet: Annotated[bool, QUIET] = False,
) -> None:
    """Write entries as JSON lines to stdout, oldest last (newest first), for a SIEM. Shows progress on
    stderr (a bar on a terminal, a line every few seconds otherwise)."""
    from trainer_ops.app import build_ops
    from trainer_ops.audit.service import AuditQuery
    from trainer_ops.config import Settings
    from trainer_ops.errors import TrainerOpsError

    ops = build_ops(Settings())
    try:
        cursor = None
        actions = tuple(a.strip() for a in action.split(",") if a.strip()) if action else ()
        # The total is known only without a filter; with one, progress counts what was written.
        total = None if actions or user else ops.checkpoints.size()
        with progress("exporting", total, quiet=quiet) as advance:
            while True:
                with ops.database.read() as session:
                    result = ops.audit.query(
                        session, AuditQuery(user_id=user, actions=actions, cursor=cursor, limit=page)
                    )
                for item in result.items:
                    sys.stdout.write(orjson.dumps(item).decode() + "\n")
                advance(len(result.items))
                if not result.next_cursor:
                    break
                cursor = result.next_cursor
    except TrainerOpsError as error:
        err.print(f"[red]error:[/red] {error.message}")
        raise typer.Exit(2) from None
    finally:
        ops.close()
