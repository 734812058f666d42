"""The console's vendored assets are the released files the README names, byte for byte."""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files

STATIC = files("trainer_ops.console") / "static"


def test_every_vendored_file_matches_the_hash_in_its_readme() -> None:
    readme = (STATIC / "README.md").read_text("utf-8")
    rows = re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", readme, flags=re.M)
    assert {name for name, _ in rows} == {"htmx.min.js", "htmx-sse.min.js"}
    for name, expected in rows:
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == expected, name


def test_no_asset_names_a_host_to_load_from() -> None:
    for entry in STATIC.iterdir():
        if entry.name.endswith((".css", ".js")) and entry.name.startswith("console"):
            text = entry.read_text("utf-8")
            assert not re.search(r"https?://", text), entry.name
