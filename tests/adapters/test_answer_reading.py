"""The OpenAI adapter reads a complete answer with its parse, counts and relabelling inlined, and sends a
plain chat body uncopied: for every input the result must equal the plain reading these shortcuts replace
(a full ``load_object`` parse, ``as_int`` per count, ``relabelled``, a copied body)."""

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.proxy.adapters.base import UpstreamProtocolError, Usage
from switchboard.proxy.adapters.openai import OpenAIAdapter, chat_body, read_usage
from switchboard.proxy.adapters.wire import as_int, load_object, relabelled
from tests.adapters.support import make_target

_ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 2**40), st.floats(allow_nan=False), st.text(max_size=3), st.just([])
)
_COUNT = st.one_of(st.integers(-3, 10**6), _ODD)
_DETAILS = st.one_of(_ODD, st.fixed_dictionaries({}, optional={"cached_tokens": _COUNT, "reasoning_tokens": _COUNT}))
_USAGE = st.one_of(
    _ODD,
    st.fixed_dictionaries(
        {},
        optional={
            "prompt_tokens": _COUNT,
            "completion_tokens": _COUNT,
            "total_tokens": _COUNT,
            "prompt_tokens_details": _DETAILS,
            "completion_tokens_details": _DETAILS,
        },
    ),
)
_CHOICE = st.one_of(st.fixed_dictionaries({"index": st.integers(0, 2)}), _ODD)
_ANSWER = st.fixed_dictionaries(
    {},
    optional={
        "model": st.one_of(st.sampled_from(["public-model", "upstream-model"]), _ODD),
        "choices": st.one_of(st.lists(_CHOICE, max_size=3), _ODD),
        "data": st.one_of(st.lists(_CHOICE, max_size=3), _ODD),
        "usage": _USAGE,
        "id": st.text(max_size=3),
    },
)
_RAW = st.one_of(
    _ANSWER.map(orjson.dumps),
    _ANSWER.map(lambda answer: orjson.dumps(answer, option=orjson.OPT_INDENT_2)),  # bytes a re-encoding changes
    _ODD.map(orjson.dumps),  # JSON, not an object
    st.binary(max_size=12),  # mostly not JSON
)


def _reference_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens_details"), raw.get("completion_tokens_details")
    return Usage(
        prompt_tokens=as_int(raw.get("prompt_tokens")),
        completion_tokens=as_int(raw.get("completion_tokens")),
        cached_tokens=as_int(prompt.get("cached_tokens")) if isinstance(prompt, dict) else 0,
        reasoning_tokens=as_int(completion.get("reasoning_tokens")) if isinstance(completion, dict) else 0,
    )


def _reference_answer(raw: bytes, what: str, array: str) -> tuple[dict[str, Any], bytes, Usage]:
    payload = load_object("openai", raw, f"{what} response")
    items = payload.get(array)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise UpstreamProtocolError(f"openai {what} response has no {array!r} array of objects")
    return payload, relabelled(payload, raw, "public-model"), _reference_usage(payload.get("usage")) or Usage()


@settings(max_examples=800, deadline=None)
@given(_USAGE)
def test_usage_counts_equal_as_int_per_field(usage: Any) -> None:
    assert read_usage(usage) == _reference_usage(usage)


@pytest.mark.parametrize(("what", "array"), [("chat", "choices"), ("embeddings", "data")])
@settings(max_examples=800, deadline=None)
@given(raw=_RAW)
def test_an_answer_reads_as_the_full_parse_does(what: str, array: str, raw: bytes) -> None:
    adapter, target = OpenAIAdapter(), make_target("openai", "http://127.0.0.1:1/v1")
    read = adapter.chat_answer if what == "chat" else adapter.embeddings_response
    try:
        expected = _reference_answer(raw, what, array)
    except UpstreamProtocolError as refused:
        with pytest.raises(UpstreamProtocolError) as info:
            read(target, "public-model", raw)
        assert str(info.value) == str(refused)
        return
    payload, body, usage = read(target, "public-model", raw)
    assert (payload, body, usage) == expected
    assert (body is raw) == (expected[1] is raw)  # the upstream's own bytes exactly when nothing was renamed


_BODY = st.fixed_dictionaries(
    {"messages": st.just([{"role": "user", "content": "hi"}])},
    optional={
        "model": st.sampled_from(["public-model", "upstream-model"]),
        "stream": st.booleans(),
        "stream_options": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"include_usage": st.booleans()})),
        "temperature": st.just(0.5),
    },
)


def _reference_body(body: dict[str, Any], model: str | None, stream: bool) -> dict[str, Any]:
    out = {k: v for k, v in body.items() if k not in ("stream", "stream_options", "model")}
    if model is not None:
        out["model"] = model
    if stream:
        options = body.get("stream_options")
        out |= {"stream": True, "stream_options": {**(options or {}), "include_usage": True}}
    return out


@settings(max_examples=300, deadline=None)
@given(_BODY, st.sampled_from(["upstream-model", "public-model", None]), st.booleans())
def test_a_chat_body_is_sent_uncopied_only_when_it_needs_no_change(
    body: dict[str, Any], model: str | None, stream: bool
) -> None:
    before = orjson.dumps(body)
    out = chat_body(body, model, stream=stream)
    assert out == _reference_body(body, model, stream)
    assert orjson.dumps(body) == before  # the client's body itself is never changed
