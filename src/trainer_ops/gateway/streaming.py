"""A stream that has started always ends properly: its last events are the upstream's own, or an error
event in OpenAI's shape followed by `data: [DONE]`, never a cut connection.

Once the 200 is sent a problem can no longer be answered, so a failure after that point (the model
server dropping the connection, an answer it never finished, a fault in our relay) becomes
`data: {"error": {...}}`, which the official openai client raises as an `APIError` carrying the
message, type and code, and `data: [DONE]` for clients that wait for it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import orjson

from trainer_ops.errors import TrainerOpsError
from trainer_ops.http.openai_errors import openai_error_body

log = logging.getLogger("trainer_ops.gateway")

DONE = b"data: [DONE]\n\n"


def is_done(chunk: bytes) -> bool:
    return chunk.strip() == DONE.strip()


def error_event(error: TrainerOpsError) -> bytes:
    return b"data: " + orjson.dumps(openai_error_body(error)) + b"\n\n"


async def ended_properly(chunks: AsyncIterator[bytes], *, request_id: str) -> AsyncIterator[bytes]:
    """`chunks`, then an error event and [DONE] if they fail. A failure after [DONE] (auditing the
    finished call) is only logged: the caller has its whole answer. A cancellation (the client went
    away) is not a failure: it goes through, and the upstream's stream is closed either way."""
    done = False
    try:
        async for chunk in chunks:
            yield chunk
            done = done or is_done(chunk)
    except Exception as exc:
        if done:
            log.exception("after the stream of request %s ended", request_id)
            return
        if not isinstance(exc, TrainerOpsError):
            log.exception("stream of request %s failed after it started", request_id)
            exc = TrainerOpsError(
                "gateway.stream_failed",
                f"the stream failed after it started; it was logged with request id {request_id}",
            )
        yield error_event(exc)
        yield DONE
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
