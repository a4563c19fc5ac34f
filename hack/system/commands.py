"""Command lines of the system's processes (pure), each run from the repository under test.

Every process is ``python -m switchboard...`` with ``PYTHONPATH`` set to the
repository root, so ``make run`` and the tests exercise this checkout's code.
The operator's kubeconfig is the OPERATOR ServiceAccount's and the proxies'
the PROXY ServiceAccount's: they run with exactly the chart's RBAC.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hack.checkout import python_module
from hack.cluster.identities import NAMESPACE
from switchboard.api.egress import EGRESS_ENV

LOCAL_DEMO_EGRESS = '{"allowLoopback": true}'
"""The local system's mock upstreams listen on loopback, which the egress policy refuses by default."""

MOCK_KEY_ENV = "SWITCHBOARD_MOCK_API_KEY"  # read by switchboard-mock; keeps the key off the command line


@dataclass(frozen=True)
class SystemOptions:
    """What to run. Port 0 means "pick a free port"; mock ports map an example's port to the one used."""

    namespace: str = "default"  # where the examples are applied
    watch_namespaces: tuple[str, ...] = ()  # operators and proxies; empty: all namespaces
    release_namespace: str = NAMESPACE  # credentials Secret and leader Lease
    proxy_ports: tuple[int, ...] = (8080, 8081)
    mock_ports: Mapping[int, int] = field(default_factory=dict)
    operator_replicas: int = 2
    lease_seconds: float = 15.0
    resync_seconds: float = 60.0
    status_interval: float = 1.0
    verbose: bool = False
    die_with_parent: bool = False  # tests: SIGKILL the processes if the test run dies
    state_store_port: int | None = (
        0  # a redis-server the proxies share (fleet-wide limits); 0: any free port; None: none
    )

    def __post_init__(self) -> None:
        if len(self.proxy_ports) < 1 or self.operator_replicas < 1:
            raise ValueError("need at least one proxy and one operator replica")


@dataclass(frozen=True)
class Command:
    """One process to start: its name (also its log file's), argv and extra environment."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


def mock_command(port: int, api_key: str | None) -> Command:
    env = {MOCK_KEY_ENV: api_key} if api_key else {}
    return Command(f"mock-{port}", python_module("switchboard.mock", "--port", str(port)), env)


def _namespace_flags(flag: str, namespaces: Sequence[str]) -> tuple[str, ...]:
    return tuple(part for ns in namespaces for part in (flag, ns))


def operator_command(options: SystemOptions, kubeconfig: Path, replica: int) -> Command:
    identity = f"operator-{replica}"
    argv = python_module(
        "switchboard.operator.cli",
        "--kubeconfig", str(kubeconfig),
        "--release-namespace", options.release_namespace,
        "--identity", identity,
        "--fleet-replicas", str(len(options.proxy_ports)),
        "--lease-seconds", str(options.lease_seconds),
        "--resync-seconds", str(options.resync_seconds),
        *_namespace_flags("--namespace", options.watch_namespaces),
        *(("--verbose",) if options.verbose else ()),
    )  # fmt: skip
    return Command(identity, argv, {EGRESS_ENV: LOCAL_DEMO_EGRESS})


STATE_STORE = "state-store"


def state_store_command(port: int, directory: Path) -> Command:
    """A redis-server for the proxies' fleet-wide limits and budgets: loopback only, no persistence."""
    binary = shutil.which("redis-server") or "redis-server"
    argv = (
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "no",
    )
    return Command(STATE_STORE, argv)


def proxy_command(
    options: SystemOptions, kubeconfig: Path, replica: int, port: int, state_store: str | None = None
) -> Command:
    name = f"proxy-{replica}"
    argv = python_module(
        "switchboard.proxy.cli",
        "--kubernetes",
        "--kubeconfig", str(kubeconfig),
        "--replica-name", name,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--status-interval", str(options.status_interval),
        "--log-level", "DEBUG" if options.verbose else "INFO",
        *_namespace_flags("--watch-namespace", options.watch_namespaces),
        *(("--state-store", state_store) if state_store else ()),
    )  # fmt: skip
    env = {"POD_NAMESPACE": options.release_namespace, "POD_NAME": name, EGRESS_ENV: LOCAL_DEMO_EGRESS}
    return Command(name, argv, env)
