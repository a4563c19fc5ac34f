"""Error mapping: status, message and Retry-After for every upstream family."""

import email.utils

import pytest

from switchboard.proxy.adapters.base import AdapterRequestError, UpstreamProtocolError
from switchboard.proxy.adapters.errors import error_message, parse_retry_after
from switchboard.proxy.adapters.wire import require_messages
from tests.adapters.support import make_target
from tests.adapters.test_golden import BASE_URLS, adapter_for

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("family", "status", "body", "expected"),
    [
        (
            "openai",
            429,
            b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}',
            "Rate limit reached (requests)",
        ),
        (
            "azure-openai",
            404,
            b'{"error":{"code":"DeploymentNotFound","message":"no such deployment"}}',
            "no such deployment (DeploymentNotFound)",
        ),
        (
            "anthropic",
            529,
            b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
            "Overloaded (overloaded_error)",
        ),
        (
            "gemini",
            400,
            b'{"error":{"code":400,"message":"API key not valid","status":"INVALID_ARGUMENT"}}',
            "API key not valid (INVALID_ARGUMENT)",
        ),
        ("openai", 502, b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        ("openai", 500, b"", "empty error body"),
        ("openai", 404, b'{"error":"model not found"}', "model not found"),
    ],
)
def test_error_bodies(family: str, status: int, body: bytes, expected: str) -> None:
    error = adapter_for(family).error(status, body, {})
    assert error.status == status
    assert error.message == f"{family} upstream returned HTTP {status}: {expected}"
    assert error.retry_after is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "12"}, 12.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"Retry-After": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),
        ({"Retry-After": "-4"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, lambda: NOW) == expected


def test_long_error_text_is_truncated() -> None:
    assert len(error_message(b"x" * 5000)) == 500


@pytest.mark.parametrize("family", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"{}"])
def test_malformed_responses_are_protocol_errors(family: str, raw: bytes) -> None:
    target = make_target(family, "http://127.0.0.1:1")
    with pytest.raises(UpstreamProtocolError, match=family):
        adapter_for(family).chat_answer(target, "m", raw)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": [{"role": "user", "content": 5}]}, "content must be"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "n must be 1"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{"}}]}]},
            "not valid JSON",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
        ({"messages": [{"role": "user", "content": "x"}], "tool_choice": 3}, "tool_choice"),
    ],
)
@pytest.mark.parametrize("family", ["anthropic", "gemini"])
def test_bad_client_bodies_are_request_errors(family: str, body: dict[str, object], message: str) -> None:
    with pytest.raises(AdapterRequestError, match=message):
        adapter_for(family).chat_request(make_target(family, "http://127.0.0.1:1"), body, stream=False)


@pytest.mark.parametrize(
    ("body", "message"),
    [({"messages": []}, "non-empty"), ({}, "non-empty"), ({"messages": [{"content": "x"}]}, "role")],
)
def test_messages_no_adapter_can_translate_are_refused_where_the_body_comes_in(
    body: dict[str, object], message: str
) -> None:
    """Adapters take checked messages: the check runs once per request, not once per attempt."""
    with pytest.raises(AdapterRequestError, match=message):
        require_messages(body)


def test_gemini_refuses_remote_images() -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}
    with pytest.raises(AdapterRequestError, match="data: URLs"):
        adapter_for("gemini").chat_request(make_target("gemini", None), body, stream=False)


@pytest.mark.parametrize("family", ["anthropic", "gemini"])
def test_mid_stream_error_event(family: str) -> None:
    event = (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
        if family == "anthropic"
        else b'data: {"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}\n\n'
    )
    translator = adapter_for(family).chat_stream(make_target(family, None), "m", include_usage=False)
    with pytest.raises(Exception) as info:
        translator.feed(event)
    assert getattr(info.value, "status", None) in (529, 503)


@pytest.mark.parametrize("family", ["openai", "azure-openai", "anthropic", "gemini"])
@pytest.mark.parametrize("objects", [False, True], ids=["events", "chunk-objects"])
def test_stream_data_that_is_not_utf8_is_a_protocol_error(family: str, objects: bool) -> None:
    """Event data stays bytes in the decoder; the JSON read after it refuses invalid UTF-8 (for chat
    clients and for the encoders of the other client APIs alike), never relays it."""
    target = make_target(family, BASE_URLS[family], api_version="2024-10-21" if family == "azure-openai" else None)
    translator = adapter_for(family).chat_stream(target, "m", include_usage=False)
    feed = translator.feed_chunks if objects else translator.feed
    with pytest.raises(UpstreamProtocolError, match="UTF-8"):
        feed(b'data: {"id":"x","model":"m","choices":[{"index":0,"delta":{"content":"\xff"}}]}\n\n')
