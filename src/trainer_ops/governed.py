"""The fleet operations a change request can hold (ADR 0026), over the engines and releases services:
a hot reload is asked against its lane's activation, a release create against how many releases there
are, a rollback against the newest release event. Built in app.py; the change-requests package knows
them only as `changerequests.actions.Action`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer_ops.access.types import Principal
from trainer_ops.changerequests.actions import Action, Base
from trainer_ops.engines.scopes import lane
from trainer_ops.engines.service import EngineService
from trainer_ops.releases.service import NewRelease, ReleaseService


@dataclass(frozen=True)
class HotReload:
    """POST /hot-reload: base = the activation at (engine, scope), its version (0: none yet). Versions
    are one increasing sequence per engine, so any reload of that lane since moves it."""

    engines: EngineService
    kind: str = "engines"

    def _lane(self, body: Any) -> tuple[str, Any]:
        engine, active = self.engines.reload_base(body["type"], body["targetId"], body.get("scope"))
        return engine, active

    def base(self, body: Any, params: dict[str, Any]) -> Base:
        engine, active = self._lane(body)
        return Base(
            active.version if active else 0,
            {
                "type": engine,
                "scope": body.get("scope"),
                "targetId": active.target_id if active else None,
                "version": active.version if active else 0,
            },
        )

    def diff(self, base: Base, body: Any, params: dict[str, Any]) -> dict[str, Any]:
        engine, active = self._lane(body)
        return {
            "currentVersion": active.version if active else 0,
            "target": lane(engine, body.get("scope")),
            "before": {"targetId": active.target_id if active else None},
            "after": {"targetId": body["targetId"]},
        }

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
        return self.engines.hot_reload(
            principal=author,
            engine=body["type"],
            target_id=body["targetId"],
            request_id=request_id,
            scope=body.get("scope"),
            expect_version=base.version,
            details=details,
        )


@dataclass(frozen=True)
class ReleaseCreate:
    """POST /releases: base = how many releases there are (and the newest). Releases are never deleted,
    so the count moves exactly when one was created; the version must then still be greater."""

    releases: ReleaseService
    kind: str = "releases"

    @staticmethod
    def _new(body: Any) -> NewRelease:
        return NewRelease(body["version"], body.get("notes", ""), list(body.get("includedEngines", [])))

    def base(self, body: Any, params: dict[str, Any]) -> Base:
        count, latest = self.releases.create_base(self._new(body))
        return Base(count, {"releases": count, "latestRelease": latest})

    def diff(self, base: Base, body: Any, params: dict[str, Any]) -> dict[str, Any]:
        new = self._new(body)
        count, latest = self.releases.create_base(new)
        return {
            "currentVersion": count,
            "target": f"release:{new.version}",
            "before": {"latestRelease": latest},
            "after": {
                "latestRelease": new.version,
                "snapshot": self.releases.snapshot_now(self.releases.engine_names(new.included_engines)),
            },
        }

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
        return self.releases.create(
            principal=author,
            new=self._new(body),
            request_id=request_id,
            expect_releases=base.version,
            details=details,
        )


@dataclass(frozen=True)
class ReleaseRollback:
    """POST /releases/rollback: base = the newest release event (a publish or a rollback), so another
    create or rollback since moves it, even one that came back to the same current release."""

    releases: ReleaseService
    kind: str = "releases"

    def base(self, body: Any, params: dict[str, Any]) -> Base:
        event, current = self.releases.rollback_base(body["targetVersion"])
        return Base(event, {"event": event, "currentRelease": current})

    def diff(self, base: Base, body: Any, params: dict[str, Any]) -> dict[str, Any]:
        return self.releases.rollback_preview(body["targetVersion"])

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
        return self.releases.rollback(
            principal=author,
            target_version=body["targetVersion"],
            request_id=request_id,
            expect_event=base.version,
            details=details,
        )


def fleet_actions(engines: EngineService, releases: ReleaseService) -> dict[str, Action]:
    """Each fleet operation a change request can hold, by policy operation."""
    return {
        "hot_reload": HotReload(engines),
        "release.create": ReleaseCreate(releases),
        "release.rollback": ReleaseRollback(releases),
    }
