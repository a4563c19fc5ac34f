"""How one client request travels to one upstream and back, for each inbound API (pure).

A ``Codec`` is built per attempt, because it depends on the upstream: a
Responses request goes natively to an ``openai`` upstream and through chat
translation to every other one; a Messages request goes natively to an
``anthropic`` upstream. The attempt body only sends ``request`` and applies
``decode`` or ``open_stream``; it never knows which API it carries.
"""

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from switchboard.api.provider import ProviderConfig
from switchboard.proxy.adapters.anthropic import AnthropicAdapter
from switchboard.proxy.adapters.base import (
    Adapter,
    AdapterRequestError,
    Decoded,
    StreamTranslator,
    Target,
    UpstreamRequest,
    Usage,
)
from switchboard.proxy.adapters.chat_stream import ChatChunkStream
from switchboard.proxy.adapters.openai import OpenAIAdapter
from switchboard.proxy.apis import messages_object, messages_stream, responses_object, responses_stream


@dataclass(slots=True)
class Codec:
    """How one attempt carries the client's API: the attempt's one prepared object (built before it starts,
    never changed; not ``frozen``: see ``Target``)."""

    target: Target
    request: UpstreamRequest
    decode: Callable[[bytes], Decoded]
    """A complete answer's body -> the client's JSON answer, its bytes and its usage."""
    open_stream: Callable[[], StreamTranslator]
    """A fresh translator from the upstream's stream bytes to the client's events (it tells the commit point)."""
    prompt: Mapping[str, Any]
    """The request in chat form where it has one: a Service-backed provider's endpoint picking may hash its prefix."""


CodecFactory = Callable[[Adapter, Target, Mapping[str, Any]], Codec]
"""Builds an attempt's codec for an upstream; the third argument is passed through as its ``prompt``."""


def chat_codec(body: Mapping[str, Any], *, stream: bool, include_usage: bool = False) -> CodecFactory:
    """``body``: a chat request whose messages are checked (``chat_flags`` or ``require_messages``)."""
    model = str(body["model"])
    if not stream:
        return functools.partial(_answered_chat, body, model)

    def make(adapter: Adapter, target: Target, prompt: Mapping[str, Any]) -> Codec:
        return Codec(
            target,
            adapter.chat_request(target, body, stream=True),
            functools.partial(adapter.chat_answer, target, model),
            lambda: adapter.chat_stream(target, model, include_usage=include_usage),
            prompt,
        )

    return make


def _answered_chat(
    body: Mapping[str, Any], model: str, adapter: Adapter, target: Target, prompt: Mapping[str, Any]
) -> Codec:
    """A non-streaming chat attempt: answered whole, never relayed as a stream (``serve`` relays only
    streaming requests), so no stream opener is built for it: no closure and no lambda per attempt."""
    return Codec(
        target,
        adapter.chat_request(target, body, stream=False),
        functools.partial(adapter.chat_answer, target, model),
        _no_stream,
        prompt,
    )


def embeddings_codec(body: Mapping[str, Any], model: str) -> CodecFactory:
    """``body``: a valid embeddings request of public ``model``; upstreams without embeddings are skipped."""

    def make(adapter: Adapter, target: Target, prompt: Mapping[str, Any]) -> Codec:
        if not adapter.supports_embeddings:
            raise AdapterRequestError(f"{target.provider.type} upstreams have no embeddings API")
        return Codec(
            target,
            adapter.embeddings_request(target, body),
            functools.partial(adapter.embeddings_response, target, model),
            _no_stream,
            prompt,
        )

    return make


def natively_responses(adapter: Adapter, provider: ProviderConfig) -> bool:
    """OpenAI itself serves the Responses API; Azure and OpenAI-compatible servers get chat."""
    return isinstance(adapter, OpenAIAdapter) and provider.type == "openai"


def natively_messages(adapter: Adapter, provider: ProviderConfig) -> bool:
    return isinstance(adapter, AnthropicAdapter)


def _via_chat(
    adapter: Adapter,
    target: Target,
    chat: Mapping[str, Any] | None,
    prompt: Mapping[str, Any],
    *,
    stream: bool,
    answer: Callable[[dict[str, Any], Usage], dict[str, Any]],
    encoder: Callable[[ChatChunkStream], StreamTranslator],
) -> Codec:
    """The client's API carried as chat completions: ``answer`` and ``encoder`` turn chat back into it."""
    if chat is None:
        # Unreachable through the handlers (they plan only native upstreams then); a guard, not a path.
        raise AdapterRequestError("the request cannot be translated to chat completions for this upstream")
    model = str(chat["model"])

    def decode(raw: bytes) -> Decoded:
        completion, _, usage = adapter.chat_answer(target, model, raw)  # its object: never encoded for a chat client
        return answer(completion, usage), None, usage

    return Codec(
        target,
        adapter.chat_request(target, chat, stream=stream),
        decode,
        lambda: encoder(adapter.chat_stream(target, model, include_usage=True)),
        prompt,
    )


def responses_codec(
    body: Mapping[str, Any], chat: Mapping[str, Any] | None, *, stream: bool, clock: Callable[[], float] = time.time
) -> CodecFactory:
    """``body`` is the client's Responses request, ``chat`` its chat translation (None: untranslatable)."""
    model = str(body["model"])
    envelope = responses_object.Envelope.of(body, model)

    def make(adapter: Adapter, target: Target, prompt: Mapping[str, Any]) -> Codec:
        if isinstance(adapter, OpenAIAdapter) and natively_responses(adapter, target.provider):
            return Codec(
                target,
                adapter.responses_request(target, body, stream=stream),
                functools.partial(responses_object.native_response, public_model=model),
                lambda: responses_stream.NativeResponsesStream(model),
                prompt,
            )

        return _via_chat(
            adapter,
            target,
            chat,
            prompt,
            stream=stream,
            answer=lambda completion, usage: responses_object.from_chat(envelope, completion, usage, int(clock())),
            encoder=lambda inner: responses_stream.ResponsesEncoder(inner, envelope, clock),
        )

    return make


def messages_codec(
    body: Mapping[str, Any],
    chat: Mapping[str, Any] | None,
    client_headers: Mapping[str, str],
    *,
    stream: bool,
    clock: Callable[[], float] = time.time,
) -> CodecFactory:
    """``body`` is the client's Messages request, ``chat`` its chat translation."""
    model = str(body["model"])

    def make(adapter: Adapter, target: Target, prompt: Mapping[str, Any]) -> Codec:
        if isinstance(adapter, AnthropicAdapter):
            return Codec(
                target,
                adapter.messages_request(target, body, stream=stream, client_headers=client_headers),
                functools.partial(messages_object.native_message, public_model=model),
                lambda: messages_stream.NativeMessagesStream(model),
                prompt,
            )

        return _via_chat(
            adapter,
            target,
            chat,
            prompt,
            stream=stream,
            answer=lambda completion, usage: messages_object.from_chat(completion, usage, model),
            encoder=lambda inner: messages_stream.MessagesEncoder(inner, model, clock),
        )

    return make


def count_tokens_codec(body: Mapping[str, Any], client_headers: Mapping[str, str]) -> CodecFactory:
    """``/v1/messages/count_tokens``, which only Anthropic upstreams serve (the caller plans only those)."""

    def make(adapter: Adapter, target: Target, prompt: Mapping[str, Any]) -> Codec:
        if not isinstance(adapter, AnthropicAdapter):
            raise AdapterRequestError("only anthropic upstreams count tokens")
        return Codec(
            target,
            adapter.count_tokens_request(target, body, client_headers=client_headers),
            messages_object.native_token_count,
            _no_stream,
            prompt,
        )

    return make


def refusing(error: AdapterRequestError) -> CodecFactory:
    """The factory of a request no upstream can express: each provider is skipped with ``error``."""

    def make(adapter: Adapter, target: Target, prompt: Mapping[str, Any]) -> Codec:
        raise error

    return make


def _no_stream() -> StreamTranslator:
    raise AdapterRequestError("this endpoint does not stream")
