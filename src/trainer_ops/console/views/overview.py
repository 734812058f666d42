"""The Overview: health, and each engine's status as far as the caller's view of `health.read` goes."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.console.web import page_router, render, signed_in
from trainer_ops.http.guard import authorize

router = page_router()


@router.get("/console")
async def overview(request: Request) -> Response:
    me = await signed_in(request)
    decision = await authorize(request, me.who, "health.read")
    report = await run_in_threadpool(me.console.health.health, decision.view)
    rulesets = me.console.health.active_rulesets() if decision.view == "full" else {}
    return render(request, me, "overview/page.html", report=report, rulesets=rulesets)
