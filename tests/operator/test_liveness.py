"""``--liveness-endpoint``: the operator subprocess answers Kubernetes probes.

Against the real API server: two replicas both answer 200 (the standby is healthy,
not only the Lease holder), and the body says which one leads.
"""

import argparse
import json
import socket
import urllib.error
import urllib.request
from typing import Any

import pytest

from switchboard.operator.cli import parse_args
from switchboard.operator.probes import liveness_endpoint
from tests.fixtures.operator import wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(180)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _probe(url: str) -> dict[str, Any] | None:
    """The health body when the endpoint answers 200, None while it does not answer yet."""
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return dict(json.loads(reply.read())) if reply.status == 200 else None
    except (urllib.error.URLError, ConnectionError):
        return None


def test_leader_and_standby_both_answer_their_probes(start_operator: Any, kube_namespace: str) -> None:
    urls = {identity: f"http://127.0.0.1:{_free_port()}/healthz" for identity in ("op-a", "op-b")}
    for identity, url in urls.items():
        start_operator(kube_namespace, identity, "--liveness-endpoint", url)

    def leader_flags() -> set[bool] | None:
        bodies = [_probe(url) for url in urls.values()]
        if any(body is None for body in bodies):
            return None
        flags = {bool(body["leader"]) for body in bodies if body is not None}
        return flags if flags == {True, False} else None

    wait_for(leader_flags, 90, "both replicas healthy, exactly one of them leading")


def test_the_endpoint_is_off_unless_asked_for() -> None:
    assert parse_args([]).liveness_endpoint is None
    url = "http://0.0.0.0:8080/healthz"
    assert parse_args(["--liveness-endpoint", url]).liveness_endpoint == url


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("https://0.0.0.0:8080/healthz", "only http"),
        ("http://:8080/healthz", "no host"),
        ("http://0.0.0.0/healthz", "fixed port"),
        ("http://0.0.0.0:0/healthz", "fixed port"),
        ("http://0.0.0.0:99999/healthz", "invalid port"),
        ("http://0.0.0.0:8080", "path"),
        ("http://0.0.0.0:8080/healthz?x=1", "path"),
        ("0.0.0.0:8080", "only http"),
    ],
)
def test_a_bad_endpoint_is_refused_with_the_reason(value: str, problem: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=problem):
        liveness_endpoint(value)
