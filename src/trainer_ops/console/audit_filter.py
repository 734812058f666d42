"""The Audit page's filter: read from the query string (user, action, from, to, cursor), checked as the
API checks them, with times in the operator's zone; and written back into paging and export links."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from trainer_ops.audit.routes import MAX_EPOCH_SECONDS
from trainer_ops.audit.service import AuditQuery
from trainer_ops.audit.types import Action

KNOWN_ACTIONS = tuple(action.value for action in Action)
MAX_USER = 128
MAX_TEXT = 64  # a time or an action list longer than this is no time and no list of ours
# A datetime-local value without seconds ("2026-11-29T10:30") names a whole minute.
_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?")


@dataclass(frozen=True)
class AuditFilter:
    """What the operator asked for, as typed (to fill the form again) and as a query; `errors` maps a
    form field to the message key that says what is wrong with it."""

    user: str = ""
    actions: tuple[str, ...] = ()
    from_text: str = ""
    to_text: str = ""
    cursor: str = ""
    from_ms: int | None = None
    to_ms: int | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def chosen_action(self) -> str:
        """The select's value: one known action; several (or none) leave it at "any"."""
        return self.actions[0] if len(self.actions) == 1 else ""

    @property
    def more_actions(self) -> str:
        """The free field's value: a list of several actions, or an unknown one to correct."""
        return "" if len(self.actions) == 1 and self.actions[0] in KNOWN_ACTIONS else ",".join(self.actions)

    def query(self, limit: int, cursor: str | None = None) -> AuditQuery:
        return AuditQuery(
            user_id=self.user or None,
            actions=self.actions,
            from_ms=self.from_ms,
            to_ms=self.to_ms,
            cursor=cursor,
            limit=limit,
        )

    def link(self, path: str, *, cursor: str | None = None) -> str:
        """`path` with this filter (and a page's cursor) in the query string: what paging and export
        links carry, so the next page shows the same selection."""
        params = {
            "user": self.user,
            "action": ",".join(self.actions),
            "from": self.from_text,
            "to": self.to_text,
            "cursor": cursor or "",
        }
        kept = {name: value for name, value in params.items() if value}
        return f"{path}?{urlencode(kept)}" if kept else path

    def with_errors(self, errors: dict[str, str]) -> AuditFilter:
        return replace(self, errors={**self.errors, **errors})


def read_filter(params: QueryParams, zone: tzinfo) -> AuditFilter:
    """The filter in a query string. Every value is checked; what is wrong is named in `errors` by
    field, and the query is not run."""
    errors: dict[str, str] = {}
    user = params.get("user", "").strip()
    if len(user) > MAX_USER or not user.isprintable():
        errors["user"] = "audit.error.user"
    # The select and the free field share the name `action`; either may hold a comma list (or the
    # spec's `predict|publish`).
    actions: list[str] = []
    for value in params.getlist("action"):
        for name in value[: MAX_TEXT * 4].replace("|", ",").split(","):
            if name.strip() and name.strip() not in actions:
                actions.append(name.strip())
    if any(name not in KNOWN_ACTIONS for name in actions):
        errors["action"] = "audit.error.action"
    from_text = params.get("from", "").strip()[:MAX_TEXT]
    to_text = params.get("to", "").strip()[:MAX_TEXT]
    from_ms = _moment(from_text, zone, end=False)
    to_ms = _moment(to_text, zone, end=True)
    if from_ms == -1:
        errors["from"] = "audit.error.time"
    if to_ms == -1:
        errors["to"] = "audit.error.time"
    return AuditFilter(
        user=user,
        actions=tuple(actions),
        from_text=from_text,
        to_text=to_text,
        cursor=params.get("cursor", "").strip()[:MAX_TEXT],
        from_ms=None if from_ms == -1 else from_ms,
        to_ms=None if to_ms == -1 else to_ms,
        errors=errors,
    )


def _moment(text: str, zone: tzinfo, *, end: bool) -> int | None:
    """Epoch milliseconds of a time the operator gave: epoch seconds, ISO-8601 with an offset, or a
    time without one (a datetime-local field) in their own zone. None for no time, -1 for a bad one.
    An end given to the minute includes that whole minute, as an operator reading "to 10:30" expects."""
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        return int(seconds * 1000) if 0 <= seconds <= MAX_EPOCH_SECONDS else -1  # refuses nan and inf
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return -1
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        ms = int(moment.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        return -1
    if not 0 <= ms <= MAX_EPOCH_SECONDS * 1000:
        return -1
    return ms + 59_999 if end and _MINUTE.fullmatch(text) else ms


def local_input(text: str, ms: int | None, zone: tzinfo) -> str:
    """The value a datetime-local field can show for a time given any way: as typed when it already is
    one, else the instant in the operator's zone (an epoch or ISO time from a link)."""
    if not text or _LOCAL.fullmatch(text):
        return text
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=zone).strftime("%Y-%m-%dT%H:%M:%S")
