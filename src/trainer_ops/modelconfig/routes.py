"""Model-config endpoints (spec section 1): admins only, as the policy says."""

from __future__ import annotations

from fastapi import APIRouter, Request

from trainer_ops.http.document_routes import add_document_routes
from trainer_ops.modelconfig.schemas import ModelConfigRead, ModelConfigUpdate
from trainer_ops.versions.service import DocumentEditor

router = APIRouter(prefix="/operator/ops", tags=["model-config"])


def _editor(request: Request) -> DocumentEditor:
    editor: DocumentEditor = request.app.state.model_config
    return editor


add_document_routes(
    router,
    path="/model-config",
    editor=_editor,
    read_model=ModelConfigRead,
    update_model=ModelConfigUpdate,
    read_operation="model_config.read",
    update_operation="model_config.update",
    what="model configuration",
)
