"""How one client request travels to one upstream and back, for each inbound API (pure).

An ``Exchange`` is built per attempt, because the codec depends on the
upstream: a Responses request goes natively to an ``openai`` upstream and
through chat translation to every other one; a Messages request goes natively
to an ``anthropic`` upstream. The attempt runner only sends ``request`` and
applies ``decode`` or ``open_stream``; it never knows which API it carries.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from switchboard.api.provider import ProviderConfig
from switchboard.proxy.adapters.anthropic import AnthropicAdapter
from switchboard.proxy.adapters.base import (
    Adapter,
    AdapterRequestError,
    StreamTranslator,
    Target,
    UpstreamRequest,
    Usage,
)
from switchboard.proxy.adapters.openai import OpenAIAdapter
from switchboard.proxy.apis import messages_stream, responses_object, responses_stream

Api = Literal["chat", "responses", "messages", "embeddings"]
Answer = tuple[dict[str, Any], Usage]


@dataclass(frozen=True, slots=True)
class Exchange:
    request: UpstreamRequest
    decode: Callable[[bytes], Answer]
    """A complete answer's body -> the client's JSON answer and its usage."""
    open_stream: Callable[[], StreamTranslator]
    """A fresh translator from the upstream's stream bytes to the client's events."""


ExchangeFactory = Callable[[Adapter, Target], Exchange]


def chat_exchange(body: Mapping[str, Any], *, stream: bool, include_usage: bool = False) -> ExchangeFactory:
    model = str(body["model"])

    def make(adapter: Adapter, target: Target) -> Exchange:
        return Exchange(
            adapter.chat_request(target, body, stream=stream),
            lambda raw: adapter.chat_response(target, model, raw),
            lambda: adapter.chat_stream(target, model, include_usage=include_usage),
        )

    return make


def natively_responses(adapter: Adapter, provider: ProviderConfig) -> bool:
    """OpenAI itself serves the Responses API; Azure and OpenAI-compatible servers get chat."""
    return isinstance(adapter, OpenAIAdapter) and provider.type == "openai"


def natively_messages(adapter: Adapter, provider: ProviderConfig) -> bool:
    return isinstance(adapter, AnthropicAdapter)


def _untranslatable() -> AdapterRequestError:
    # Unreachable through the handlers (they only plan native upstreams then); a guard, not a path.
    return AdapterRequestError("the request cannot be translated to chat completions for this upstream")


def responses_exchange(
    body: Mapping[str, Any], chat: Mapping[str, Any] | None, *, stream: bool, clock: Callable[[], float] = time.time
) -> ExchangeFactory:
    """``body`` is the client's Responses request, ``chat`` its chat translation (None: untranslatable)."""
    model = str(body["model"])
    envelope = responses_object.Envelope.of(dict(body), model)

    def make(adapter: Adapter, target: Target) -> Exchange:
        if isinstance(adapter, OpenAIAdapter) and natively_responses(adapter, target.provider):
            return Exchange(
                adapter.responses_request(target, body, stream=stream),
                lambda raw: responses_stream.native_response(raw, model),
                lambda: responses_stream.NativeResponsesStream(model),
            )

        if chat is None:
            raise _untranslatable()

        def decode(raw: bytes) -> Answer:
            completion, usage = adapter.chat_response(target, model, raw)
            return responses_object.from_chat(envelope, completion, usage, int(clock())), usage

        return Exchange(
            adapter.chat_request(target, chat, stream=stream),
            decode,
            lambda: responses_stream.ResponsesEncoder(
                adapter.chat_stream(target, model, include_usage=True), envelope, clock
            ),
        )

    return make


def messages_exchange(
    body: Mapping[str, Any],
    chat: Mapping[str, Any] | None,
    client_headers: Mapping[str, str],
    *,
    stream: bool,
    clock: Callable[[], float] = time.time,
) -> ExchangeFactory:
    """``body`` is the client's Messages request, ``chat`` its chat translation."""
    model = str(body["model"])

    def make(adapter: Adapter, target: Target) -> Exchange:
        if isinstance(adapter, AnthropicAdapter):
            return Exchange(
                adapter.messages_request(target, body, stream=stream, client_headers=client_headers),
                lambda raw: messages_stream.native_message(raw, model),
                lambda: messages_stream.NativeMessagesStream(model),
            )

        if chat is None:
            raise _untranslatable()

        def decode(raw: bytes) -> Answer:
            completion, usage = adapter.chat_response(target, model, raw)
            return messages_stream.from_chat(completion, usage, model), usage

        return Exchange(
            adapter.chat_request(target, chat, stream=stream),
            decode,
            lambda: messages_stream.MessagesEncoder(
                adapter.chat_stream(target, model, include_usage=True), model, clock
            ),
        )

    return make


def count_tokens_exchange(body: Mapping[str, Any], client_headers: Mapping[str, str]) -> ExchangeFactory:
    """``/v1/messages/count_tokens``, which only Anthropic upstreams serve (the caller plans only those)."""

    def make(adapter: Adapter, target: Target) -> Exchange:
        if not isinstance(adapter, AnthropicAdapter):
            raise AdapterRequestError("only anthropic upstreams count tokens")
        return Exchange(
            adapter.count_tokens_request(target, body, client_headers=client_headers),
            messages_stream.native_token_count,
            _no_stream,
        )

    return make


def _no_stream() -> StreamTranslator:
    raise AdapterRequestError("count_tokens does not stream")
