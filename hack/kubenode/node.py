"""``KubeNode``: containerd, kubelet, kube-proxy and kube-scheduler as local process groups.

State (pgids, the network namespaces that existed before) is saved in
``node.json`` so ``make node-down`` in another process can stop a node that
``make node-up`` started.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import astuple, dataclass, fields, replace
from pathlib import Path

from hack.cluster import KubeCluster, processes
from hack.cluster.binaries import bin_dir
from hack.cluster.kubeconfig import render_kubeconfig, write_kubeconfig
from hack.cluster.pki import sign_client_cert, sign_serving_cert
from hack.kubenode import config, host
from hack.kubenode.config import GATEWAY, NODE_NAME, NodeLayout, NodePorts
from hack.kubenode.images import build_pause, import_images

START_TIMEOUT = 180.0
PORT_ATTEMPTS = 3
COMPONENTS = ("containerd", "coredns", "kubelet", "kube-proxy", "kube-scheduler")
# Node identities the API server's default RBAC already knows.
IDENTITIES = {
    "kubelet": f"/O=system:nodes/CN=system:node:{NODE_NAME}",
    "kube-proxy": "/CN=system:kube-proxy",
    "scheduler": "/CN=system:kube-scheduler",
    "coredns": "/CN=system:coredns",
}


class NodeError(RuntimeError):
    """The node failed to start or stop cleanly."""


@dataclass(frozen=True)
class NodeBinaries:
    kubelet: Path
    kube_proxy: Path
    kube_scheduler: Path
    coredns: Path

    @classmethod
    def locate(cls) -> NodeBinaries:
        found = cls(*(bin_dir() / name for name in ("kubelet", "kube-proxy", "kube-scheduler", "coredns")))
        missing = [str(path) for path in astuple(found) if not path.is_file()]
        if missing:
            raise NodeError(f"node binaries missing: {', '.join(missing)}. Run `make node-tools`.")
        return found


def _ok(url: str) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class KubeNode:
    def __init__(self, state_dir: Path, cluster: KubeCluster, *, die_with_parent: bool = False) -> None:
        self.layout = NodeLayout(state_dir.resolve())
        self.cluster = cluster
        self.die_with_parent = die_with_parent
        self._pgids: dict[str, int] = {}
        self._netns_before: set[str] = set()

    @property
    def state_file(self) -> Path:
        return self.layout.path("node.json")

    def start(self, *, base_image: str, images: list[str], work_dir: Path) -> None:
        """Every component up, the images imported, the node Ready; on any failure everything is removed."""
        host.share_netns_dir()
        self._netns_before = host.network_namespaces()
        ports = NodePorts(*(processes.free_port() for _ in fields(NodePorts)))
        try:
            self._write_files(ports)
            self._launch("containerd", config.containerd_command(self.layout), self._containerd_ready)
            import_images(self.layout, [build_pause(base_image, work_dir), *images], work_dir)
            binaries = NodeBinaries.locate()
            self.cluster.kubectl(
                "apply",
                "-f",
                "-",
                input=json.dumps({"kind": "List", "apiVersion": "v1", "items": config.coredns_rbac()}),
            )
            self._launch(
                "coredns",
                config.coredns_command(binaries.coredns, self.layout),
                lambda: _ok(f"http://127.0.0.1:{ports.dns_ready}/ready"),
            )
            self._launch("kubelet", config.kubelet_command(binaries.kubelet, self.layout), self.node_ready)
            self._launch_on_free_port("kube-proxy", lambda port: self._kube_proxy(binaries, ports, port))
            self._launch_on_free_port("kube-scheduler", lambda port: self._scheduler(binaries, ports, port))
        except BaseException:
            self.stop()
            raise

    def _kube_proxy(self, binaries: NodeBinaries, ports: NodePorts, port: int) -> tuple[list[str], processes.Condition]:
        kubeconfig = self.layout.path("kube-proxy.kubeconfig")
        self.layout.path("kube-proxy.yaml").write_text(
            config.kube_proxy_config(replace(ports, proxy_healthz=port), kubeconfig)
        )
        return config.kube_proxy_command(binaries.kube_proxy, self.layout), lambda: _ok(
            f"http://127.0.0.1:{port}/healthz"
        )

    def _scheduler(self, binaries: NodeBinaries, ports: NodePorts, port: int) -> tuple[list[str], processes.Condition]:
        command = config.scheduler_command(binaries.kube_scheduler, self.layout, replace(ports, scheduler=port))
        return command, lambda: _ok(f"https://127.0.0.1:{port}/healthz")

    def _launch_on_free_port(self, name: str, prepare: Callable[[int], tuple[list[str], processes.Condition]]) -> None:
        """Launch on a port free a moment ago; another process may take it first, then pick again."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            command, ready = prepare(processes.free_port())
            try:
                self._launch(name, command, ready)
                return
            except NodeError as error:
                if "address already in use" not in str(error) or attempt == PORT_ATTEMPTS:
                    raise

    def node_ready(self) -> bool:
        done = self.cluster.kubectl(
            "get", "node", NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False
        )
        return done.returncode == 0 and done.stdout.strip() == "True"

    def _containerd_ready(self) -> bool:
        command = ["ctr", "--address", str(self.layout.containerd_socket), "version"]
        try:
            return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def _write_files(self, ports: NodePorts) -> None:
        root = self.layout
        for directory in ("cni", "containerd", "kubelet", "pod-logs", "logs"):
            root.path(directory).mkdir(parents=True, exist_ok=True)
        pki = self.cluster.control_plane.pki
        server, ca = self.cluster.server, self.cluster.ca_file
        for name, subject in IDENTITIES.items():
            cert = sign_client_cert(pki, f"node-{name}", subject)
            credentials = {"client-certificate": str(cert.cert), "client-key": str(cert.key)}
            write_kubeconfig(root.path(f"{name}.kubeconfig"), render_kubeconfig(server, ca, name, credentials))
        serving = sign_serving_cert(
            pki, "node-kubelet-serving", f"/CN={NODE_NAME}", (f"IP:{GATEWAY}", f"DNS:{NODE_NAME}")
        )
        root.path("containerd.toml").write_text(config.containerd_config(root))
        root.path("cni", "10-switchboard.conflist").write_text(config.cni_conflist())
        root.path("resolv.conf").write_text(f"nameserver {config.CLUSTER_DNS}\n")
        root.path("Corefile").write_text(config.corefile(ports, root.path("coredns.kubeconfig")))
        root.path("kubelet.yaml").write_text(config.kubelet_config(root, ports, ca, (serving.cert, serving.key)))
        root.path("kube-proxy.yaml").write_text(config.kube_proxy_config(ports, root.path("kube-proxy.kubeconfig")))
        self._save_state()

    def _launch(self, name: str, command: list[str], ready: processes.Condition) -> None:
        log_file = self.layout.path("logs", f"{name}.log")
        child = processes.spawn(command, log_file, die_with_parent=self.die_with_parent, cwd=self.layout.root)
        self._pgids[name] = child.pid
        self._save_state()
        if not processes.wait_until(lambda: ready() or child.poll() is not None, START_TIMEOUT, interval=0.5):
            raise NodeError(f"{name} not ready after {START_TIMEOUT:.0f}s:\n{_tail(log_file)}")
        if child.poll() is not None:
            raise NodeError(f"{name} exited with {child.returncode}:\n{_tail(log_file)}")

    def stop(self) -> None:
        """Pods deleted through the API (so CNI and volumes are torn down), components stopped, host swept."""
        if "kubelet" in self._pgids and processes.group_alive(self._pgids["kubelet"]):
            self.cluster.kubectl(
                "delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--timeout=90s",
                check=False, timeout=120,
            )  # fmt: skip
        for name in reversed(COMPONENTS):
            pgid = self._pgids.pop(name, None)
            if pgid is not None and processes.group_alive(pgid):
                processes.stop_group(pgid)
        host.sweep(self.layout.root, self._netns_before)
        self.cluster.kubectl("delete", "node", NODE_NAME, "--ignore-not-found", check=False)
        self.state_file.unlink(missing_ok=True)

    def _save_state(self) -> None:
        state = {"pgids": self._pgids, "netns_before": sorted(self._netns_before)}
        self.layout.root.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def attach(cls, state_dir: Path, cluster: KubeCluster) -> KubeNode:
        node = cls(state_dir, cluster)
        if node.state_file.is_file():
            state = json.loads(node.state_file.read_text())
            node._pgids = {str(name): int(pgid) for name, pgid in state["pgids"].items()}
            node._netns_before = set(state["netns_before"])
        return node


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
