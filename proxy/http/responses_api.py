"""POST /v1/responses (OpenAI Responses API), stateless.

The request goes natively to ``openai`` upstreams and translated to chat for
every other one. If it cannot be translated (a hosted tool, say), only the
native upstreams of the plan are tried. Stored-response endpoints answer a
clear 400: the gateway keeps no responses.
"""

from typing import Any

from aiohttp import web

from switchboard.proxy.apis import responses_request
from switchboard.proxy.apis.codec import natively_responses, responses_codec
from switchboard.proxy.errors import ApiError, invalid_param
from switchboard.proxy.http.common import read_request_body
from switchboard.proxy.http.routing_input import responses_route
from switchboard.proxy.http.serve import serve, translated
from switchboard.proxy.validation import decode_json_object

STATELESS = (
    "this gateway is stateless and does not store responses (store is always false); "
    "send the whole conversation in 'input' instead of referring to a stored response"
)


def _validate(body: dict[str, Any]) -> bool:
    """Checks every upstream needs; returns ``stream``."""
    responses_request.reject_stateful(body)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise ApiError(
            400, "'model' is required and must be a non-empty string", code="missing_required", param="model"
        )
    raw = body.get("input")
    if not isinstance(raw, str) and not (isinstance(raw, list) and raw):
        raise invalid_param("input", "'input' must be a string or a non-empty array of input items")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid_param("stream", "'stream' must be a boolean")
    return stream


async def create_response(request: web.Request) -> web.StreamResponse:
    body = decode_json_object(await read_request_body(request))
    stream = _validate(body)
    chat, capability = translated(responses_request.chat_body, body, natively_responses)
    codec = responses_codec(body, chat, stream=stream)
    route = responses_route(body, request.headers)
    return await serve(
        request,
        route,
        codec,
        stream=stream,
        capability=capability,
        prompt=body if chat is None else chat,
    )


async def stored_response(request: web.Request) -> web.StreamResponse:
    """GET/DELETE /v1/responses/{id}, /cancel, /input_items: nothing is stored to act on."""
    raise ApiError(
        400,
        f"response {request.match_info['response_id']!r} cannot be retrieved: {STATELESS}",
        code="responses_not_stored",
    )
