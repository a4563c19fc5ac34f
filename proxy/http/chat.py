"""POST /v1/chat/completions: validate -> plan -> run attempts -> write (JSON or SSE)."""

from aiohttp import web

from switchboard.proxy.apis.codec import chat_codec
from switchboard.proxy.http.common import read_request_body
from switchboard.proxy.http.routing_input import route_request
from switchboard.proxy.http.serve import serve
from switchboard.proxy.validation import chat_flags, decode_json_object


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = decode_json_object(await read_request_body(request))
    chat = chat_flags(body)
    codec = chat_codec(body, stream=chat.stream, include_usage=chat.include_usage)
    route = route_request(body, request.headers, "chat", tokens=chat.prompt_tokens)
    return await serve(request, route, codec, stream=chat.stream, prompt=body)
