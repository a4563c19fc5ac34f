"""Assertions every hardening test shares: the OpenAI error shape and metric readings."""

from typing import Any

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.proxy import ProxyServer

CHAT: dict[str, Any] = {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}
EMBED: dict[str, Any] = {"model": "mock-model", "input": "hi"}


def assert_openai_error(status: int, body: bytes, expected_status: int | None = None) -> dict[str, Any]:
    """``body`` is OpenAI's error JSON with a non-empty message and no traceback; returns its ``error``."""
    if expected_status is not None:
        assert status == expected_status, (status, body[:500])
    assert status != 500, body[:500]
    assert b"Traceback" not in body and b'File "' not in body, body[:500]
    error = orjson.loads(body)["error"]
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["type"], str) and error["type"], error
    assert set(error) >= {"message", "type", "code", "param"}, error
    return dict(error)


async def metrics_text(proxy: ProxyServer) -> str:
    async with aiohttp.ClientSession() as session, session.get(proxy.base_url + "/metrics") as response:
        return await response.text()


async def upstream_error_count(proxy: ProxyServer, provider: str) -> float:
    """``switchboard_upstream_errors_total`` summed over kinds for ``provider``."""
    total = 0.0
    for family in text_string_to_metric_families(await metrics_text(proxy)):
        for sample in family.samples:
            if sample.name == "switchboard_upstream_errors_total" and sample.labels.get("provider") == provider:
                total += sample.value
    return total


def open_upstream_connections(proxy: ProxyServer) -> int:
    """Connections to upstreams checked out right now (in use, not idle in the pool): a leak check.

    aiohttp has no public counter; ``_acquired`` is the connector's set of
    connections handed to requests and not yet released.
    """
    assert proxy.runtime is not None
    snap = proxy.runtime.snapshot
    return sum(len(session.connector._acquired) for session in snap.sessions.values())  # type: ignore[union-attr]
