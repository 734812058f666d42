"""`trainer-ops serve / init / db / token`: the server and the local store (the server's modules are
imported inside each command, so that listing them costs nothing)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from trainer_ops.access.types import Role
from trainer_ops.cli.governed import fail_local

if TYPE_CHECKING:
    from trainer_ops.errors import TrainerOpsError

serve_app = typer.Typer()
init_app = typer.Typer()
db_app = typer.Typer(help="Manage the store's schema.", no_args_is_help=True)
token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _fail(error: TrainerOpsError) -> None:
    """A refusal exits 1, as a refused remote command does (ADR 0028)."""
    raise fail_local(error)


def _cli_actor() -> Any:
    from trainer_ops.audit.types import Actor

    return Actor(user_id="cli", role="admin", scope={})


@serve_app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
) -> None:
    """Migrate the store, then serve the API (127.0.0.1:8080 by default).

    SIGTERM drains: /readyz answers 503, streams are told to reconnect, in-flight requests finish, and
    the process exits within TRAINER_OPS_SHUTDOWN_SECONDS."""
    from trainer_ops.app import build_ops, create_app
    from trainer_ops.cli import draining  # uvicorn is imported only to serve
    from trainer_ops.config import Settings
    from trainer_ops.infra.process import freeze_startup_heap

    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    ops = build_ops(settings)
    token = ops.prepare()
    base = f"http://{host}:{port}"
    token_file = settings.home / "admin-token"
    out.print(
        f"[bold green]trainer-ops[/bold green] serving on {base}  (store: "
        f"{ops.database.engine.url.render_as_string(hide_password=True)})"
    )
    if token:
        out.print(f"admin token (printed once, also in {token_file}):\n  [bold]{token}[/bold]")
    elif settings.bootstrap_admin_token:
        out.print("admin token: the one in TRAINER_OPS_BOOTSTRAP_ADMIN_TOKEN")
    else:
        out.print(f"admin token: in {token_file}")
    shown = "$TRAINER_OPS_BOOTSTRAP_ADMIN_TOKEN" if settings.bootstrap_admin_token else f"$(cat {token_file})"
    out.print("try:")
    out.print(f"  export TRAINER_OPS_TOKEN={shown}", soft_wrap=True)
    out.print(f"  trainer-ops --server {base} config get", soft_wrap=True)
    out.print(f"API reference: {base}/docs")
    web = create_app(settings, ops=ops)
    freeze_startup_heap()  # start-up's objects leave the collector's generations (ADR 0031)
    draining.serve(
        web,
        host=host,
        port=port,
        draining=web.state.draining,
        close_streams=ops.sync.broadcaster.close,
        shutdown_seconds=settings.shutdown_seconds,
        log_level=settings.log_level,
        log_format=settings.log_format,
    )


@init_app.command()
def init() -> None:
    """Create or migrate the store and the admin token, without serving."""
    from trainer_ops.app import build_ops
    from trainer_ops.config import Settings

    ops = build_ops(Settings())
    try:
        token = ops.prepare()
    finally:
        ops.close()
    if token:
        out.print(f"admin token (printed once, also in {ops.settings.home / 'admin-token'}):\n  {token}")
    else:
        out.print("the store is ready")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from trainer_ops.app import build_ops
    from trainer_ops.config import Settings
    from trainer_ops.db import migrate

    ops = build_ops(Settings())
    try:
        # The lock replicas take at start (ADR 0016): an upgrade never runs beside a starting replica's.
        with migrate.start_lock(ops.database.engine):
            migrate.upgrade(ops.database.engine, revision)
    finally:
        ops.close()
    out.print(f"store upgraded to {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="target revision, e.g. base")]) -> None:
    """Undo the migrations down to REVISION."""
    from trainer_ops.app import build_ops
    from trainer_ops.config import Settings
    from trainer_ops.db import migrate

    ops = build_ops(Settings())
    try:
        migrate.downgrade(ops.database.engine, revision)
    finally:
        ops.close()
    out.print(f"store downgraded to {revision}")


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option(help="admin, region, country, branch, team or service")],
    user: Annotated[str, typer.Option(help="the user id the token acts as")],
    region: Annotated[str | None, typer.Option(help="region scope")] = None,
    country: Annotated[str | None, typer.Option(help="country scope")] = None,
    branch: Annotated[str | None, typer.Option(help="branch scope")] = None,
    ttl_days: Annotated[float | None, typer.Option(help="expire after this many days")] = None,
) -> None:
    """Create an API token and print it (only its hash is stored)."""
    from trainer_ops.app import build_ops
    from trainer_ops.config import Settings
    from trainer_ops.errors import TrainerOpsError

    ops = build_ops(Settings())
    try:
        ops.prepare()
        new = ops.write(
            lambda session: ops.tokens.create(
                session,
                actor=_cli_actor(),
                role=role,
                user_id=user,
                region=region,
                country=country,
                branch=branch,
                ttl_seconds=ttl_days * 86400 if ttl_days else None,
            )
        )
    except TrainerOpsError as error:
        _fail(error)
        return
    finally:
        ops.close()
    print(new.token)


@token_app.command("list")
def token_list() -> None:
    """List tokens (prefix, user, role, scope, state); never the tokens themselves."""
    from rich.table import Table

    from trainer_ops.app import build_ops
    from trainer_ops.config import Settings

    ops = build_ops(Settings())
    table = Table("id", "prefix", "user", "role", "scope", "state")
    try:
        ops.prepare()
        with ops.database.read() as session:
            for row in ops.tokens.list_tokens(session):
                scope = " ".join(
                    f"{k}={v}"
                    for k, v in (("region", row.region), ("country", row.country), ("branch", row.branch))
                    if v
                )
                table.add_row(
                    str(row.id),
                    row.prefix,
                    row.user_id,
                    row.role,
                    scope,
                    "revoked" if row.revoked_at_ms else "active",
                )
    finally:
        ops.close()
    out.print(table)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="the id shown by `token list`")]) -> None:
    """Revoke a token; servers stop accepting it within TRAINER_OPS_TOKEN_CACHE_SECONDS."""
    from trainer_ops.app import build_ops
    from trainer_ops.config import Settings
    from trainer_ops.errors import TrainerOpsError

    ops = build_ops(Settings())
    try:
        ops.prepare()
        ops.write(lambda session: ops.tokens.revoke(session, actor=_cli_actor(), token_id=token_id))
    except TrainerOpsError as error:
        _fail(error)
        return
    finally:
        ops.close()
    out.print(f"token {token_id} revoked")
