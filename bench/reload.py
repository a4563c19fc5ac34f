"""Hot reload across a fleet: ``kubectl apply`` a change, time until every proxy replica serves it.

The whole system of ``make run`` (local control plane, operators, mocks) with
three proxy replicas; each change flips the example ``chat`` profile's strategy
between failover and round-robin, and each replica's ``/v1/routing/explain``
is polled until it reports the new one. The clock starts when ``kubectl apply``
returned (the change is stored), so kubectl's own start-up is not counted.
"""

import json
import statistics
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from hack.cluster import Binaries, start_cluster
from hack.system.commands import SystemOptions
from hack.system.launcher import start_system

STRATEGIES = ("failover", "round-robin")
_EXPLAIN = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()


def strategy_served(url: str) -> str | None:
    request = urllib.request.Request(
        url + "/v1/routing/explain", data=_EXPLAIN, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return str(json.load(response).get("strategy"))
    except OSError:
        return None


def chat_profile(namespace: str, strategy: str) -> dict[str, Any]:
    """The example ``chat`` profile (examples/cluster/20-profiles.yaml) with another strategy."""
    return {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "RoutingProfile",
        "metadata": {"name": "chat", "namespace": namespace},
        "spec": {
            "models": ["gpt-4o"],
            "strategy": strategy,
            "providers": [{"name": "openai-mock", "priority": 0}, {"name": "anthropic-mock", "priority": 1}],
            "retry": {"maxRetries": 2, "backoffBaseMs": 50},
            "fallbackModels": ["gpt-4o-mini"],
        },
    }


def _until_all(urls: list[str], strategy: str, timeout_s: float) -> float:
    """Seconds until every URL serves ``strategy`` (the last replica's time)."""
    began = time.monotonic()
    pending = set(urls)
    while pending:
        pending = {u for u in pending if strategy_served(u) != strategy}
        if time.monotonic() - began > timeout_s:
            raise TimeoutError(f"{sorted(pending)} still not serving strategy {strategy} after {timeout_s} s")
        if pending:
            time.sleep(0.005)
    return time.monotonic() - began


def run(*, changes: int, replicas: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-reload-") as tmp:
        root = Path(tmp)
        cluster = start_cluster(root / "cluster", Binaries.locate(), die_with_parent=True)
        try:
            namespace = f"bench-{uuid.uuid4().hex[:6]}"
            options = SystemOptions(
                namespace=namespace,
                watch_namespaces=(namespace,),
                release_namespace=f"bench-release-{uuid.uuid4().hex[:6]}",
                proxy_ports=(0,) * replicas,
                mock_ports={18081: 0, 18082: 0, 18083: 0},
                die_with_parent=True,
            )
            system = start_system(cluster, options, root / "system")
            try:
                urls = system.proxy_urls
                _until_all(urls, STRATEGIES[0], 60)
                times = []
                for i in range(1, changes + 1):
                    strategy = STRATEGIES[i % 2]
                    cluster.kubectl("apply", "-f", "-", input=json.dumps(chat_profile(namespace, strategy)))
                    times.append(_until_all(urls, strategy, 60))
            finally:
                system.stop()
        finally:
            cluster.stop()
    ms = sorted(t * 1000 for t in times)
    return {
        "changes": changes,
        "replicas": replicas,
        "p50_ms": statistics.median(ms),
        "p99_ms": statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0],
        "max_ms": ms[-1],
    }
