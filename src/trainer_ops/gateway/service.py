"""Gateway use cases: check a call against the ops settings in force, call the model, audit the call."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Container
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
from trainer_ops.gateway.providers import Provider, UpstreamError
from trainer_ops.gateway.ratelimit import rate_limit_headers
from trainer_ops.gateway.sessions import open_session
from trainer_ops.gateway.streaming import ended_properly, is_done
from trainer_ops.gateway.types import ChatRequest, prepare
from trainer_ops.infra.limiter import CallBudget, CallLimiter
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
    budget: CallBudget | None = None

    @property
    def version_header(self) -> str:
        return ",".join(f"{kind}={version}" for kind, version in sorted(self.versions.items()))

    @property
    def headers(self) -> dict[str, str]:
        """What an admitted call's answer carries: config versions and the caller's rate-limit budget."""
        headers = {"X-Trainer-Config-Version": self.version_header}
        if self.budget is not None:
            headers.update(rate_limit_headers(self.budget))
        return headers


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
                # An operator's decision, not a fault: it must not turn health `degraded`.
                Unavailable(
                    "gateway.disabled",
                    "AI calls are switched off in the model config (enabled: false)",
                    fault=False,
                ),
            )
        # The caller's most specific place decides: its branch's override, else its country's, else
        # its region's, else the global default (ADR 0027).
        place = principal.place
        if feature is not None and not self._features.is_on(
            snapshot.get("features").document, feature, place
        ):
            where = f" at {place}" if place else ""
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
        budget = await self._limiter.hit(principal.user_id, limit)
        if not budget.allowed:
            raise self._refused(
                context,
                TooManyRequests(
                    "gateway.rate_limited",
                    f"more than {limit} AI calls in a minute for {principal.user_id}; "
                    f"retry in {budget.retry_after} s",
                    headers=rate_limit_headers(budget),
                    extra={"limit": limit},
                ),
            )
        payload = prepare(request, config=config, tones=self._tones)
        return CallContext(
            principal, payload, versions, feature, session, request_id, context.started, budget
        )

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
        here (a 502/504 problem), before the caller is sent a 200. Whatever fails after that ends
        the stream with an error event and [DONE] (gateway/streaming.py)."""
        chunks = self.stream(context)
        first = await anext(chunks)  # never exhausted: the stream ends with [DONE] or raises

        async def relay() -> AsyncIterator[bytes]:
            try:
                yield first
                async for chunk in chunks:
                    yield chunk
            finally:
                await chunks.aclose()  # a caller gone mid-stream closes the upstream's stream now

        return ended_properly(relay(), request_id=context.request_id)

    async def stream(self, context: CallContext) -> AsyncGenerator[bytes, None]:
        """The upstream's events up to its [DONE]; an upstream that stops before it is an error."""
        usage: dict[str, Any] | None = None
        outcome = "success"
        upstream = self._provider.stream(context.payload)
        try:
            async for chunk in upstream:
                if b'"usage"' in chunk:
                    usage = _usage(chunk) or usage
                yield chunk
                if is_done(chunk):
                    return
            raise UpstreamError(
                "gateway.upstream_incomplete", "the model server ended the stream before it was complete"
            )
        except Exception as exc:
            outcome = f"error:{getattr(exc, 'code', type(exc).__name__)}"
            raise
        finally:
            close = getattr(upstream, "aclose", None)
            if close is not None:
                await close()
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

    async def open_session(self, principal: Principal) -> str:
        """A new training session of `principal`, under the limits in force (429 past either cap)."""
        return await open_session(
            self.sessions,
            owner=principal.user_id,
            limits=self._holder.current.get("limits").document,
            idle_seconds=self._idle,
        )

    async def aclose(self) -> None:
        await self._provider.aclose()
        await self.sessions.aclose()
        await self._limiter.aclose()


def _usage(chunk: bytes) -> dict[str, Any] | None:
    """The token counts an event carries, if it is a JSON object with them (anything else is none)."""
    with contextlib.suppress(orjson.JSONDecodeError):
        event = orjson.loads(chunk.removeprefix(b"data: "))
        if isinstance(event, dict) and isinstance(event.get("usage"), dict):
            usage: dict[str, Any] = event["usage"]
            return usage
    return None
