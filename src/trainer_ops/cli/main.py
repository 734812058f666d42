"""`trainer-ops`: the root command. Each command's module is imported only when that command runs, so
`trainer-ops --help` imports neither the server nor an HTTP client (ADR 0028)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from trainer_ops.cli.lazy import Lazy, LazyGroup, lazy_group
from trainer_ops.cli.remote.output import EXIT_CODES, err
from trainer_ops.cli.remote.target import Flags

REMOTE = "Remote: the API of a server (--server, TRAINER_OPS_SERVER or a context)"
GOVERNED = "Governance: remote when a server is configured, else the local store (--local)"
LOCAL = "Local: the server and its store (TRAINER_OPS_* settings)"
R = "trainer_ops.cli.remote"

COMMANDS = (
    Lazy("config", f"{R}.documents:config_app", "Show and change the model config.", REMOTE),
    Lazy("features", f"{R}.features:features_app", "List, read, switch and create feature toggles.", REMOTE),
    Lazy("limits", f"{R}.documents:limits_app", "Show and change the limits.", REMOTE),
    Lazy("engines", f"{R}.engines:engines_app", "The engines: status and the ruleset each runs.", REMOTE),
    Lazy(
        "rulesets",
        f"{R}.engines:rulesets_app",
        "Rulesets: list, show, upload, validate, and each engine type's schema.",
        REMOTE,
    ),
    Lazy("reload", f"{R}.engines:reload", "Hot-reload an engine onto a stored ruleset.", REMOTE),
    Lazy("releases", f"{R}.releases:releases_app", "List, create, compare and roll back releases.", REMOTE),
    Lazy("health", f"{R}.status:health", "Status, latency, uptime and each engine's state.", REMOTE),
    Lazy("diagnostics", f"{R}.status:diagnostics", "CPU, memory, error rate and slow endpoints.", REMOTE),
    Lazy(
        "context",
        f"{R}.context:context_app",
        "Named servers and their tokens, kept in ~/.config/trainer-ops/config (mode 0600).",
        REMOTE,
    ),
    Lazy(
        "audit",
        "trainer_ops.cli.main:audit_group",
        "The audit log: query it through the API; verify, checkpoint and export the local store's.",
        REMOTE,
    ),
    Lazy("policy", "trainer_ops.cli.policy:policy_app", "Show and replace the scope policy.", GOVERNED),
    Lazy(
        "places",
        "trainer_ops.cli.places:places_app",
        "Show or replace the places catalogue (regions, countries, branches).",
        GOVERNED,
    ),
    Lazy(
        "change-requests",
        "trainer_ops.cli.changes:changes_app",
        "List, show, approve, reject and cancel change requests.",
        GOVERNED,
    ),
    Lazy(
        "serve",
        "trainer_ops.cli.local:serve_app",
        "Migrate the store, then serve the API (127.0.0.1:8080 by default).",
        LOCAL,
    ),
    Lazy(
        "init",
        "trainer_ops.cli.local:init_app",
        "Create or migrate the store and the admin token, without serving.",
        LOCAL,
    ),
    Lazy("db", "trainer_ops.cli.local:db_app", "Manage the store's schema.", LOCAL),
    Lazy("token", "trainer_ops.cli.local:token_app", "Create, list and revoke API tokens.", LOCAL),
    Lazy(
        "keys",
        "trainer_ops.cli.keys:keys_app",
        "The keys every replica shares: fingerprints, JWT secret change.",
        LOCAL,
    ),
)


class Root(LazyGroup):
    """The root group. A key given twice, unreadable, or not the one the store belongs to ends any local
    command (serve, init, a command that writes) with the reason and exit code 2."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context, which it does not export
        try:
            return super().invoke(ctx)
        except Exception as exc:
            keys = sys.modules.get("trainer_ops.audit.keys.types")  # loaded if it can have been raised
            if keys is None or not isinstance(exc, keys.KeysRefused):
                raise
            from rich.markup import escape

            err.print(f"[red]error:[/red] {escape(exc.message)}")
            raise typer.Exit(2) from None


app = typer.Typer(
    epilog=EXIT_CODES,
    no_args_is_help=True,
    cls=lazy_group(*COMMANDS, base=Root),
)


def _version(value: bool) -> None:
    if value:
        from trainer_ops.cli.remote.client import version

        print(f"trainer-ops {version()}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    server: Annotated[
        str | None,
        typer.Option(help="the server's base URL (else TRAINER_OPS_SERVER, else the context's)"),
    ] = None,
    context: Annotated[
        str | None, typer.Option(help="a context of `trainer-ops context list` (else the current one)")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_version, help="print the version and exit")
    ] = False,
) -> None:
    """trainer-ops: the System Operations layer of Retail AI Trainer. Remote commands talk to a server's
    API with a token (TRAINER_OPS_TOKEN or the context's); local ones work on the store directly."""
    ctx.obj = Flags(server=server, context=context)


audit_group = typer.Typer(
    help="The audit log: query it through the API; verify, checkpoint and export the local store's.",
    no_args_is_help=True,
    cls=lazy_group(
        Lazy("query", f"{R}.audit:query", "Audit entries, newest first, filtered (remote).", REMOTE),
        Lazy("proof", f"{R}.audit:proof", "An inclusion proof of one entry (remote).", REMOTE),
        merge="trainer_ops.cli.audit:audit_app",
    ),
)


@audit_group.callback()
def audit_root() -> None:
    """The audit log: query it through the API; verify, checkpoint and export the local store's.

    `query` and `proof` are remote (a token with audit.read); `verify`, `checkpoint` and `export` work on
    the local store and need its keys."""


def main() -> None:
    app(prog_name="trainer-ops")


if __name__ == "__main__":
    main()
