"""Engine types: the built-in ones, plus any an installed package registers under the entry point group
`trainer_ops.engines` (each entry point loads an EngineType)."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from trainer_ops.engines.builtin import BUILTIN_ENGINES
from trainer_ops.engines.types import EngineType

GROUP = "trainer_ops.engines"
log = logging.getLogger("trainer_ops.engines")


def load_engine_types() -> dict[str, EngineType]:
    types = {engine.name: engine for engine in BUILTIN_ENGINES}
    for entry in entry_points(group=GROUP):
        try:
            engine = entry.load()
        except Exception as exc:  # a broken plugin must not stop the service; it is reported
            log.error("engine plugin %s failed to load: %s", entry.name, exc)
            continue
        if not isinstance(engine, EngineType):
            log.error("engine plugin %s is not an EngineType", entry.name)
            continue
        if engine.name in types or engine.name == "system":
            log.error("engine plugin %s reuses the name %r", entry.name, engine.name)
            continue
        types[engine.name] = engine
    return types
