"""Releases: the list with the current one marked, creating one, what a release holds and what rolling
back to it would change now, and the rollback itself after the operator has typed the version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.console.diffs import side_by_side
from trainer_ops.console.governed import Asked, asked, offer, sent_to, submit_unless_free, where_sent
from trainer_ops.console.views.engines import allows
from trainer_ops.console.web import SignedIn, checked_form, page_router, redirect, render, signed_in
from trainer_ops.console.web import field as form_field
from trainer_ops.errors import Conflict, Invalid, NotFound
from trainer_ops.http.governance import Proposal
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
    wanted: Asked = field(default_factory=Asked)  # its "apply at" and bypass (console/governed.py)

    def proposal(self) -> Proposal:
        """The release as the API's `POST /releases` proposes it (its body, `ReleaseCreate`), so an
        approved change request creates the same release."""
        body = {"version": self.version, "notes": self.notes, "includedEngines": self.engines}
        return Proposal("release.create", "releases", body)


@router.get(HOME)
async def releases_page(request: Request) -> Response:
    me = await signed_in(request)
    await authorize(request, me.who, "releases.read")
    return await _list(request, me, Draft())


async def _list(request: Request, me: SignedIn, draft: Draft, *, status: int = 200) -> Response:
    releases = await run_in_threadpool(me.console.releases.list_releases)
    may_create = allows(request, me, "release.create")
    return render(
        request,
        me,
        "releases/page.html",
        status=status,
        releases=list(reversed(releases)),  # newest first: the one an operator looks for
        engines=me.console.engine_service.registry.names(),
        may_create=may_create,
        gov=offer(request, me, "release.create") if may_create else None,
        wanted=draft.wanted,
        draft=draft,
        created=request.query_params.get("created", ""),
        requested=request.query_params.get("requested", "")[:40],
    )


@router.post(HOME)
async def create_release(request: Request) -> Response:
    """Create a release; where the policy wants it approved, or it is scheduled, it becomes the change
    request the API's POST would make (ADR 0026) and the form goes to it."""
    me = await signed_in(request)
    form = await checked_form(request, me)
    await authorize(request, me.who, "release.create")
    draft = Draft(
        version=form_field(form, "version").strip(),
        notes=form_field(form, "notes")[:5000],
        engines=[e for e in form.getlist("engines") if isinstance(e, str)][:16],
        wanted=asked(request, form),
    )
    if draft.wanted.errors:
        return await _list(request, me, draft, status=422)
    try:
        submitted = await submit_unless_free(request, me, draft.proposal(), draft.wanted)
        if submitted is not None and submitted.result is None:
            return sent_to(request, where_sent(request, me, submitted, HOME))
        made = submitted.result if submitted is not None else None
        if made is None:
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
    wanted: Asked | None = None,
) -> Response:
    release = await _release(request, me, version)
    snapshot = release["snapshot"]
    held = {
        "engines": {e: target["targetId"] for e, target in snapshot["engines"].items()},
        "config": snapshot["config"],
    }
    may_roll_back = allows(request, me, "release.rollback")
    return render(
        request,
        me,
        "releases/release.html",
        status=status,
        release=release,
        rows=side_by_side(_now(me, snapshot), held),
        may_roll_back=may_roll_back,
        gov=offer(request, me, "release.rollback") if may_roll_back else None,
        wanted=wanted or Asked(),
        requested=request.query_params.get("requested", "")[:40],
        outcome=outcome,
        confirm_error=confirm_error,
        refusal=refusal,
        created=request.query_params.get("created") == "1",
    )


@router.post(HOME + "/{version}/rollback")
async def roll_back(request: Request, version: str) -> Response:
    """Roll back to a release once its version is typed; where the policy wants it approved, or it is
    scheduled, it becomes the change request the API's POST would make (ADR 0026)."""
    me = await signed_in(request)
    form = await checked_form(request, me)
    await authorize(request, me.who, "release.rollback")
    wanted = asked(request, form)
    if form_field(form, "confirm").strip() != version:
        # The page's script only enables the button once the version is typed; the server checks too.
        return await _detail(
            request, me, version, status=422, confirm_error="releases.rollback.mistyped", wanted=wanted
        )
    if wanted.errors:
        return await _detail(request, me, version, status=422, wanted=wanted)
    proposal = Proposal("release.rollback", "releases", {"targetVersion": version})
    try:
        submitted = await submit_unless_free(request, me, proposal, wanted)
        if submitted is not None and submitted.result is None:
            return sent_to(request, where_sent(request, me, submitted, f"{HOME}/{version}"))
        if submitted is None:
            await run_in_threadpool(
                me.console.releases.rollback,
                principal=me.who,
                target_version=version,
                request_id=me.request_id,
            )
    except Conflict as exc:
        return await _detail(
            request, me, version, status=409, outcome="refused", refusal=exc.message, wanted=wanted
        )
    return redirect(f"{HOME}/{version}?outcome=rolled_back")
