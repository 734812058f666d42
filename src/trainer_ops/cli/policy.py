"""`trainer-ops policy show | set FILE | history | schema`: the scope policy, through the API when a server is
configured, else on the local store through the API's own checks (ADR 0028)."""

from __future__ import annotations

import json
from typing import Any

import typer

from trainer_ops.cli.governed import request_id
from trainer_ops.cli.remote.output import Format, JsonOption, OutputOption, api, chosen
from trainer_ops.cli.whole_documents import add_whole_document_commands, print_document

policy_app = typer.Typer(help="Show and replace the scope policy.", no_args_is_help=True)


def cli_principal() -> Any:
    """Audited as this user: a CLI on the store's host acts as an admin, as `token create` does."""
    from trainer_ops.access.types import Principal, Role

    return Principal(user_id="cli", role=Role.ADMIN)


def _replace_locally(ops: Any, raw: bytes, if_match: int | None) -> tuple[Any, int]:
    doc = ops.policy_editor.replace(
        principal=cli_principal(),
        document=json.loads(raw),
        if_match=frozenset({if_match}) if if_match is not None else None,
        request_id=request_id(),
    )
    return doc.document, doc.version


add_whole_document_commands(
    policy_app,
    "policy",
    current=lambda ops: ops.policy_editor.current(),
    replace_locally=_replace_locally,
    show_help="Print the policy in force as JSON (stdout: ready for `policy set`); its version on stderr.",
    set_help=(
        "Replace the policy with FILE: the same schema, checks and lock-out guard as "
        "PUT /operator/ops/policy.\n\n"
        "Exit 0 when stored (or unchanged), 1 when the policy is refused, 2 when FILE cannot be read as "
        "JSON. --apply-at and --bypass-reason are the API's (remote only)."
    ),
    file_help="a JSON policy document, e.g. edited from `policy show`",
    history_help="Every version of the policy, newest first: who changed what (remote).",
)


@policy_app.command("schema")
def policy_schema(
    ctx: typer.Context, output: OutputOption = Format.json, as_json: JsonOption = False
) -> None:
    """The policy's JSON Schema: the operations, roles, views and engine types it may name (remote)."""
    with api(ctx) as client:
        body = client.get("/operator/ops/policy/schema").json()
    print_document(body, chosen(output, as_json))
