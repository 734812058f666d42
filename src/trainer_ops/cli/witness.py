"""`trainer-ops audit witness`: an outside witness of the audit log, holding only the log's public key.

It fetches the newest signed checkpoint over HTTP, checks its signature, and checks that it extends the
checkpoint it saw last (RFC 9162 consistency proof) before keeping it (ADR 0030). A thin client: httpx and
the pure note and Merkle code; never the server's store, settings or keys.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from trainer_ops.audit.checkpoint import (
    ORIGIN,
    Checkpoint,
    CheckpointError,
    parse_and_verify,
    parse_public_key,
)
from trainer_ops.audit.merkle import verify_consistency

AUDIT = "/operator/ops/audit"
OK, ALARM, USAGE, UNREACHABLE = 0, 1, 2, 3


@dataclass
class Outcome:
    """What one run found. `code` is the exit code: 0 consistent, 1 the log cannot be trusted (page
    someone), 2 the witness is misconfigured, 3 the server could not be asked."""

    code: int
    status: str
    message: str
    witnessed: Checkpoint | None = None
    newest: Checkpoint | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "witnessed": _summary(self.witnessed),
            "newest": _summary(self.newest),
        }


class Stop(Exception):
    """Ends a run early with its outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def _summary(checkpoint: Checkpoint | None) -> dict[str, Any] | None:
    if checkpoint is None:
        return None
    return {"size": checkpoint.size, "rootHash": checkpoint.root.hex(), "time": _time(checkpoint)}


def _time(checkpoint: Checkpoint) -> str:
    return datetime.fromtimestamp(checkpoint.ts_ms / 1000, UTC).isoformat(timespec="seconds")


def describe(checkpoint: Checkpoint) -> str:
    return f"size {checkpoint.size}, root {checkpoint.root.hex()}, signed {_time(checkpoint)}"


def load_keys(values: Sequence[str]) -> list[Ed25519PublicKey]:
    """Verifier keys (`trainer-ops/audit+<keyid>+<base64>`), each given as text or as a file holding one
    per line. Raises CheckpointError or OSError naming what is wrong."""
    keys: list[Ed25519PublicKey] = []
    for value in values:
        texts = [value] if value.startswith(f"{ORIGIN}+") else Path(value).read_text().split()
        keys.extend(parse_public_key(text) for text in texts)
    if not keys:
        raise CheckpointError("no verifier key given")
    return keys


class Witness:
    """One witness run against one server, with the keys it trusts and the file it keeps its state in."""

    def __init__(self, client: httpx.Client, keys: Sequence[Ed25519PublicKey], state: Path) -> None:
        self._client = client
        self._keys = list(keys)
        self._state = state

    def run(self) -> Outcome:
        try:
            witnessed = self._witnessed()
            newest = self._newest(witnessed)
            outcome = self._compare(witnessed, newest)
        except Stop as stop:
            return stop.outcome
        if outcome.code == OK and (witnessed is None or newest.note != witnessed.note):
            self._keep(newest)  # only a consistent checkpoint replaces the one held
        return outcome

    def _verify(self, note: str) -> Checkpoint:
        return parse_and_verify(note, self._keys[0], also=self._keys[1:])

    def _witnessed(self) -> Checkpoint | None:
        if not self._state.exists():
            return None
        try:
            note = json.loads(self._state.read_text())["checkpoint"]
            return self._verify(note)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise Stop(
                Outcome(USAGE, "bad_state", f"cannot use the state file {self._state}: {exc}")
            ) from None

    def _newest(self, witnessed: Checkpoint | None) -> Checkpoint:
        response = self._get(f"{AUDIT}/checkpoint")
        if response.status_code == 404 and witnessed is not None:
            raise Stop(
                Outcome(
                    ALARM,
                    "vanished",
                    "the server has no signed checkpoint any more, but this witness holds one "
                    f"({describe(witnessed)}): the store was replaced or rolled back",
                    witnessed,
                )
            )
        if response.status_code == 404:
            raise Stop(Outcome(OK, "no_checkpoint", "the server has signed no checkpoint yet; nothing kept"))
        body = self._body(response, witnessed)
        try:
            return self._verify(str(body["note"]))
        except (CheckpointError, KeyError) as exc:
            raise Stop(
                Outcome(
                    ALARM,
                    "bad_signature",
                    f"the server's newest checkpoint does not verify: {exc}",
                    witnessed,
                )
            ) from None

    def _compare(self, witnessed: Checkpoint | None, newest: Checkpoint) -> Outcome:
        if witnessed is None:
            return Outcome(OK, "pinned", f"first checkpoint kept: {describe(newest)}", None, newest)
        if newest.size < witnessed.size:
            return _alarm("truncated", "the log is shorter than this witness saw it", witnessed, newest)
        if newest.size == witnessed.size:
            if (newest.root, newest.chain) != (witnessed.root, witnessed.chain):
                return _alarm("forked", "two different trees of the same size are signed", witnessed, newest)
            return Outcome(OK, "unchanged", f"no new entries: {describe(newest)}", witnessed, newest)
        params = {"first": witnessed.size, "second": newest.size}
        response = self._get(f"{AUDIT}/consistency", params=params)
        body = self._body(response, witnessed, newest)
        try:
            proof = [bytes.fromhex(node) for node in body["proof"]]
        except (KeyError, TypeError, ValueError):
            return _alarm("rewritten", "the server's consistency proof is malformed", witnessed, newest)
        if not verify_consistency(witnessed.size, newest.size, witnessed.root, newest.root, proof):
            return _alarm(
                "rewritten",
                "the newest tree does not extend the witnessed one (no valid proof)",
                witnessed,
                newest,
            )
        return Outcome(OK, "consistent", f"the log only grew: {describe(newest)}", witnessed, newest)

    def _get(self, path: str, params: dict[str, int] | None = None) -> httpx.Response:
        try:
            return self._client.get(path, params=params)
        except httpx.TransportError as exc:
            raise Stop(
                Outcome(UNREACHABLE, "unreachable", f"cannot reach {self._client.base_url}: {exc}")
            ) from None

    def _body(
        self, response: httpx.Response, witnessed: Checkpoint | None, newest: Checkpoint | None = None
    ) -> dict[str, Any]:
        """The JSON of a 200 answer; any other answer ends the run with what it means for a witness."""
        detail = _detail(response)
        status = response.status_code
        if status == 200:
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                return body
            raise Stop(Outcome(UNREACHABLE, "bad_answer", f"{response.url} did not answer JSON"))
        if status in (401, 403):
            raise Stop(Outcome(USAGE, "refused", f"the server refused the token ({status}): {detail}"))
        if status == 409 or (status == 422 and witnessed is not None):
            # The server itself finds its log broken (409 audit.tampered), or cannot prove a size it
            # signed (422: the log is now shorter than its newest checkpoint).
            what = f"the server cannot vouch for its own log ({status}: {detail})"
            if witnessed is None:
                raise Stop(Outcome(ALARM, "tampered", f"audit log TAMPERED: {what}"))
            raise Stop(_alarm("tampered", what, witnessed, newest))
        raise Stop(Outcome(UNREACHABLE, "unavailable", f"{response.url} answered {status}: {detail}"))

    def _keep(self, checkpoint: Checkpoint) -> None:
        """Replace the state file atomically: a crash leaves the old checkpoint or the new one, never half."""
        state = {
            "server": str(self._client.base_url),
            "checkpoint": checkpoint.note,
            **(_summary(checkpoint) or {}),
            "witnessedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        directory = self._state.parent
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{self._state.name}.", dir=directory)
        try:
            with os.fdopen(handle, "w") as file:
                json.dump(state, file, indent=2)
                file.write("\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self._state)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _alarm(status: str, what: str, witnessed: Checkpoint, newest: Checkpoint | None) -> Outcome:
    seen = f"witnessed: {describe(witnessed)}"
    now = f"; server's newest: {describe(newest)}" if newest is not None else ""
    return Outcome(ALARM, status, f"audit log {status.upper()}: {what} ({seen}{now})", witnessed, newest)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:200]


def witness(
    server: Annotated[str, typer.Option(envvar="TRAINER_OPS_SERVER", help="the server's base URL")],
    key: Annotated[
        list[str],
        typer.Option(
            help="the log's verifier key (trainer-ops/audit+…) or a file of them; repeat for retired keys"
        ),
    ],
    state: Annotated[Path, typer.Option(help="where this witness keeps the last checkpoint it accepted")],
    token: Annotated[
        str | None,
        typer.Option(envvar="TRAINER_OPS_TOKEN", help="a bearer token of any role (audit.witness)"),
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds per request")] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
) -> None:
    """Witness the audit log from another machine, with its public key only. Exit 0 when the newest
    signed checkpoint extends the one kept in STATE (then kept instead), 1 when the log was rewritten,
    truncated or forked or a signature does not verify (page whoever owns the audit log), 2 when the
    witness is misconfigured (key, state file, token), 3 when the server cannot be reached."""
    try:
        keys = load_keys(key)
    except (CheckpointError, OSError) as exc:
        outcome = Outcome(USAGE, "bad_key", f"cannot use --key: {exc}")
    else:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(base_url=server, headers=headers, timeout=timeout) as client:
            outcome = Witness(client, keys, state).run()
    report(outcome, as_json)
    raise typer.Exit(outcome.code)


def report(outcome: Outcome, as_json: bool) -> None:
    if as_json:
        print(json.dumps(outcome.as_json()))
    elif outcome.code == OK:
        print(f"ok ({outcome.status}): {outcome.message}")
    else:
        typer.echo(f"{outcome.status}: {outcome.message}", err=True)
