"""The real ``switchboard-proxy`` CLI in subprocesses: single process and SO_REUSEPORT workers."""

import asyncio
import subprocess

import openai
import pytest

from hack.checkout import checkout_env, python_module
from tests.fixtures.proxy import provider_config, proxy_config
from tests.fixtures.upstream import MockFactory


def test_help_lists_the_options() -> None:
    result = subprocess.run(
        python_module("switchboard.proxy.cli", "--help"),
        capture_output=True,
        text=True,
        env=checkout_env(),
        timeout=60,
        check=True,
    )
    for option in ("--config", "--kubernetes", "--host", "--port", "--workers", "--log-level", "--max-body-bytes"):
        assert option in result.stdout


def test_config_or_kubernetes_is_required() -> None:
    result = subprocess.run(
        python_module("switchboard.proxy.cli"),
        capture_output=True,
        text=True,
        env=checkout_env(),
        timeout=60,
    )
    assert result.returncode == 2
    assert "--config" in result.stderr


@pytest.mark.slow
async def test_subprocess_serves_with_env_key(
    mock_upstream_factory: MockFactory, proxy_process: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock = await mock_upstream_factory(api_key="sk-cli")
    config = proxy_config([provider_config("a", "openai", mock.base_url, key_env="SB_CLI_KEY")])
    proxy = await proxy_process(config, env={"SB_CLI_KEY": "sk-cli"})  # type: ignore[operator]
    async with openai.AsyncOpenAI(base_url=proxy.openai_base_url, api_key="c", max_retries=0) as client:
        reply = await client.chat.completions.create(model="mock-model", messages=[{"role": "user", "content": "cli"}])
    assert reply.choices[0].message.content == "cli"


@pytest.mark.slow
async def test_multiple_workers_start_and_serve(mock_upstream_factory: MockFactory, proxy_process: object) -> None:
    mock = await mock_upstream_factory()
    proxy = await proxy_process(proxy_config([provider_config("a", "openai", mock.base_url)]), "--workers", "2")  # type: ignore[operator]
    async with openai.AsyncOpenAI(base_url=proxy.openai_base_url, api_key="c", max_retries=2) as client:
        replies = await asyncio.gather(
            *(
                client.chat.completions.create(model="mock-model", messages=[{"role": "user", "content": f"w{i}"}])
                for i in range(8)
            )
        )
    assert [r.choices[0].message.content for r in replies] == [f"w{i}" for i in range(8)]
    assert (await mock.stats())["total"] == 8
    # Fresh connections are spread over the workers by the kernel (SO_REUSEPORT).
    # The second worker may still be loading its config: poll (bounded) until both answered.
    pids = set()
    for _ in range(400):
        _, body = await proxy.readyz()
        pids.add(body["pid"])
        if len(pids) == 2:
            break
        await asyncio.sleep(0.025)
    assert len(pids) == 2
