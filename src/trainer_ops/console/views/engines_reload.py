"""A hot reload from the console, shown live: the POST that starts it answers with a stream of NDJSON
lines (each instance's ACK, NACK or timeout as it arrives, then the rollback and the outcome), read by
static/engines.js. The progress travels on the connection that started the reload, so no load balancer
stickiness is needed. Without JavaScript the same POST answers with the whole result as a page."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from trainer_ops.access.places import is_code, normal
from trainer_ops.console.governed import asked, sent_to, submit_unless_free, where_sent
from trainer_ops.console.pages import Console
from trainer_ops.console.web import SignedIn, checked_form, field, page_router, render, signed_in
from trainer_ops.engines.types import ALIASES
from trainer_ops.errors import Forbidden, TrainerOpsError
from trainer_ops.http.context import edge_of
from trainer_ops.http.governance import Proposal
from trainer_ops.http.guard import authorize, known_scope

log = logging.getLogger("trainer_ops.console")
router = page_router()

STREAM_TYPE = "application/x-ndjson"
FINAL = frozenset({"applied", "unchanged", "rolled_back", "refused"})
ENGINES = "/console/engines"
Event = tuple[str, dict[str, Any]]


def _refused(console: Console, exc: TrainerOpsError, explained: str | None = None) -> Event:
    """A refusal as the final event: worded in the operator's language where the catalogue can."""
    phase = "rolled_back" if exc.code == "engines.rolled_back" else "refused"
    key = f"reason.{exc.code}"
    if explained is None and key in console.catalogues.messages["en"]:
        explained = key
    return phase, {
        "reason": exc.code,
        "detail": exc.message,
        "errors": exc.errors,
        "explained": explained,
        "httpStatus": exc.status,
        **exc.extra,
    }


def _run(
    me: SignedIn, engine: str, target: str, scope: str | None, tell: Callable[[str, dict[str, Any]], None]
) -> Event:
    """The reload, as the API's route runs it (in a worker thread); its end as the final event."""
    try:
        result = me.console.engine_service.hot_reload(
            principal=me.who,
            engine=engine,
            target_id=target,
            request_id=me.request_id,
            observer=tell,
            scope=scope,
        )
    except TrainerOpsError as exc:
        return _refused(me.console, exc)
    except Exception:
        log.exception("console reload of %s to %s failed", engine, target)
        return "refused", {"reason": "console.reload_failed", "detail": "", "errors": [], "httpStatus": 500}
    return str(result["status"]), result


async def _scope(request: Request, me: SignedIn, engine: str, posted: str) -> str | None:
    """The reload's place, checked in the API's order: its shape (422), then containment in the
    caller's own place (403, audited; access.places.within), then the catalogue (422)."""
    scope = normal(posted.strip() or None)
    if scope is not None and not is_code(scope):
        known_scope(request, scope)
    await authorize(request, me.who, "hot_reload", engine=engine, scope=scope)
    known_scope(request, scope)
    return scope


@router.post("/console/engines/reload")
async def reload(request: Request) -> Response:
    me = await signed_in(request)
    form = await checked_form(request, me)
    engine = field(form, "engine").strip()
    engine = ALIASES.get(engine, engine)
    target = field(form, "targetId").strip()
    posted = field(form, "scope")
    asked_for = normal(posted.strip() or None)
    if asked_for is None or not edge_of(request).policy().decide(me.who, "hot_reload", engine=engine).allowed:
        # No place, or an engine the caller may not reload anywhere: the audited error page.
        await authorize(request, me.who, "hot_reload", engine=engine, scope=asked_for)
    started: Event = ("started", {"engine": engine, "targetId": target, "scope": asked_for})
    try:
        scope = await _scope(request, me, engine, posted)
    except TrainerOpsError as exc:
        # A place refused is said on the reload's own panel, in the operator's language (the engine
        # itself refused stays the error page, above).
        outside = "engines.reload.scope_outside" if isinstance(exc, Forbidden) else None
        return _answer(request, me, [started, _refused(me.console, exc, outside)])
    # Where the policy wants the reload approved, or it is scheduled, it becomes the change request the
    # API's `POST /hot-reload` would make (ADR 0026); a refusal at submit is said on the panel.
    wanted = asked(request, form)
    proposal = Proposal("hot_reload", "engines", {"type": engine, "targetId": target, "scope": scope})
    try:
        wanted.raise_if_wrong()
        submitted = await submit_unless_free(request, me, proposal, wanted)
    except TrainerOpsError as exc:
        return _answer(request, me, [started, _refused(me.console, exc)])
    if submitted is not None and submitted.result is None:
        return sent_to(request, where_sent(request, me, submitted, ENGINES))
    if submitted is not None and submitted.result is not None:  # the bypass ran the round at once
        return _answer(request, me, [started, (str(submitted.result["status"]), submitted.result)])
    if STREAM_TYPE in request.headers.get("accept", ""):
        return StreamingResponse(
            _stream(request, me, started, scope),
            media_type=STREAM_TYPE,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
    events: list[Event] = [started]
    final = await run_in_threadpool(_run, me, engine, target, scope, lambda p, d: events.append((p, d)))
    events.append(final)
    return _answer(request, me, events)


def _answer(request: Request, me: SignedIn, events: list[Event]) -> Response:
    """The whole reload at once: NDJSON lines for the page's script, else the result page."""
    status = int(events[-1][1].get("httpStatus", 200))
    if STREAM_TYPE in request.headers.get("accept", ""):
        lines = [
            _line(me.console, request, phase, data, events[: i + 1]) for i, (phase, data) in enumerate(events)
        ]
        return Response(b"".join(lines), status_code=status, media_type=STREAM_TYPE)
    return render(
        request, me, "engines/reload_result.html", status=status, events=events, restored=_restored(events)
    )


async def _stream(request: Request, me: SignedIn, started: Event, scope: str | None) -> AsyncIterator[bytes]:
    engine, target = started[1]["engine"], started[1]["targetId"]
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue()

    def tell(phase: str, data: dict[str, Any]) -> None:
        # Called on the reload's threads: hand the event to this request's loop, never block them.
        loop.call_soon_threadsafe(queue.put_nowait, (phase, data))

    async def run() -> None:
        final = await run_in_threadpool(_run, me, engine, target, scope, tell)
        queue.put_nowait(final)  # after every event the reload told: those were queued first

    # Not cancelled if the browser goes away: a reload, once started, finishes and is audited.
    task = asyncio.create_task(run())
    seen: list[Event] = [started]
    yield _line(me.console, request, *seen[0], seen)
    while True:
        phase, data = await queue.get()
        seen.append((phase, data))
        yield _line(me.console, request, phase, data, seen)
        if phase in FINAL:
            break
    await task


def _line(console: Console, request: Request, phase: str, data: dict[str, Any], seen: list[Event]) -> bytes:
    html = _html(console, request, phase, data, seen)
    return json.dumps({"phase": phase, "data": _public(data), "html": html}).encode() + b"\n"


def _public(data: dict[str, Any]) -> dict[str, Any]:
    # The whole result is not needed by the page; keep each line small and plain.
    return {k: v for k, v in data.items() if isinstance(v, str | int | float | bool) or v is None}


def _html(console: Console, request: Request, phase: str, data: dict[str, Any], seen: list[Event]) -> str:
    """One event as the page shows it (a row of the instances' table, or the outcome), autoescaped."""
    return console.render_text(
        request, "engines/_reload_event.html", phase=phase, data=data, restored=_restored(seen)
    )


def _restored(events: list[Event]) -> str | None:
    """The ruleset a rollback put the instances back on (the last rollback event says)."""
    return next((d.get("restore") for p, d in reversed(events) if p == "rollback"), None)
