"""A Service endpoint that goes silent: ``firstByteSeconds`` bounds the wait on it, whatever the attempt's total.

The attempt's total and the request's deadline are far past the client's own timeout, so only the silence
bound can answer in time: before the headers, and inside a stream that stalls after its first events.
"""

from contextlib import AsyncExitStack
from typing import Any

import openai
import pytest

from switchboard.api.config import ProxyConfig, parse_config
from switchboard.mock.harness import MockControl, run_in_process
from tests.endpoints.test_proxy_endpoints import MESSAGES, slices
from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient
from tests.hardening.checks import upstream_error_count

pytestmark = pytest.mark.timeout(60)

LONG = 600
CLIENT_WAIT = 20.0


def silent_config() -> ProxyConfig:
    provider: dict[str, Any] = {
        "name": "local",
        "type": "openai-compatible",
        "service": {"name": "vllm", "port": "http"},
        "models": [{"name": "mock-model"}],
        "timeouts": {"firstByteSeconds": 1, "totalSeconds": LONG},
    }
    profile = {
        "name": "default",
        "models": ["mock-model"],
        "providers": [{"name": "local"}],
        "retry": {"maxRetries": 0, "deadlineSeconds": LONG},
    }
    return parse_config({"providers": [provider], "profiles": [profile]})


async def silent_endpoint(stack: AsyncExitStack, proxy_server: ProxyFactory) -> tuple[MockControl, ProxyServer]:
    mock = await stack.enter_async_context(run_in_process())
    proxy = await proxy_server(silent_config())
    assert proxy.runtime is not None
    proxy.runtime.router.endpoints.update(slices([mock]))
    return mock, proxy


async def test_an_endpoint_silent_before_its_headers_is_a_504(
    proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    async with AsyncExitStack() as stack:
        mock, proxy = await silent_endpoint(stack, proxy_server)
        await mock.set_faults("mock-model", hang=True)
        client = sdk_client(proxy).with_options(max_retries=0, timeout=CLIENT_WAIT)
        with pytest.raises(openai.APIStatusError) as raised:
            await client.chat.completions.create(model="mock-model", messages=MESSAGES)  # type: ignore[arg-type]
        assert raised.value.status_code == 504
        assert "upstream timed out" in raised.value.message
        assert await upstream_error_count(proxy, "local") == 1


async def test_a_stream_that_stalls_on_an_endpoint_ends_with_an_error_event(
    proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    async with AsyncExitStack() as stack:
        mock, proxy = await silent_endpoint(stack, proxy_server)
        await mock.set_faults("mock-model", stall_after=2)
        client = sdk_client(proxy).with_options(max_retries=0, timeout=CLIENT_WAIT)
        received: list[str] = []
        with pytest.raises(openai.APIError, match="stream interrupted: upstream timed out"):
            stream = await client.chat.completions.create(
                model="mock-model",
                messages=MESSAGES,  # type: ignore[arg-type]
                stream=True,
            )
            async for chunk in stream:
                received.extend(c.delta.content or "" for c in chunk.choices)
        assert received
        assert await upstream_error_count(proxy, "local") == 1
