"""The governance commands' remote half: places, policy and change requests through the API. The
commands themselves (cli/places.py, cli/policy.py, cli/changes.py) pick local or remote (ADR 0028)."""

from __future__ import annotations

from typing import Any

import typer

from trainer_ops.cli.remote.client import etag_version
from trainer_ops.cli.remote.output import api
from trainer_ops.cli.remote.target import Target
from trainer_ops.cli.remote.writes import preconditions

OPS = "/operator/ops"
CHANGE_REQUESTS = f"{OPS}/change-requests"


def read_document(ctx: typer.Context, target: Target, path: str) -> tuple[Any, int | None]:
    """A document and its version (from the ETag)."""
    with api(ctx, target) as client:
        response = client.get(f"{OPS}/{path}")
    version = etag_version(response)
    return response.json(), int(version) if version and version.isdigit() else None


def replace_document(
    ctx: typer.Context,
    target: Target,
    path: str,
    document: Any,
    *,
    if_match: int | None,
    apply_at: str | None = None,
    bypass_reason: str | None = None,
) -> tuple[int, Any, int | None]:
    """PUT the whole document (If-Match: the version given, else the one read just before).
    Returns the status (200, or 202 for a change request), the body and the new version."""
    with api(ctx, target) as client:
        current = client.get(f"{OPS}/{path}") if if_match is None else None
        response = client.call(
            "PUT",
            f"{OPS}/{path}",
            json=document,
            params={"applyAt": apply_at},
            headers=preconditions(current, if_match, bypass_reason),
        )
    version = etag_version(response)
    return response.status_code, response.json(), int(version) if version and version.isdigit() else None


def change_requests(ctx: typer.Context, target: Target, *, state: str | None, limit: int) -> Any:
    with api(ctx, target) as client:
        return client.get(CHANGE_REQUESTS, state=state, limit=limit).json()


def change_request(ctx: typer.Context, target: Target, request_id: str) -> Any:
    with api(ctx, target) as client:
        return client.get(f"{CHANGE_REQUESTS}/{request_id}").json()


def review(
    ctx: typer.Context, target: Target, request_id: str, verb: str, comment: str | None
) -> dict[str, Any]:
    """approve, reject or cancel, as the token's user."""
    body = {"comment": comment} if comment is not None else {}
    with api(ctx, target) as client:
        view: dict[str, Any] = client.call("POST", f"{CHANGE_REQUESTS}/{request_id}/{verb}", json=body).json()
    return view
