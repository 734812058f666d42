"""Every ruleset and activation query."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trainer_ops.engines.models import ActivationRow, RulesetBlobRow, RulesetRow


class RulesetStore:
    def find(self, session: Session, engine: str, target_id: str) -> RulesetRow | None:
        return session.execute(
            select(RulesetRow).where(RulesetRow.engine == engine, RulesetRow.target_id == target_id)
        ).scalar_one_or_none()

    def blob(self, session: Session, digest: str) -> RulesetBlobRow | None:
        return session.get(RulesetBlobRow, digest)

    def add_blob(self, session: Session, row: RulesetBlobRow) -> None:
        session.add(row)
        session.flush()

    def add(self, session: Session, row: RulesetRow) -> None:
        session.add(row)
        session.flush()

    def list_for(self, session: Session, engine: str) -> list[tuple[RulesetRow, int]]:
        rows = session.execute(
            select(RulesetRow, RulesetBlobRow.size_bytes)
            .join(RulesetBlobRow, RulesetBlobRow.digest == RulesetRow.digest)
            .where(RulesetRow.engine == engine)
            .order_by(RulesetRow.id)
        ).all()
        return [(row, int(size)) for row, size in rows]

    def latest_activation(self, session: Session, engine: str) -> ActivationRow | None:
        """The engine's global activation (scope NULL; rows written before scopes existed are global)."""
        return session.execute(
            select(ActivationRow)
            .where(ActivationRow.engine == engine, ActivationRow.scope.is_(None))
            .order_by(ActivationRow.version.desc())
            .limit(1)
        ).scalar_one_or_none()

    def scoped_activations(self, session: Session, engine: str | None = None) -> list[ActivationRow]:
        """The latest activation of each (engine, scope) that has one (ix_engine_activations_engine_scope)."""
        latest = (
            select(ActivationRow.engine, ActivationRow.scope, func.max(ActivationRow.version).label("v"))
            .where(ActivationRow.scope.is_not(None))
            .group_by(ActivationRow.engine, ActivationRow.scope)
        )
        if engine is not None:
            latest = latest.where(ActivationRow.engine == engine)
        sub = latest.subquery()
        query = (
            select(ActivationRow)
            .join(sub, (ActivationRow.engine == sub.c.engine) & (ActivationRow.version == sub.c.v))
            .order_by(ActivationRow.engine, ActivationRow.scope)
        )
        return list(session.scalars(query))

    def latest_versions(self, session: Session) -> dict[str, int]:
        rows = session.execute(
            select(ActivationRow.engine, func.max(ActivationRow.version)).group_by(ActivationRow.engine)
        ).all()
        return {engine: int(version) for engine, version in rows}

    def add_activation(self, session: Session, row: ActivationRow) -> None:
        session.add(row)
        session.flush()

    def activation_count(self, session: Session) -> int:
        return int(session.execute(select(func.count()).select_from(ActivationRow)).scalar_one())
