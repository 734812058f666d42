"""The operations a change request holds that are not document writes (hot reload, release create and
rollback): what each is asked against (its base), what it would change, and how it is run once approved.
The implementations are built in app.py over the engines and releases services (ADR 0026)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from trainer_ops.access.types import Principal

# A fleet round that could not start because another one holds the engine: nothing was tried, so the
# request waits for the scheduler's next run instead of ending (ADR 0026).
TRANSIENT = frozenset({"engines.reload_in_progress", "engines.concurrent_reload"})
# How long a request may stay `applying` before the scheduler decides its replica stopped mid-way:
# far longer than any round (each has a deadline of seconds), so a live round is never taken for dead.
APPLYING_LEASE_MS = 10 * 60 * 1000


@dataclass(frozen=True)
class Base:
    """What the operation was asked against: `version` is the number compared (stored as the request's
    base_version), `detail` what a reviewer reads (stored as its base)."""

    version: int
    detail: dict[str, Any]


class Action(Protocol):
    """One governed operation that is not a document. Every method may raise a TrainerOpsError."""

    @property
    def kind(self) -> str:
        """What it changes ("engines", "releases"): the request's kind."""
        ...

    def base(self, body: Any, params: dict[str, Any]) -> Base:
        """What the operation is asked against now, after every check that would refuse it (404, 409,
        422): a request that passes here fails after its approvals only if the world moved."""
        ...

    def diff(self, base: Base, body: Any, params: dict[str, Any]) -> dict[str, Any]:
        """What it would change now: `currentVersion`, `target`, `before`, `after`."""
        ...

    def run(
        self,
        *,
        author: Principal,
        base: Base,
        body: Any,
        params: dict[str, Any],
        request_id: str,
        details: dict[str, Any],
    ) -> dict[str, Any]:
        """Apply it as the author, refusing (nothing changed) if the base moved: the route's answer."""
        ...
