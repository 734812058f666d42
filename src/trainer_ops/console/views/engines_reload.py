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

from trainer_ops.console.pages import Console
from trainer_ops.console.web import SignedIn, checked_form, field, page_router, render, signed_in
from trainer_ops.engines.types import ALIASES
from trainer_ops.errors import TrainerOpsError
from trainer_ops.http.governance import refuse_if_governed
from trainer_ops.http.guard import authorize

log = logging.getLogger("trainer_ops.console")
router = page_router()

STREAM_TYPE = "application/x-ndjson"
FINAL = frozenset({"applied", "unchanged", "rolled_back", "refused"})
Event = tuple[str, dict[str, Any]]


def _run(me: SignedIn, engine: str, target: str, tell: Callable[[str, dict[str, Any]], None]) -> Event:
    """The reload, as the API's route runs it (in a worker thread); its end as the final event."""
    try:
        result = me.console.engine_service.hot_reload(
            principal=me.who, engine=engine, target_id=target, request_id=me.request_id, observer=tell
        )
    except TrainerOpsError as exc:
        phase = "rolled_back" if exc.code == "engines.rolled_back" else "refused"
        key = f"reason.{exc.code}"
        explained = key if key in me.console.catalogues.messages["en"] else None
        return phase, {
            "reason": exc.code,
            "detail": exc.message,
            "errors": exc.errors,
            "explained": explained,
            "httpStatus": exc.status,
            **exc.extra,
        }
    except Exception:
        log.exception("console reload of %s to %s failed", engine, target)
        return "refused", {"reason": "console.reload_failed", "detail": "", "errors": [], "httpStatus": 500}
    return str(result["status"]), result


@router.post("/console/engines/reload")
async def reload(request: Request) -> Response:
    me = await signed_in(request)
    form = await checked_form(request, me)
    engine = field(form, "engine").strip()
    engine = ALIASES.get(engine, engine)
    target = field(form, "targetId").strip()
    await authorize(request, me.who, "hot_reload", engine=engine, scope=None)
    refuse_if_governed(request, me.who, "hot_reload")
    if STREAM_TYPE in request.headers.get("accept", ""):
        return StreamingResponse(
            _stream(request, me, engine, target),
            media_type=STREAM_TYPE,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
    events: list[Event] = [("started", {"engine": engine, "targetId": target})]
    final = await run_in_threadpool(_run, me, engine, target, lambda p, d: events.append((p, d)))
    events.append(final)
    status = int(final[1].get("httpStatus", 200))
    return render(
        request, me, "engines/reload_result.html", status=status, events=events, restored=_restored(events)
    )


async def _stream(request: Request, me: SignedIn, engine: str, target: str) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue()

    def tell(phase: str, data: dict[str, Any]) -> None:
        # Called on the reload's threads: hand the event to this request's loop, never block them.
        loop.call_soon_threadsafe(queue.put_nowait, (phase, data))

    async def run() -> None:
        final = await run_in_threadpool(_run, me, engine, target, tell)
        queue.put_nowait(final)  # after every event the reload told: those were queued first

    # Not cancelled if the browser goes away: a reload, once started, finishes and is audited.
    task = asyncio.create_task(run())
    seen: list[Event] = [("started", {"engine": engine, "targetId": target})]
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
