"""GET /v1/models, /healthz, /readyz, /metrics."""

import os
import time

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from switchboard.proxy.errors import ApiError
from switchboard.proxy.http.keys import RUNTIME, SOURCE, STARTED_AT


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


async def list_models(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    if not runtime.ready:
        raise ApiError(503, f"proxy not ready: {runtime.not_ready_reason}", code="not_ready")
    created = int(request.app.get(STARTED_AT, time.time()))
    names = runtime.snapshot.config.served_models()
    models = [{"id": name, "object": "model", "created": created, "owned_by": "switchboard"} for name in names]
    return _json({"object": "list", "data": models})


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
