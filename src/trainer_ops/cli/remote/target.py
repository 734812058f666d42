"""Which server a remote command talks to, and with which token: flags, then environment, then context."""

from __future__ import annotations

import os
from dataclasses import dataclass

from trainer_ops.cli.remote.contexts import ConfigProblem, config_path, load

SERVER_ENV = "TRAINER_OPS_SERVER"
TOKEN_ENV = "TRAINER_OPS_TOKEN"  # noqa: S105  (the variable's name, not a token)
CONTEXT_ENV = "TRAINER_OPS_CONTEXT"


@dataclass(frozen=True)
class Flags:
    """The root command's connection options (`trainer-ops --server URL --context NAME ...`)."""

    server: str | None = None
    context: str | None = None


@dataclass(frozen=True)
class Target:
    server: str
    token: str | None
    context: str | None


class NoTarget(Exception):
    """A usage error: the context named does not exist."""


def resolve(flags: Flags | None) -> Target | None:
    """None when no server is configured at all (then governance commands work on the local store).

    The server: `--server`, else TRAINER_OPS_SERVER, else the context's (`--context`, else
    TRAINER_OPS_CONTEXT, else the current one). The token: TRAINER_OPS_TOKEN, else the context's, and the
    context's only when talking to the context's own server: a token never goes to a server it was not
    stored for."""
    flags = flags or Flags()
    env = os.environ
    path = config_path()
    stored = load(path)
    name = flags.context or env.get(CONTEXT_ENV) or stored.current
    context = stored.contexts.get(name) if name else None
    if name and context is None and (flags.context or env.get(CONTEXT_ENV)):
        known = ", ".join(sorted(stored.contexts)) or "none yet; `trainer-ops context set` adds one"
        raise NoTarget(f"no context {name!r} in {path} (known: {known})")
    server = flags.server or env.get(SERVER_ENV) or (context.server if context else None)
    if not server:
        return None
    token = env.get(TOKEN_ENV) or None
    if token is None and context is not None and context.token and _same(context.server, server):
        if stored.too_open:
            raise ConfigProblem(stored.too_open)
        token = context.token
    return Target(server=server.rstrip("/"), token=token, context=context.name if context else None)


def _same(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")
