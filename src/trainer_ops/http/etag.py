"""ETag / If-Match helpers: an ETag is the quoted version number of a document."""

from __future__ import annotations

from trainer_ops.errors import BadRequest


def parse_if_match(value: str | None) -> int | None:
    """The version an If-Match header asks for; None when absent or `*` (any version)."""
    if value is None:
        return None
    value = value.strip()
    if value == "*" or value == "":
        return None
    tag = value.split(",")[0].strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    try:
        return int(tag)
    except ValueError:
        raise BadRequest(
            "http.bad_if_match",
            f"If-Match {value!r} is not an ETag this server issued; use the ETag header of a GET",
        ) from None
