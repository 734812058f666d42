"""Releases: the list with the current one marked, creating one, what a release holds and what rolling
back to it would change now, and the rollback itself after the operator has typed the version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.console.diffs import side_by_side
from trainer_ops.console.views.engines import allows
from trainer_ops.console.web import SignedIn, checked_form, page_router, redirect, render, signed_in
from trainer_ops.console.web import field as form_field
from trainer_ops.errors import Conflict, Invalid, NotFound
from trainer_ops.http.governance import refuse_if_governed
from trainer_ops.http.guard import authorize
from trainer_ops.releases.service import CONFIG_KINDS, NewRelease

router = page_router()
HOME = "/console/releases"
# A refusal's reason -> the message shown at the field (others show the server's own words).
FIELD_MESSAGES = {
    "releases.bad_version": "releases.create.bad_version",
    "releases.version_not_greater": "releases.create.not_greater",
}


@dataclass
class Draft:
    """The create form as posted, and its problems by field (message keys, or the server's text)."""

    version: str = ""
    notes: str = ""
    engines: list[str] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)


@router.get(HOME)
async def releases_page(request: Request) -> Response:
    me = await signed_in(request)
    await authorize(request, me.who, "releases.read")
    return await _list(request, me, Draft())


async def _list(request: Request, me: SignedIn, draft: Draft, *, status: int = 200) -> Response:
    releases = await run_in_threadpool(me.console.releases.list_releases)
    return render(
        request,
        me,
        "releases/page.html",
        status=status,
        releases=list(reversed(releases)),  # newest first: the one an operator looks for
        engines=me.console.engine_service.registry.names(),
        may_create=allows(request, me, "release.create"),
        draft=draft,
        created=request.query_params.get("created", ""),
    )


@router.post(HOME)
async def create_release(request: Request) -> Response:
    me = await signed_in(request)
    form = await checked_form(request, me)
    await authorize(request, me.who, "release.create")
    refuse_if_governed(request, me.who, "release.create")
    draft = Draft(
        version=form_field(form, "version").strip(),
        notes=form_field(form, "notes")[:5000],
        engines=[e for e in form.getlist("engines") if isinstance(e, str)][:16],
    )
    try:
        made = await run_in_threadpool(
            me.console.releases.create,
            principal=me.who,
            new=NewRelease(draft.version, draft.notes, draft.engines),
            request_id=me.request_id,
        )
    except (Invalid, Conflict) as exc:
        where = "engines" if exc.code == "engines.unknown_type" else "version"
        draft.errors[where] = [FIELD_MESSAGES.get(exc.code, exc.message)]
        return await _list(request, me, draft, status=exc.status)
    return redirect(f"{HOME}/{made['version']}?created=1")


def _now(me: SignedIn, snapshot: dict[str, Any]) -> dict[str, Any]:
    """What is in force now, shaped like a release's snapshot (the engines it names, the config)."""
    registry = me.console.engine_service.registry
    current = me.console.holder.current
    return {
        "engines": {
            e: (c.target_id if (c := registry.slot(e).active) is not None else None)
            for e in snapshot["engines"]
        },
        "config": {kind: current.get(kind).version for kind in CONFIG_KINDS},
    }


async def _release(request: Request, me: SignedIn, version: str) -> dict[str, Any]:
    releases = await run_in_threadpool(me.console.releases.list_releases)
    found = next((r for r in releases if r["version"] == version), None)
    if found is None:
        raise NotFound("releases.not_found", f"no release {version!r}")
    return found


@router.get(HOME + "/{version}")
async def release_page(request: Request, version: str) -> Response:
    me = await signed_in(request)
    await authorize(request, me.who, "releases.read")
    return await _detail(request, me, version, outcome=request.query_params.get("outcome", ""))


async def _detail(
    request: Request,
    me: SignedIn,
    version: str,
    *,
    status: int = 200,
    outcome: str = "",
    confirm_error: str = "",
    refusal: str = "",
) -> Response:
    release = await _release(request, me, version)
    snapshot = release["snapshot"]
    wanted = {
        "engines": {e: target["targetId"] for e, target in snapshot["engines"].items()},
        "config": snapshot["config"],
    }
    return render(
        request,
        me,
        "releases/release.html",
        status=status,
        release=release,
        rows=side_by_side(_now(me, snapshot), wanted),
        may_roll_back=allows(request, me, "release.rollback"),
        outcome=outcome,
        confirm_error=confirm_error,
        refusal=refusal,
        created=request.query_params.get("created") == "1",
    )


@router.post(HOME + "/{version}/rollback")
async def roll_back(request: Request, version: str) -> Response:
    me = await signed_in(request)
    form = await checked_form(request, me)
    await authorize(request, me.who, "release.rollback")
    refuse_if_governed(request, me.who, "release.rollback")
    if form_field(form, "confirm").strip() != version:
        # The page's script only enables the button once the version is typed; the server checks too.
        return await _detail(request, me, version, status=422, confirm_error="releases.rollback.mistyped")
    try:
        await run_in_threadpool(
            me.console.releases.rollback,
            principal=me.who,
            target_version=version,
            request_id=me.request_id,
        )
    except Conflict as exc:
        return await _detail(request, me, version, status=409, outcome="refused", refusal=exc.message)
    return redirect(f"{HOME}/{version}?outcome=rolled_back")
