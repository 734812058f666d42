"""ETag / If-Match helpers: an ETag is the quoted version number of a document (a strong tag)."""

from __future__ import annotations

import re

from trainer_ops.errors import BadRequest, PreconditionFailed

_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*')
_DIGITS = re.compile(r"[0-9]{1,18}")


def parse_if_match(value: str | None) -> frozenset[int] | None:
    """The versions an If-Match header accepts; None when absent or `*` (any version).

    RFC 9110: a list of tags, compared strongly, so a weak tag (W/) never matches; a tag this server
    could not have issued matches nothing either (the change is then refused with 412).
    """
    if value is None or value.strip() == "":
        return None
    if value.strip() == "*":
        return None
    versions: set[int] = set()
    position = 0
    text = value.strip()
    while position < len(text):
        match = _TAG.match(text, position)
        if match is None:
            raise BadRequest(
                "http.bad_if_match",
                f"If-Match {value!r} is not a list of ETags; use the ETag header of a GET",
            )
        weak, tag = match.group(1), match.group(2)
        if not weak and _DIGITS.fullmatch(tag):
            versions.add(int(tag))
        position = match.end()
        if position < len(text):
            if text[position] != ",":
                raise BadRequest("http.bad_if_match", f"If-Match {value!r} is not a list of ETags")
            position += 1
    return frozenset(versions)


def refuse_none_match(header: str | None, version: int) -> None:
    """A write's If-None-Match precondition (RFC 9110 13.1.2): when it names the current version (or is
    `*`, and a document always exists), the change is not made: 412."""
    if none_match(header, version):
        raise PreconditionFailed(
            "http.if_none_match",
            f"If-None-Match names the current version {version}; nothing was changed",
            extra={"currentVersion": version},
        )


def none_match(header: str | None, version: int) -> bool:
    """If-None-Match names this version (weak comparison, a list, or `*`): the answer is 304."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    return str(version) in {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")}
