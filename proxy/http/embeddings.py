"""POST /v1/embeddings: validate -> plan -> run attempts -> write, through the one request lifecycle."""

from aiohttp import web

from switchboard.proxy.apis.codec import embeddings_codec
from switchboard.proxy.http.common import read_request_body
from switchboard.proxy.http.routing_input import route_request
from switchboard.proxy.http.serve import serve
from switchboard.proxy.validation import decode_json_object, parse_embeddings


async def embeddings(request: web.Request) -> web.StreamResponse:
    body = decode_json_object(await read_request_body(request))
    codec = embeddings_codec(body, parse_embeddings(body).model)
    route = route_request(body, request.headers, "embeddings")
    return await serve(request, route, codec, stream=False, prompt=body)
