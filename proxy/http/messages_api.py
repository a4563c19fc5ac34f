"""POST /v1/messages and /v1/messages/count_tokens (Anthropic Messages API).

The request goes natively to ``anthropic`` upstreams (cache_control, thinking,
safe betas kept) and translated to chat for every other one. Errors leave in
Anthropic's body (see ``switchboard.proxy.errors.anthropic_error_body``) so the ``anthropic`` SDK raises its
own exception classes.
"""

from typing import Any

import orjson
from aiohttp import web

from switchboard.proxy.apis import messages_request
from switchboard.proxy.apis.codec import count_tokens_codec, messages_codec, natively_messages
from switchboard.proxy.errors import invalid_param
from switchboard.proxy.http.common import read_request_body
from switchboard.proxy.http.routing_input import messages_route
from switchboard.proxy.http.serve import Capability, serve, translated
from switchboard.proxy.validation import decode_json_object

TOKEN_COUNT_HEADER = "x-switchboard-token-count"


def _common(body: dict[str, Any]) -> None:
    messages_request.require_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_param("messages", "messages: a non-empty array of messages is required")


async def create_message(request: web.Request) -> web.StreamResponse:
    body = decode_json_object(await read_request_body(request))
    _common(body)
    messages_request.max_tokens(body)  # required by the API, whatever the upstream
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid_param("stream", "stream: Input should be a valid boolean")
    chat, capability = translated(messages_request.chat_body, body, natively_messages)
    codec = messages_codec(body, chat, request.headers, stream=stream)
    route = messages_route(body, request.headers)
    return await serve(
        request,
        route,
        codec,
        stream=stream,
        capability=capability,
        prompt=body if chat is None else chat,
    )


async def count_tokens(request: web.Request) -> web.StreamResponse:
    """Counted by an Anthropic upstream of the model when the plan has one, else estimated here.

    Other upstreams have no token-counting endpoint; the estimate (the router's
    own, about four characters a token) is marked ``x-switchboard-token-count: estimated``.
    """
    body = decode_json_object(await read_request_body(request))
    _common(body)
    route = messages_route(body, request.headers)

    def estimate() -> web.StreamResponse:
        payload = orjson.dumps({"input_tokens": route.prompt_tokens})
        headers = {TOKEN_COUNT_HEADER: "estimated"}
        return web.Response(body=payload, content_type="application/json", headers=headers)

    codec = count_tokens_codec(body, request.headers)
    capability = Capability(natively_messages, estimate)
    return await serve(request, route, codec, stream=False, capability=capability, prompt=body)
