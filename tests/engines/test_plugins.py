"""An outside package adds an engine type through the `trainer_ops.engines` entry point group."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import build_ops, create_app
from trainer_ops.config import Settings
from trainer_ops.engines.plugins import load_engine_types

PLUGIN = """
from trainer_ops.engines.types import EngineType

ENGINE = EngineType(
    name="quizbank",
    schema={"type": "object", "properties": {"questions": {"type": "array", "minItems": 1}},
            "required": ["questions"]},
    initial={"questions": ["What is our return window?"]},
)
NOT_AN_ENGINE = object()
"""


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real (if tiny) installed distribution: a module and its dist-info with entry points."""
    site = tmp_path / "site"
    (site / "quizbank_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "quizbank_plugin.py").write_text(PLUGIN)
    (site / "quizbank_plugin-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: quizbank-plugin\nVersion: 0.1\n"
    )
    (site / "quizbank_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[trainer_ops.engines]\nquizbank = quizbank_plugin:ENGINE\nbroken = quizbank_plugin:NOT_AN_ENGINE\n"
        "missing = quizbank_plugin:NOPE\nscenario = quizbank_plugin:ENGINE\n"
    )
    monkeypatch.syspath_prepend(str(site))


def test_plugin_engine_is_loaded_beside_the_builtins(installed_plugin: None) -> None:
    types = load_engine_types()
    assert "quizbank" in types
    assert len(types) == 9  # the eight built-ins, the plugin; broken entries are skipped


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_plugin_engine_can_be_reloaded_like_a_builtin(installed_plugin: None, settings: Settings) -> None:
    ops = build_ops(settings)
    try:
        with TestClient(create_app(settings, ops=ops)) as client:
            client.headers["Authorization"] = f"Bearer {settings.bootstrap_admin_token}"
            assert client.get("/operator/ops/health").json()["engines"]["quizbank"] == "ok"
            response = client.put("/operator/ops/engines/quizbank/rulesets/q2", json={"questions": ["Q?"]})
            assert response.status_code == 201
            response = client.post("/operator/ops/hot-reload", json={"type": "quizbank", "targetId": "q2"})
            assert response.status_code == 200, response.text
            assert ops.engines.current("quizbank").target_id == "q2"
    finally:
        ops.close()
