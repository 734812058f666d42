"""Limits endpoints (spec section 6): admins only, as the policy says."""

from __future__ import annotations

from fastapi import APIRouter, Request

from trainer_ops.http.document_routes import add_document_routes
from trainer_ops.limits.schemas import LimitsRead, LimitsUpdate
from trainer_ops.versions.service import DocumentEditor

router = APIRouter(prefix="/operator/ops", tags=["limits"])


def _editor(request: Request) -> DocumentEditor:
    editor: DocumentEditor = request.app.state.limits
    return editor


add_document_routes(
    router,
    path="/limits",
    editor=_editor,
    read_model=LimitsRead,
    update_model=LimitsUpdate,
    read_operation="limits.read",
    update_operation="limits.update",
    what="limits",
)
