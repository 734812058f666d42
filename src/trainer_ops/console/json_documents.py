"""What the Places and Policy pages share: a versioned document too deep for a form, so it is edited as
JSON in a textarea (If-Match by a hidden version), saved through the same service call as the API's PUT,
its refusals shown on the page (422 at each path, 409 in words, 412 with a way back), and its history
with any two versions side by side. Pages describe themselves with JsonPage; views/places.py and
views/policy.py are the pages."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.access.types import Principal
from trainer_ops.console.diffs import DiffRow, side_by_side
from trainer_ops.console.documents import HISTORY_PAGE, what_changed
from trainer_ops.console.governed import Asked, asked, offer, submit_unless_free, where_sent
from trainer_ops.console.web import SignedIn, checked_form, page_router, redirect, render, signed_in
from trainer_ops.console.web import field as form_field
from trainer_ops.errors import Conflict, Invalid, NotFound, PreconditionFailed
from trainer_ops.http.context import edge_of
from trainer_ops.http.governance import Proposal
from trainer_ops.http.guard import authorize
from trainer_ops.versions.service import HistoryPage
from trainer_ops.versions.snapshot import VersionedDocument


class JsonDocuments(Protocol):
    """The service of a JSON-edited document: PlacesService and PolicyEditor both are one."""

    def current(self) -> VersionedDocument: ...

    def history(self, *, cursor: int | None, limit: int) -> HistoryPage: ...

    def replace(
        self,
        *,
        principal: Principal,
        document: dict[str, Any],
        if_match: frozenset[int] | None,
        request_id: str,
    ) -> VersionedDocument: ...


@dataclass(frozen=True)
class JsonPage:
    """A console page of one JSON-edited document. `key` names its templates folder and message prefix."""

    key: str
    path: str
    read: str  # the policy operations of the API's own routes
    update: str
    kind: str  # the document kind a change request names (places, policy)
    service: Callable[[Request], JsonDocuments]
    # The API's check of a PUT body before the service sees it (raises Invalid naming each path).
    check: Callable[[str, Any], dict[str, Any]]
    # What the page shows of the version in force (the tree, the matrix), computed per request.
    view: Callable[[Request, SignedIn, VersionedDocument], Awaitable[dict[str, Any]]]
    # A stored version as it is in force (the policy lays it over the defaults); compared in history.
    in_force: Callable[[dict[str, Any]], dict[str, Any]] = lambda document: document


@dataclass
class Editing:
    """The textarea's content and what became of saving it."""

    text: str
    base: int  # the version the operator started from: sent back as If-Match
    errors: list[dict[str, str]] = field(default_factory=list)  # 422: {"field": path, "message"}
    refused: Conflict | None = None  # 409: in use, lock-out
    newest: int | None = None  # 412: the version now in force


def pretty(document: dict[str, Any]) -> str:
    # Non-ASCII names stay readable (한국 rather than \ud55c\uad6d); two-space indents fit a textarea.
    return json.dumps(document, indent=2, ensure_ascii=False)


def parse_text(text: str) -> tuple[Any, list[dict[str, str]]]:
    """The textarea's JSON, or the place where it stops being JSON (line and column, as editors count)."""
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        return None, [{"field": "(JSON)", "message": f"not valid JSON at {where}: {exc.msg}"}]


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isascii() and text.isdigit() and len(text) < 10 else None


def version_document(page: JsonPage, service: JsonDocuments, version: int) -> dict[str, Any] | None:
    """The whole document of `version` as it was in force, or None when there is no such version.
    Blocking (reads the store)."""
    if version < 1:
        return None
    items = service.history(cursor=version + 1, limit=1).items
    if not items or items[0]["version"] != version:
        return None
    return page.in_force(items[0]["document"])


def compare(page: JsonPage, service: JsonDocuments, wanted: dict[str, Any]) -> list[DiffRow] | None:
    """What differs between the two versions asked for (only the changed paths: a catalogue of
    thousands of branches would otherwise be thousands of equal rows), or None with the errors set at
    the fields. Blocking."""
    docs = {}
    for side in ("from", "to"):
        version = _number(wanted[side])
        doc = version_document(page, service, version) if version is not None else None
        if doc is None:
            wanted["errors"][side] = True
        docs[side] = doc
    if wanted["errors"]:
        return None
    return side_by_side(docs["from"], docs["to"], only_changes=True)


def json_document_router(page: JsonPage) -> APIRouter:
    router = page_router()

    async def show(
        request: Request,
        me: SignedIn,
        editing: Editing | None = None,
        status: int = 200,
        restoring: int = 0,
        wanted: Asked | None = None,
    ) -> Response:
        current = page.service(request).current()
        may_update = edge_of(request).policy().decide(me.who, page.update).allowed
        return render(
            request,
            me,
            f"{page.key}/page.html",
            status=status,
            page=page,
            current=current,
            editing=editing or Editing(pretty(current.document), current.version),
            can_update=may_update,
            gov=offer(request, me, page.update) if may_update else None,
            wanted=wanted or Asked(),
            requested=request.query_params.get("requested"),
            saved=_number(request.query_params.get("saved")),
            unchanged=request.query_params.get("unchanged") == "1",
            restoring=restoring,
            **await page.view(request, me, current),
        )

    @router.get(page.path)
    async def document_page(request: Request) -> Response:
        me = await signed_in(request)
        await authorize(request, me.who, page.read)
        return await show(request, me)

    @router.post(page.path)
    async def save(request: Request) -> Response:
        me = await signed_in(request)
        await authorize(request, me.who, page.update)
        form = await checked_form(request, me)
        base = _number(form_field(form, "version"))
        if base is None:
            raise Invalid("http.invalid", "the form has no version; reload the page")
        editing = Editing(form_field(form, "document"), base)
        value, editing.errors = parse_text(editing.text)
        wanted = asked(request, form)
        if editing.errors or wanted.errors:
            return await show(request, me, editing, 422, wanted=wanted)
        try:
            result = await _replace(request, me, page, editing, value, wanted)
        except Invalid as exc:
            editing.errors = exc.errors or [{"field": "(root)", "message": exc.message}]
            return await show(request, me, editing, 422, wanted=wanted)
        except Conflict as exc:
            editing.refused = exc
            return await show(request, me, editing, 409, wanted=wanted)
        except PreconditionFailed:
            # The operator's text stays in the textarea (to copy), and its version stays stale, so
            # saving it again is refused again: they reload, look at the newest version, then edit.
            editing.newest = page.service(request).current().version
            return await show(request, me, editing, 412, wanted=wanted)
        if isinstance(result, str):
            return redirect(result)  # a change request: its page (or ours, naming it)
        doc = result
        if doc.version == base:
            return redirect(f"{page.path}?unchanged=1")
        return redirect(f"{page.path}?saved={doc.version}")

    @router.get(f"{page.path}/history")
    async def history(request: Request) -> Response:
        me = await signed_in(request)
        await authorize(request, me.who, page.read)
        service = page.service(request)
        cursor = _number(request.query_params.get("cursor"))
        listing = await run_in_threadpool(service.history, cursor=cursor, limit=HISTORY_PAGE)
        left, right = request.query_params.get("from"), request.query_params.get("to")
        wanted: dict[str, Any] = {"from": left or "", "to": right or "", "errors": {}}
        rows = None
        if left is not None or right is not None:
            rows = await run_in_threadpool(compare, page, service, wanted)
        # The history page of the form documents (documents/history.html): its restore links lead to
        # the editor below, filled with the old version.
        return render(
            request,
            me,
            "documents/history.html",
            page=page,
            items=[(item, what_changed(item)) for item in listing.items],
            next_cursor=listing.next_cursor,
            newest=service.current().version,
            compare=wanted,
            rows=rows,
            can_update=edge_of(request).policy().decide(me.who, page.update).allowed,
        )

    @router.get(f"{page.path}/restore/{{version}}")
    async def restore(request: Request, version: int) -> Response:
        """The editor filled with an old version on top of the one in force: saving it is an ordinary
        change (validated, If-Match, audited), so a restore cannot skip a check today's rules make."""
        me = await signed_in(request)
        await authorize(request, me.who, page.update)
        service = page.service(request)
        old = await run_in_threadpool(version_document, page, service, version)
        if old is None:
            raise NotFound("http.not_found", f"{service.current().kind} has no version {version}")
        editing = Editing(pretty(old), service.current().version)
        return await show(request, me, editing, restoring=version)

    return router


async def _replace(
    request: Request, me: SignedIn, page: JsonPage, editing: Editing, value: Any, wanted: Asked
) -> VersionedDocument | str:
    """The API's PUT, as the console's JSON pages save: the same checks, then the same gate (ADR 0026).
    A write the policy wants approved, or scheduled, becomes a change request (the answer is where to
    see it); a bypass answers the version it wrote; else the document is replaced at once."""
    document = page.check(editing.text, value)
    base = frozenset({editing.base})
    proposal = Proposal(page.update, page.kind, document, if_match=base)
    submitted = await submit_unless_free(request, me, proposal, wanted)
    if submitted is None:
        return await run_in_threadpool(
            page.service(request).replace,
            principal=me.who,
            document=document,
            if_match=base,
            request_id=me.request_id,
        )
    if submitted.document is not None:
        return submitted.document
    return where_sent(request, me, submitted, page.path)
