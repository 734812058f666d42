"""The ruleset library: storing (immutable, content-addressed), listing, reading and resolving rulesets."""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session

from trainer_ops.access.service import actor_of
from trainer_ops.access.types import Principal
from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import Action, Actor, canonical
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.engines.models import RulesetBlobRow, RulesetRow
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.store import RulesetStore
from trainer_ops.engines.validation import ruleset_errors
from trainer_ops.errors import BadRequest, Conflict, Invalid, NotFound
from trainer_ops.infra.clock import Clock

TARGET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
RULESET_CACHE_SIZE = 64


@dataclass(frozen=True)
class StoredRuleset:
    engine: str
    target_id: str
    digest: str
    size_bytes: int
    created_at_ms: int
    created_by: str
    ruleset: dict[str, Any] | None = None

    def as_json(self, *, active: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.engine,
            "targetId": self.target_id,
            "digest": self.digest,
            "sizeBytes": self.size_bytes,
            "createdAt": self.created_at_ms // 1000,
            "createdBy": self.created_by,
            "active": self.target_id == active,
        }
        if self.ruleset is not None:
            out["ruleset"] = self.ruleset
        return out


def content_address(ruleset: Any) -> tuple[bytes, str]:
    """The canonical bytes a ruleset is stored as, and their SHA-256: equal content, equal digest."""
    body = canonical(ruleset)
    return body, hashlib.sha256(body).hexdigest()


class RulesetLibrary:
    """Every method takes a canonical engine name: `EngineService.engine_name` checks the caller's."""

    def __init__(
        self,
        *,
        database: Database,
        writer: BatchWriter,
        audit: AuditService,
        registry: EngineRegistry,
        clock: Clock,
        store: RulesetStore,
    ) -> None:
        self._db = database
        self._writer = writer
        self._audit = audit
        self._registry = registry
        self._clock = clock
        self._store = store
        # Rulesets never change once stored: keep the recently used ones parsed.
        self._cache: OrderedDict[tuple[str, str], StoredRuleset] = OrderedDict()
        self._cache_lock = threading.Lock()

    # storing ------------------------------------------------------------------------------------------
    def upload(
        self, *, principal: Principal, engine: str, target_id: str, raw: bytes, request_id: str
    ) -> tuple[StoredRuleset, bool]:
        """Store a ruleset under (engine, targetId). The same content again is a no-op (created False);
        other content under a stored name is refused: rulesets are immutable."""
        if not TARGET_ID.fullmatch(target_id):
            raise Invalid(
                "engines.bad_target_id",
                "targetId: letters, digits, '.', '_', '-', up to 128",
                errors=[{"field": "targetId", "message": "letters, digits, '.', '_' and '-'"}],
            )
        try:
            ruleset = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadRequest("engines.bad_json", "the ruleset is not valid JSON") from None
        errors = ruleset_errors(self._registry.types[engine], ruleset)
        if errors:
            raise Invalid(
                "engines.invalid_ruleset",
                f"the {engine} ruleset does not validate ({len(errors)} error(s))",
                errors=errors,
            )
        body, digest = content_address(ruleset)
        self._registry.slot(engine).local.validated.add(digest)
        return self._writer.run(
            lambda session: self.store(
                session,
                actor=actor_of(principal),
                engine=engine,
                target_id=target_id,
                body=body,
                digest=digest,
                request_id=request_id,
            )
        )

    def store(
        self,
        session: Session,
        *,
        actor: Actor,
        engine: str,
        target_id: str,
        body: bytes,
        digest: str,
        request_id: str,
    ) -> tuple[StoredRuleset, bool]:
        """Inside a writer unit: add the ruleset (and its blob, unless that content is stored already)
        with its `ruleset_uploaded` audit entry; the same content under the same name adds nothing."""
        now_ms = int(self._clock.now() * 1000)
        existing = self._store.find(session, engine, target_id)
        if existing is not None:
            if existing.digest != digest:
                raise Conflict(
                    "engines.ruleset_immutable",
                    f"{engine} ruleset {target_id!r} exists with other "
                    "content; rulesets are immutable, upload it under a new targetId",
                )
            return self._stored(existing, len(body)), False
        if self._store.blob(session, digest) is None:
            self._store.add_blob(
                session,
                RulesetBlobRow(
                    digest=digest, content=body.decode(), size_bytes=len(body), created_at_ms=now_ms
                ),
            )
        row = RulesetRow(
            engine=engine, target_id=target_id, digest=digest, created_at_ms=now_ms, created_by=actor.user_id
        )
        self._store.add(session, row)
        self._audit.append(
            session,
            actor=actor,
            action=Action.RULESET_UPLOADED,
            target=f"{engine}/{target_id}",
            after={"digest": digest, "sizeBytes": len(body)},
            request_id=request_id,
        )
        return self._stored(row, len(body)), True

    @staticmethod
    def _stored(row: RulesetRow, size: int, ruleset: dict[str, Any] | None = None) -> StoredRuleset:
        return StoredRuleset(
            row.engine, row.target_id, row.digest, size, row.created_at_ms, row.created_by, ruleset
        )

    # reading ------------------------------------------------------------------------------------------
    def list_for(self, engine: str) -> list[StoredRuleset]:
        with self._db.read() as session:
            return [self._stored(row, size) for row, size in self._store.list_for(session, engine)]

    def get(self, engine: str, target_id: str) -> StoredRuleset:
        with self._db.read() as session:
            found = self.resolve(session, engine, target_id)
        return found

    def resolve(self, session: Session, engine: str, target_id: str) -> StoredRuleset:
        """The stored ruleset with its content, from the cache when it is there (404 when not stored)."""
        key = (engine, target_id)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        found = self._load(session, engine, target_id)
        with self._cache_lock:
            self._cache[key] = found
            while len(self._cache) > RULESET_CACHE_SIZE:
                self._cache.popitem(last=False)
        return found

    def ruleset_for(self, engine: str, target_id: str) -> tuple[str, dict[str, Any]]:
        """What a reload command from any replica names: the stored ruleset's digest and content."""
        with self._db.read() as session:
            stored = self.resolve(session, engine, target_id)
        return stored.digest, stored.ruleset or {}

    def _load(self, session: Session, engine: str, target_id: str) -> StoredRuleset:
        row = self._store.find(session, engine, target_id)
        blob = self._store.blob(session, row.digest) if row else None
        if row is None or blob is None:
            raise NotFound(
                "engines.ruleset_not_found",
                f"no {engine} ruleset {target_id!r}; upload it with "
                f"PUT /operator/ops/engines/{engine}/rulesets/{target_id}",
            )
        return self._stored(row, blob.size_bytes, orjson.loads(blob.content))
