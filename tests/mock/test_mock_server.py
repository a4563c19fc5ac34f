"""The mock upstream through its HTTP interface: dialects, faults, control API, CLI."""

import asyncio
import subprocess
from pathlib import Path

import aiohttp
import pytest

from hack.checkout import checkout_env, python_module
from switchboard.mock.cli import load_faults
from switchboard.mock.faults import FaultSpecError
from switchboard.mock.harness import MockControl, run_subprocess
from tests.fixtures.upstream import MockFactory

CHAT = {"model": "m1", "messages": [{"role": "user", "content": "one two three"}]}


async def post(url: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], object]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.json(content_type=None)


async def test_header_faults_status_and_retry_after(mock_upstream: MockControl) -> None:
    url = mock_upstream.base_url + "/v1/chat/completions"
    status, headers, body = await post(url, CHAT, {"x-mock-status": "503", "x-mock-retry-after": "5"})
    assert status == 503 and headers["Retry-After"] == "5"
    assert body == {"error": {"message": "injected failure 503", "type": "server_error", "param": None, "code": None}}
    status, _, body = await post(url, CHAT, {"x-mock-malformed": "bogus"})
    assert status == 400 and "malformed" in body["error"]["message"]  # type: ignore[index]


async def test_fail_rate_is_reproducible_with_a_seed(mock_upstream_factory: MockFactory) -> None:
    async def outcomes(mock: MockControl) -> list[int]:
        await mock.set_faults("m1", status=500, fail_rate=0.5)
        return [(await post(mock.base_url + "/v1/chat/completions", CHAT))[0] for _ in range(12)]

    first = await outcomes(await mock_upstream_factory(seed=7))
    second = await outcomes(await mock_upstream_factory(seed=7))
    assert first == second
    assert set(first) == {200, 500}


async def test_control_api_break_and_repair_with_stats(mock_upstream: MockControl) -> None:
    url = mock_upstream.base_url + "/v1/chat/completions"
    await mock_upstream.set_faults("m1", status=429)
    assert (await post(url, CHAT))[0] == 429
    assert (await post(url, {**CHAT, "model": "m2"}))[0] == 200
    await mock_upstream.clear_faults("m1")
    assert (await post(url, CHAT))[0] == 200
    stats = await mock_upstream.stats()
    assert stats["models"]["m1"] == {"requests": 2, "errors": 1, "streams": 0}
    assert stats["models"]["m2"]["requests"] == 1
    with pytest.raises(RuntimeError, match="unknown fault field"):
        await mock_upstream.set_faults("m1", explode=True)


async def test_hang_until_client_gives_up(mock_upstream: MockControl) -> None:
    timeout = aiohttp.ClientTimeout(total=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.post(mock_upstream.base_url + "/v1/chat/completions", json=CHAT, headers={"x-mock-hang": "1"})


async def test_anthropic_requires_version_and_max_tokens(mock_upstream: MockControl) -> None:
    url = mock_upstream.base_url + "/v1/messages"
    body = {"model": "c", "messages": [{"role": "user", "content": "hi"}]}
    status, _, error = await post(url, {**body, "max_tokens": 5})
    assert status == 400 and error["error"]["message"] == "anthropic-version: header is required"  # type: ignore[index]
    status, _, error = await post(url, body, {"anthropic-version": "2023-06-01"})
    assert status == 400 and error["type"] == "error" and "max_tokens" in error["error"]["message"]  # type: ignore[index]


async def test_models_and_bad_json(mock_upstream: MockControl) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(mock_upstream.base_url + "/v1/models") as resp:
            assert [m["id"] for m in (await resp.json())["data"]] == ["mock-model"]
        async with session.post(mock_upstream.base_url + "/v1/chat/completions", data=b"{nope") as resp:
            assert resp.status == 400 and "not valid JSON" in (await resp.json())["error"]["message"]


def test_fault_sources_parse_and_reject(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("m1:\n  status: 503\n  fail-rate: 0.25\n'*':\n  latency_ms: 10\n")
    faults = load_faults(path, ["m1:retry_after=3"])
    assert faults["m1"].to_dict() == {"status": 503, "fail_rate": 0.25, "retry_after": "3"}
    assert faults["*"].latency_ms == 10
    for bad in (["m1:status=99"], ["m1:fail_rate=2"], ["status=500"], ["m1:bogus=1"]):
        with pytest.raises(FaultSpecError):
            load_faults(None, bad)


async def test_subprocess_with_cli_faults() -> None:
    async with run_subprocess(["--fault", "m1:status=418", "--api-key", "k"], env=checkout_env()) as mock:
        url = mock.base_url + "/v1/chat/completions"
        assert (await post(url, CHAT, {"Authorization": "Bearer k"}))[0] == 418
        assert (await post(url, CHAT, {"Authorization": "Bearer wrong"}))[0] == 401
        assert (await mock.stats())["models"]["m1"]["errors"] == 1


def test_cli_help_and_bad_flags() -> None:
    help_run = subprocess.run(
        python_module("switchboard.mock", "--help"), capture_output=True, timeout=60, env=checkout_env()
    )
    assert help_run.returncode == 0 and b"x-mock-status" in help_run.stdout
    bad = subprocess.run(
        python_module("switchboard.mock", "--fault", "oops"), capture_output=True, timeout=60, env=checkout_env()
    )
    assert bad.returncode == 2 and b"MODEL:FIELD=VALUE" in bad.stderr
