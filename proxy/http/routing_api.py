"""The router's introspection endpoints: explain, latency, estimate-cost."""

import dataclasses
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from switchboard.api.config import ProxyConfig
from switchboard.proxy.adapters.base import AdapterRequestError
from switchboard.proxy.adapters.wire import require_messages
from switchboard.proxy.apis.codec import CodecFactory, chat_codec, embeddings_codec, refusing
from switchboard.proxy.auth import require_profile
from switchboard.proxy.errors import invalid_param
from switchboard.proxy.fleet.explain import with_fleet_state
from switchboard.proxy.http.app_keys import STATE
from switchboard.proxy.http.common import no_route_error, read_request_body, ready_runtime, within_grants
from switchboard.proxy.http.routing_input import api_route
from switchboard.proxy.routing.decision import Explanation, RankedCandidate
from switchboard.proxy.routing.exclusion import Exclusion, ExclusionKind
from switchboard.proxy.routing.router import Router
from switchboard.proxy.routing.types import NoRoute, RouteRequest
from switchboard.proxy.upstream.exchange import (
    AnyPrepare,
    codec_preparer,
    unsupported_reason,
)
from switchboard.proxy.validation import decode_json_object


def to_jsonable(value: Any) -> Any:
    """Engine reports may be pydantic models, dataclasses or plain mappings."""
    if isinstance(value, Exclusion):  # the documented explain format: provider -> reason text
        return value.reason
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def _json(data: Any) -> web.Response:
    payload = to_jsonable(data)
    if isinstance(payload, list):
        payload = {"object": "list", "data": payload}
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


APIS = ("chat", "responses", "messages", "embeddings")


async def _route_from_body(request: web.Request) -> tuple[dict[str, Any], str, RouteRequest]:
    """The body, its API and its route; ``?api=responses|messages|chat|embeddings`` says which API's body it is
    (default: embeddings for an ``input`` without ``messages``, else chat)."""
    body = decode_json_object(await read_request_body(request))
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise invalid_param("model", "'model' is required and must be a non-empty string", code="missing_required")
    api = request.query.get("api") or ("embeddings" if "input" in body and "messages" not in body else "chat")
    if api not in APIS:
        raise invalid_param("api", f"query parameter 'api' must be one of {', '.join(APIS)}")
    return body, api, within_grants(request[STATE].client, api_route(api, body, request.headers))


async def explain(request: web.Request) -> web.Response:
    """The router's explanation, with the providers that cannot express this very request excluded too."""
    runtime = ready_runtime(request[STATE].runtime)
    body, api, route = await _route_from_body(request)
    _require_route_profile(request, runtime.router, route)
    try:
        explanation = runtime.router.explain(route)
    except NoRoute as e:
        raise no_route_error(e) from None
    snap = runtime.snapshot
    explanation = await with_fleet_state(request, explanation, route, snap.config)
    prepare: AnyPrepare
    if route.endpoint == "embeddings":
        prepare = codec_preparer(snap, embeddings_codec(body, str(body["model"])), body)
    elif api == "chat" and "messages" in body:
        make: CodecFactory
        try:
            require_messages(body)  # checked once here, as the chat endpoint's validation does
        except AdapterRequestError as error:
            make = refusing(error)
        else:
            make = chat_codec(body, stream=route.stream)
        prepare = codec_preparer(snap, make, body)
    else:  # a routing question without a request to express: nothing more to exclude
        return _json(explanation)
    return _json(without_unsupported(explanation, snap.config, prepare))


def without_unsupported(explanation: Explanation, config: ProxyConfig, prepare: AnyPrepare) -> Explanation:
    """``explanation`` with every candidate whose provider cannot express the request moved to ``excluded``."""
    providers = {p.key: p for p in config.providers}
    excluded = dict(explanation.excluded)

    def capable(candidate: RankedCandidate) -> bool:
        provider = providers.get(candidate.provider)
        model = next((m for m in provider.models if m.name == candidate.model), None) if provider else None
        if provider is None or model is None:
            return True
        reason = unsupported_reason(prepare, provider, model)
        if reason is not None:
            excluded.setdefault(candidate.provider, Exclusion(ExclusionKind.CANNOT_EXPRESS, reason))
        return reason is None

    ranked = tuple(c for c in explanation.ranked if capable(c))
    fallbacks = tuple(c for c in explanation.fallbacks if capable(c))
    return dataclasses.replace(explanation, ranked=ranked, fallbacks=fallbacks, excluded=excluded)


async def latency(request: web.Request) -> web.Response:
    """Latency rows of the (provider, model) pairs this client's profiles route to (all without client auth)."""
    client = request[STATE].client
    return _json(
        ready_runtime(request[STATE].runtime).router.latency_report(client.may_use if client is not None else None)
    )


def _require_route_profile(request: web.Request, router: Router, route: RouteRequest) -> None:
    """A 403 when client auth is on and the request would route to a profile the key may not use."""
    profile = router.profile_of(route)
    if profile is not None:
        require_profile(request[STATE].client, profile.key)


async def estimate_cost(request: web.Request) -> web.Response:
    router = ready_runtime(request[STATE].runtime).router
    _, _, route = await _route_from_body(request)
    _require_route_profile(request, router, route)
    try:
        return _json(router.estimate_cost(route))
    except NoRoute as e:
        raise no_route_error(e) from None
