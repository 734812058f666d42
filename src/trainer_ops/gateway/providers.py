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
from httpx_aiohttp import HttpxAiohttpClient

from trainer_ops.errors import TrainerOpsError


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
    text = last["content"] if isinstance(last["content"], str) else str(last["content"])
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in payload["messages"])
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
    """httpx's API over aiohttp's transport (httpx-aiohttp, as the official openai SDK offers): the
    same client semantics at a fraction of the CPU per call (see docs/adr/0013)."""

    def __init__(
        self, base_url: str, api_key: str, *, timeout_seconds: float = 60.0, on_timeout: Any = None
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(timeout_seconds, connect=5.0)
        self._lazy: httpx.AsyncClient | None = None
        self._on_timeout = on_timeout or (lambda: None)

    @property
    def _client(self) -> httpx.AsyncClient:
        # Built on first use, inside the server's event loop (aiohttp sessions belong to one loop).
        if self._lazy is None:
            self._lazy = HttpxAiohttpClient(
                base_url=self._base_url,
                headers=self._headers,
                timeout=self._timeout,
                limits=httpx.Limits(max_keepalive_connections=64),
            )
        return self._lazy

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
        )

    async def complete(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._mapped_errors():
            response = await self._client.post("/chat/completions", json=payload)
        if response.status_code >= 400:
            raise self._refused(response.status_code, response.text)
        result: dict[str, Any] = response.json()
        return result

    async def stream(self, payload: dict[str, Any]) -> AsyncIterator[bytes]:
        with self._mapped_errors():
            async with self._client.stream("POST", "/chat/completions", json=payload) as response:
                if response.status_code >= 400:
                    raise self._refused(
                        response.status_code, (await response.aread()).decode(errors="replace")
                    )
                async for line in response.aiter_lines():
                    if line:
                        yield line.encode() + b"\n\n"

    async def aclose(self) -> None:
        if self._lazy is not None:
            await self._lazy.aclose()
