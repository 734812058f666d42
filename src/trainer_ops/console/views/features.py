"""Features: the matrix of every flag by its global default and each place's override, a switch per cell
(htmx swaps the row), creating a flag, and each flag's history. Each route does what the API's route in
features/routes.py does, with the signed-in principal."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.access.types import Policy
from trainer_ops.console.featuregrid import build_grid, history_of, parse_regions, region_columns
from trainer_ops.console.governed import Asked as Governed
from trainer_ops.console.governed import asked as governed_fields
from trainer_ops.console.governed import offer, sent_to, submit_unless_free, where_sent
from trainer_ops.console.web import SignedIn, checked_form, field, page_router, redirect, render, signed_in
from trainer_ops.errors import Conflict, Forbidden, Invalid
from trainer_ops.features.places import Asked, asked_place, authorized, visible_to
from trainer_ops.features.schemas import FeatureCreate
from trainer_ops.features.service import FeaturesService
from trainer_ops.features.types import KIND, is_region
from trainer_ops.http.body import field_errors
from trainer_ops.http.context import edge_of
from trainer_ops.http.governance import Proposal
from trainer_ops.http.guard import authorize

router = page_router()

PAGE = "/console/features"
# The features history is read in pages of this size while looking for one flag's entries, and a
# history page of the console stops after scanning this many versions (a link reads on from there).
SCAN_PAGE = 200
SCAN_LIMIT = 1000
HISTORY_SHOWN = 50
# What the switch form posts as `enabled`; "default" removes a place's override.
VALUES = {"true": True, "false": False, "default": None}
FIELD_ERRORS = {"key": "features.invalid_key", "description": "features.invalid_description"}


def _service(me: SignedIn) -> FeaturesService:
    return me.console.features


async def _page(
    request: Request,
    me: SignedIn,
    *,
    extra: list[str],
    status: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    create_wanted: Governed | None = None,
) -> Response:
    own = await _own_place(request, me)
    policy = edge_of(request).policy()
    document = _service(me).current().document
    grid = build_grid(
        document,
        policy=policy,
        who=me.who,
        regions=region_columns(document, own, extra, visible_to(request, me.who)),
        global_switches=own is None,
    )
    can_create = policy.decide(me.who, "features.create").allowed
    return render(
        request,
        me,
        "features/page.html",
        status=status,
        grid=grid,
        extra=extra,
        own_region=own,
        can_create=can_create,
        can_history=policy.decide(me.who, "features.history").allowed,
        errors=errors or {},
        form=form or {},
        gov=offer(request, me, "features.update") if _may_switch(policy, me, own) else None,
        wanted=Governed(),
        create_gov=offer(request, me, "features.create") if can_create else None,
        create_wanted=create_wanted or Governed(),
        requested=request.query_params.get("requested", "")[:40],
    )


def _may_switch(policy: Policy, me: SignedIn, own: str | None) -> bool:
    # Whether any switch of the page may be posted: then its "apply at" and bypass are offered.
    return policy.decide(me.who, "features.update", region=own, scope=own, overridable=True).allowed


@router.get(PAGE)
async def features_page(request: Request, regions: str = "", region: str = "") -> Response:
    """The matrix. `regions`: place columns asked to see beside those with overrides; `region`: one
    more (the "show a place" form: a region, country or branch), refused at its field when it is not a
    code."""
    me = await signed_in(request)
    extra = parse_regions(regions)
    if region.strip():
        if not is_region(region.strip()):
            errors = {"region": "features.region_invalid"}
            return await _page(request, me, extra=extra, status=422, errors=errors, form={"region": region})
        asked = parse_regions(region)
        refusal = await _refusal(request, me, asked)
        if refusal is not None:
            status, reason = refusal
            return await _page(
                request, me, extra=extra, status=status, errors={"region": reason}, form={"region": region}
            )
        extra = parse_regions(",".join([*extra, *asked]))
    return await _page(request, me, extra=extra)


@router.post(PAGE + "/{key}/switch")
async def switch(request: Request, key: str) -> Response:
    """One cell's switch: set the global default (no place) or a place's override, or remove the
    override (`enabled=default`). htmx gets the flag's row back; a plain form goes back to the page."""
    me = await signed_in(request)
    form = await checked_form(request, me)
    service = _service(me)
    overridable = service.is_region_overridable(key)
    asked = asked_place(None, field(form, "region") or None)
    asked = await authorized(request, me.who, "features.update", asked, overridable=overridable)
    wanted = field(form, "enabled")
    if wanted not in VALUES:
        raise Invalid(
            "http.invalid_body",
            "enabled must be true, false or default",
            errors=[{"field": "enabled", "message": "true, false or default"}],
        )
    changes = {"enabled": VALUES[wanted]}
    governed = governed_fields(request, form)
    governed.raise_if_wrong()  # shown where the page shows a switch's problems
    proposal = Proposal("features.update", KIND, changes, {"featureKey": key, "place": asked.place})
    submitted = await submit_unless_free(request, me, proposal, governed)
    if submitted is not None and submitted.document is None:
        return sent_to(request, where_sent(request, me, submitted, PAGE))
    if submitted is None:
        await run_in_threadpool(
            service.update,
            principal=me.who,
            key=key,
            place=asked.place,
            changes=changes,
            if_match=None,
            request_id=me.request_id,
        )
    extra = parse_regions(field(form, "regions"))
    if request.headers.get("hx-request") != "true":
        return redirect(PAGE + (f"?regions={','.join(extra)}" if extra else ""))
    return await _row(request, me, key, extra)


async def _row(request: Request, me: SignedIn, key: str, extra: list[str]) -> Response:
    # The row is drawn with the columns the page showed (the posted `regions`), so it still fits.
    own = await _own_place(request, me)
    document = _service(me).current().document
    grid = build_grid(
        document,
        policy=edge_of(request).policy(),
        who=me.who,
        regions=region_columns(document, own, extra, visible_to(request, me.who)),
        global_switches=own is None,
        keys=[key],
    )
    can_history = edge_of(request).policy().decide(me.who, "features.history").allowed
    return render(
        request, me, "features/_row.html", grid=grid, row=grid.rows[0], extra=extra, can_history=can_history
    )


async def _own_place(request: Request, me: SignedIn) -> str | None:
    """The caller's own place when the policy limits it to that (its column comes first and the global
    column is read-only); None for a caller who sees everything."""
    asked = await authorized(request, me.who, "features.read", Asked(None))
    return None if asked.full else asked.place


async def _refusal(request: Request, me: SignedIn, codes: list[str]) -> tuple[int, str] | None:
    """Why a place asked to see is refused at its field: outside what the caller may read (403, audited
    like any denial) or not in the catalogue (422); None when it may be shown."""
    for code in codes:
        try:
            await authorized(request, me.who, "features.read", Asked(code))
        except Forbidden:
            return 403, "features.place_refused"
        except Invalid:
            return 422, "features.place_unknown"
    return None


@router.post(PAGE)
async def create(request: Request) -> Response:
    """Create a flag (admins): the API's checks, each failure shown at its field. Where the policy wants
    the creation approved, or it is scheduled, it becomes the change request the API's POST would make
    (ADR 0026) and the form goes to it."""
    me = await signed_in(request)
    await authorize(request, me.who, "features.create")
    form = await checked_form(request, me)
    values = {
        "key": field(form, "key").strip(),
        "description": field(form, "description").strip(),
        "enabled": field(form, "enabled") == "on",
        "regionOverridable": field(form, "regionOverridable") == "on",
    }
    extra = parse_regions(field(form, "regions"))
    wanted = governed_fields(request, form)
    try:
        new = FeatureCreate.model_validate(values)
        if wanted.errors:
            return await _page(request, me, extra=extra, status=422, form=values, create_wanted=wanted)
        submitted = await submit_unless_free(request, me, _creation(new), wanted)
        if submitted is not None and submitted.document is None:
            return sent_to(request, where_sent(request, me, submitted, PAGE))
        if submitted is None:
            await run_in_threadpool(
                _service(me).create,
                principal=me.who,
                key=new.key,
                enabled=new.enabled,
                region_overridable=new.regionOverridable,
                description=new.description,
                request_id=me.request_id,
            )
    except ValidationError as exc:
        # Only key and description can be wrong (the checkboxes are always true or false).
        errors = {e["field"]: FIELD_ERRORS.get(e["field"], "features.invalid_key") for e in field_errors(exc)}
        return await _page(
            request, me, extra=extra, status=422, errors=errors, form=values, create_wanted=wanted
        )
    except Conflict:
        errors = {"key": "features.key_exists"}
        return await _page(
            request, me, extra=extra, status=409, errors=errors, form=values, create_wanted=wanted
        )
    return redirect(PAGE + f"#flag-{new.key}")


def _creation(new: FeatureCreate) -> Proposal:
    """The creation as the API's `POST /features` proposes it, so an approved request applies the same."""
    spec = {
        "enabled": new.enabled,
        "regionOverridable": new.regionOverridable,
        "description": new.description,
    }
    return Proposal("features.create", KIND, {"key": new.key, **spec})


@router.get(PAGE + "/{key}/history")
async def history(request: Request, key: str, before: int | None = None) -> Response:
    """One flag's changes, newest first: who, when, which place, old and new value."""
    me = await signed_in(request)
    await authorize(request, me.who, "features.history")
    service = _service(me)
    service.detail(key, place=None, all_overrides=True)  # 404 for an unknown key
    entries, more = await run_in_threadpool(_scan, service, key, before)
    return render(request, me, "features/history.html", key=key, entries=entries, more=more)


def _scan(service: FeaturesService, key: str, before: int | None) -> tuple[list[dict[str, Any]], int | None]:
    """The flag's entries older than version `before`, and where to read on (None: the end)."""
    found: list[dict[str, Any]] = []
    cursor, scanned = before, 0
    while True:
        page = service.history(cursor=cursor, limit=SCAN_PAGE)
        for item in page.items:
            scanned += 1
            found.extend(history_of([item], key))
            if len(found) >= HISTORY_SHOWN or scanned >= SCAN_LIMIT:
                more = item["version"] if item["version"] > 1 else None
                return found, more
        if page.next_cursor is None:
            return found, None
        cursor = page.next_cursor
