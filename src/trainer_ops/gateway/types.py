"""How ops settings shape a chat-completion request: pure functions, no I/O."""

from __future__ import annotations

import functools
from typing import Annotated, Any

import langcodes
import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

# Caller parameters passed upstream unchanged. Everything ops owns (model, temperature, max_tokens)
# is set from the config, whatever the caller sent; anything else is dropped.
PASSTHROUGH = (
    "top_p",
    "stop",
    "n",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "user",
    "response_format",
    "tools",
    "tool_choice",
    "logprobs",
    "top_logprobs",
)


def _sendable(value: Any) -> Any:
    """A value passed upstream must be JSON the upstream call can write (orjson: integers within 64
    bits); checked here, so that it is a 422 naming the field, not an exception once the call is made."""
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"cannot be sent to the model server ({exc})") from None
    return value


Sendable = Annotated[Any, AfterValidator(_sendable)]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    # Extra fields (name, tool_calls, ...) go upstream as they are.
    __pydantic_extra__: dict[str, Sendable] = Field(init=False)

    role: str = Field(pattern="^(system|developer|user|assistant|tool)$")
    content: str | list[Any] | None = None

    @field_validator("content")
    @classmethod
    def _content_sendable(cls, value: Any) -> Any:
        return _sendable(value)  # here rather than in the union, so the error names `content`

    @model_validator(mode="after")
    def _content_where_required(self) -> ChatMessage:
        # As OpenAI's API: only an assistant message (one that carries tool calls) may go without content.
        if self.content is None and self.role != "assistant":
            raise ValueError(f"a {self.role} message needs content (a string or a list of parts)")
        return self


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    """What an OpenAI client sends. Extra fields are accepted (clients send many) but only PASSTHROUGH
    ones reach the model."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Sendable] = Field(init=False)

    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    model: str | None = None
    stream: bool = False
    temperature: float | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    # Checked here, before a stream's 200 is sent: once streaming, a bad value could only cut it short.
    stream_options: StreamOptions | None = None


@functools.lru_cache(maxsize=256)
def language_instruction(tag: str) -> str | None:
    if tag == "auto":
        return None
    try:
        name = langcodes.Language.get(tag).display_name()
    except Exception:  # a valid tag whose name is unknown here: the tag alone says enough
        name = tag
    return f"Always answer in {name} (language tag {tag}), whatever language the user writes in."


def prepare(request: ChatRequest, *, config: dict[str, Any], tones: dict[str, str]) -> dict[str, Any]:
    """The upstream payload: ops config wins over what the caller sent."""
    system = [tones[config["toneProfile"]]]
    instruction = language_instruction(config["language"])
    if instruction:
        system.append(instruction)
    messages = [{"role": "system", "content": "\n".join(system)}]
    messages.extend(m.model_dump(exclude_none=True) for m in request.messages)
    asked = request.max_completion_tokens or request.max_tokens or config["maxTokens"]
    payload: dict[str, Any] = {
        "model": config["model"],
        "messages": messages,
        "temperature": config["temperature"],
        "max_tokens": min(asked, config["maxTokens"]),
        "stream": request.stream,
    }
    if request.stream_options is not None:
        payload["stream_options"] = request.stream_options.model_dump()
    extra = request.model_extra or {}
    payload.update({k: extra[k] for k in PASSTHROUGH if k in extra})
    return payload
