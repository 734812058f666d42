"""What the Model config and Limits pages share: a whole versioned document as a form (If-Match by a
hidden version), the conflict when it moved on meanwhile, its history with a side-by-side diff of any
two versions, and restoring an old version as a new one. Pages describe themselves with DocumentPage;
the routes are in console/document_routes.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from annotated_types import Ge, Le
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from trainer_ops.console.diffs import DiffRow, side_by_side
from trainer_ops.console.pages import Console
from trainer_ops.console.web import SignedIn
from trainer_ops.versions.service import DocumentEditor

HISTORY_PAGE = 20
# At most this many newer versions are listed as "the other change" of a conflict; the diff covers all.
CONFLICT_VERSIONS = 10

Options = Callable[[Console], list[tuple[str, str]]]


@dataclass(frozen=True)
class Field:
    """One field of the document on the form. `kind`: select, number, checkbox or text."""

    name: str
    kind: str
    options: Options | None = None  # a select's (value, label) pairs: exactly what validation accepts
    suggestions: tuple[str, ...] = ()  # a text field's datalist
    fine_step: str = "1"  # a number's step; floats get "any" when the value is finer than this


@dataclass(frozen=True)
class DocumentPage:
    """A console page of one versioned document. `key` names its templates folder and message prefix."""

    key: str
    path: str
    read: str  # the policy operations of the API's own routes
    update: str
    editor: Callable[[Console], DocumentEditor]
    schema: type[BaseModel]  # the API's PATCH model: the form is validated exactly as a PATCH is
    fields: tuple[Field, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)  # DocumentService's field_defaults
    # More for the page template (the Limits page's live usage), computed per request.
    context: Callable[[Request, SignedIn], Awaitable[dict[str, Any]]] | None = None

    def document(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """A version as the service reads it: fields added after it was written take their default."""
        return {**self.defaults, **stored}


@dataclass(frozen=True)
class FieldView:
    name: str
    kind: str
    value: str
    checked: bool
    options: list[tuple[str, str]]
    suggestions: tuple[str, ...]
    min: str
    max: str
    step: str
    errors: list[str]


def _bounds(schema: type[BaseModel], name: str) -> tuple[str, str]:
    low = high = ""
    for rule in schema.model_fields[name].metadata:
        if isinstance(rule, Ge):
            low = str(rule.ge)
        elif isinstance(rule, Le):
            high = str(rule.le)
    return low, high


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _step(spec: Field, value: Any) -> str:
    if spec.fine_step == "1" or not isinstance(value, float):
        return spec.fine_step
    # A value set through the API may be finer than the form's step; the browser would then refuse it.
    fine = float(spec.fine_step)
    return spec.fine_step if abs(round(value / fine) * fine - value) < 1e-9 else "any"


def field_views(
    page: DocumentPage, console: Console, values: Mapping[str, Any], errors: Mapping[str, list[str]]
) -> list[FieldView]:
    views = []
    for spec in page.fields:
        value = values.get(spec.name)
        low, high = _bounds(page.schema, spec.name) if spec.kind == "number" else ("", "")
        options = spec.options(console) if spec.options else []
        text = _text(value)
        if spec.kind == "select" and text not in {v for v, _ in options}:
            # A value the catalogue no longer has stays visible (saving it is refused at the field),
            # rather than the select silently showing, and then saving, another one.
            options = [(text, text), *options]
        views.append(
            FieldView(
                name=spec.name,
                kind=spec.kind,
                value=text,
                checked=value is True,
                options=options,
                suggestions=spec.suggestions,
                min=low,
                max=high,
                step=_step(spec, value),
                errors=errors.get(spec.name, []),
            )
        )
    return views


def posted_values(page: DocumentPage, form: FormData) -> dict[str, str]:
    """The form's fields as text; an unticked checkbox is not posted at all, so it reads as false."""
    values: dict[str, str] = {}
    for spec in page.fields:
        raw = form.get(spec.name)
        text = raw.strip() if isinstance(raw, str) else ""
        values[spec.name] = ("true" if text else "false") if spec.kind == "checkbox" else text
    return values


# pydantic's error types that the catalogue words for operators; others show the server's message.
_MESSAGES = {
    "greater_than_equal": ("documents.error.min", "ge"),
    "less_than_equal": ("documents.error.max", "le"),
    "int_parsing": ("documents.error.integer", ""),
    "int_from_float": ("documents.error.integer", ""),
    "float_parsing": ("documents.error.number", ""),
    "string_too_short": ("documents.error.required", ""),
}


def validate(
    page: DocumentPage, values: Mapping[str, str], t: Callable[..., str]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The changes the form asks for, validated by the API's PATCH model (lax: a form posts text)."""
    try:
        update: Any = page.schema.model_validate(dict(values))
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "body"
            key, bound = _MESSAGES.get(err["type"], ("", ""))
            ctx = err.get("ctx") or {}
            limit = ctx.get(bound, "")
            # `le=2` on a float field reads 2.0 in pydantic's context; the form's max says 2.
            shown = f"{limit:g}" if isinstance(limit, float) else limit
            message = t(key, bound=shown) if key else err["msg"]
            errors.setdefault(name, []).append(message)
        return {}, errors
    changes: dict[str, Any] = update.changes()
    return changes, {}


def errors_by_field(errors: list[dict[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for error in errors:
        out.setdefault(error["field"], []).append(error["message"])
    return out


@dataclass(frozen=True)
class StaleSave:
    """Someone saved after the operator opened the form: what they changed, and what the operator did."""

    base: int
    newest: int
    # History items after `base` with their changed fields, newest first (at most CONFLICT_VERSIONS).
    others: list[tuple[dict[str, Any], list[DiffRow]]]
    rows: list[DiffRow]  # the operator's starting point against the newest version
    mine: dict[str, Any]  # the fields the operator changed, which the re-apply form keeps


def conflict(
    page: DocumentPage, editor: DocumentEditor, *, base: int, changes: Mapping[str, Any]
) -> tuple[StaleSave, dict[str, Any]]:
    """The conflict, and the values of a re-apply form: the newest version with the operator's changes.
    Blocking (reads the store)."""
    newer = editor.history(cursor=None, limit=CONFLICT_VERSIONS).items
    newest = newer[0]
    started = version_document(page, editor, base)
    start_doc = started if started is not None else {}
    mine = {k: v for k, v in changes.items() if start_doc.get(k) != v}
    newest_doc = page.document(newest["document"])
    return (
        StaleSave(
            base=base,
            newest=newest["version"],
            others=[(item, what_changed(item)) for item in newer if item["version"] > base],
            rows=side_by_side(start_doc, newest_doc),
            mine=mine,
        ),
        {**newest_doc, **mine},
    )


def version_document(page: DocumentPage, editor: DocumentEditor, version: int) -> dict[str, Any] | None:
    """The whole document of `version`, or None when there is no such version. Blocking."""
    if version < 1:
        return None
    items = editor.history(cursor=version + 1, limit=1).items
    if not items or items[0]["version"] != version:
        return None
    return page.document(items[0]["document"])


def what_changed(item: Mapping[str, Any]) -> list[DiffRow]:
    """A history item's touched fields, before and after (empty for a document's first version)."""
    before, after = item.get("before"), item.get("after")
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    return side_by_side(before, after, only_changes=True)
