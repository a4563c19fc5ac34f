"""Spans of the Responses and Messages APIs, through the official SDKs and the real proxy CLI, at a real OTLP endpoint.

Each API is sent natively (Responses to an ``openai`` upstream, Messages to an
``anthropic`` one) and translated through chat (the other way round),
streamed and not. The attempt span and the request span carry the same
GenAI attributes as chat: ``gen_ai.operation.name=chat``, the answer's own id,
the API's finish reasons, usage; the content only for the profile that captures it.
"""

import json
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import Message, MessageParam
from openai.types.responses import Response

from switchboard.api.config import ProxyConfig
from switchboard.api.profile import ProfileConfig, ProviderRef, TracingPolicy
from tests.fixtures.otlp import OtlpReceiver, ReceivedSpan, otel_env
from tests.fixtures.proxy import provider_config, start_proxy_cli, stop_process
from tests.fixtures.upstream import MockFactory
from tests.telemetry.semconv import check_semconv, children, request_span

PROMPT = "secret prompt text"
GENAI_KEYS = {  # on the attempt span and, for the attempt that served, on the request span
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.response.id",
    "gen_ai.response.finish_reasons",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "switchboard.profile",
    "switchboard.provider",
}
ATTEMPT_KEYS = GENAI_KEYS | {"http.response.status_code", "server.address", "server.port", "switchboard.attempt"}
SERVED_KEYS = GENAI_KEYS | {"switchboard.strategy"}  # besides the request span's HTTP attributes
CONTENT_KEYS = {"gen_ai.input.messages", "gen_ai.output.messages"}


def _config(openai_url: str, anthropic_url: str) -> ProxyConfig:
    return ProxyConfig(
        providers=(
            provider_config("gpt", "openai", openai_url, models=("gpt-model", "captured-model")),
            provider_config("claude", "anthropic", anthropic_url, models=("claude-model",)),
        ),
        profiles=(
            ProfileConfig(name="gpt", models=("gpt-model",), providers=(ProviderRef(name="gpt"),)),
            ProfileConfig(name="claude", models=("claude-model",), providers=(ProviderRef(name="claude"),)),
            ProfileConfig(
                name="captured",
                models=("captured-model",),
                providers=(ProviderRef(name="gpt"),),
                tracing=TracingPolicy(capture_content=True),
            ),
        ),
    )


def _served(spans: list[ReceivedSpan], request_id: str) -> tuple[ReceivedSpan, ReceivedSpan]:
    request = request_span(spans, request_id)
    (attempt,) = children(spans, request)
    return request, attempt


def _check(
    spans: list[ReceivedSpan], request_id: str, *, response_id: str, reasons: list[str], tokens: tuple[int, int]
) -> tuple[ReceivedSpan, ReceivedSpan]:
    request, attempt = _served(spans, request_id)
    assert set(attempt.attributes) == ATTEMPT_KEYS, request_id
    assert set(request.attributes) >= SERVED_KEYS and not CONTENT_KEYS & set(request.attributes), request_id
    for span in (request, attempt):
        found = span.attributes
        assert found["gen_ai.operation.name"] == "chat"
        assert found["gen_ai.response.id"] == response_id, request_id
        assert list(found["gen_ai.response.finish_reasons"]) == reasons, request_id
        assert (found["gen_ai.usage.input_tokens"], found["gen_ai.usage.output_tokens"]) == tokens, request_id
    assert attempt.kind == "client" and attempt.status == "unset"
    assert attempt.name == f"chat {attempt.attributes['gen_ai.request.model']}"
    return request, attempt


async def _response(client: openai.AsyncOpenAI, model: str, request_id: str) -> Response:
    """``responses.stream`` when the request id says so, else ``responses.create``."""
    headers = {"x-request-id": request_id}
    if not request_id.endswith("-stream"):
        return await client.responses.create(model=model, input=PROMPT, extra_headers=headers)
    async with client.responses.stream(model=model, input=PROMPT, extra_headers=headers) as events:
        return await events.get_final_response()


async def _message(client: anthropic.AsyncAnthropic, model: str, request_id: str) -> Message:
    """``messages.stream`` when the request id says so, else ``messages.create``."""
    headers = {"x-request-id": request_id}
    messages: list[MessageParam] = [{"role": "user", "content": PROMPT}]
    if not request_id.endswith("-stream"):
        return await client.messages.create(model=model, max_tokens=64, messages=messages, extra_headers=headers)
    async with client.messages.stream(model=model, max_tokens=64, messages=messages, extra_headers=headers) as stream:
        return await stream.get_final_message()


@pytest.mark.slow
async def test_responses_and_messages_spans_carry_the_genai_attributes(
    otlp_receiver: Any, mock_upstream_factory: MockFactory, tmp_path: Path
) -> None:
    receiver: OtlpReceiver = await otlp_receiver()
    gpt, claude = await mock_upstream_factory(), await mock_upstream_factory()
    config_path = tmp_path / "proxy.yaml"
    config_path.write_text(json.dumps(_config(gpt.base_url, claude.base_url).to_wire()))
    process, url = await start_proxy_cli("--config", str(config_path), env=otel_env(receiver))
    try:
        async with (
            openai.AsyncOpenAI(base_url=url + "/v1", api_key="c", max_retries=0) as oai,
            anthropic.AsyncAnthropic(base_url=url, api_key="c", max_retries=0) as ant,
        ):
            responses = {
                request_id: await _response(oai, model, request_id)
                for model, request_id in (
                    ("gpt-model", "responses-native"),
                    ("gpt-model", "responses-native-stream"),
                    ("claude-model", "responses-translated"),
                    ("claude-model", "responses-translated-stream"),
                    ("captured-model", "responses-captured"),
                )
            }
            messages = {
                request_id: await _message(ant, model, request_id)
                for model, request_id in (
                    ("claude-model", "messages-native"),
                    ("claude-model", "messages-native-stream"),
                    ("gpt-model", "messages-translated"),
                    ("gpt-model", "messages-translated-stream"),
                    ("captured-model", "messages-captured-stream"),
                )
            }
        spans = await receiver.wait_for_spans(lambda got: sum(s.kind == "server" for s in got) >= 10, "10 requests")
    finally:
        await stop_process(process)
    check_semconv(spans)

    for request_id, response in responses.items():
        assert response.status == "completed" and response.usage is not None
        tokens = (response.usage.input_tokens, response.usage.output_tokens)
        if "captured" not in request_id:
            _check(spans, request_id, response_id=response.id, reasons=["completed"], tokens=tokens)
    for request_id, message in messages.items():
        assert message.stop_reason == "end_turn"
        tokens = (message.usage.input_tokens, message.usage.output_tokens)
        if "captured" not in request_id:
            _check(spans, request_id, response_id=message.id, reasons=["end_turn"], tokens=tokens)
    assert _served(spans, "responses-native")[1].attributes["gen_ai.provider.name"] == "openai"
    assert _served(spans, "messages-native")[1].attributes["gen_ai.provider.name"] == "anthropic"
    assert _served(spans, "messages-translated")[1].attributes["switchboard.provider"] == "gpt"

    # Content only where the profile captures it, in the conventions' shape, for both APIs.
    captured_response, captured_message = responses["responses-captured"], messages["messages-captured-stream"]
    for request_id, response_id, text, reason in (
        ("responses-captured", captured_response.id, captured_response.output_text, "completed"),
        ("messages-captured-stream", captured_message.id, captured_message.content[0].text, "end_turn"),  # type: ignore[union-attr]
    ):
        request, attempt = _served(spans, request_id)
        assert request.attributes["gen_ai.response.id"] == response_id
        (given,) = json.loads(request.attributes["gen_ai.input.messages"])
        assert given == {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}
        (answered,) = json.loads(request.attributes["gen_ai.output.messages"])
        assert answered == {"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": reason}
        assert not CONTENT_KEYS & set(attempt.attributes)
    elsewhere = [s for s in spans if "captured" not in str(s.attributes.get("switchboard.request_id", ""))]
    assert not any(PROMPT in json.dumps(s.attributes) for s in elsewhere if s.kind == "server")
