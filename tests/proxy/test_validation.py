"""Unit tests of request validation (pure; the HTTP path is covered in test_errors)."""

import pytest

from switchboard.proxy.errors import ApiError
from switchboard.proxy.validation import decode_json_object, parse_chat, parse_embeddings

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
