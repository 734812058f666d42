"""Where completions come from: any OpenAI-compatible server (vLLM, Ollama, OpenAI) over httpx, or the
built-in offline provider (the embedded default: answers with no network)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

import httpx
import orjson
from httpx_aiohttp import AiohttpTransport
from opentelemetry.trace import TracerProvider

from trainer_ops.errors import TrainerOpsError
from trainer_ops.infra.tracing import traced_transport


class UpstreamError(TrainerOpsError):
    status = 502
    family_code = "INTERNAL_ERROR"
    title = "Bad gateway"


class UpstreamTimeout(TrainerOpsError):
    status = 504
    family_code = "INTERNAL_ERROR"
    title = "Gateway timeout"


class Provider(Protocol):
    async def complete(self, payload: dict[str, Any]) -> dict[str, Any]: ...

    def stream(self, payload: dict[str, Any]) -> AsyncIterator[bytes]:
        """Yields the upstream SSE lines (`data: {...}`), ending with `data: [DONE]`."""
        ...

    async def aclose(self) -> None: ...


def _words(payload: dict[str, Any]) -> tuple[str, int]:
    last = next((m for m in reversed(payload["messages"]) if m["role"] == "user"), {"content": ""})
    content = last.get("content") or ""
    text = content if isinstance(content, str) else str(content)
    prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in payload["messages"])
    answer = (
        f"[offline {payload['model']}, temperature {payload['temperature']}, at most "
        f"{payload['max_tokens']} tokens] You said: {text[:500]}"
    )
    words = answer.split()[: payload["max_tokens"]]
    return " ".join(words), prompt_tokens


class OfflineProvider:
    """Deterministic answers, no network: shows exactly which ops settings a call ran with."""

    async def complete(self, payload: dict[str, Any]) -> dict[str, Any]:
        text, prompt_tokens = _words(payload)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload["model"],
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(text.split()),
                "total_tokens": prompt_tokens + len(text.split()),
            },
        }

    async def stream(self, payload: dict[str, Any]) -> AsyncIterator[bytes]:
        text, prompt_tokens = _words(payload)
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": payload["model"],
        }
        first = {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
        yield b"data: " + orjson.dumps(first) + b"\n\n"
        for word in text.split():
            chunk = {
                **base,
                "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}],
            }
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
        last: dict[str, Any] = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        if (payload.get("stream_options") or {}).get("include_usage"):
            last["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(text.split()),
                "total_tokens": prompt_tokens + len(text.split()),
            }
        yield b"data: " + orjson.dumps(last) + b"\n\n"
        yield b"data: [DONE]\n\n"

    async def aclose(self) -> None:
        return None


class OpenAICompatibleProvider:
    """Any OpenAI-compatible server, through httpx's transport API with aiohttp's transport under it
    (httpx-aiohttp, which the official openai SDK also offers). The call goes straight to the
    transport: httpx's AsyncClient adds URL merging, auth, redirect and cookie handling that a fixed
    upstream never needs, and cost more CPU than the HTTP exchange itself (see docs/adr/0013)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_seconds: float = 60.0,
        on_timeout: Any = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._url = httpx.URL(base_url.rstrip("/") + "/chat/completions")
        self._headers = [
            (b"host", self._url.netloc),
            (b"content-type", b"application/json"),
            (b"accept", b"application/json"),
        ]
        if api_key:
            self._headers.append((b"authorization", f"Bearer {api_key}".encode()))
        self._extensions = {"timeout": httpx.Timeout(timeout_seconds, connect=5.0).as_dict()}
        # aiohttp's session is made on first use, inside the server's event loop (it belongs to one).
        # With tracing on, a client span per call (infra/tracing.py); off, the bare transport.
        self._transport = traced_transport(
            AiohttpTransport(limits=httpx.Limits(max_keepalive_connections=64)), tracer_provider
        )
        self._on_timeout = on_timeout or (lambda: None)

    async def _send(self, payload: dict[str, Any]) -> httpx.Response:
        request = httpx.Request(
            "POST",
            self._url,
            headers=self._headers,
            content=orjson.dumps(payload),
            extensions=self._extensions,
        )
        return await self._transport.handle_async_request(request)

    @contextlib.contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        """httpx failures as problems: a timeout is 504 (and counted), anything else 502."""
        try:
            yield
        except httpx.TimeoutException:
            self._on_timeout()
            raise UpstreamTimeout(
                "gateway.upstream_timeout", "the model server did not answer in time"
            ) from None
        except httpx.HTTPError as exc:
            raise UpstreamError(
                "gateway.upstream_unreachable", f"the model server is unreachable: {exc}"
            ) from None

    @staticmethod
    def _refused(status: int, text: str) -> UpstreamError:
        return UpstreamError(
            "gateway.upstream_error",
            f"the model server answered {status}: {text[:300]}",
            extra={"upstreamStatus": status},
            # The model server refusing what a caller sent (a 4xx) is the caller's doing, not ours.
            fault=status >= 500,
        )

    async def complete(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._mapped_errors():
            response = await self._send(payload)
            try:
                body = await response.aread()
            finally:
                await response.aclose()
        if response.status_code >= 400:
            raise self._refused(response.status_code, body.decode(errors="replace"))
        try:
            result: dict[str, Any] = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamError(
                "gateway.upstream_bad_answer", "the model server's answer is not JSON"
            ) from None
        return result

    async def stream(self, payload: dict[str, Any]) -> AsyncIterator[bytes]:
        with self._mapped_errors():
            response = await self._send(payload)
            try:
                if response.status_code >= 400:
                    raise self._refused(
                        response.status_code, (await response.aread()).decode(errors="replace")
                    )
                async for line in response.aiter_lines():
                    if line:
                        yield line.encode() + b"\n\n"
            finally:
                await response.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()
