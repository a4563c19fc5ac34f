"""POST /v1/chat/completions, non-streaming and SSE streaming."""

from aiohttp import web

from switchboard.proxy.apis.exchange import chat_exchange
from switchboard.proxy.http.common import read_body
from switchboard.proxy.http.serve import serve
from switchboard.proxy.routing_input import route_request
from switchboard.proxy.validation import decode_json_object, parse_chat


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = decode_json_object(await read_body(request))
    chat = parse_chat(body)
    exchange = chat_exchange(body, stream=chat.stream, include_usage=chat.include_usage)
    return await serve(request, route_request(body, request.headers, "chat"), exchange, stream=chat.stream)
