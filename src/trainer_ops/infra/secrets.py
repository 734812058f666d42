"""Secret files under the state directory: created once with mode 0600, never stored in the database."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.chmod(path, 0o600)


def read_or_create_secret(path: Path, *, nbytes: int = 32) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(nbytes)
    write_private(path, value + "\n")
    return value
