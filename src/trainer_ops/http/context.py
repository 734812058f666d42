"""What every router needs from the composition root, hung on app.state.edge by create_app."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from trainer_ops.access.identity import HeaderIdentity
from trainer_ops.access.service import Authenticator
from trainer_ops.access.types import Policy
from trainer_ops.audit.service import AuditService
from trainer_ops.config import Settings
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter

if TYPE_CHECKING:
    from trainer_ops.http.governance import Governor


@dataclass
class Edge:
    settings: Settings
    database: Database
    authenticator: Authenticator
    audit: AuditService
    writer: BatchWriter
    policy: Callable[[], Policy]
    identity: HeaderIdentity
    # Change requests and scheduled changes (ADR 0026); the clock says when `applyAt` is.
    governor: Governor | None = None
    now: Callable[[], float] = time.time


def edge_of(request: Request) -> Edge:
    edge: Edge = request.app.state.edge
    return edge


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))
