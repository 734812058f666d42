"""`trainer-ops policy show | set FILE`: the policy on the local store, through the API's own checks."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from trainer_ops.access.types import Principal, Role
from trainer_ops.app import build_ops
from trainer_ops.config import Settings
from trainer_ops.errors import TrainerOpsError

policy_app = typer.Typer(help="Show and replace the scope policy.", no_args_is_help=True)
err = Console(stderr=True)
# Audited as this user: a CLI on the store's host acts as an admin, as `token create` does.
CLI_PRINCIPAL = Principal(user_id="cli", role=Role.ADMIN)


@policy_app.command("show")
def policy_show() -> None:
    """Print the policy in force as JSON (stdout: ready for `policy set`); its version on stderr."""
    ops = build_ops(Settings())
    try:
        ops.prepare()
        doc = ops.policy_editor.current()
    finally:
        ops.close()
    print(json.dumps(doc.document, indent=2, sort_keys=True))
    err.print(f"policy version {doc.version}")


@policy_app.command("set")
def policy_set(
    file: Annotated[Path, typer.Argument(help="a JSON policy document, e.g. edited from `policy show`")],
    if_match: Annotated[
        int | None, typer.Option("--if-match", help="refuse unless this is still the current version")
    ] = None,
) -> None:
    """Replace the policy with FILE: the same schema, checks and lock-out guard as PUT /operator/ops/policy.

    Exit 0 when stored (or unchanged), 1 when FILE cannot be read as JSON, 2 when the policy is refused."""
    try:
        document = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        err.print(f"[red]error:[/red] cannot read {file}: {exc}")
        raise typer.Exit(1) from None
    ops = build_ops(Settings())
    try:
        ops.prepare()
        doc = ops.policy_editor.replace(
            principal=CLI_PRINCIPAL,
            document=document,
            if_match=frozenset({if_match}) if if_match is not None else None,
            request_id=f"cli-{uuid.uuid4().hex[:12]}",
        )
    except TrainerOpsError as error:
        err.print(f"[red]error:[/red] {error.message}")
        for item in error.errors or []:
            err.print(f"  {item['field']}: {item['message']}")
        raise typer.Exit(2) from None
    finally:
        ops.close()
    err.print(f"policy version {doc.version}")
