"""Golden files for the inbound codecs: requests to chat, answers and streams back, native pass-through.

Regenerate after a deliberate change with ``make golden`` (``UPDATE_GOLDEN=1``)
and review the diff. Translated streams and answers reuse the adapters' upstream goldens, so each
inbound API is checked over every upstream family.
"""

from pathlib import Path

import orjson
import pytest

from switchboard.proxy.apis import messages_object, messages_request, responses_object, responses_request
from switchboard.proxy.apis.responses_object import native_response
from tests.adapters.support import make_target
from tests.adapters.test_golden import BASE_URLS, adapter_for, check, fixed_clock
from tests.apis.support import (
    ENVELOPE,
    HERE,
    NATIVE_STREAMS,
    UPSTREAM_RESPONSES,
    UPSTREAM_STREAMS,
    decode,
    encoder,
    run,
)

TRANSLATE = {"responses": responses_request.chat_body, "messages": messages_request.chat_body}


REQUESTS = sorted(p for p in HERE.glob("*/request_*.json") if ".expected" not in p.name)


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_request_to_chat(path: Path) -> None:
    chat = TRANSLATE[path.parent.name](orjson.loads(path.read_bytes()))
    check(chat, path.with_suffix(".chat.expected.json"))


@pytest.mark.parametrize("api", ["responses", "messages"])
@pytest.mark.parametrize("upstream", UPSTREAM_STREAMS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_translated_stream(api: str, upstream: Path) -> None:
    events = decode(run(encoder(api, upstream), [upstream.read_bytes()]))
    check(events, HERE / api / f"from_{upstream.parent.name}_{upstream.stem}.expected.json")


@pytest.mark.parametrize("api", ["responses", "messages"])
def test_native_stream(api: str) -> None:
    path = NATIVE_STREAMS[api]
    translator = encoder(api, None)
    events = decode(run(translator, [path.read_bytes()]))
    check(events, path.with_suffix(".expected.json"))
    assert translator.usage is not None
    check(
        [translator.usage.prompt_tokens, translator.usage.completion_tokens], path.with_suffix(".usage.expected.json")
    )


@pytest.mark.parametrize("upstream", UPSTREAM_RESPONSES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_translated_answers(upstream: Path) -> None:
    family = upstream.parent.name
    target = make_target(family, BASE_URLS[family])
    completion, _, usage = adapter_for(family).chat_answer(target, "public-model", upstream.read_bytes())
    check(
        {
            "responses": responses_object.from_chat(ENVELOPE, completion, usage, int(fixed_clock())),
            "messages": messages_object.from_chat(completion, usage, "public-model"),
        },
        HERE / f"answers_from_{family}_{upstream.stem}.expected.json",
    )


def test_native_answers() -> None:
    response, response_body, response_usage = native_response(
        (HERE / "responses" / "native_response.json").read_bytes(), "public"
    )
    message, message_body, message_usage = messages_object.native_message(
        (HERE / "messages" / "native_response.json").read_bytes(), "public"
    )
    assert orjson.loads(response_body) == response and orjson.loads(message_body) == message
    assert response["output"][0]["type"] == "web_search_call"  # nothing the gateway does not know is dropped
    assert message["content"][0]["type"] == "thinking"
    assert (response_usage.prompt_tokens, response_usage.completion_tokens) == (21, 9)
    assert (message_usage.prompt_tokens, message_usage.completion_tokens) == (115, 5)  # cache reads and writes count
    assert response["model"] == message["model"] == "public"


def test_native_requests() -> None:
    responses_body = orjson.loads((HERE / "responses" / "request_full.json").read_bytes())
    messages_body = orjson.loads((HERE / "messages" / "request_full.json").read_bytes())
    client_headers = {
        "Anthropic-Version": "2023-06-01",
        "anthropic-beta": "prompt-caching-2024-07-31, oauth-2025-04-20,interleaved-thinking-2025-05-14,bad beta!",
        "x-api-key": "client-key-never-forwarded",
    }
    openai_request = adapter_for("openai").responses_request(  # type: ignore[attr-defined]
        make_target("openai", BASE_URLS["openai"]), responses_body, stream=True
    )
    anthropic_request = adapter_for("anthropic").messages_request(  # type: ignore[attr-defined]
        make_target("anthropic", BASE_URLS["anthropic"]), messages_body, stream=True, client_headers=client_headers
    )
    actual = {
        name: {"url": r.url, "headers": dict(r.headers), "body": orjson.loads(r.body)}
        for name, r in (("responses", openai_request), ("messages", anthropic_request))
    }
    check(actual, HERE / "native_requests.expected.json")
