"""OpenAI and OpenAI-compatible upstreams (vLLM, Ollama...): nearly a pass-through.

Only the model is renamed (upstream name out, public name back) and streaming
always asks for usage, which is passed to the client only if it asked too.
"""

import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from switchboard.proxy.adapters.base import (
    Decoded,
    Endpoint,
    Target,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRequest,
    Usage,
)
from switchboard.proxy.adapters.chat_stream import ChatChunkStream, carries_output
from switchboard.proxy.adapters.chunk_shape import ChunkShape
from switchboard.proxy.adapters.errors import stream_error, upstream_error
from switchboard.proxy.adapters.sse import SSEDecoder
from switchboard.proxy.adapters.wire import (
    JSON_HEADERS,
    STREAM_HEADERS,
    as_int,
    dump,
    load_object,
    relabelled,
    sse_event,
)


def read_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    prompt_details, completion_details = raw.get("prompt_tokens_details"), raw.get("completion_tokens_details")
    return Usage(  # positional, and ``as_int`` inlined for the totals: read on every answer
        prompt if type(prompt) is int and prompt >= 0 else 0,
        completion if type(completion) is int and completion >= 0 else 0,
        as_int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0,  # cached_tokens
        0,  # cache_write_tokens: OpenAI reports none
        as_int(completion_details.get("reasoning_tokens")) if isinstance(completion_details, dict) else 0,
    )


def chat_body(body: Mapping[str, Any], model: str | None, *, stream: bool) -> Mapping[str, Any]:
    """The client body with the upstream model and the stream flags we need (to be encoded, never changed).

    A non-streaming body that already names ``model`` and carries no stream flag needs nothing: it is
    returned as it is, not copied (the upstream gets the same JSON object)."""
    if not stream and "stream" not in body and "stream_options" not in body and body.get("model") == model:
        return body
    out = dict(body)  # a copy less the keys set below: C calls, not a Python loop over every key
    out.pop("stream", None)
    out.pop("stream_options", None)
    out.pop("model", None)
    if model is not None:
        out["model"] = model
    if stream:
        options = body.get("stream_options")
        out["stream"] = True
        out["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    return out


def _one_line(data: bytes) -> bool:
    """Whether ``data`` can go back on one ``data:`` line as it is (JSON may hold line breaks as whitespace).

    ``find``, not ``in``: ``bytes.__contains__`` costs a raised and cleared TypeError per call (see ``sse``)."""
    return data.find(b"\n") == -1 and data.find(b"\r") == -1


class OpenAIStream(ChatChunkStream):
    """Rewrites the model in each chunk, keeps usage, and drops it when the client did not ask.

    For a chat client, a chunk that already names the public model and carries no usage is
    relayed as the upstream wrote it (parsed for errors, never re-encoded): most chunks of a
    stream whose upstream model name is the public one. The first such chunk with output gives
    its shape (``chunk_shape``) at the next read (off the first token's way); from then on, an
    event of that shape is relayed without a parse, and a read that is one such event whole
    without the SSE decoder either. For the encoders of other APIs, the first chunk with output
    and no usage gives the shape the same way, once it is known to vary only the first choice's
    delta content (``retexted``).
    """

    def __init__(self, family: str, public_model: str, *, include_usage: bool) -> None:
        self._family = family
        self._public_model = public_model
        self._include_usage = include_usage
        self._decoder = SSEDecoder(family)
        self._done = False
        self._usage: Usage | None = None
        self._shape: ChunkShape | None = None
        self._shape_from: bytes | None = None
        """The event the shape is to be taken from at the next read (looked for once: ``_shaped``)."""
        self._shaped = False
        self._source: dict[str, Any] | None = None
        """For the encoders: the chunk object (as given to them) whose events the shape's are, but for the text."""

    @property
    def usage(self) -> Usage | None:
        return self._usage

    def feed(self, chunk: bytes) -> list[bytes]:
        shape = self._shape
        if shape is not None and self._decoder.idle and shape.text(chunk) is not None:
            return [chunk]  # one whole event: a relayed one with another text
        out: list[bytes] = []
        shape = self._shape if self._shape_from is None else self._take_shape()
        for _, data in self._decoder.feed(chunk):
            event = b"data: " + data + b"\n\n"  # as the upstream wrote it, or as a relayed one
            if shape is not None and not self._done and shape.text(event) is not None:
                out.append(event)
                continue
            payload = self._read(data)
            if payload is None:
                continue
            if not self.output_seen:
                self.output_seen = carries_output(payload)
            if payload.get("usage") is None and payload.get("model") == self._public_model and _one_line(data):
                out.append(event)  # nothing to change: the upstream's bytes
                if not self._shaped and _has_text(payload):
                    self._shaped, self._shape_from = True, event
            elif (changed := self._for_client(payload)) is not None:
                out.append(sse_event(changed))
        return out

    def feed_chunks(self, chunk: bytes) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self._shape_from is not None:
            self._take_shape()
        for _, data in self._decoder.feed(chunk):
            payload = self._read(data)
            if payload is None:
                continue
            if not self._shaped and payload.get("usage") is None and _one_line(data) and _has_text(payload):
                self._shaped, self._shape_from, self._source = True, b"data: " + data + b"\n\n", payload
            if (changed := self._for_client(payload)) is not None:
                out.append(changed)
        return out

    def retexted(self, chunk: bytes) -> tuple[dict[str, Any], str] | None:
        shape = self._shape if self._shape_from is None else self._take_shape()
        if shape is None or self._source is None or not self._decoder.idle:
            return None
        text = shape.text(chunk)
        return None if text is None else (self._source, text)

    def _take_shape(self) -> ChunkShape | None:
        """The shape, taken now from the event chosen at an earlier read, if any."""
        event = self._shape_from
        if event is not None:
            self._shape_from = None
            shape = ChunkShape.of(event)
            if shape is not None and (self._source is None or _varies_content_only(shape, self._source)):
                self._shape = shape
        return self._shape

    def _read(self, data: bytes) -> dict[str, Any] | None:
        """One event's chunk, checked for an in-band error; None for ``[DONE]`` and whatever follows it."""
        if self._done:
            return None
        if data[:1] != b"{" and data.strip() == b"[DONE]":
            self._done = True
            self._shape = self._shape_from = None
            return None
        payload = load_object(self._family, data, "stream event")
        if "error" in payload:
            raise stream_error(self._family, payload["error"])
        return payload

    def _for_client(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """``payload`` renamed to the public model, its usage kept (and removed unless asked); None: nothing left."""
        payload["model"] = self._public_model
        usage = read_usage(payload.get("usage"))
        if usage is not None:
            self._usage = usage
            if not self._include_usage:
                del payload["usage"]
                if not payload.get("choices"):
                    return None
        return payload

    def finish_chunks(self) -> list[dict[str, Any]]:
        if not self._done:
            where = " in the middle of an event" if self._decoder.mid_event else ""
            raise UpstreamProtocolError(f"{self._family} stream ended{where} before data: [DONE]")
        return []


def _has_text(chunk: dict[str, Any]) -> bool:
    """Whether the first choice's delta has text: the chunk a stream's shape is taken from (not a role-only,
    tool call or reasoning chunk, whose shape the text chunks after it do not have)."""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return False
    delta = choices[0].get("delta")
    return isinstance(delta, dict) and isinstance(delta.get("content"), str) and delta["content"] != ""


_PROBE = "\x00probe"
_PROBE_JSON = orjson.dumps(_PROBE)


def _varies_content_only(shape: ChunkShape, source: dict[str, Any]) -> bool:
    """Whether ``shape``'s string is ``source``'s first choice's delta content: the shape with another
    string there reads as ``source`` (renamed to the public model as it was) with that content."""
    try:
        probe = orjson.loads(shape.around(_PROBE_JSON)[6:])
        delta = probe["choices"][0]["delta"]
        if delta["content"] != _PROBE:
            return False
        delta["content"] = source["choices"][0]["delta"]["content"]
    except (orjson.JSONDecodeError, LookupError, TypeError):
        return False
    probe["model"] = source.get("model")
    return bool(probe == source)


_CHAT = "chat/completions"
_STREAMED_CHAT = f"{_CHAT} stream"  # ``_endpoint``'s keys


class OpenAIAdapter:
    """``openai`` and ``openai-compatible``: Bearer key (optional), ``{base}/chat/completions``."""

    supports_embeddings = True
    family = "openai"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def _url(self, target: Target, path: str) -> str:
        return f"{target.base_url}/{path}"

    def _headers(self, target: Target, *, stream: bool) -> dict[str, str]:
        headers = dict(STREAM_HEADERS if stream else JSON_HEADERS)
        if target.api_key:
            headers["Authorization"] = f"Bearer {target.api_key}"
        return headers

    def _model(self, target: Target) -> str | None:
        return target.upstream_model

    def _endpoint(self, target: Target, path: str, *, stream: bool) -> Endpoint:
        """``path``'s URL, headers and body model on ``target``, worked out at its first request and kept on it."""
        key = f"{path} stream" if stream else path
        endpoint = target.endpoints.get(key)
        if endpoint is None:
            endpoint = (self._url(target, path), self._headers(target, stream=stream), self._model(target))
            target.endpoints[key] = endpoint
        return endpoint

    def chat_request(self, target: Target, body: Mapping[str, Any], *, stream: bool) -> UpstreamRequest:
        """Per attempt: one look-up of what the target's chat requests share (``_endpoint``'s, inline)."""
        endpoint = target.endpoints.get(_STREAMED_CHAT if stream else _CHAT)
        if endpoint is None:
            endpoint = self._endpoint(target, _CHAT, stream=stream)
        url, headers, model = endpoint
        return UpstreamRequest("POST", url, headers, dump(chat_body(body, model, stream=stream)))

    def chat_answer(self, target: Target, public_model: str, raw: bytes) -> Decoded:
        """The upstream's own bytes when nothing needs renaming."""
        payload = self._checked(raw, "chat response", "choices")
        out = raw if payload.get("model") == public_model else relabelled(payload, raw, public_model)  # (inlined)
        return payload, out, read_usage(payload.get("usage")) or Usage()

    def chat_stream(self, target: Target, public_model: str, *, include_usage: bool) -> OpenAIStream:
        return OpenAIStream(self.family, public_model, include_usage=include_usage)

    def responses_request(self, target: Target, body: Mapping[str, Any], *, stream: bool) -> UpstreamRequest:
        """The client's Responses API body, natively: only the model is renamed, and ``store`` is
        forced off because the gateway keeps no state (a stored response could not be fetched back)."""
        payload = {k: v for k, v in body.items() if k not in ("model", "stream", "store")}
        url, headers, model = self._endpoint(target, "responses", stream=stream)
        if model is not None:
            payload["model"] = model
        payload["store"] = False
        if stream:
            payload["stream"] = True
        return UpstreamRequest("POST", url, headers, dump(payload))

    def embeddings_request(self, target: Target, body: Mapping[str, Any]) -> UpstreamRequest:
        payload = dict(body)
        url, headers, model = self._endpoint(target, "embeddings", stream=False)
        payload.pop("model", None)
        if model is not None:
            payload["model"] = model
        return UpstreamRequest("POST", url, headers, dump(payload))

    def embeddings_response(self, target: Target, public_model: str, raw: bytes) -> Decoded:
        payload = self._checked(raw, "embeddings response", "data")
        return payload, relabelled(payload, raw, public_model), read_usage(payload.get("usage")) or Usage()

    def error(self, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return upstream_error(self.family, status, raw, headers, self._clock)

    def _checked(self, raw: bytes, what: str, array: str) -> dict[str, Any]:
        """The upstream's answer as it is, checked for its ``array`` of objects (``what``: the answer named)."""
        try:  # load_object's parse inline (one call less per answer); it names what is wrong otherwise
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        payload: dict[str, Any] = value if type(value) is dict else load_object(self.family, raw, what)
        items = payload.get(array)
        if type(items) is list:  # orjson's own types: no subclass to allow for
            for item in items:  # a loop, not all() over a generator: this runs for every answer
                if type(item) is not dict:
                    break
            else:
                return payload
        raise UpstreamProtocolError(f"{self.family} {what} has no {array!r} array of objects")
