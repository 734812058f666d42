"""The vendored Swagger UI and ReDoc files are the released ones named in their README."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from trainer_ops.http import apidocs

ASSETS = Path(apidocs.__file__).parent / "static" / "apidocs"


def test_the_vendored_files_are_the_released_ones_in_the_readme() -> None:
    """The README's table names each served file with its SHA-256: an edit to a file (or a new version
    without its row) shows here."""
    readme = (ASSETS / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", readme, re.MULTILINE))
    assert set(rows) == set(apidocs.MEDIA_TYPES)
    for name, digest in rows.items():
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == digest, name
