"""Gateway fixtures: a fake upstream model server and a live trainer-ops pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from trainer_ops.config import Settings

from .upstream import FakeUpstream


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture(params=["routes", "fast-path"])
def settings(request: pytest.FixtureRequest, settings: Settings, upstream: FakeUpstream) -> Settings:
    """Every gateway test runs twice: through the FastAPI routes (no token cache, so every call is
    routed) and through the fast path (gateway/fastpath.py), which answers callers already cached."""
    return settings.model_copy(
        update={
            "token_cache_seconds": 0 if request.param == "routes" else 60,
            "upstream_url": upstream.url,
            "upstream_api_key": "upstream-secret",
            # Well above a loaded CI machine's slowest answer from the fake (a call failed with 504 at
            # 1 s while three workers ran), well below its "slow" mode's (upstream.py).
            "upstream_timeout_seconds": 3.0,
            "session_idle_seconds": 60.0,
        }
    )


@pytest.fixture
def server(live_server):  # type: ignore[no-untyped-def]
    return live_server.start()


@pytest.fixture
def admin(server) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    with httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.settings.bootstrap_admin_token}"},
        timeout=10,
    ) as client:
        yield client


_OPEN: list[openai.OpenAI] = []


def ai(server, token: str | None = None) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    """The official openai client, unchanged, pointed at the gateway (closed after the test)."""
    client = openai.OpenAI(
        api_key=token or server.settings.bootstrap_admin_token, base_url=f"{server.url}/v1", max_retries=0
    )
    _OPEN.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()
