"""Unit tests of request validation (pure; the HTTP path is covered in test_errors)."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.proxy.errors import ApiError
from switchboard.proxy.routing.tokens import estimate_prompt_tokens
from switchboard.proxy.validation import ChatFlags, chat_flags, decode_json_object, parse_chat, parse_embeddings

OK = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_unknown_fields_pass_through() -> None:
    chat = parse_chat({**OK, "brand_new_param": {"x": 1}, "seed": 3})
    assert chat.model == "m"


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"model": ""}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"n": 0}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stream": "yes"}, "stream"),
        ({"tools": [{"type": "function", "function": {"name": "has space"}}]}, "tools[0].function.name"),
    ],
)
def test_invalid_params_are_named(change: dict[str, object], param: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_chat({**OK, **change})
    assert info.value.status == 400
    assert info.value.param == param
    assert param in info.value.message


def test_embeddings_input_shapes() -> None:
    assert parse_embeddings({"model": "e", "input": ["a", "b"]}).model == "e"
    with pytest.raises(ApiError) as info:
        parse_embeddings({"model": "e", "input": {"a": 1}})
    assert info.value.param == "input"


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b""])
def test_body_must_be_a_json_object(raw: bytes) -> None:
    with pytest.raises(ApiError) as info:
        decode_json_object(raw)
    assert info.value.status == 400


# chat_flags checks plain requests without the model: for every body it must accept exactly what parse_chat
# accepts, with the same flags, and refuse the rest with parse_chat's error. Values are mostly valid, so that
# a body is often valid but for one field.
_ANY = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 300), st.floats(allow_nan=True), st.text(max_size=3), st.just([])
)


def _mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` 19 times in 20, else anything."""
    return st.integers(0, 19).flatmap(lambda draw: valid if draw else _ANY)


_TEXT = _mostly(st.text(max_size=4))
_PART = _mostly(st.fixed_dictionaries({"type": _mostly(st.just("text"))}, optional={"text": _ANY}))
_FUNCTION_CALL = st.fixed_dictionaries({"name": _mostly(st.just("f")), "arguments": _TEXT})
_CALL = _mostly(
    st.fixed_dictionaries(
        {"id": _TEXT, "function": _mostly(_FUNCTION_CALL)}, optional={"type": _mostly(st.just("function"))}
    )
)
_ROLE = _mostly(st.sampled_from(["system", "developer", "user", "assistant", "tool", "function"]))
_MESSAGE = _mostly(
    st.fixed_dictionaries(
        {"role": _ROLE},
        optional={
            "content": _mostly(st.none() | st.text(max_size=5) | st.lists(_PART, max_size=2)),
            "name": _mostly(st.none() | st.text(max_size=2)),
            "tool_call_id": _mostly(st.none() | st.text(max_size=2)),
            "tool_calls": _mostly(st.none() | st.lists(_CALL, max_size=2)),
            "extra": _ANY,
            "type": _ANY,  # not text the token estimate counts, at any level
        },
    )
)
_FUNCTION_NAME = st.sampled_from(["get_time", "a-b_9", "has space", "x" * 64, "x" * 65, "ok\n", "é", ""])
_FUNCTION = st.fixed_dictionaries(
    {"name": _mostly(_FUNCTION_NAME)},
    optional={
        "description": _mostly(st.none() | st.text(max_size=2)),
        "parameters": _mostly(st.none() | st.just({"type": "object"})),
    },
)
_TOOL = _mostly(st.fixed_dictionaries({"type": _mostly(st.just("function")), "function": _mostly(_FUNCTION)}))
_NUMBER = _mostly(st.none() | st.floats(-0.5, 2.5) | st.integers(-1, 3))
_COUNT = _mostly(st.none() | st.integers(-1, 130) | st.booleans())
_CHAT = st.fixed_dictionaries(
    {"model": _mostly(st.just("m")), "messages": _mostly(st.lists(_MESSAGE, max_size=3))},
    optional={
        "stream": _mostly(st.booleans()),
        "stream_options": _mostly(st.none() | st.fixed_dictionaries({}, optional={"include_usage": _ANY})),
        "n": _COUNT,
        "temperature": _NUMBER,
        "top_p": _NUMBER,
        "max_tokens": _COUNT,
        "max_completion_tokens": _COUNT,
        "tools": _mostly(st.none() | st.lists(_TOOL, max_size=2)),
        "user": _mostly(st.none() | st.text(max_size=2)),
        "seed": _ANY,
    },
)


@settings(max_examples=1500, deadline=None)
@given(_CHAT)
def test_chat_flags_decide_as_the_model_does(body: dict[str, Any]) -> None:
    try:
        chat = parse_chat(body)
    except ApiError as refused:
        with pytest.raises(ApiError) as info:
            chat_flags(body)
        assert (info.value.status, info.value.param, info.value.message) == (
            refused.status,
            refused.param,
            refused.message,
        )
    else:  # the one pass over the messages counts what the router's estimator counts
        tokens = estimate_prompt_tokens(body["messages"], body.get("tools"))
        assert chat_flags(body) == ChatFlags(chat.stream, chat.include_usage, tokens)


_PLAIN = {**OK, "tools": [{"type": "function", "function": {"name": "f"}}], "stream_options": {}}


@pytest.mark.parametrize(
    "change",
    [
        {"n": True},
        {"n": None},
        {"n": 129},
        {"temperature": True},
        {"temperature": 2.0000001},
        {"top_p": "0.5"},
        {"max_tokens": 1.0},
        {"stream": None},
        {"stream_options": {"include_usage": 1}},
        {"stream_options": []},
        {"user": 5},
        {"model": ["m"]},
        {"messages": [{"role": "wizard"}]},
        {"messages": [{"role": ["user"]}]},
        {"messages": [{"role": "user", "content": [{"type": ""}]}]},
        {"messages": [{"role": "user", "name": 1}]},
        {"messages": [{"role": "system", "tool_calls": ""}]},
        {"messages": [{"role": "tool", "tool_call_id": None, "content": "x"}, "hi"]},
        {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "", "arguments": ""}}]}]},
        {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "x", "function": {}}]}]},
        {"tools": [{"type": "function", "function": {"name": "x" * 65}}]},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {1: "x"}}}]},
        {"tools": [{"type": "function", "function": {"name": "f", "description": 3}}]},
        {"tools": [{"type": "function"}]},
    ],
)
def test_chat_flags_refuse_what_the_model_refuses(change: dict[str, Any]) -> None:
    assert chat_flags(_PLAIN)[:2] == (False, False)
    with pytest.raises(ApiError) as expected:
        parse_chat({**_PLAIN, **change})
    with pytest.raises(ApiError) as info:
        chat_flags({**_PLAIN, **change})
    assert (info.value.param, info.value.message) == (expected.value.param, expected.value.message)


def test_chat_flags_of_plain_requests() -> None:
    assert chat_flags(OK) == ChatFlags(stream=False, include_usage=False, prompt_tokens=1 + 4)  # "hi", one message
    image = {"type": "image_url", "image_url": {"url": "data:" + "A" * 400}}
    parts = {"role": "user", "name": "bob", "content": [{"type": "text", "text": "12345678"}, image]}
    assert chat_flags({**OK, "messages": [parts]}).prompt_tokens == 3 + 4  # "bob" + 8 characters; no image bytes
    streaming = {**OK, "stream": True, "stream_options": {"include_usage": True}, "temperature": 1}
    assert chat_flags(streaming)[:2] == (True, True)
    with pytest.raises(ApiError) as info:
        chat_flags({**OK, "tools": [{"type": "function", "function": {"name": "trailing\n"}}]})
    assert info.value.param == "tools[0].function.name"
