"""The contexts file: named servers and their tokens, private to its owner (mode 0600)."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE_MODE = 0o600
DIR_MODE = 0o700


class ConfigProblem(Exception):
    """The contexts file cannot be used: unreadable, malformed, or open to other users."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Context:
    name: str
    server: str
    token: str | None = None


@dataclass
class Contexts:
    """What the file holds: the contexts by name and the one in use."""

    current: str | None = None
    contexts: dict[str, Context] = field(default_factory=dict)
    # Set when the file is readable by group or others: its tokens must not be used (ssh's rule).
    too_open: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "contexts": {
                name: {"server": c.server, **({"token": c.token} if c.token else {})}
                for name, c in sorted(self.contexts.items())
            },
        }


def config_path(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/trainer-ops/config`, else `~/.config/trainer-ops/config`."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "trainer-ops" / "config"


def load(path: Path) -> Contexts:
    """The file's contexts (none when it does not exist). A file readable by others is still read, with
    `too_open` saying so: whoever uses a token from it refuses (`Contexts.too_open`)."""
    try:
        mode = path.stat().st_mode
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Contexts()
    except OSError as exc:
        raise ConfigProblem(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
        contexts = {
            str(name): Context(str(name), str(item["server"]), item.get("token") or None)
            for name, item in data.get("contexts", {}).items()
        }
        current = data.get("current")
    except (ValueError, AttributeError, KeyError, TypeError):
        raise ConfigProblem(f"{path} is not a contexts file (JSON with `contexts` by name)") from None
    too_open = None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        too_open = (
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):04o}); "
            f"its tokens are not used until you run: chmod 600 {path}"
        )
    return Contexts(current if current in contexts else None, contexts, too_open)


def save(path: Path, contexts: Contexts) -> None:
    """Write the whole file, created 0600 (never briefly readable by others) and swapped in atomically."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(contexts.as_json(), handle, indent=2)
            handle.write("\n")
        os.chmod(temporary, FILE_MODE)  # O_CREAT's mode does not apply to a file left over
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def masked(token: str | None) -> str:
    """A token as it may be shown: its first characters only."""
    if not token:
        return "-"
    return token[:9] + "…" if len(token) > 12 else "***"
