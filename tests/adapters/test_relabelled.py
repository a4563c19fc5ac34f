"""Complete answers go back to the client as the upstream wrote them when only the model could need renaming."""

import orjson

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.adapters.openai import OpenAIAdapter
from switchboard.proxy.adapters.wire import relabelled
from tests.adapters.support import make_target

# Whitespace and escapes no re-encoding would keep, and a float no re-encoding would spell the same way.
RAW = (
    b'{ "id": "chatcmpl-1", "object": "chat.completion", "model": "public-model",\n'
    b'  "choices": [{"index": 0, "message": {"role": "assistant", "content": "caf\\u00e9"},\n'
    b'               "finish_reason": "stop"}],\n'
    b'  "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}, "score": 1.50 }'
)


def test_an_answer_naming_the_public_model_is_the_upstreams_own_bytes() -> None:
    payload = orjson.loads(RAW)
    assert relabelled(payload, RAW, "public-model") is RAW


def test_an_answer_naming_another_model_is_renamed_and_re_encoded() -> None:
    payload = orjson.loads(RAW)
    body = relabelled(payload, RAW, "gpt-public")
    assert payload["model"] == "gpt-public"
    assert orjson.loads(body) == payload
    without_model = {k: v for k, v in orjson.loads(RAW).items() if k != "model"}
    assert relabelled(dict(without_model), orjson.dumps(without_model), "p") == orjson.dumps(
        {**without_model, "model": "p"}
    )


def test_openai_chat_answer_passes_bytes_through_only_when_unchanged() -> None:
    adapter = OpenAIAdapter()
    target = make_target("openai", "http://127.0.0.1:1/v1")
    payload, body, usage = adapter.chat_answer(target, "public-model", RAW)
    assert body is RAW and payload["choices"][0]["message"]["content"] == "café"
    assert usage == Usage(prompt_tokens=3, completion_tokens=2)
    renamed, renamed_body, _ = adapter.chat_answer(target, "other", RAW)
    assert orjson.loads(renamed_body) == renamed and renamed["model"] == "other"
