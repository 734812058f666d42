"""What every remote write shares: If-Match from a fresh read (or `--if-match`), the governance options
(`--apply-at`, `--bypass-reason`), a 202 change request shown as such, and KEY=VALUE parsing."""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer

from trainer_ops.cli.remote.client import etag_version
from trainer_ops.cli.remote.output import EXIT_USAGE, Format, emit, fail, out, table_of, when

IfMatchOption = Annotated[
    int | None,
    typer.Option("--if-match", help="refuse (412) unless this is still the current version"),
]
ApplyAtOption = Annotated[
    str | None,
    typer.Option("--apply-at", help="schedule the change: ISO-8601 with a zone, or epoch seconds (202)"),
]
BypassOption = Annotated[
    str | None,
    typer.Option("--bypass-reason", help="apply at once past required approvals, audited with this reason"),
]


def preconditions(
    current: httpx.Response | None, if_match: int | None, bypass_reason: str | None
) -> dict[str, str]:
    """If-Match: the version given, else the one just read (so nothing changed in between is
    overwritten); and the bypass header when asked for."""
    headers: dict[str, str] = {}
    version = str(if_match) if if_match is not None else (etag_version(current) if current else None)
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    if bypass_reason is not None:
        headers["X-Trainer-Bypass-Reason"] = bypass_reason
    return headers


def accepted(response: httpx.Response, output: Format) -> bool:
    """True when the write became a change request (202): it is printed as one."""
    return accepted_view(
        response.status_code, response.json() if response.status_code == 202 else None, output
    )


def accepted_view(status: int, body: Any, output: Format) -> bool:
    if status != 202:
        return False
    emit(body, output, show_request)
    return True


def show_request(view: dict[str, Any]) -> None:
    approvals = view.get("approvals") or {}
    table_of(
        ["change request", "state", "operation", "approvals", "applyAt"],
        [
            [
                view.get("id"),
                view.get("state"),
                view.get("operation"),
                f"{approvals.get('given', 0)}/{approvals.get('required', 0)}",
                when(view.get("applyAt")) if view.get("applyAt") else "-",
            ]
        ],
    )
    out.print(f"not applied yet: `trainer-ops change-requests show {view.get('id')}` follows it")


def parse_assignments(pairs: list[str], current: dict[str, Any]) -> dict[str, Any]:
    """`temperature=0.2 toneProfile=coaching` as a merge patch. A value takes the type of the field's
    current value (a string stays a string: `model=5` is "5"); a field not in the document is parsed as
    JSON when it can be, and the server refuses what it does not know (422)."""
    if not pairs:
        raise fail("nothing to set: give FIELD=VALUE pairs, e.g. temperature=0.2", EXIT_USAGE)
    changes: dict[str, Any] = {}
    for pair in pairs:
        field, sep, text = pair.partition("=")
        if not sep or not field:
            raise fail(f"{pair!r} is not FIELD=VALUE", EXIT_USAGE)
        changes[field] = _typed(field, text, current.get(field))
    return changes


def _typed(field: str, text: str, now: Any) -> Any:
    if isinstance(now, str):
        return text
    if isinstance(now, bool):
        lowered = text.lower()
        if lowered in ("true", "on", "yes", "1"):
            return True
        if lowered in ("false", "off", "no", "0"):
            return False
        raise fail(f"{field} is true or false, not {text!r}", EXIT_USAGE)
    try:
        return json.loads(text)
    except ValueError:
        return text


def changed_rows(before: dict[str, Any], after: dict[str, Any]) -> list[list[Any]]:
    return [[key, before.get(key), value] for key, value in after.items() if before.get(key) != value]
