"""The runtime control API (``/_mock/...``): break an upstream and repair it."""

from typing import Any

import orjson
from aiohttp import web

from switchboard.mock.faults import FaultSpecError, parse_faults
from switchboard.mock.pipeline import STATE
from switchboard.mock.state import ANY_MODEL


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def get_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return _json({model: spec.to_dict() for model, spec in sorted(state.faults.items())})


async def set_faults(request: web.Request) -> web.Response:
    """Body ``{"model": "name" | "*", <fault fields>}`` replaces that model's faults."""
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        return _json({"error": f"body is not JSON: {exc}"}, 400)
    if not isinstance(body, dict):
        return _json({"error": "body must be a JSON object"}, 400)
    model = str(body.pop("model", ANY_MODEL))
    try:
        spec = parse_faults(body)
    except FaultSpecError as exc:
        return _json({"error": str(exc)}, 400)
    request.app[STATE].faults[model] = spec
    return _json({"model": model, "faults": spec.to_dict()})


async def clear_faults(request: web.Request) -> web.Response:
    """``?model=name`` clears one model's faults; without it, all of them."""
    state = request.app[STATE]
    model = request.query.get("model")
    if model is None:
        state.faults.clear()
    else:
        state.faults.pop(model, None)
    return _json({"cleared": model or "all"})


async def get_stats(request: web.Request) -> web.Response:
    return _json(request.app[STATE].snapshot())


async def reset_stats(request: web.Request) -> web.Response:
    request.app[STATE].reset_stats()
    return _json({"reset": True})


async def get_requests(request: web.Request) -> web.Response:
    """The most recent request bodies (``?model=`` filters), for asserting what upstream received."""
    model = request.query.get("model")
    recent = [r for r in request.app[STATE].recent if model is None or r["model"] == model]
    return _json(recent)


async def health(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


def add_control_routes(app: web.Application) -> None:
    app.router.add_get("/_mock/health", health)
    app.router.add_get("/_mock/faults", get_faults)
    app.router.add_post("/_mock/faults", set_faults)
    app.router.add_delete("/_mock/faults", clear_faults)
    app.router.add_get("/_mock/stats", get_stats)
    app.router.add_delete("/_mock/stats", reset_stats)
    app.router.add_get("/_mock/requests", get_requests)
