"""Golden files: request building and response/stream translation per adapter.

Inputs live in ``golden/``; each expected output sits next to its input as
``<name>.expected.json``. Regenerate after a deliberate change with
``make golden`` (``UPDATE_GOLDEN=1``, see ``tests/golden.py``) and review the diff.
"""

from pathlib import Path
from typing import Any

import orjson
import pytest

from switchboard.proxy.adapters.anthropic import AnthropicAdapter
from switchboard.proxy.adapters.azure import AzureOpenAIAdapter
from switchboard.proxy.adapters.base import Adapter
from switchboard.proxy.adapters.gemini import GeminiAdapter
from switchboard.proxy.adapters.openai import OpenAIAdapter
from tests.adapters.support import decode_events, make_target
from tests.golden import SWITCH, updating

GOLDEN = Path(__file__).parent / "golden"
BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "azure-openai": "https://example.openai.azure.com",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}


def inputs(pattern: str) -> list[Path]:
    return sorted(p for p in GOLDEN.glob(pattern) if not p.name.endswith(".expected.json"))


def fixed_clock() -> float:
    return 1_700_000_000.0


def adapter_for(family: str) -> Adapter:
    classes: dict[str, Any] = {
        "openai": OpenAIAdapter,
        "azure-openai": AzureOpenAIAdapter,
        "anthropic": AnthropicAdapter,
        "gemini": GeminiAdapter,
    }
    adapter: Adapter = classes[family](clock=fixed_clock)
    return adapter


def check(actual: Any, expected_path: Path) -> None:
    if updating():
        expected_path.write_bytes(orjson.dumps(actual, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    assert expected_path.exists(), f"missing golden {expected_path}; run with {SWITCH}=1"
    assert actual == orjson.loads(expected_path.read_bytes())


@pytest.mark.parametrize("family", sorted(BASE_URLS))
@pytest.mark.parametrize("stream", [False, True])
def test_request_golden(family: str, stream: bool) -> None:
    target = make_target(family, BASE_URLS[family], api_version="2024-10-21" if family == "azure-openai" else None)
    body = orjson.loads((GOLDEN / "chat_request.json").read_bytes())
    request = adapter_for(family).chat_request(target, body, stream=stream)
    actual = {
        "method": request.method,
        "url": request.url,
        "headers": dict(request.headers),
        "body": orjson.loads(request.body),
    }
    check(actual, GOLDEN / family / f"chat_request{'_stream' if stream else ''}.expected.json")


@pytest.mark.parametrize("path", inputs("*/response_*.json"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_response_golden(path: Path) -> None:
    family = path.parent.name
    target = make_target(family, BASE_URLS[family])
    response, body, usage = adapter_for(family).chat_answer(target, "public-model", path.read_bytes())
    assert body is None or orjson.loads(body) == response  # None: the proxy built it, its sender encodes it
    assert response["usage"]["prompt_tokens"] == usage.prompt_tokens
    check(response, path.with_suffix(".expected.json"))


@pytest.mark.parametrize("path", inputs("*/stream_*.sse"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_stream_golden(path: Path) -> None:
    family = path.parent.name
    translator = adapter_for(family).chat_stream(
        make_target(family, BASE_URLS[family]), "public-model", include_usage=True
    )
    events = translator.feed(path.read_bytes()) + translator.finish()
    check(decode_events(events), path.with_suffix(".expected.json"))
