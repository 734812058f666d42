"""The Overview: health and each engine's status as far as the caller's view of `health.read` goes; for
callers the policy lets read diagnostics, this server's last hour in charts and its slowest routes; for
the full view, the fleet: its live replicas and the engine instances they hold, read from the store, so
the same whichever replica answers. Live: /console/overview/events sends each part again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from trainer_ops.console import charts
from trainer_ops.console.pages import console_of
from trainer_ops.console.web import SignedIn, find_session, page_router, render, signed_in
from trainer_ops.http.context import edge_of, request_id_of
from trainer_ops.http.guard import authorize
from trainer_ops.sync.broadcaster import CLOSED, Subscriber, reconnect_notice

router = page_router()

EVENTS = "/console/overview/events"
PUSH_SECONDS = 5.0  # at most; sooner when samples are taken more often
PARTS = ("health", "engines", "charts", "slowest", "instances")
TEMPLATES = {part: f"overview/_{part}.html" for part in PARTS}


@router.get("/console")
async def overview(request: Request) -> Response:
    me = await signed_in(request)
    decision = await authorize(request, me.who, "health.read")
    values = await _values(request, me, decision.view)
    return render(request, me, "overview/page.html", events_url=EVENTS, **values)


async def _values(request: Request, me: SignedIn, view: str) -> dict[str, Any]:
    """What the page and its parts show the caller: None for a part their view does not include."""
    console = me.console
    report = await run_in_threadpool(console.health.health, view)
    live = console.health.live
    # Shown to whom the policy lets read diagnostics (admins by default), asked without an audited
    # denial: the page merely leaves the part out for the others.
    diagnostics = edge_of(request).policy().decide(me.who, "diagnostics.read").allowed
    samples = live.ring.samples() if diagnostics else []
    now = console.clock.now()
    full = view == "full"
    return {
        "report": report,
        "rulesets": console.health.active_rulesets() if full else {},
        "updated": now,
        "replica": console.engines.replica_id,
        "charts": charts.charts(samples, now=now, span_seconds=live.ring.history_seconds)
        if diagnostics
        else None,
        "size": _SIZE,
        "sampling": {"count": len(samples), "every": live.ring.every_seconds, "taken": live.ring.taken},
        "slowest": live.slowest() if diagnostics else None,
        "slow_ms": f"{console.settings.slow_endpoint_ms:g}",
        "instances": await run_in_threadpool(console.fleet.view) if full else None,
        # Each replica runs one in-process instance per engine type (this one's types: one release).
        "local_engines": console.engines.names(),
        "fleet_window": f"{console.fleet.ttl_seconds:g}",
    }


_SIZE = {
    "width": charts.WIDTH,
    "height": charts.HEIGHT,
    "left": charts.LEFT,
    "right": charts.WIDTH - charts.RIGHT,
    "top": charts.TOP,
    "bottom": charts.HEIGHT - charts.BOTTOM,
}


@router.get(EVENTS)
async def events(request: Request) -> Response:
    """The Overview's parts as server-sent events (one event per part, its HTML as data) every few
    seconds, while the session lives; `gone` when it ends. Ends at shutdown so the server can drain."""
    me = await signed_in(request)
    await authorize(request, me.who, "health.read")
    every = min(PUSH_SECONDS, me.console.settings.overview_sample_seconds)
    # The sync stream's broadcaster is closed when the server drains (cli/draining.py): being one of
    # its subscribers ends this stream then, as it ends the SDK's streams.
    subscriber: Subscriber = request.app.state.sync.subscribe()
    return StreamingResponse(
        _stream(request, subscriber, every),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _stream(request: Request, subscriber: Subscriber, every: float) -> AsyncIterator[bytes]:
    draining = request.app.state.draining
    try:
        yield b"retry: 3000\n\n"
        while True:
            if await _closing(subscriber, every) or draining.is_set():
                yield reconnect_notice()
                return
            # Checked again each time, uncached: a session signed out or a token revoked ends the stream.
            session = await find_session(request)
            policy = edge_of(request).policy()
            view = None if session is None else policy.view_for(session.principal, "health.read")
            if session is None or view is None:
                yield _event(request, "gone", "overview/_gone.html", {})
                return
            me = SignedIn(session, console_of(request), request_id_of(request))
            values = await _values(request, me, view)
            for part in _shown(values):
                yield _event(request, part, TEMPLATES[part], values)
    finally:
        request.app.state.sync.broadcaster.unsubscribe(subscriber)


def _shown(values: dict[str, Any]) -> list[str]:
    """The parts the caller's page has (the same conditions as page.html's)."""
    parts = ["health"]
    if "engines" in values["report"]:
        parts.append("engines")
    parts.extend(part for part in ("charts", "slowest", "instances") if values[part] is not None)
    return parts


async def _closing(subscriber: Subscriber, seconds: float) -> bool:
    """Wait `seconds`; True as soon as the broadcaster closes (shutdown). Other events are not ours."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = await asyncio.wait_for(subscriber.queue.get(), timeout=left)
        except TimeoutError:
            return False
        if event is CLOSED:
            return True
    return subscriber.closed


def _event(request: Request, name: str, template: str, values: dict[str, Any]) -> bytes:
    html = console_of(request).render_text(request, template, **values)
    data = "".join(f"data: {line}\n" for line in (html.strip().splitlines() or [""]))
    return f"event: {name}\n{data}\n".encode()
