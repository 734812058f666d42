"""Policy (issue #13, ADR 0024): who may do what, as a matrix of operations by role, its version, editing
it as JSON with the API's checks (422 at each JSON path, the lock-out 409 explained, 412 when it moved
on), the schema's names as help, and its history. Admin-only under the default policy (`policy.read` /
`policy.update`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.responses import JSONResponse, Response

from trainer_ops.access.types import CONDITIONS
from trainer_ops.console.json_documents import JsonDocuments, JsonPage, json_document_router
from trainer_ops.console.web import SignedIn, signed_in
from trainer_ops.errors import Invalid
from trainer_ops.http.guard import authorize
from trainer_ops.policy import types
from trainer_ops.policy.service import PolicyEditor
from trainer_ops.versions.snapshot import VersionedDocument


def _editor(request: Request) -> PolicyEditor:
    # The editor the API's routes use (app.state, set by create_app), called in-process.
    editor: PolicyEditor = request.app.state.policy_editor
    return editor


def _service(request: Request) -> JsonDocuments:
    return _editor(request)


def _check(text: str, value: Any) -> dict[str, Any]:
    # The API's body check (http.body.parse_object); the editor's schema names every other bad path.
    if not isinstance(value, dict):
        raise Invalid(
            "http.not_an_object",
            "the body must be a JSON object",
            errors=[{"field": "body", "message": "must be a JSON object"}],
        )
    return value


@dataclass(frozen=True)
class Cell:
    """One role's rule for one operation; `allowed` False when the role has no rule (denied)."""

    allowed: bool
    view: str = ""  # only when the rule names one: "full" is every rule's default
    conditions: tuple[str, ...] = ()
    engines: tuple[str, ...] | None = None  # None: every engine type


def cell(rule: Any) -> Cell:
    if not isinstance(rule, dict):
        return Cell(False)
    engines = rule.get("engineIn")
    return Cell(
        True,
        view=str(rule.get("view", "")),
        conditions=tuple(rule.get("conditions", ())),
        engines=tuple(engines) if isinstance(engines, list) else None,
    )


def matrix(document: dict[str, Any]) -> list[tuple[str, list[Cell]]]:
    """Rows of (operation, a cell per role of types.ROLES), operations sorted."""
    operations = document.get("operations", {})
    return [(op, [cell(operations[op].get(role)) for role in types.ROLES]) for op in sorted(operations)]


def engine_types(schema: dict[str, Any]) -> list[str]:
    """The engine types this server runs, as its JSON Schema names them (every operation lists them)."""
    for by_role in schema["properties"]["operations"]["properties"].values():
        items = by_role["additionalProperties"]["properties"]["engineIn"]["items"]
        return list(items.get("enum", []))
    return []


async def _matrix(request: Request, me: SignedIn, current: VersionedDocument) -> dict[str, Any]:
    return {
        "roles": types.ROLES,
        "rows": matrix(current.document),
        "conditions": sorted(CONDITIONS),
        "views": sorted(types.VIEWS.items()),
        "engine_types": engine_types(_editor(request).schema()),
    }


PAGE = JsonPage(
    key="policy",
    path="/console/policy",
    read=types.READ,
    update=types.UPDATE,
    kind=types.KIND,
    service=_service,
    check=_check,
    view=_matrix,
    in_force=types.in_force,
)

router = json_document_router(PAGE)


@router.get(f"{PAGE.path}/schema")
async def schema(request: Request) -> Response:
    """The policy's JSON Schema, as GET /operator/ops/policy/schema gives it: the API needs a bearer
    token a browser does not have, so the console serves the same document to its session."""
    me = await signed_in(request)
    await authorize(request, me.who, types.READ)
    return JSONResponse(_editor(request).schema(), headers={"Cache-Control": "no-store"})
