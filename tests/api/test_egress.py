"""The egress policy: the pure rules, and the connect-time resolver with a real aiohttp client
against the project's mock upstream (a name that resolves to loopback is refused after DNS)."""

import ipaddress
import socket
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from switchboard.api.egress import EgressPolicy, parse_egress
from switchboard.proxy.egress import EgressRefused, PolicyResolver

STRICT = EgressPolicy()


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("localhost", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("kubernetes.default.svc", "API server"),
        ("kubernetes.default.svc.cluster.local", "API server"),
        ("redis.team-b.svc.cluster.local", "namespace 'team-b'"),
        ("redis.team-b.svc", "namespace 'team-b'"),
    ],
)
def test_the_strict_default_refuses(host: str, fragment: str) -> None:
    reason = STRICT.check_host("team-a", host)
    assert reason is not None and fragment in reason


@pytest.mark.parametrize("host", ["api.openai.com", "vllm.team-a.svc.cluster.local", "10.0.0.5", "2001:db8::1"])
def test_the_strict_default_allows(host: str) -> None:
    assert STRICT.check_host("team-a", host) is None


def test_denied_ranges_and_per_namespace_allowances() -> None:
    policy = parse_egress(
        '{"deniedCIDRs": ["10.96.0.0/12"], "allow": ['
        '{"namespace": "team-a", "cidrs": ["10.96.5.0/24"], "hosts": ["*.team-b.svc.cluster.local"]},'
        '{"namespace": "*", "hosts": ["metadata.internal"]}]}'
    )
    assert "denied range 10.96.0.0/12" in (policy.check_address("team-b", ipaddress.ip_address("10.96.5.1")) or "")
    assert policy.check_address("team-a", ipaddress.ip_address("10.96.5.1")) is None
    assert policy.check_address("team-a", ipaddress.ip_address("10.96.6.1")) is not None
    assert policy.check_host("team-a", "redis.team-b.svc.cluster.local") is None
    assert policy.check_host("team-c", "redis.team-b.svc.cluster.local") is not None
    assert policy.check_address("team-c", ipaddress.ip_address("169.254.1.1"), "metadata.internal") is None
    assert policy.check_url("team-a", "http://") is not None
    with pytest.raises(ValueError, match="deniedCIDRs"):
        parse_egress('{"deniedCIDRs": ["not-a-cidr"]}')
    with pytest.raises(ValueError, match="allowLoopbak"):
        parse_egress('{"allowLoopbak": true}')


class RebindingResolver(AbstractResolver):
    """A DNS answer pointing a public-looking name at loopback (as an attacker's zone can)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET, proto=0, flags=0)]

    async def close(self) -> None:
        pass


async def _get(resolver: AbstractResolver, url: str) -> int:
    connector = aiohttp.TCPConnector(resolver=resolver)
    async with aiohttp.ClientSession(connector=connector) as session, session.get(url) as response:
        return response.status


async def test_connect_time_check_after_dns(mock_upstream: Any) -> None:
    port = mock_upstream.base_url.rsplit(":", 1)[1]
    url = f"http://llm.attacker.example:{port}/v1/models"
    strict = PolicyResolver(STRICT, "team-a", "team-a/evil", RebindingResolver())
    with pytest.raises(aiohttp.ClientConnectorError) as refused:
        await _get(strict, url)
    assert isinstance(refused.value.os_error, EgressRefused) and "is loopback" in str(refused.value)
    # aiohttp never asks a resolver about a literal IP: those are refused when the config loads
    # (proxy/kube/rendered.py), and by the operator before that.
    assert STRICT.check_url("team-a", mock_upstream.base_url) is not None
    assert await mock_upstream.requests() == []
    allowed = EgressPolicy(allow=({"namespace": "team-a", "cidrs": ("127.0.0.0/8",)},))  # type: ignore[arg-type]
    assert await _get(PolicyResolver(allowed, "team-a", "team-a/ok", RebindingResolver()), url) == 200
