"""PATCH /operator/ops/features/{key} (a toggle of the global default) answered without FastAPI's
routing and dependency injection (ADR 0031, addendum).

Issue #14 asks a toggle to cost half the CPU it did; after the store work of ADR 0031 the largest part
left was FastAPI's request machinery (~1,000 Python calls a request). For the plain case only:

- no query string at all (`?place=`, `?region=`, `applyAt` are the route's), no `X-Envelope` and no
  emergency-bypass header;
- a known feature;
- a caller already in the token cache whom the policy allows `features.update` here with the full view
  (the same `decide` the route makes, with the same attributes) and asks no approvals of;

this runs the very same steps as the route (features/routes.py `patch_feature`): the JSON body checks
(`parse_json` with `FeatureUpdate`), `If-Match`, `FeaturesService.update_async`, and the answer of
`FeaturesService.detail` with its ETag, and answers problems the same way (`send_problem`). Anything
else goes on to the route, before the body is read: an unknown token (401), a denial (403, which must
be audited), a place, approvals or a schedule (202). tests/contract/test_fast_toggle.py checks that
both paths answer alike and that each of those cases reaches the route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from trainer_ops.access.service import Authenticator
from trainer_ops.access.types import Policy, Principal
from trainer_ops.errors import TrainerOpsError
from trainer_ops.features.schemas import FeatureUpdate
from trainer_ops.features.service import FeaturesService
from trainer_ops.http.accesslog import CALLER
from trainer_ops.http.asgi import read_body, send_problem
from trainer_ops.http.body import check_json_type, parse_json
from trainer_ops.http.etag import parse_if_match
from trainer_ops.http.governance import BYPASS_HEADER
from trainer_ops.http.responses import versioned_json

PREFIX = "/operator/ops/features/"
OPERATION = "features.update"
# Headers that change what the route does: an envelope, an emergency bypass.
_ROUTED_HEADERS = frozenset({b"x-envelope", BYPASS_HEADER.lower().encode()})


@dataclass(frozen=True)
class _Route:
    """What the edge middleware labels the request's metrics and access log with, as the route would."""

    path: str = PREFIX + "{featureKey}"


ROUTE = _Route()


class FastToggle:
    def __init__(
        self,
        app: ASGIApp,
        *,
        features: FeaturesService,
        authenticator: Authenticator,
        policy: Callable[[], Policy],
    ) -> None:
        self.app = app
        self._features = features
        self._auth = authenticator
        self._policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _plain_toggle(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        authorization = if_match = None
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"if-match":
                if_match = value.decode("latin-1")
            elif name in _ROUTED_HEADERS:
                await self.app(scope, receive, send)
                return
        who = self._allowed(authorization, key)
        if who is None:
            await self.app(scope, receive, send)  # the route answers 401, audits a 403, or governs
            return
        scope["route"] = ROUTE
        state = scope.setdefault("state", {})
        state[CALLER] = who.user_id
        request_id = str(state.get("request_id", ""))
        try:
            check_json_type(content_type)
            update = parse_json(await read_body(receive), FeatureUpdate)
            changes = {name: getattr(update, name) for name in update.model_fields_set}
            written = await self._features.update_async(
                principal=who,
                key=key,
                place=None,
                changes=changes,
                if_match=parse_if_match(if_match),
                request_id=request_id,
            )
            view, _ = self._features.detail(key, place=None, all_overrides=True)
        except TrainerOpsError as error:
            await send_problem(send, error, instance=scope["path"], request_id=request_id, state=state)
            return
        await versioned_json(view, written.version)(scope, receive, send)

    def _allowed(self, authorization: str | None, key: str) -> Principal | None:
        """The caller, when the route would let it change `key`'s global default at once: the same
        decision as `features.places.authorized` with no place, the full view (so no place of its own
        is put in), and no approvals."""
        who = self._auth.from_cache(authorization)
        if who is None or key not in self._features.current().document["features"]:
            return None  # an unknown key is the route's 404, after its authorization
        policy = self._policy()
        overridable = self._features.is_region_overridable(key)
        decision = policy.decide(who, OPERATION, region=None, scope=None, overridable=overridable)
        if not decision.allowed or decision.view != "full" or policy.approvals_for(who, OPERATION):
            return None
        return who


def _plain_toggle(scope: Scope) -> str | None:
    """The feature key of `PATCH /operator/ops/features/{key}` with no query, else None."""
    if scope["type"] != "http" or scope["method"] != "PATCH" or scope["query_string"]:
        return None
    path: str = scope["path"]
    if not path.startswith(PREFIX):
        return None
    key = path[len(PREFIX) :]
    return key if key and "/" not in key else None
