"""Responses shared by routers: a versioned document with its ETag, and history pages."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from trainer_ops.errors import Invalid
from trainer_ops.http.etag import none_match
from trainer_ops.versions.snapshot import VersionedDocument, make_etag

JSON = "application/json"


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
    if not_modified(request, version):
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
