"""Engine test helpers: upload rulesets, rulesets that carry their own name in every part."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from trainer_ops.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Short deadline so the never-answering instance tests stay quick.
    return settings.model_copy(update={"reload_deadline_seconds": 0.5})


def difficulty_ruleset(stamp: str) -> dict[str, Any]:
    """Every part names the ruleset, so a reader can tell if it ever saw parts of two."""
    return {
        "levels": [
            {"name": f"beginner@{stamp}", "minScore": 0, "maxScore": 49},
            {"name": f"intermediate@{stamp}", "minScore": 50, "maxScore": 79},
            {"name": f"advanced@{stamp}", "minScore": 80, "maxScore": 100},
        ],
        "adaptiveStep": 0.1,
        "meta": {"stamp": stamp},
    }


def upload(client: TestClient, engine: str, target: str, ruleset: dict[str, Any]) -> None:
    response = client.put(f"/operator/ops/engines/{engine}/rulesets/{target}", json=ruleset)
    assert response.status_code in (200, 201), response.text


def reload(client: TestClient, engine: str, target: str) -> Any:
    return client.post("/operator/ops/hot-reload", json={"type": engine, "targetId": target})
