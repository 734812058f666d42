"""The routes of a versioned-document page (console/documents.py): the form and its save, the history
with a diff of any two versions, and restore. They do what the API's document routes do
(http/document_routes.py), minus HTTP: authorize, then the same DocumentEditor calls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.console.diffs import side_by_side
from trainer_ops.console.documents import (
    HISTORY_PAGE,
    DocumentPage,
    conflict,
    errors_by_field,
    field_views,
    posted_values,
    validate,
    version_document,
    what_changed,
)
from trainer_ops.console.governed import Asked, asked, offer, submit_unless_free, where_sent
from trainer_ops.console.web import SignedIn, checked_form, field, page_router, redirect, render, signed_in
from trainer_ops.errors import Invalid, NotFound, PreconditionFailed
from trainer_ops.http.context import edge_of
from trainer_ops.http.governance import Proposal
from trainer_ops.http.guard import authorize
from trainer_ops.versions.service import DocumentEditor
from trainer_ops.versions.snapshot import VersionedDocument


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isascii() and text.isdigit() and len(text) < 10 else None


def _request_id(text: str | None) -> str | None:
    # A change request's id as the redirect after a submission names it (`cr_` and hex), else nothing.
    ok = text is not None and text.startswith("cr_") and len(text) <= 40 and text[3:].isalnum()
    return text if ok else None


def _translator(request: Request, me: SignedIn) -> Any:
    lang = me.console.language(request)
    return lambda key, **fill: me.console.catalogues.translate(lang, key, **fill)


async def _save(
    request: Request,
    me: SignedIn,
    page: DocumentPage,
    changes: dict[str, Any],
    *,
    base: int,
    wanted: Asked,
) -> VersionedDocument | str:
    """The operator's change, made only while the document is still at version `base` (else
    PreconditionFailed: someone saved since the form was read). Where the policy wants it approved, or
    the operator scheduled it, it goes through the API's gate instead: the answer is then where to see
    the change request it became (ADR 0026); a bypass answers the version it wrote."""
    editor = page.editor(me.console)
    body = _asked(editor, changes, base)
    if not body:  # the form asks for what version `base` already says: nothing to write or to approve
        return editor.current()
    proposal = Proposal(page.update, editor.kind, body, if_match=frozenset({base}))
    submitted = await submit_unless_free(request, me, proposal, wanted)
    if submitted is None:
        return await run_in_threadpool(
            editor.update,
            principal=me.who,
            changes=changes,
            if_match=frozenset({base}),
            request_id=me.request_id,
        )
    if submitted.document is not None:
        return submitted.document
    return where_sent(request, me, submitted, page.path)


def _asked(editor: DocumentEditor, changes: dict[str, Any], base: int) -> dict[str, Any]:
    """What a change request holds of a form's save: the fields that differ from version `base`, as the
    API's PATCH would send them (the form posts every field; a reviewer reads what is asked). A stale
    base keeps them all: the Governor refuses it (412) before anything is stored."""
    current = editor.current()
    if current.version != base:
        return changes
    return {name: value for name, value in changes.items() if current.document.get(name) != value}


def document_router(page: DocumentPage) -> APIRouter:
    router = page_router()

    async def show(
        request: Request,
        me: SignedIn,
        *,
        status: int = 200,
        values: dict[str, Any] | None = None,
        errors: dict[str, list[str]] | None = None,
        **more: Any,
    ) -> Response:
        current = page.editor(me.console).current()
        extra = await page.context(request, me) if page.context else {}
        can_update = edge_of(request).policy().decide(me.who, page.update).allowed
        wanted: Asked = more.pop("wanted", Asked())
        return render(
            request,
            me,
            f"{page.key}/page.html",
            status=status,
            page=page,
            current=current,
            fields=field_views(page, me.console, values or current.document, errors or {}),
            version=more.pop("version", current.version),
            can_update=can_update,
            conflict=more.pop("conflict", None),
            saved=_number(request.query_params.get("saved")),
            restored=_number(request.query_params.get("restored")),
            unchanged=request.query_params.get("unchanged") == "1",
            requested=_request_id(request.query_params.get("requested")),
            invalid=bool(errors) or bool(wanted.errors),
            gov=offer(request, me, page.update),
            wanted=wanted,
            **extra,
            **more,
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
        values = posted_values(page, form)
        base = _number(field(form, "version"))
        if base is None:
            raise Invalid("http.invalid", "the form has no version; reload the page")
        changes, errors = validate(page, values, _translator(request, me))
        wanted = asked(request, form)
        if errors or wanted.errors:
            return await show(
                request, me, status=422, values=values, errors=errors, version=base, wanted=wanted
            )
        editor = page.editor(me.console)
        try:
            doc = await _save(request, me, page, changes, base=base, wanted=wanted)
        except PreconditionFailed:
            found, proposed = await run_in_threadpool(conflict, page, editor, base=base, changes=changes)
            return await show(
                request,
                me,
                status=412,
                values=proposed,
                version=found.newest,
                conflict=found,
                wanted=wanted,
            )
        except Invalid as exc:
            return await show(
                request,
                me,
                status=422,
                values=values,
                errors=errors_by_field(exc.errors),
                version=base,
                wanted=wanted,
            )
        if isinstance(doc, str):
            return redirect(doc)
        if doc.version == base:
            return redirect(f"{page.path}?unchanged=1")
        return redirect(f"{page.path}?saved={doc.version}")

    @router.get(f"{page.path}/history")
    async def history(request: Request) -> Response:
        me = await signed_in(request)
        await authorize(request, me.who, page.read)
        editor = page.editor(me.console)
        cursor = _number(request.query_params.get("cursor"))
        listing = await run_in_threadpool(editor.history, cursor=cursor, limit=HISTORY_PAGE)
        left_raw, right_raw = request.query_params.get("from"), request.query_params.get("to")
        compare: dict[str, Any] = {"from": left_raw or "", "to": right_raw or "", "errors": {}}
        rows = None
        if left_raw is not None or right_raw is not None:
            rows = await run_in_threadpool(_compare, page, editor, compare)
        newest = editor.current().version
        return render(
            request,
            me,
            "documents/history.html",
            page=page,
            items=[(item, what_changed(item)) for item in listing.items],
            next_cursor=listing.next_cursor,
            newest=newest,
            compare=compare,
            rows=rows,
            can_update=edge_of(request).policy().decide(me.who, page.update).allowed,
        )

    @router.get(f"{page.path}/restore/{{version}}")
    async def confirm_restore(request: Request, version: int) -> Response:
        me = await signed_in(request)
        await authorize(request, me.who, page.update)
        return await _restore_page(request, me, version)

    async def _restore_page(
        request: Request, me: SignedIn, version: int, *, status: int = 200, **more: Any
    ) -> Response:
        editor = page.editor(me.console)
        old = await run_in_threadpool(version_document, page, editor, version)
        if old is None:
            raise NotFound("http.not_found", f"{page.editor(me.console).kind} has no version {version}")
        current = editor.current()
        return render(
            request,
            me,
            "documents/restore.html",
            status=status,
            page=page,
            restoring=version,
            current=current,
            rows=side_by_side(current.document, old),
            gov=offer(request, me, page.update),
            wanted=more.pop("wanted", Asked()),
            **more,
        )

    @router.post(f"{page.path}/restore/{{version}}")
    async def restore(request: Request, version: int) -> Response:
        me = await signed_in(request)
        await authorize(request, me.who, page.update)
        form = await checked_form(request, me)
        wanted = asked(request, form)
        base = _number(field(form, "version"))
        if base is None:
            raise Invalid("http.invalid", "the form has no version; reload the page")
        editor = page.editor(me.console)
        old = await run_in_threadpool(version_document, page, editor, version)
        if old is None:
            raise NotFound("http.not_found", f"{editor.kind} has no version {version}")
        # The API has no restore: a restore is the change whose content is the old version, validated
        # and audited as any change (a model the catalogue has dropped since is refused).
        content = {k: old[k] for k in page.schema.model_fields if k in old}
        changes, errors = validate(page, content, _translator(request, me))
        if wanted.errors:
            return await _restore_page(request, me, version, status=422, wanted=wanted)
        if not errors:
            try:
                doc = await _save(request, me, page, changes, base=base, wanted=wanted)
            except PreconditionFailed:
                return await _restore_page(request, me, version, status=412, moved_on=True, wanted=wanted)
            except Invalid as exc:
                errors = errors_by_field(exc.errors)
            else:
                if isinstance(doc, str):
                    return redirect(doc)
                suffix = "unchanged=1" if doc.version == base else f"saved={doc.version}"
                return redirect(f"{page.path}?restored={version}&{suffix}")
        return await _restore_page(request, me, version, status=422, errors=errors, wanted=wanted)

    return router


def _compare(page: DocumentPage, editor: Any, compare: dict[str, Any]) -> list[Any] | None:
    """The diff of the two versions asked for, or None with the errors at the fields. Blocking."""
    docs = {}
    for side in ("from", "to"):
        version = _number(compare[side])
        doc = version_document(page, editor, version) if version is not None else None
        if doc is None:
            compare["errors"][side] = True
        docs[side] = doc
    if compare["errors"]:
        return None
    return side_by_side(docs["from"], docs["to"])
