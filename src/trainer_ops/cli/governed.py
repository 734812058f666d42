"""What the governance commands (policy, places, change-requests) share: the choice between the API and
the local store, and the local store itself (ADR 0028)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from trainer_ops.cli.remote.output import EXIT_REFUSED, err, target_of
from trainer_ops.cli.remote.target import Target

if TYPE_CHECKING:
    from trainer_ops.app import Ops
    from trainer_ops.errors import TrainerOpsError

LocalOption = Annotated[
    bool,
    typer.Option("--local", help="work on the local store (TRAINER_OPS_* settings) even if a server is set"),
]


def target_or_local(ctx: typer.Context, local: bool) -> Target | None:
    """The server to call, or None for the local store: remote whenever a server is configured (--server,
    TRAINER_OPS_SERVER or a current context), unless --local."""
    return None if local else target_of(ctx)


@contextmanager
def local_ops() -> Iterator[Ops]:
    """The local store's services, prepared (migrated, defaults written); a refusal exits 1."""
    from trainer_ops.app import build_ops
    from trainer_ops.config import Settings
    from trainer_ops.errors import TrainerOpsError

    ops = build_ops(Settings())
    ops.change_requests.rounds_here = False  # not in the fleet: a server runs approved fleet operations
    try:
        ops.prepare()
        yield ops
    except TrainerOpsError as error:
        raise fail_local(error) from None
    finally:
        ops.close()


def fail_local(error: TrainerOpsError) -> typer.Exit:
    """A refusal of the local store, printed as a refused API call is: the message, then the fields.
    Keys that are not the store's are no refusal of the command: the root group ends it (exit 2)."""
    from rich.markup import escape

    from trainer_ops.audit.keys.types import KeysRefused

    if isinstance(error, KeysRefused):
        raise error

    err.print(f"[red]error:[/red] {escape(error.message)}")
    for item in error.errors or []:
        err.print(f"  {escape(str(item['field']))}: {escape(str(item['message']))}")
    return typer.Exit(EXIT_REFUSED)


def request_id() -> str:
    import uuid

    return f"cli-{uuid.uuid4().hex[:12]}"
