"""OpenAI and OpenAI-compatible upstreams (vLLM, Ollama...): nearly a pass-through.

Only the model is renamed (upstream name out, public name back) and streaming
always asks for usage, which is passed to the client only if it asked too.
"""

import time
from collections.abc import Callable, Mapping
from typing import Any

from switchboard.proxy.adapters.base import (
    Decoded,
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


def chat_body(body: Mapping[str, Any], model: str | None, *, stream: bool) -> dict[str, Any]:
    """The client body with the upstream model and the stream flags we need."""
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
    stream whose upstream model name is the public one. After the commit, the first such
    chunk's shape lets the next ones of the same shape skip the parse (``chunk_shape``).
    """

    def __init__(self, family: str, public_model: str, *, include_usage: bool) -> None:
        self._family = family
        self._public_model = public_model
        self._include_usage = include_usage
        self._decoder = SSEDecoder(family)
        self._done = False
        self._usage: Usage | None = None
        self._shape: ChunkShape | None = None
        """Of the first relayable chunk after the commit (looked for once)."""
        self._shaped = False

    @property
    def usage(self) -> Usage | None:
        return self._usage

    def feed(self, chunk: bytes) -> list[bytes]:
        out: list[bytes] = []
        for _, data in self._decoder.feed(chunk):
            if self._shape is not None and not self._done and self._shape.fits(data):
                out.append(b"data: " + data + b"\n\n")  # the same object as a relayed one, another text
                continue
            payload = self._read(data)
            if payload is None:
                continue
            if not self.output_seen:
                self.output_seen = carries_output(payload)
            if payload.get("usage") is None and payload.get("model") == self._public_model and _one_line(data):
                out.append(b"data: " + data + b"\n\n")  # nothing to change: the upstream's bytes
                if self.output_seen and not self._shaped:
                    self._shaped = True
                    self._shape = ChunkShape.of(data)
            elif (changed := self._for_client(payload)) is not None:
                out.append(sse_event(changed))
        return out

    def feed_chunks(self, chunk: bytes) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _, data in self._decoder.feed(chunk):
            payload = self._read(data)
            if payload is not None and (changed := self._for_client(payload)) is not None:
                out.append(changed)
        return out

    def _read(self, data: bytes) -> dict[str, Any] | None:
        """One event's chunk, checked for an in-band error; None for ``[DONE]`` and whatever follows it."""
        if self._done:
            return None
        if data[:1] != b"{" and data.strip() == b"[DONE]":
            self._done = True
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


class OpenAIAdapter:
    """``openai`` and ``openai-compatible``: Bearer key (optional), ``{base}/chat/completions``."""

    supports_embeddings = True
    family = "openai"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def _url(self, target: Target, path: str) -> str:
        return f"{target.provider.effective_base_url}/{path}"

    def _headers(self, target: Target, *, stream: bool) -> dict[str, str]:
        headers = dict(STREAM_HEADERS if stream else JSON_HEADERS)
        if target.api_key:
            headers["Authorization"] = f"Bearer {target.api_key}"
        return headers

    def _model(self, target: Target) -> str | None:
        return target.model.upstream

    def chat_request(self, target: Target, body: Mapping[str, Any], *, stream: bool) -> UpstreamRequest:
        payload = chat_body(body, self._model(target), stream=stream)
        return UpstreamRequest(
            "POST", self._url(target, "chat/completions"), self._headers(target, stream=stream), dump(payload)
        )

    def chat_answer(self, target: Target, public_model: str, raw: bytes) -> Decoded:
        """The upstream's own bytes when nothing needs renaming."""
        payload = self._checked(raw, "chat response", "choices")
        return payload, relabelled(payload, raw, public_model), read_usage(payload.get("usage")) or Usage()

    def chat_stream(self, target: Target, public_model: str, *, include_usage: bool) -> OpenAIStream:
        return OpenAIStream(self.family, public_model, include_usage=include_usage)

    def responses_request(self, target: Target, body: Mapping[str, Any], *, stream: bool) -> UpstreamRequest:
        """The client's Responses API body, natively: only the model is renamed, and ``store`` is
        forced off because the gateway keeps no state (a stored response could not be fetched back)."""
        payload = {k: v for k, v in body.items() if k not in ("model", "stream", "store")}
        model = self._model(target)
        if model is not None:
            payload["model"] = model
        payload["store"] = False
        if stream:
            payload["stream"] = True
        headers = self._headers(target, stream=stream)
        return UpstreamRequest("POST", self._url(target, "responses"), headers, dump(payload))

    def embeddings_request(self, target: Target, body: Mapping[str, Any]) -> UpstreamRequest:
        payload = dict(body)
        model = self._model(target)
        payload.pop("model", None)
        if model is not None:
            payload["model"] = model
        return UpstreamRequest(
            "POST", self._url(target, "embeddings"), self._headers(target, stream=False), dump(payload)
        )

    def embeddings_response(self, target: Target, public_model: str, raw: bytes) -> Decoded:
        payload = self._checked(raw, "embeddings response", "data")
        return payload, relabelled(payload, raw, public_model), read_usage(payload.get("usage")) or Usage()

    def error(self, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return upstream_error(self.family, status, raw, headers, self._clock)

    def _checked(self, raw: bytes, what: str, array: str) -> dict[str, Any]:
        """The upstream's answer as it is, checked for its ``array`` of objects (``what``: the answer named)."""
        payload = load_object(self.family, raw, what)
        items = payload.get(array)
        if type(items) is list:  # orjson's own types: no subclass to allow for
            for item in items:  # a loop, not all() over a generator: this runs for every answer
                if type(item) is not dict:
                    break
            else:
                return payload
        raise UpstreamProtocolError(f"{self.family} {what} has no {array!r} array of objects")
