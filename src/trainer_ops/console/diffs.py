"""Side-by-side differences of two JSON documents, as rows of (path, left, right) for a table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MISSING = object()


@dataclass(frozen=True)
class DiffRow:
    path: str  # `temperature`, `rules.0.weight`; the empty string is the document itself
    left: str  # the value as compact JSON, or "" where the side has no such path
    right: str
    change: str  # "same", "changed", "added" (only right), "removed" (only left)


def _leaves(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key in value:
            _leaves(value[key], f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            _leaves(item, f"{prefix}.{index}" if prefix else str(index), out)
    else:
        out[prefix] = value


def _text(value: Any) -> str:
    return "" if value is MISSING else json.dumps(value, ensure_ascii=False, sort_keys=True)


def side_by_side(left: Any, right: Any, *, only_changes: bool = False) -> list[DiffRow]:
    """Every leaf path of either document, in the left's order then the right's new paths."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    _leaves(left, "", old)
    _leaves(right, "", new)
    rows = []
    for path in [*old, *(p for p in new if p not in old)]:
        a, b = old.get(path, MISSING), new.get(path, MISSING)
        if a is MISSING:
            change = "added"
        elif b is MISSING:
            change = "removed"
        else:
            change = "same" if _text(a) == _text(b) else "changed"
        if change != "same" or not only_changes:
            rows.append(DiffRow(path, _text(a), _text(b), change))
    return rows
