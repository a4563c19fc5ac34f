"""GET /v1/models, /healthz, /readyz, /metrics."""

import os
import time

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from switchboard.proxy.errors import ApiError
from switchboard.proxy.http.app_keys import RUNTIME, SOURCE, STARTED_AT, STATE


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


def _visible_models(request: web.Request) -> list[str]:
    """Public model names of the profiles this client may use (all of them without client auth)."""
    runtime = request.app[RUNTIME]
    if not runtime.ready:
        raise ApiError(503, f"proxy not ready: {runtime.not_ready_reason}", code="not_ready")
    client = request[STATE].client
    profiles = runtime.snapshot.config.profiles
    return sorted({m for p in profiles if client is None or client.may_use(p.key) for m in p.models})


def _model(request: web.Request, name: str) -> dict[str, object]:
    created = int(request.app.get(STARTED_AT, time.time()))
    return {"id": name, "object": "model", "created": created, "owned_by": "switchboard"}


async def list_models(request: web.Request) -> web.Response:
    return _json({"object": "list", "data": [_model(request, name) for name in _visible_models(request)]})


async def get_model(request: web.Request) -> web.Response:
    """``GET /v1/models/{id}``: the model if this client may use a profile that serves it, else 404."""
    name = request.match_info["model"]
    if name not in _visible_models(request):
        raise ApiError(404, f"model {name!r} is not served here", code="model_not_found", param="model")
    return _json(_model(request, name))


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the event loop answers."""
    return _json({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 only once a valid config is loaded, else 503 with the reason."""
    runtime = request.app[RUNTIME]
    if not runtime.ready:
        return _json({"status": "not ready", "reason": runtime.not_ready_reason}, status=503)
    snap = runtime.snapshot
    body = {"status": "ready", "configVersion": snap.version, "models": snap.config.served_models(), "pid": os.getpid()}
    if SOURCE in request.app:  # cluster mode stays ready without the API server, and says so here
        body["source"] = dict(request.app[SOURCE].status())
    return _json(body)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition: this process's metrics, or under ``--workers`` the sum over all workers."""
    registry = request.app[RUNTIME].metrics.exposition
    response = web.Response(body=generate_latest(registry))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response
