"""The composition roots of the service: `build_ops` builds every long-lived service once into `Ops`
(app/build.py, app/ops.py), and `create_app` wires the web app around it (app/web.py). The CLI is the
other composition root (cli/)."""

from trainer_ops.app.build import build_ops
from trainer_ops.app.ops import DEFAULT_DOCUMENTS, Ops
from trainer_ops.app.web import TITLE, api_document, create_app

__all__ = ["DEFAULT_DOCUMENTS", "TITLE", "Ops", "api_document", "build_ops", "create_app"]
