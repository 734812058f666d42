"""Alembic migrations: upgrade, downgrade to base and upgrade again, on both stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from trainer_ops.config import Settings
from trainer_ops.db import migrate
from trainer_ops.db.engine import make_engine

from .support import MODEL_CONFIG, SPEC_MODEL_CONFIG, app_client

TABLES = {"document_versions", "api_tokens", "audit_entries", "change_requests"}


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    built = make_engine(settings)
    yield built
    built.dispose()


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_twice_downgrade_to_base_and_upgrade_again_round_trips(engine: Engine) -> None:
    migrate.upgrade(engine)
    created = tables(engine)
    assert created >= TABLES
    migrate.upgrade(engine)  # already at head: nothing to do
    assert tables(engine) == created

    migrate.downgrade(engine, "base")
    assert tables(engine) == set()

    migrate.upgrade(engine)
    assert tables(engine) == created
    # The append-only guard came back with the tables.
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO document_versions (kind, version, document, change, created_at_ms, "
                "actor_user_id, actor_role, request_id) VALUES ('t', 1, '{}', '{}', 0, 'u', 'r', 'q')"
            )
        )
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("DELETE FROM document_versions"))


def test_store_with_data_downgrades_and_serves_again_after_upgrade(
    settings: Settings, engine: Engine
) -> None:
    with app_client(settings) as client:
        assert client.patch(MODEL_CONFIG, json={"temperature": 1.2}).status_code == 200

    migrate.downgrade(engine, "base")
    assert tables(engine) == set()

    with app_client(settings) as client:  # a fresh start migrates and bootstraps the empty store
        response = client.get(MODEL_CONFIG)
    assert response.status_code == 200
    assert response.json() == SPEC_MODEL_CONFIG


def activation_columns(engine: Engine) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns("engine_activations")}


def test_0009_adds_the_activation_scope_keeps_rows_global_and_round_trips(engine: Engine) -> None:
    migrate.upgrade(engine)  # the PostgreSQL leg starts from a migrated template
    migrate.downgrade(engine, "0008")
    insert = (
        "INSERT INTO engine_activations (engine, version, target_id, digest, actor_user_id, request_id, "
        "created_at_ms) VALUES ('content', 1, 'initial', 'd', 'u', 'q', 0)"
    )
    with engine.begin() as connection:
        connection.execute(text(insert))
    assert "scope" not in activation_columns(engine)

    migrate.upgrade(engine, "0009")
    assert "scope" in activation_columns(engine)
    with engine.begin() as connection:
        assert connection.execute(text("SELECT scope FROM engine_activations")).scalar_one() is None
        connection.execute(
            text(
                "INSERT INTO engine_activations (engine, version, target_id, digest, actor_user_id, "
                "request_id, created_at_ms, scope) VALUES ('content', 2, 'kr', 'd', 'u', 'q', 0, 'KR')"
            )
        )
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("UPDATE engine_activations SET scope = 'JP'"))  # still append-only

    migrate.downgrade(engine, "0008")
    assert "scope" not in activation_columns(engine)
    migrate.upgrade(engine, "0009")
    assert "scope" in activation_columns(engine)
