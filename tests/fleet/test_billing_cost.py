"""Cost you can bill from: every adapter prices cache reads/writes and reasoning, streamed or not, the same.

The mock reports the system prompt as cached for models named ``*cache*``
(``cache-write``: as written to the cache) and 16 reasoning tokens for models
named ``*reason*``; the prices below make each kind of token cost differently.
"""

import aiohttp
import pytest

from switchboard.api.provider import Pricing, ProviderModel
from tests.fixtures.proxy import ProxyFactory, SdkClient, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory

SYSTEM = "you are a careful assistant"  # 5 mock tokens
USER = "hello there friend"  # 3 mock tokens, echoed back
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
PRICE = Pricing(
    input_per_million=1_000_000,  # $1 per uncached prompt token
    output_per_million=2_000_000,
    cached_input_per_million=100_000,
    cache_write_per_million=1_250_000,
    reasoning_per_million=3_000_000,
)
READ = 3 * 1 + 5 * 0.1 + 3 * 2 + 16 * 3  # uncached, cached, visible answer, reasoning
# Anthropic bills thinking as output and reports no count of it: the reasoning price cannot apply.
ANTHROPIC_READ = 3 * 1 + 5 * 0.1 + 19 * 2
ANTHROPIC_WRITE = 3 * 1 + 5 * 1.25 + 19 * 2

CASES = [  # (type, model, expected cost, cached tokens, reasoning tokens reported)
    ("openai", "mock-cache-reason", READ, 5, 16),
    ("azure-openai", "mock-cache-reason", READ, 5, 16),
    ("openai-compatible", "mock-cache-reason", READ, 5, 16),
    ("anthropic", "mock-cache-reason", ANTHROPIC_READ, 5, None),
    ("anthropic", "mock-cache-write-reason", ANTHROPIC_WRITE, 0, None),
    ("gemini", "mock-cache-reason", READ, 5, 16),
]


async def cost_metric(base_url: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(base_url + "/metrics") as resp:
        text = await resp.text()
    line = next((x for x in text.splitlines() if x.startswith('switchboard_cost_usd_total{profile="default"')), None)
    return 0.0 if line is None else float(line.split()[-1])


@pytest.mark.parametrize(("provider_type", "model", "expected", "cached", "reasoning"), CASES)
async def test_streamed_and_complete_answers_cost_the_same_with_cache_and_reasoning_priced(
    provider_type: str,
    model: str,
    expected: float,
    cached: int,
    reasoning: int | None,
    mock_upstream_factory: MockFactory,
    proxy_server: ProxyFactory,
    sdk_client: SdkClient,
) -> None:
    mock = await mock_upstream_factory()
    provider = provider_config("billed", provider_type, mock.base_url).model_copy(
        update={"models": (ProviderModel(name=model, pricing=PRICE),)}
    )
    proxy = await proxy_server(proxy_config([provider], models=(model,)))
    client = sdk_client(proxy)

    raw = await client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    answer = raw.parse()
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == 8 and answer.usage.completion_tokens == 3 + 16
    details = answer.usage.completion_tokens_details
    assert (details.reasoning_tokens if details else None) == reasoning
    assert answer.usage.prompt_tokens_details is not None
    assert answer.usage.prompt_tokens_details.cached_tokens == cached
    assert float(raw.headers["x-switchboard-cost-usd"]) == pytest.approx(expected)
    complete = await cost_metric(proxy.base_url)
    assert complete == pytest.approx(expected)

    stream = await client.chat.completions.create(
        model=model,
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    usages = [chunk.usage async for chunk in stream if chunk.usage is not None]
    assert [u.model_dump() for u in usages] == [answer.usage.model_dump()]  # the usage chunk is faithful
    streamed = await cost_metric(proxy.base_url) - complete
    assert streamed == pytest.approx(complete)
