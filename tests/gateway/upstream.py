"""A fake OpenAI-compatible model server (a fake, not a mock): records what the gateway sent it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response, StreamingResponse


class FakeUpstream:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        # "ok", "slow", "error"; for streams also "cut" (the connection drops after the first event)
        # and "unfinished" (the stream ends after the first event, with no final chunk and no [DONE]).
        self.mode = "ok"
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._complete)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeUpstream:
        self._thread.start()
        while not self._server.started:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if self.mode == "slow":  # past the gateway tests' upstream timeout (conftest.py)
            await asyncio.sleep(4)
        if self.mode == "error":
            return JSONResponse({"error": {"message": "model overloaded"}}, status_code=500)
        text = f"echo from {body['model']}"
        if body.get("stream"):
            return StreamingResponse(self._chunks(body, text), media_type="text/event-stream")
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
            }
        )

    async def _chunks(self, body: dict[str, Any], text: str) -> AsyncIterator[bytes]:
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": body["model"],
        }
        for word in text.split():
            chunk = {
                **base,
                "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}],
            }
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
            if self.mode == "cut":
                raise ConnectionAbortedError("the fake model server drops the connection mid-stream")
            if self.mode == "unfinished":
                return
        final = {
            **base,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        }
        yield b"data: " + orjson.dumps(final) + b"\n\n"
        yield b"data: [DONE]\n\n"
