"""Every release query."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trainer_ops.releases.models import ReleaseEventRow, ReleaseRow


class ReleaseStore:
    def all(self, session: Session) -> list[ReleaseRow]:
        return list(session.execute(select(ReleaseRow)).scalars())

    def find(self, session: Session, version: str) -> ReleaseRow | None:
        return session.get(ReleaseRow, version)

    def add(self, session: Session, row: ReleaseRow) -> None:
        session.add(row)
        session.flush()

    def add_event(self, session: Session, row: ReleaseEventRow) -> None:
        session.add(row)
        session.flush()

    def current_version(self, session: Session) -> str | None:
        return session.execute(
            select(ReleaseEventRow.version).order_by(ReleaseEventRow.id.desc()).limit(1)
        ).scalar_one_or_none()

    def newest_event_id(self, session: Session) -> int:
        """The id of the newest publish or rollback (0: none): where the release history stands."""
        found = session.execute(select(func.max(ReleaseEventRow.id))).scalar_one_or_none()
        return int(found or 0)

    def events(self, session: Session) -> list[ReleaseEventRow]:
        return list(session.execute(select(ReleaseEventRow).order_by(ReleaseEventRow.id)).scalars())
