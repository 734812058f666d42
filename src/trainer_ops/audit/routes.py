"""Audit endpoints: the query (spec section 7), signed checkpoints, inclusion and consistency proofs,
verification. Routes sit on top of the HTTP edge like every domain's."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.access.types import Principal
from trainer_ops.audit.checkpoint import Checkpoint
from trainer_ops.audit.checkpoints import CheckpointService
from trainer_ops.audit.service import AuditQuery
from trainer_ops.errors import Invalid, NotFound
from trainer_ops.http import openapi
from trainer_ops.http.context import edge_of
from trainer_ops.http.guard import authorize, principal
from trainer_ops.http.responses import json_response

router = APIRouter(prefix="/operator/ops", tags=["audit"])
MAX_EPOCH_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z


class AuditPageRead(BaseModel):
    items: list[dict[str, object]]
    nextCursor: str | None


def parse_time_ms(value: str | None, field: str) -> int | None:
    """Epoch seconds (as the contract writes times) or ISO-8601; naive ISO times are UTC."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not 0 <= seconds <= MAX_EPOCH_SECONDS:  # also refuses nan and inf
            raise Invalid(
                "audit.bad_time",
                f"{field} must be between 0 and {MAX_EPOCH_SECONDS} epoch seconds",
                errors=[{"field": field, "message": "out of range"}],
            )
        return int(seconds * 1000)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(
            "audit.bad_time",
            f"{field} must be epoch seconds or ISO-8601, got {value!r}",
            errors=[{"field": field, "message": "epoch seconds or ISO-8601"}],
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@router.get("/audit", responses={200: {"model": AuditPageRead}})
async def query_audit(
    request: Request,
    who: Principal = Depends(principal),
    userId: str | None = Query(None, description="only entries by this user"),
    action: str | None = Query(
        None, description="predict|publish|reload|update_config|access_denied|..., or a comma list"
    ),
    from_: str | None = Query(None, alias="from", description="epoch seconds or ISO-8601, inclusive"),
    to: str | None = Query(None, description="epoch seconds or ISO-8601, inclusive"),
    limit: int = Query(50, description="page size, 1 to 500"),
    cursor: str | None = Query(None, description="nextCursor of the previous page"),
) -> Response:
    """The audit log, newest first. Each entry has Step 1's fields (actor, action, targetId, scope,
    timestamp, details) and ours (seq, before, after, outcome, requestId, prevHash, hash)."""
    await authorize(request, who, "audit.read")
    if userId is not None and (len(userId) > 128 or not userId.isprintable()):
        raise Invalid(
            "audit.bad_user",
            "userId must be printable text of at most 128 characters",
            errors=[{"field": "userId", "message": "printable, at most 128 characters"}],
        )
    query = AuditQuery(
        user_id=userId or None,
        # A comma list, or the spec's own notation (predict|publish).
        actions=tuple(a.strip() for a in action.replace("|", ",").split(",") if a.strip()) if action else (),
        from_ms=parse_time_ms(from_, "from"),
        to_ms=parse_time_ms(to, "to"),
        cursor=cursor or None,
        limit=limit,
    )
    edge = edge_of(request)

    def run() -> dict[str, object]:
        with edge.database.read() as session:
            page = edge.audit.query(session, query)
        return {"items": page.items, "nextCursor": page.next_cursor}

    return json_response(await run_in_threadpool(run))


def _checkpoints(request: Request) -> CheckpointService:
    service: CheckpointService = request.app.state.checkpoints
    return service


def _checkpoint_json(service: CheckpointService, checkpoint: Checkpoint) -> dict[str, object]:
    return {
        "size": checkpoint.size,
        "rootHash": checkpoint.root.hex(),
        "chainHash": checkpoint.chain,
        "timestamp": checkpoint.ts_ms // 1000,
        "note": checkpoint.note,
        "verifierKey": service.verifier_key,
        "keyId": service.key_id,
    }


@router.get("/audit/checkpoint", responses=openapi.problems(e404="No checkpoint yet"))
async def get_checkpoint(request: Request, who: Principal = Depends(principal)) -> Response:
    """The latest signed checkpoint (tree size, RFC 9162 Merkle root, chain head, Ed25519 signed note),
    for an outside witness to keep, with the verifier key that signs it (`verifierKey`, `keyId`: pin it
    from a trusted channel, not from this answer). Readable by every role (policy operation
    `audit.witness`): it reveals no entry. 404 while none has been made."""
    await authorize(request, who, "audit.witness")
    service = _checkpoints(request)
    checkpoint = await run_in_threadpool(service.latest)
    if checkpoint is None:
        raise NotFound(
            "audit.no_checkpoint", "no checkpoint yet; POST /operator/ops/audit/checkpoint makes one"
        )
    return json_response(_checkpoint_json(service, checkpoint))


@router.get("/audit/checkpoints")
async def list_checkpoints(
    request: Request,
    who: Principal = Depends(principal),
    limit: int = Query(20, ge=1, le=100, description="how many, newest first (1 to 100)"),
) -> Response:
    """The newest signed checkpoints, newest first, each as `GET .../audit/checkpoint` answers it
    (policy operation `audit.witness`)."""
    await authorize(request, who, "audit.witness")
    service = _checkpoints(request)
    checkpoints = await run_in_threadpool(service.recent, limit)
    return json_response({"items": [_checkpoint_json(service, c) for c in checkpoints]})


@router.get(
    "/audit/consistency",
    responses=openapi.problems(e409="Entries below `second` are missing: the log does not verify"),
)
async def get_consistency(
    request: Request,
    who: Principal = Depends(principal),
    first: int = Query(..., description="the smaller tree size, at least 1 (a witness's last checkpoint)"),
    second: int = Query(..., description="the larger tree size, at most the log's size (the newest one)"),
) -> Response:
    """An RFC 9162 consistency proof (section 2.1.4) that the tree of `second` entries extends the tree
    of `first` entries: the log only grew between two checkpoints. `proof` is the list of node hashes
    (hex); `firstRoot` and `secondRoot` are this server's own roots at both sizes, for information: a
    witness verifies the proof against the roots of the checkpoints it holds signed. 422 unless
    0 < first <= second <= size (policy operation `audit.witness`)."""
    await authorize(request, who, "audit.witness")
    proof = await run_in_threadpool(_checkpoints(request).consistency, first, second)
    return json_response(proof.as_json())


@router.post(
    "/audit/checkpoint",
    status_code=201,
    responses=openapi.problems(e409="The log does not verify; nothing was signed"),
)
async def make_checkpoint(request: Request, who: Principal = Depends(principal)) -> Response:
    """Sign a checkpoint over every entry now. The new entries are re-verified first: a log that does
    not verify is refused (409) and never signed."""
    await authorize(request, who, "audit.checkpoint")
    service = _checkpoints(request)
    checkpoint = await run_in_threadpool(service.make)
    return json_response(_checkpoint_json(service, checkpoint), status=201)


@router.get(
    "/audit/proof",
    responses=openapi.problems(e409="No signed checkpoint covers the entry yet, or the log does not verify"),
)
async def get_proof(
    request: Request,
    who: Principal = Depends(principal),
    seq: int = Query(..., description="the entry's seq"),
) -> Response:
    """An RFC 9162 inclusion proof that entry `seq` is in the latest signed checkpoint."""
    await authorize(request, who, "audit.read")
    proof = await run_in_threadpool(_checkpoints(request).proof, seq)
    return json_response(proof.as_json())


@router.get("/audit/verify")
async def verify_log(request: Request, who: Principal = Depends(principal)) -> Response:
    """Recompute the whole log (chain, MACs, Merkle root, signed checkpoints), as `trainer-ops audit
    verify` does. `status` is intact or tampered, with the first bad entry and the reason."""
    await authorize(request, who, "audit.verify")
    verdict = await run_in_threadpool(_checkpoints(request).verify)
    return json_response(verdict.as_json())
