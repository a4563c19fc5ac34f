"""Upstream rate-limit headers move a provider that is nearly out of quota down the plan, before any 429."""

import pytest

from switchboard.proxy.routing.headroom import upstream_headroom
from tests.fixtures.proxy import ProxyFactory, SdkClient, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory

MESSAGES = [{"role": "user", "content": "hi"}]


def test_headroom_is_the_tightest_share_the_headers_report() -> None:
    openai = {"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "450"}
    openai |= {"x-ratelimit-limit-tokens": "10000", "x-ratelimit-remaining-tokens": "200"}
    assert upstream_headroom(openai) == pytest.approx(0.02)
    anthropic = {"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "25"}
    assert upstream_headroom(anthropic) == pytest.approx(0.5)
    assert upstream_headroom({}) is None
    junk = {"x-ratelimit-limit-requests": "0", "x-ratelimit-remaining-requests": "nan"}
    assert upstream_headroom(junk) is None


@pytest.mark.parametrize("provider_type", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [False, True])
async def test_a_provider_low_on_upstream_quota_goes_after_the_others(
    provider_type: str,
    stream: bool,
    mock_upstream_factory: MockFactory,
    proxy_server: ProxyFactory,
    sdk_client: SdkClient,
) -> None:
    tight, roomy = await mock_upstream_factory(), await mock_upstream_factory()
    providers = [
        provider_config("tight", provider_type, tight.base_url),
        provider_config("roomy", "openai", roomy.base_url),
    ]
    proxy = await proxy_server(proxy_config(providers))
    client = sdk_client(proxy)

    async def served_by() -> str:
        raw = await client.chat.completions.with_raw_response.create(
            model="mock-model",
            messages=MESSAGES,
            stream=stream,  # type: ignore[arg-type]
        )
        if stream:
            [_ async for _ in raw.parse()]  # type: ignore[union-attr]
        return raw.headers["x-switchboard-provider"]

    await tight.set_faults(quota_left=0.5)
    assert await served_by() == "tight"  # plenty left: failover order holds
    await tight.set_faults(quota_left=0.05)
    assert await served_by() == "tight"  # this answer tells the proxy the quota is nearly gone
    assert [await served_by() for _ in range(3)] == ["roomy"] * 3
    await tight.clear_faults()
