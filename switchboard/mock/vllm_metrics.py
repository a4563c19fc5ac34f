"""vLLM-style Prometheus metrics on ``GET /metrics``, with values a test sets.

``vllm:num_requests_running`` is the mock's real count of API calls in flight;
``vllm:num_requests_waiting`` and ``vllm:kv_cache_usage_perc`` (and its older
name ``vllm:gpu_cache_usage_perc``) are whatever ``POST /_mock/metrics`` last set,
so a test can make one endpoint look queued or its KV cache full.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from aiohttp import web


@dataclass(slots=True)
class EngineLoad:
    running: int = 0
    waiting: float = 0.0
    kv_cache_usage: float = 0.0


LOAD = web.AppKey("switchboard_mock_load", EngineLoad)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def count_running(request: web.Request, handler: Handler) -> web.StreamResponse:
    """API calls (not control or metrics requests) count as running while they are served."""
    if request.path.startswith("/_mock") or request.path == "/metrics":
        return await handler(request)
    load = request.app[LOAD]
    load.running += 1
    try:
        return await handler(request)
    finally:
        load.running -= 1


async def metrics(request: web.Request) -> web.Response:
    load = request.app[LOAD]
    model = 'model_name="mock-model"'
    lines = [
        "# HELP vllm:num_requests_running Number of requests currently running on GPU.",
        "# TYPE vllm:num_requests_running gauge",
        f"vllm:num_requests_running{{{model}}} {load.running}",
        "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
        "# TYPE vllm:num_requests_waiting gauge",
        f"vllm:num_requests_waiting{{{model}}} {load.waiting}",
        "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.",
        "# TYPE vllm:kv_cache_usage_perc gauge",
        f"vllm:kv_cache_usage_perc{{{model}}} {load.kv_cache_usage}",
        "# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage (older name).",
        "# TYPE vllm:gpu_cache_usage_perc gauge",
        f"vllm:gpu_cache_usage_perc{{{model}}} {load.kv_cache_usage}",
    ]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")


async def set_metrics(request: web.Request) -> web.Response:
    """Body ``{"waiting": n, "kvCacheUsage": 0.0-1.0}``; either may be left out."""
    try:
        body = orjson.loads(await request.read())
        waiting = float(body.get("waiting", request.app[LOAD].waiting))
        usage = float(body.get("kvCacheUsage", request.app[LOAD].kv_cache_usage))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
        return web.json_response({"error": f"expected {{waiting, kvCacheUsage}} numbers: {exc}"}, status=400)
    if waiting < 0 or not 0 <= usage <= 1:
        return web.json_response({"error": "waiting must be >= 0 and kvCacheUsage within 0-1"}, status=400)
    load = request.app[LOAD]
    load.waiting, load.kv_cache_usage = waiting, usage
    return web.json_response({"waiting": waiting, "kvCacheUsage": usage, "running": load.running})


def add_metrics_routes(app: web.Application) -> None:
    app[LOAD] = EngineLoad()
    app.middlewares.append(count_running)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/_mock/metrics", set_metrics)
