"""The HTTP client of the remote commands: one httpx client, problems and lost servers as exceptions."""

from __future__ import annotations

from typing import Any

import httpx

from trainer_ops.cli.remote.target import Target

TIMEOUT_SECONDS = 30.0


class ApiError(Exception):
    """The server answered 4xx or 5xx; `problem` is its problem+json body (or what stands for one)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or f"HTTP {status}")
        self.status = status
        self.problem = problem


class Unreachable(Exception):
    """No answer: connection refused, name unknown, timed out, or the connection broke."""


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("trainer-ops")
    except PackageNotFoundError:
        return "unknown"


class Api:
    """Calls the API of `target` with its token; every answer of 400 and above raises ApiError."""

    def __init__(self, target: Target, *, timeout: float = TIMEOUT_SECONDS) -> None:
        headers = {"User-Agent": f"trainer-ops-cli/{version()}", "Accept": "application/json"}
        if target.token:
            headers["Authorization"] = f"Bearer {target.token}"
        self.target = target
        self._http = httpx.Client(base_url=target.server, headers=headers, timeout=timeout)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if content is not None:
            sent.setdefault("Content-Type", "application/json")
        query = {name: value for name, value in (params or {}).items() if value is not None}
        try:
            response = self._http.request(
                method, path, params=query, json=json, content=content, headers=sent
            )
        except httpx.TransportError as exc:
            raise Unreachable(f"{self.target.server}: {exc or type(exc).__name__}") from None
        if response.status_code >= 400:
            raise ApiError(response.status_code, _problem(response))
        return response

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.call("GET", path, params=params)


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict):  # the Step 1 envelope, when the server is set to it
            return {"detail": body["error"].get("message"), "code": body["error"].get("code"), **body}
        return body
    text = response.text.strip()[:500]
    return {"status": response.status_code, "detail": text or response.reason_phrase}


def etag_version(response: httpx.Response) -> str | None:
    """The version an ETag names (`"7"` -> `7`), for If-Match."""
    tag = response.headers.get("etag")
    return tag.removeprefix("W/").strip('"') if tag else None
