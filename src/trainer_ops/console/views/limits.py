"""Limits (spec section 6): the document as a form with its history and restore, and live usage: AI calls
per user over the last minute against `aiCallsPerMinute`, open sessions against `maxConcurrentSessions`.
Admin-only under the default policy (`limits.read` / `limits.update`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.audit.service import AuditQuery
from trainer_ops.audit.types import Action
from trainer_ops.console.document_routes import document_router
from trainer_ops.console.documents import DocumentPage, Field
from trainer_ops.console.pages import Console
from trainer_ops.console.web import SignedIn, render, signed_in
from trainer_ops.http.context import edge_of
from trainer_ops.http.guard import authorize
from trainer_ops.limits.schemas import LimitsUpdate
from trainer_ops.limits.types import DEFAULT_LIMITS, limit
from trainer_ops.versions.service import DocumentEditor

WINDOW_SECONDS = 60  # the limiter's window: aiCallsPerMinute counts calls of the last minute
AUDIT_PAGE = 500
# Enough for the page of a busy minute; past it the page says the counts are "at least".
MAX_ENTRIES = 5_000
USAGE_PATH = "/console/limits/usage"


def _editor(console: Console) -> DocumentEditor:
    return console.limits


def _calls_last_minute(console: Console) -> tuple[list[tuple[str, int, int]], bool]:
    """Per user: gateway calls the limiter counted, and calls it refused, over the last minute; and
    whether the listing stopped at MAX_ENTRIES. Blocking.

    The limiter (`limits`, in memory or Redis) cannot list the users it counts, so this reads the
    audit: every gateway call is a `predict` entry. A call refused before the limiter (AI off, feature
    off, unknown session) was never counted by it; one refused by it is `refused:gateway.rate_limited`.
    """
    since_ms = int((console.clock.now() - WINDOW_SECONDS) * 1000)
    counted: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    cursor, seen = None, 0
    with console.database.read() as session:
        while True:
            found = console.audit.query(
                session,
                AuditQuery(
                    actions=(Action.PREDICT.value,), from_ms=since_ms, cursor=cursor, limit=AUDIT_PAGE
                ),
            )
            for entry in found.items:
                outcome = str(entry["outcome"])
                if outcome == "refused:gateway.rate_limited":
                    refused[entry["userId"]] += 1
                elif not outcome.startswith("refused:"):
                    counted[entry["userId"]] += 1
            seen += len(found.items)
            cursor = found.next_cursor
            if cursor is None or seen >= MAX_ENTRIES:
                break
    users = sorted(counted.keys() | refused.keys(), key=lambda u: (-counted[u], u))
    return [(user, counted[user], refused[user]) for user in users], cursor is not None


async def usage(request: Request, me: SignedIn) -> dict[str, Any]:
    """The live usage panel's values (the page, and its fragment polled every 5 s)."""
    console = me.console
    limits = console.limits.current().document
    open_sessions = await console.gateway.sessions.count()
    # Who called is read from the audit: shown to those the policy lets read it.
    may_list = edge_of(request).policy().decide(me.who, "audit.read").allowed
    users, capped = await run_in_threadpool(_calls_last_minute, console) if may_list else ([], False)
    return {
        "per_minute": limit(limits, "aiCallsPerMinute"),
        "max_sessions": limit(limits, "maxConcurrentSessions"),
        "open_sessions": open_sessions,
        "may_list": may_list,
        "users": users,
        "capped": capped,
        "usage_path": USAGE_PATH,
    }


PAGE = DocumentPage(
    key="limits",
    path="/console/limits",
    read="limits.read",
    update="limits.update",
    editor=_editor,
    schema=LimitsUpdate,
    fields=tuple(Field(name, "number") for name in DEFAULT_LIMITS),
    defaults=DEFAULT_LIMITS,
    context=usage,
)

router = document_router(PAGE)


@router.get(USAGE_PATH)
async def usage_fragment(request: Request) -> Response:
    me = await signed_in(request)
    await authorize(request, me.who, "limits.read")
    return render(request, me, "limits/usage.html", **await usage(request, me))
