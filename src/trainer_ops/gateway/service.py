"""Gateway use cases: check a call against the ops settings in force, call the model, audit the call."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Container
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session

from trainer_ops.access.service import actor_of
from trainer_ops.access.types import Principal
from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import Action
from trainer_ops.db.writer import BatchWriter
from trainer_ops.errors import Forbidden, NotFound, TooManyRequests, Unavailable
from trainer_ops.features.service import FeaturesService
from trainer_ops.gateway.providers import Provider
from trainer_ops.gateway.types import ChatRequest, prepare
from trainer_ops.infra.limiter import CallLimiter
from trainer_ops.infra.sessions import SessionLeases
from trainer_ops.versions.snapshot import SnapshotHolder

log = logging.getLogger("trainer_ops.gateway")


@dataclass(frozen=True)
class CallContext:
    """The settings one call runs with: taken from one snapshot, so a call never mixes two versions."""

    principal: Principal
    payload: dict[str, Any]
    versions: dict[str, int]
    feature: str | None
    session: str | None
    request_id: str
    started: float

    @property
    def version_header(self) -> str:
        return ",".join(f"{kind}={version}" for kind, version in sorted(self.versions.items()))


class GatewayService:
    def __init__(
        self,
        *,
        holder: SnapshotHolder,
        features: FeaturesService,
        tones: dict[str, str],
        limiter: CallLimiter,
        sessions: SessionLeases,
        provider: Provider,
        writer: BatchWriter,
        audit: AuditService,
        session_idle_seconds: float,
        log_prompts: bool = False,
    ) -> None:
        self._holder = holder
        self._features = features
        self._tones = tones
        self._limiter = limiter
        self.sessions = sessions
        self._provider = provider
        self._writer = writer
        self._audit = audit
        self._idle = session_idle_seconds
        self._log_prompts = log_prompts

    @property
    def feature_keys(self) -> Container[str]:
        """The feature keys in force: what X-Trainer-Feature may name (gateway/headers.py)."""
        features: dict[str, Any] = self._holder.current.get("features").document["features"]
        return features

    async def admit(
        self,
        *,
        principal: Principal,
        request: ChatRequest,
        feature: str | None,
        session: str | None,
        request_id: str,
    ) -> CallContext:
        """Every ops rule, in order: enabled, feature, session, rate limit. Raises the matching problem."""
        snapshot = self._holder.current
        config_doc = snapshot.get("model_config")
        config = config_doc.document
        versions = {
            "model_config": config_doc.version,
            "features": snapshot.get("features").version,
            "limits": snapshot.get("limits").version,
        }
        context = CallContext(principal, {}, versions, feature, session, request_id, time.perf_counter())
        if not config["enabled"]:
            raise self._refused(
                context,
                Unavailable(
                    "gateway.disabled", "AI calls are switched off in the model config (enabled: false)"
                ),
            )
        if feature is not None and not _feature_on(
            snapshot.get("features").document, feature, principal.region
        ):
            where = f" for region {principal.region}" if principal.region else ""
            raise self._refused(
                context,
                Forbidden(
                    "gateway.feature_off", f"feature {feature!r} is off{where}", extra={"feature": feature}
                ),
            )
        if session is not None and not await self.sessions.touch(
            session, owner=principal.user_id, idle_seconds=self._idle
        ):
            raise self._refused(
                context,
                NotFound(
                    "gateway.session_unknown",
                    f"session {session!r} is unknown or expired; open one with POST /v1/sessions",
                ),
            )
        limit = int(snapshot.get("limits").document["aiCallsPerMinute"])
        retry_after = await self._limiter.hit(principal.user_id, limit)
        if retry_after is not None:
            raise self._refused(
                context,
                TooManyRequests(
                    "gateway.rate_limited",
                    f"more than {limit} AI calls in a minute for {principal.user_id}",
                    headers={"Retry-After": str(int(retry_after))},
                    extra={"limit": limit},
                ),
            )
        payload = prepare(request, config=config, tones=self._tones)
        return CallContext(principal, payload, versions, feature, session, request_id, context.started)

    def _refused(self, context: CallContext, error: Exception) -> Exception:
        self.record(context, outcome=f"refused:{getattr(error, 'code', 'error')}")
        return error

    async def complete(self, context: CallContext) -> dict[str, Any]:
        try:
            result = await self._provider.complete(context.payload)
        except Exception as exc:
            self.record(context, outcome=f"error:{getattr(exc, 'code', type(exc).__name__)}")
            raise
        self.record(context, outcome="success", usage=result.get("usage"))
        return result

    async def started_stream(self, context: CallContext) -> AsyncIterator[bytes]:
        """The call's stream with its first chunk already in: an upstream that fails at once raises
        here (a 502/504 problem), before the caller is sent a 200."""
        chunks = self.stream(context)
        first = await anext(chunks)

        async def relay() -> AsyncIterator[bytes]:
            yield first
            async for chunk in chunks:
                yield chunk

        return relay()

    async def stream(self, context: CallContext) -> AsyncIterator[bytes]:
        usage: dict[str, Any] | None = None
        outcome = "success"
        try:
            async for chunk in self._provider.stream(context.payload):
                if b'"usage"' in chunk:
                    with contextlib.suppress(orjson.JSONDecodeError):
                        usage = orjson.loads(chunk.removeprefix(b"data: ")).get("usage") or usage
                yield chunk
        except Exception as exc:
            outcome = f"error:{getattr(exc, 'code', type(exc).__name__)}"
            raise
        finally:
            self.record(context, outcome=outcome, usage=usage)

    def record(self, context: CallContext, *, outcome: str, usage: dict[str, Any] | None = None) -> None:
        """Audit the call as `predict` (metadata, not content) without waiting: batched by the writer."""
        details: dict[str, Any] = {
            "model": context.payload.get("model")
            or self._holder.current.get("model_config").document["model"],
            "latencyMs": round((time.perf_counter() - context.started) * 1000, 2),
            "configVersions": context.versions,
            "stream": bool(context.payload.get("stream")),
        }
        if usage:
            details["tokens"] = {
                k: usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")
            }
        if context.feature:
            details["feature"] = context.feature
        if context.session:
            details["session"] = context.session
        if self._log_prompts and context.payload:
            details["messages"] = context.payload.get("messages")
        actor = actor_of(context.principal)

        def unit(session: Session) -> None:
            self._audit.append(
                session,
                actor=actor,
                action=Action.PREDICT,
                target="gateway",
                outcome=outcome,
                request_id=context.request_id,
                details=details,
            )

        self._writer.submit(unit)

    async def aclose(self) -> None:
        await self._provider.aclose()
        await self.sessions.aclose()
        await self._limiter.aclose()


def _feature_on(document: dict[str, Any], feature: str, region: str | None) -> bool:
    """The feature's value for `region` in this features document (unknown features are off)."""
    spec = document["features"].get(feature)
    if spec is None:
        return False
    return bool(document["overrides"].get(region or "", {}).get(feature, spec["enabled"]))
