"""The Audit page's streams: "verify now" (the whole-log verifier, its progress and verdict as
server-sent events on one connection) and the export of the filtered entries as JSON lines."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import orjson
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from trainer_ops.audit.service import MAX_PAGE, AuditPage, AuditQuery
from trainer_ops.audit.verify import Verdict
from trainer_ops.console.audit_filter import read_filter
from trainer_ops.console.views.audit import HOME, zone_of
from trainer_ops.console.web import SignedIn, page_router, redirect, render, signed_in
from trainer_ops.errors import Invalid
from trainer_ops.http.guard import authorize

router = page_router()

EVENTS = "/console/audit/verify/events"
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


@router.get("/console/audit/verify")
async def verify_now(request: Request) -> Response:
    """What "verify now" puts on the page (htmx), or a page of its own without htmx: a region that
    connects to the verifier's event stream and shows what it says."""
    me = await signed_in(request)
    await authorize(request, me.who, "audit.verify")
    if request.headers.get("hx-request") == "true":
        return render(request, me, "audit/verify_run.html", events=EVENTS)
    return render(request, me, "audit/verify.html", events=EVENTS)


@router.get(EVENTS)
async def verify_events(request: Request) -> Response:
    """The verifier over the whole log, as `trainer-ops audit verify` runs it: `progress` events
    (entries checked of the total), then `result` (the verdict, naming the first bad entry) and `done`,
    on which the page closes the connection (an EventSource would otherwise reconnect and run again)."""
    me = await signed_in(request)
    await authorize(request, me.who, "audit.verify")
    return StreamingResponse(
        _verification(request, me), media_type="text/event-stream", headers=STREAM_HEADERS
    )


class _Abandoned(Exception):
    """Raised in the verifier's thread when the page that asked for the run has gone."""


def _event(name: str, html: str) -> bytes:
    data = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: {name}\n{data}\n".encode()


async def _verification(request: Request, me: SignedIn) -> AsyncIterator[bytes]:
    console = me.console
    loop = asyncio.get_running_loop()
    checked: asyncio.Queue[int | None] = asyncio.Queue()
    gone = threading.Event()

    def report(count: int) -> None:
        # Called by the verifier's thread every 10,000 entries: hand the count to this stream's loop,
        # or stop the run when nobody is listening any more (a closed tab must not leave a full verify
        # of a large log running).
        if gone.is_set():
            raise _Abandoned
        loop.call_soon_threadsafe(checked.put_nowait, count)

    def run() -> Verdict:
        try:
            return console.checkpoints.verify(progress=report)
        finally:
            loop.call_soon_threadsafe(checked.put_nowait, None)

    def progress(done: int, total: int) -> bytes:
        total = max(total, done)  # entries appended while the verifier runs are counted too
        html = console.render_text(request, "audit/verify_progress.html", done=done, total=total)
        return _event("progress", html)

    total = await run_in_threadpool(console.checkpoints.size)
    yield progress(0, total)
    verdict_task = asyncio.ensure_future(run_in_threadpool(run))
    # Read the outcome even when nobody awaits it (an abandoned run ends in _Abandoned).
    verdict_task.add_done_callback(lambda task: task.cancelled() or task.exception())
    try:
        done = 0
        while (count := await checked.get()) is not None:
            done += count
            yield progress(done, total)
    finally:
        gone.set()  # the client left (the generator is closed) or the run ended: either way, stop
    verdict = await verdict_task
    yield progress(verdict.size, total)
    html = console.render_text(request, "audit/verify_result.html", verdict=verdict)
    yield _event("result", html)
    yield _event("done", "")


@router.get("/console/audit/export")
async def export(request: Request) -> Response:
    """The filtered entries, newest first, as JSON lines in the API's entry shape: streamed a page at a
    time as the store gives them, never gathered in memory."""
    me = await signed_in(request)
    await authorize(request, me.who, "audit.read")
    chosen = read_filter(request.query_params, zone_of(request))
    query = chosen.query(MAX_PAGE)
    first: AuditPage | None = None
    if not chosen.errors:
        try:
            first = await run_in_threadpool(_fetch, me, query)
        except Invalid:
            first = None
    if first is None:
        # What is wrong is shown on the Audit page's form, at the field (422 there).
        return redirect(chosen.link(HOME))
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {**STREAM_HEADERS, "Content-Disposition": f'attachment; filename="audit-{stamp}.jsonl"'}
    return StreamingResponse(_lines(me, query, first), media_type="application/x-ndjson", headers=headers)


def _fetch(me: SignedIn, query: AuditQuery) -> AuditPage:
    with me.console.database.read() as session:
        return me.console.audit.query(session, query)


async def _lines(me: SignedIn, query: AuditQuery, page: AuditPage) -> AsyncIterator[bytes]:
    while True:
        yield b"".join(orjson.dumps(item) + b"\n" for item in page.items)
        if not page.next_cursor:
            return
        query = replace(query, cursor=page.next_cursor)
        page = await run_in_threadpool(_fetch, me, query)
