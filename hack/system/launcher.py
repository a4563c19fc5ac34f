"""Start and stop the whole system on a local control plane: mocks, operators, proxies, examples.

Each process runs in its own process group with its log in ``run_dir/logs/``;
``run_dir/state.json`` records the process group ids, so ``python -m
hack.system down`` (``make down``) in another process stops exactly what ``up``
started, then the cluster if ``up`` started it too.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hack.checkout import REPO_ROOT, checkout_env
from hack.cluster import KubeCluster, attach_cluster
from hack.cluster.binaries import Binaries
from hack.cluster.processes import free_port, group_alive, spawn, stop_group, wait_until
from hack.system import examples
from hack.system.commands import (
    STATE_STORE,
    Command,
    SystemOptions,
    mock_command,
    operator_command,
    proxy_command,
    state_store_command,
)
from hack.system.rbac import grant_release_namespace

CRD_DIR = REPO_ROOT / "deploy" / "crds"
READY_TIMEOUT = 120.0


class SystemStartError(RuntimeError):
    """A component did not come up; the message carries the tail of its log."""


def http_json(url: str, timeout: float = 2.0) -> Any:
    """GET ``url`` and parse the JSON body; None on any connection or HTTP error."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _owned(pid: int, name: str) -> bool:
    """The process group still runs one of our commands (not a recycled pid).

    redis-server rewrites its command line to ``redis-server <addr>``, so the state store is recognised by that.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    marker = b"redis-server" if name == STATE_STORE else b"switchboard"
    return marker in cmdline and group_alive(pid)


def stop_pid(pid: int, name: str) -> None:
    if _owned(pid, name):
        stop_group(pid, grace_seconds=10.0)


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Process:
    command: Command
    log: Path
    child: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.child is None else self.child.pid


class RunningSystem:
    """Handle on a started system: URLs, per-process stop/start, and ``stop()``."""

    def __init__(self, cluster: KubeCluster, options: SystemOptions, run_dir: Path, mock_ports: dict[int, int]) -> None:
        self.cluster = cluster
        self.options = options
        self.run_dir = run_dir
        self.mock_ports = mock_ports  # example port -> real port
        self.docs = examples.retarget(examples.load_examples(), mock_ports)
        self.processes: dict[str, Process] = {}
        self.proxy_ports: list[int] = []
        self.cluster_dir: Path | None = None  # set when the system owns its cluster

    @property
    def proxy_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.proxy_ports]

    @property
    def mock_urls(self) -> dict[str, str]:
        """Provider name (from the examples) -> base URL of the mock serving it."""
        return {name: f"http://127.0.0.1:{port}" for name, port in examples.provider_ports(self.docs).items()}

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    def launch(self, command: Command) -> Process:
        process = self.processes.get(command.name) or Process(command, self.log_dir / f"{command.name}.log")
        process.child = spawn(
            command.argv,
            process.log,
            die_with_parent=self.options.die_with_parent,
            env=checkout_env(command.env),
        )
        self.processes[command.name] = process
        self.save_state()
        return process

    def start(self, name: str) -> None:
        """Start a stopped process again with its original command line."""
        self.launch(self.processes[name].command)

    def stop_process(self, name: str) -> None:
        process = self.processes[name]
        if process.child is not None:
            stop_pid(process.child.pid, name)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.child.wait(timeout=10)
            process.child = None
        self.save_state()

    def stop(self) -> None:
        """Stop every process (newest first), then the cluster if this system started it."""
        for name in reversed(list(self.processes)):
            self.stop_process(name)
        if self.cluster_dir is not None:
            self.cluster.stop()
        (self.run_dir / "state.json").unlink(missing_ok=True)

    def logs(self) -> dict[str, str]:
        return {name: p.log.read_text(errors="replace") for name, p in self.processes.items() if p.log.exists()}

    def save_state(self) -> None:
        state = {
            "pids": {name: p.pid for name, p in self.processes.items() if p.pid is not None},
            "cluster_dir": str(self.cluster_dir) if self.cluster_dir else None,
            "proxies": self.proxy_urls,
            "mocks": self.mock_urls,
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "state.json").write_text(json.dumps(state, indent=2) + "\n")

    def wait_alive(self, name: str, ready: Any, what: str) -> None:
        process = self.processes[name]

        def done() -> bool:
            return bool(ready()) or (process.child is not None and process.child.poll() is not None)

        if not wait_until(done, READY_TIMEOUT) or (process.child is not None and process.child.poll() is not None):
            raise SystemStartError(f"{name} did not become {what}:\n{log_tail(process.log)}")


def _pick(port: int) -> int:
    return port if port else free_port()


def install_crds(cluster: KubeCluster) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    for path in sorted(CRD_DIR.glob("*.yaml")):
        cluster.kubectl("wait", "--for=condition=Established", "-f", str(path), "--timeout=60s")


def _profiles_ready(cluster: KubeCluster, namespace: str, names: list[str]) -> bool:
    done = cluster.kubectl("get", "routingprofiles", "-n", namespace, "-o", "json", check=False)
    if done.returncode != 0:
        return False
    ready = {
        item["metadata"]["name"]
        for item in json.loads(done.stdout)["items"]
        for c in item.get("status", {}).get("conditions", [])
        if c.get("type") == "Ready" and c.get("status") == "True"
    }
    return set(names) <= ready


def serves(url: str, models: set[str]) -> bool:
    """Whether the proxy at ``url`` is ready and lists every one of ``models``."""
    body = http_json(url + "/readyz")
    return isinstance(body, dict) and models <= set(body.get("models", []))


def apply_examples(system: RunningSystem) -> None:
    """``kubectl apply`` the examples, then wait until every profile is Ready and served by every proxy."""
    cluster, namespace = system.cluster, system.options.namespace
    if cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=examples.dump(system.docs))
    profiles = [d for d in system.docs if d["kind"] == "RoutingProfile"]
    names = [p["metadata"]["name"] for p in profiles]
    if not wait_until(lambda: _profiles_ready(cluster, namespace, names), READY_TIMEOUT, interval=0.3):
        raise SystemStartError(f"profiles {names} not Ready:\n{_operator_logs(system)}")
    models = {m for p in profiles for m in p["spec"]["models"]}
    if not wait_until(lambda: all(serves(u, models) for u in system.proxy_urls), READY_TIMEOUT, interval=0.1):
        raise SystemStartError(f"proxies {system.proxy_urls} do not serve {sorted(models)}")


def _operator_logs(system: RunningSystem) -> str:
    return "\n".join(f"--- {n}\n{log_tail(p.log)}" for n, p in system.processes.items() if n.startswith("operator"))


def start_system(
    cluster: KubeCluster, options: SystemOptions, run_dir: Path, *, cluster_dir: Path | None = None
) -> RunningSystem:
    """Everything on ``cluster``: CRDs, mocks, operators, proxies, then the examples, all ready.

    With ``cluster_dir`` the system owns the cluster: ``stop()`` (and ``make down``) stop it too.
    On any failure everything started so far is stopped again.
    """
    if (run_dir / "state.json").exists():
        raise SystemStartError(f"a system is recorded in {run_dir}; stop it first (make down)")
    mocks = examples.mock_upstreams(examples.load_examples())
    mock_ports = {m.port: _pick(options.mock_ports.get(m.port, m.port)) for m in mocks}
    system = RunningSystem(cluster, options, run_dir, mock_ports)
    system.cluster_dir = cluster_dir
    system.save_state()
    try:
        _start_all(system, mocks)
    except BaseException:
        system.stop()
        raise
    return system


def _start_all(system: RunningSystem, mocks: list[examples.MockUpstream]) -> None:
    cluster, options = system.cluster, system.options
    grant_release_namespace(cluster, options.release_namespace)
    install_crds(cluster)
    for mock in mocks:
        port = system.mock_ports[mock.port]
        name = system.launch(mock_command(port, mock.api_key)).command.name
        system.wait_alive(name, lambda port=port: http_json(f"http://127.0.0.1:{port}/_mock/stats"), "ready")
    for replica in range(options.operator_replicas):
        system.launch(operator_command(options, cluster.operator_kubeconfig, replica))
    store = _start_state_store(system) if options.state_store_port is not None else None
    system.proxy_ports = [_pick(port) for port in options.proxy_ports]
    for replica, port in enumerate(system.proxy_ports):
        command = proxy_command(options, cluster.proxy_kubeconfig, replica, port, store)
        name = system.launch(command).command.name
        system.wait_alive(name, lambda port=port: http_json(f"http://127.0.0.1:{port}/healthz"), "live")
    apply_examples(system)


def _start_state_store(system: RunningSystem) -> str:
    """A redis-server the proxies share (fleet-wide limits and budgets); its URL."""
    if shutil.which("redis-server") is None:
        raise SystemStartError("redis-server is missing: `make tools` installs the Debian package")
    port = _pick(system.options.state_store_port or 0)
    directory = system.run_dir / "state-store"
    directory.mkdir(parents=True, exist_ok=True)
    name = system.launch(state_store_command(port, directory)).command.name
    system.wait_alive(name, lambda: _redis_ping(port), "ready")
    return f"redis://127.0.0.1:{port}/0"


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def stop_recorded(run_dir: Path) -> list[str]:
    """``make down``: stop what ``run_dir/state.json`` records; returns what it stopped."""
    state_file = run_dir / "state.json"
    if not state_file.exists():
        return []
    state = json.loads(state_file.read_text())
    stopped = []
    for name, pid in reversed(list(state["pids"].items())):
        stop_pid(int(pid), name)
        stopped.append(name)
    if state.get("cluster_dir"):
        cluster_dir = Path(state["cluster_dir"])
        if (cluster_dir / "state.json").exists():
            attach_cluster(cluster_dir, Binaries.locate()).stop()
        stopped.append("cluster")
    state_file.unlink()
    return stopped
