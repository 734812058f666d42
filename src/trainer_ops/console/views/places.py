"""Places (issue #13, ADR 0023): the catalogue as a tree (regions, their countries, their branches), its
version, editing it as JSON with the API's checks (422 at each path, 409 naming who uses a place the edit
would remove, 412 when it moved on), and its history. Admin-only under the default policy
(`places.read` / `places.update`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from trainer_ops.access.places import KIND as PLACES_KIND
from trainer_ops.console.json_documents import JsonDocuments, JsonPage, json_document_router
from trainer_ops.console.web import SignedIn
from trainer_ops.http.body import parse_json
from trainer_ops.places.schemas import PlacesDocument
from trainer_ops.places.service import PlacesService
from trainer_ops.versions.snapshot import VersionedDocument


def _service(request: Request) -> JsonDocuments:
    # The service the API's routes use (app.state, set by create_app), called in-process.
    service: PlacesService = request.app.state.places
    return service


def _check(text: str, value: Any) -> dict[str, Any]:
    # Exactly the PUT body's validation (strict, unknown fields refused, codes upper-cased).
    del value  # the text is validated as the API reads its body, not the Python value
    document: dict[str, Any] = parse_json(text.encode("utf-8"), PlacesDocument).model_dump(mode="json")
    return document


async def _tree(request: Request, me: SignedIn, current: VersionedDocument) -> dict[str, Any]:
    regions = current.document.get("regions", [])
    countries = [country for region in regions for country in region.get("countries", [])]
    branches = sum(len(country.get("branches", [])) for country in countries)
    return {"regions": regions, "counts": (len(regions), len(countries), branches)}


PAGE = JsonPage(
    key="places",
    path="/console/places",
    read="places.read",
    update="places.update",
    kind=PLACES_KIND,
    service=_service,
    check=_check,
    view=_tree,
)

router = json_document_router(PAGE)
