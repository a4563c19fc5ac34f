"""Gemini API: ``{base}/v1beta/models/{model}:generateContent`` with ``x-goog-api-key``."""

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from switchboard.proxy.adapters.base import (
    Decoded,
    Target,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRequest,
    Usage,
)
from switchboard.proxy.adapters.errors import upstream_error
from switchboard.proxy.adapters.gemini_answer import FAMILY, PartsReader, candidate_of, finish_reason, read_usage
from switchboard.proxy.adapters.gemini_request import gemini_body
from switchboard.proxy.adapters.gemini_stream import GeminiStream
from switchboard.proxy.adapters.wire import (
    JSON_HEADERS,
    STREAM_HEADERS,
    chat_completion,
    dump,
    load_object,
    no_embeddings,
)


class GeminiAdapter:
    supports_embeddings = False

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def _completion_id(self, payload: dict[str, Any] | None = None) -> str:
        response_id = (payload or {}).get("responseId")
        return (
            f"chatcmpl-{response_id}"
            if isinstance(response_id, str)
            else f"chatcmpl-gemini-{int(self._clock() * 1000)}"
        )

    def chat_request(self, target: Target, body: Mapping[str, Any], *, stream: bool) -> UpstreamRequest:
        payload = gemini_body(dict(body), target.model.max_output_tokens)
        model = quote(target.upstream_model.removeprefix("models/"), safe="")
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        headers = dict(STREAM_HEADERS if stream else JSON_HEADERS)
        if target.api_key:
            headers["x-goog-api-key"] = target.api_key
        url = f"{target.base_url}/v1beta/models/{model}:{method}"
        return UpstreamRequest("POST", url, headers, dump(payload))

    def chat_answer(self, target: Target, public_model: str, raw: bytes) -> Decoded:
        payload = load_object(FAMILY, raw, "chat response")
        candidate = candidate_of(payload)
        blocked = bool((payload.get("promptFeedback") or {}).get("blockReason"))
        if candidate is None and not blocked:
            raise UpstreamProtocolError("gemini chat response has no candidates")
        completion_id = self._completion_id(payload)
        text, calls = PartsReader(call_prefix=f"call_{completion_id}").read(candidate)
        message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
        if calls:
            message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
        usage = read_usage(payload) or Usage()
        finish = finish_reason(candidate, has_tool_calls=bool(calls), blocked=blocked)
        return chat_completion(completion_id, int(self._clock()), public_model, message, finish, usage), None, usage

    def chat_stream(self, target: Target, public_model: str, *, include_usage: bool) -> GeminiStream:
        return GeminiStream(public_model, self._completion_id(), int(self._clock()), include_usage=include_usage)

    def embeddings_request(self, target: Target, body: Mapping[str, Any]) -> UpstreamRequest:
        raise no_embeddings(FAMILY)

    def embeddings_response(self, target: Target, public_model: str, raw: bytes) -> Decoded:
        raise no_embeddings(FAMILY)

    def error(self, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return upstream_error(FAMILY, status, raw, headers, self._clock)
