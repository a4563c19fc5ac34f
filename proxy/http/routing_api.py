"""The router's introspection endpoints: explain, latency, estimate-cost."""

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from switchboard.proxy.errors import invalid_param
from switchboard.proxy.http.common import no_route_error, read_body, ready_runtime, within_grants
from switchboard.proxy.http.routing_input import route_request
from switchboard.proxy.routing.router import Router
from switchboard.proxy.routing.types import Endpoint, NoRoute, RouteRequest
from switchboard.proxy.validation import decode_json_object


def to_jsonable(value: Any) -> Any:
    """Engine reports may be pydantic models, dataclasses or plain mappings."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
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


async def _route_from_body(request: web.Request) -> RouteRequest:
    body = decode_json_object(await read_body(request))
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise invalid_param("model", "'model' is required and must be a non-empty string", code="missing_required")
    endpoint: Endpoint = "embeddings" if "input" in body and "messages" not in body else "chat"
    return within_grants(request, route_request(body, request.headers, endpoint))


async def explain(request: web.Request) -> web.Response:
    return await _report_on_route(request, lambda router, route: router.explain(route))


async def latency(request: web.Request) -> web.Response:
    return _json(ready_runtime(request).router.latency_report())


async def estimate_cost(request: web.Request) -> web.Response:
    return await _report_on_route(request, lambda router, route: router.estimate_cost(route))


async def _report_on_route(request: web.Request, report: Callable[[Router, RouteRequest], Any]) -> web.Response:
    """A router report about the route of the request in the body; routing failures answer as chat's do."""
    router = ready_runtime(request).router
    route = await _route_from_body(request)
    try:
        return _json(report(router, route))
    except NoRoute as e:
        raise no_route_error(e) from None
