"""The real ``switchboard-proxy`` CLI in subprocesses: single process and SO_REUSEPORT workers."""

import asyncio
import logging
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from hack.checkout import checkout_env, python_module
from switchboard.proxy import cli
from tests.fixtures.proxy import provider_config, proxy_config
from tests.fixtures.upstream import MockFactory


@pytest.fixture(autouse=True)
def root_logging_restored() -> Iterator[None]:
    """``cli.main`` run in this process configures the root logger onto the test's captured stderr, which is closed
    after the test: put back what was there, or every later line (the access log's among them) fails to write."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


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


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--port", "99999"), "--port must be between 0 and 65535, got 99999"),
        (("--port", "-1"), "--port must be between 0 and 65535"),
        (("--workers", "0"), "--workers must be between 1 and"),
        (("--reload-interval", "0"), "--reload-interval must be between"),
        (("--reload-interval", "nan"), "--reload-interval must be between"),
        (("--max-body-bytes", "0"), "--max-body-bytes must be positive"),
        (("--shutdown-grace", "-1"), "--shutdown-grace must be between 0 and 3600"),
        (("--shutdown-grace", "nan"), "--shutdown-grace must be between 0 and 3600"),
        (("--state-store", "redis+cluster://r:6379"), "Redis Cluster) is not supported: use one primary"),
        (("--state-store", "rediss+cluster://r:6379"), "Redis Cluster) is not supported"),
        (("--state-store", "http://r:6379"), "must start with redis://, rediss:// or unix://"),
        (("--client-auth",), "--client-auth without --api-keys-file would refuse every request"),
    ],
)
def test_invalid_flags_are_refused_with_one_line(
    flags: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--config", "unused.yaml", *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("switchboard-proxy: ") and message in err, err


def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "empty.yaml"
    config.write_text("providers: []\nprofiles: []\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for extra in ((), ("--workers", "2")):
            result = subprocess.run(
                python_module(
                    "switchboard.proxy.cli", "--config", str(config), "--host", "127.0.0.1", "--port", port, *extra
                ),
                capture_output=True,
                text=True,
                env=checkout_env(),
                timeout=60,
            )
            assert result.returncode == 1
            assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "in use" in result.stderr
            assert "Traceback" not in result.stderr


def test_version_and_help_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as version:
        cli.main(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out.startswith("switchboard-proxy ")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    helped = capsys.readouterr().out
    assert "(default: 8080)" in helped and "(default: 0.5)" in helped
