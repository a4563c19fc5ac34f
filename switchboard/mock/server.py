"""The mock upstream application: every API family's routes on one server."""

from typing import Any

import orjson
from aiohttp import web

from switchboard.mock.anthropic_api import AnthropicDialect
from switchboard.mock.control import add_control_routes
from switchboard.mock.gemini_api import GeminiDialect
from switchboard.mock.openai_api import AzureDialect, OpenAIDialect, embeddings_body
from switchboard.mock.pipeline import STATE, handle_chat, handle_json
from switchboard.mock.state import MockOptions, MockState
from switchboard.mock.vllm_metrics import add_metrics_routes

OPENAI = OpenAIDialect()
AZURE = AzureDialect()
ANTHROPIC = AnthropicDialect()
GEMINI = GeminiDialect()


def _body_model(body: Any) -> str | None:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None


async def openai_chat(request: web.Request) -> web.StreamResponse:
    return await handle_chat(request, OPENAI)


async def openai_embeddings(request: web.Request) -> web.StreamResponse:
    return await handle_json(request, OPENAI, lambda b: embeddings_body(b, model=None), _body_model)


async def openai_models(request: web.Request) -> web.Response:
    models = request.app[STATE].options.models
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "switchboard-mock"} for m in models]
    return web.Response(body=orjson.dumps({"object": "list", "data": data}), content_type="application/json")


async def azure_chat(request: web.Request) -> web.StreamResponse:
    return await handle_chat(request, AZURE, path_model=request.match_info["deployment"])


async def azure_embeddings(request: web.Request) -> web.StreamResponse:
    deployment = request.match_info["deployment"]
    return await handle_json(request, AZURE, lambda b: embeddings_body(b, model=deployment), lambda _: deployment)


async def anthropic_messages(request: web.Request) -> web.StreamResponse:
    return await handle_chat(request, ANTHROPIC)


async def gemini_generate(request: web.Request) -> web.StreamResponse:
    return await handle_chat(request, GEMINI, path_model=request.match_info["model"])


async def gemini_stream(request: web.Request) -> web.StreamResponse:
    return await handle_chat(request, GEMINI, path_model=request.match_info["model"], stream_route=True)


async def _on_shutdown(app: web.Application) -> None:
    app[STATE].closing.set()


def make_app(options: MockOptions | None = None) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[STATE] = MockState(options or MockOptions())
    app.on_shutdown.append(_on_shutdown)
    app.router.add_post("/v1/chat/completions", openai_chat)
    app.router.add_post("/v1/embeddings", openai_embeddings)
    app.router.add_get("/v1/models", openai_models)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", azure_chat)
    app.router.add_post("/openai/deployments/{deployment}/embeddings", azure_embeddings)
    app.router.add_post("/v1/messages", anthropic_messages)
    app.router.add_post("/v1beta/models/{model:[^:/]+}:generateContent", gemini_generate)
    app.router.add_post("/v1beta/models/{model:[^:/]+}:streamGenerateContent", gemini_stream)
    add_control_routes(app)
    add_metrics_routes(app)
    return app
