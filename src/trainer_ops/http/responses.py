"""Responses shared by routers: a versioned document with its ETag, history pages, and reads that name
the version they need (`minVersion`, read-your-writes)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Collection, Mapping
from typing import Any

import orjson
from fastapi import Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.errors import Invalid, TrainerOpsError
from trainer_ops.http.context import edge_of
from trainer_ops.http.etag import none_match
from trainer_ops.versions.refresher import SnapshotRefresher
from trainer_ops.versions.snapshot import VersionedDocument, make_etag


class VersionNotYet(TrainerOpsError):
    """504, as Kubernetes answers a resourceVersion it has not seen. No server fault: any caller may
    ask for a version that never comes, and that must not turn health `degraded`."""

    status = 504
    title = "Version not available yet"
    fault = False


JSON = "application/json"
MAX_VERSION = 2_147_483_647  # versions are 32-bit integers
MIN_VERSION_DOC = (
    "Read-your-writes: answer with this version or a newer one, never an older one. Send the version a "
    "write answered (its `ETag` or `version`). Any replica answers it: one that has not heard of the "
    "change yet reads it from the store first. If the store does not have that version within "
    "`TRAINER_OPS_MIN_VERSION_WAIT_SECONDS` (3 s by default), the answer is 504 `versions.not_yet` "
    "(with `Retry-After`)."
)
MIN_VERSION_QUERY: Any = Query(None, ge=0, le=MAX_VERSION, description=MIN_VERSION_DOC)


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


def not_modified(request: Request, version: int) -> bool:
    """If-None-Match names this version (weak comparison, a list, or `*`): answer 304."""
    return none_match(request.headers.get("if-none-match"), version)


def document_response(request: Request, doc: VersionedDocument, *, status: int = 200) -> Response:
    """The pre-serialised document; 304 when the caller's If-None-Match already names this version."""
    return serialised_response(request, doc.body, doc.version, status=status)


def serialised_response(request: Request, body: bytes, version: int, *, status: int = 200) -> Response:
    """JSON bytes of `version` with its ETag; 304 (same ETag and Cache-Control, as RFC 9110 asks) when
    the caller's If-None-Match already names it."""
    headers = {"ETag": make_etag(version), "Cache-Control": "no-cache"}
    # Only a read can be "not modified": a write's answer is the state it made (RFC 9110 15.4.5).
    if request.method in ("GET", "HEAD") and not_modified(request, version):
        return Response(status_code=304, headers=headers)
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def versioned_json(data: Any, version: int, *, status: int = 200) -> Response:
    return json_response(
        data, status=status, headers={"ETag": make_etag(version), "Cache-Control": "no-cache"}
    )


def parse_version_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not re.fullmatch(r"[0-9]{1,9}", cursor):  # versions are 32-bit integers
        raise Invalid(
            "history.bad_cursor",
            "cursor must be the nextCursor of a previous page",
            errors=[{"field": "cursor", "message": "not a valid cursor"}],
        )
    return int(cursor)


def history_response(items: list[dict[str, Any]], next_cursor: int | None) -> Response:
    return json_response({"items": items, "nextCursor": str(next_cursor) if next_cursor else None})


async def at_least(request: Request, wanted: Mapping[str, int]) -> None:
    """Return once this process's snapshot holds every `kind: version` of `wanted` or newer (the routes
    then answer from it). Behind: refresh from the store at once (in the threadpool). A version the
    store does not have yet: re-check with a short backoff for up to `min_version_wait_seconds` (no
    thread is held while waiting), then 504, as Kubernetes answers a resourceVersion it has not seen."""
    refresher: SnapshotRefresher = request.app.state.refresher
    if refresher.holds(wanted) or await run_in_threadpool(refresher.catch_up, wanted):
        return
    wait = edge_of(request).settings.min_version_wait_seconds
    deadline = time.monotonic() + wait
    pause = 0.01
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, 0.2)
        if await run_in_threadpool(refresher.catch_up, wanted):
            return
    asked = ",".join(f"{kind}:{version}" for kind, version in wanted.items())
    raise VersionNotYet(
        "versions.not_yet",
        f"the store does not have {asked} yet (waited {wait:g} s); "
        "a version is only known once the write that made it has been answered",
        errors=[{"field": "minVersion", "message": "newer than any version in the store"}],
        headers={"Retry-After": "1"},
    )


def parse_min_versions(text: str | None, kinds: Collection[str]) -> dict[str, int]:
    """`model_config:7,features:3` (each of `kinds` at most once) as {kind: version}; a 422 problem
    naming `minVersion` otherwise. None or empty: nothing wanted."""
    wanted: dict[str, int] = {}
    for raw in (text or "").split(","):
        part = raw.strip()
        if not part:
            continue
        kind, _, version = part.partition(":")
        if (
            kind not in kinds
            or kind in wanted
            or not re.fullmatch(r"[0-9]{1,10}", version)
            or int(version) > MAX_VERSION
        ):
            raise Invalid(
                "versions.bad_min_version",
                "minVersion must be kind:version pairs, comma-separated, each kind once, of "
                f"{', '.join(kinds)} (e.g. model_config:7,features:3)",
                errors=[{"field": "minVersion", "message": f"not a kind:version pair: {part[:64]!r}"}],
            )
        wanted[kind] = int(version)
    return wanted
