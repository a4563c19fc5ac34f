"""Run etcd + kube-apiserver + kube-controller-manager as local processes.

State (ports, process group ids) is saved in ``state.json`` so another process
(``make cluster-down``) can stop a cluster started by ``make cluster-up``.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from hack.cluster import components, processes
from hack.cluster.binaries import Binaries
from hack.cluster.components import KUBERNETES_SERVICE_IP, LOOPBACK, Layout, Ports
from hack.cluster.kubeconfig import render_kubeconfig, write_kubeconfig
from hack.cluster.pki import ClientCert, Pki, create_pki

START_TIMEOUT = 180.0
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")
PORT_ATTEMPTS = 3


class ControlPlaneError(RuntimeError):
    """The control plane failed to start, or is in a state we cannot act on."""


class PortTakenError(ControlPlaneError):
    """A component could not bind the port picked for it (another process took it)."""


def _client_context(pki: Pki | None) -> ssl.SSLContext:
    if pki is None:  # the controller manager serves a self-signed certificate
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))
    return context


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ControlPlane:
    """One local cluster rooted at ``state_dir``."""

    def __init__(
        self, state_dir: Path, binaries: Binaries, *, die_with_parent: bool = False, address: str = LOOPBACK
    ) -> None:
        """``address``: where the API server listens and what it advertises (a node's bridge gateway for pods)."""
        self.layout = Layout(state_dir.resolve())
        self.address = address
        self.binaries = binaries
        self.die_with_parent = die_with_parent
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._pgids: dict[str, int] = {}
        self._pki: Pki | None = None
        self._ports: Ports | None = None

    @property
    def pki(self) -> Pki:
        if self._pki is None:
            raise ControlPlaneError("control plane not started")
        return self._pki

    @property
    def ports(self) -> Ports:
        if self._ports is None:
            raise ControlPlaneError("control plane not started")
        return self._ports

    @property
    def server(self) -> str:
        return f"https://{self.address}:{self.ports.apiserver}"

    def admin_kubeconfig(self) -> Path:
        return self.layout.kubeconfig("admin")

    def start(self) -> None:
        """Fresh certificates, fresh etcd data, all three components up and healthy."""
        if self.layout.state_file.exists():
            self._load_pgids()
            if self.running():
                raise ControlPlaneError(f"a cluster is already running from {self.layout.root}; stop it first")
            self.stop()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._start_fresh()
                return
            except PortTakenError:
                if attempt == PORT_ATTEMPTS:
                    raise

    def _start_fresh(self) -> None:
        for stale in (self.layout.etcd_data, self.layout.pki, self.layout.kubeconfigs, self.layout.logs):
            shutil.rmtree(stale, ignore_errors=True)
        extra_sans = () if self.address == LOOPBACK else (f"IP:{KUBERNETES_SERVICE_IP}", f"IP:{self.address}")
        self._pki = create_pki(self.layout.pki, extra_sans)
        # Free now, but another process may bind one before we do: then start over.
        self._ports = Ports(*(processes.free_port() for _ in range(4)))
        self._write_client_kubeconfigs()
        try:
            self._start_etcd()
            self._start_apiserver()
            self._start_controller_manager()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every component (process groups, newest first) and forget the state."""
        for name in reversed(COMPONENTS):
            self._stop_component(name)
        self.layout.state_file.unlink(missing_ok=True)

    def running(self) -> list[str]:
        """Names of the recorded components whose processes still run."""
        return [name for name, pgid in self._pgids.items() if self._owns(name, pgid)]

    def restart_apiserver(self) -> None:
        """Stop and start the API server on the same port, certificates and etcd data."""
        self.stop_apiserver()
        self.start_apiserver()

    def stop_apiserver(self) -> None:
        """Take the API server down (SIGTERM, then SIGKILL); etcd and its data stay."""
        self._stop_component("kube-apiserver")

    def start_apiserver(self) -> None:
        """Bring a stopped API server back on its old port; returns once ``/readyz`` is ok."""
        if "kube-apiserver" in self.running():
            raise ControlPlaneError("kube-apiserver is already running")
        self._start_apiserver()

    def _stop_component(self, name: str) -> None:
        pgid = self._pgids.pop(name, None)
        if pgid is not None and self._owns(name, pgid):
            processes.stop_group(pgid)
        child = self._children.pop(name, None)
        if child is not None:
            child.wait(timeout=10)

    def _owns(self, name: str, pgid: int) -> bool:
        """The pgid is still our component (not a recycled pid after a crash or reboot)."""
        executable = processes.leader_executable(pgid)
        return executable is not None and executable.name.startswith(name) and processes.group_alive(pgid)

    def _write_client_kubeconfigs(self) -> None:
        for identity, cert in (("admin", self.pki.admin), ("controller-manager", self.pki.controller_manager)):
            write_kubeconfig(self.layout.kubeconfig(identity), self._cert_kubeconfig(identity, cert))

    def _cert_kubeconfig(self, user: str, cert: ClientCert) -> dict[str, object]:
        credentials = {"client-certificate": str(cert.cert), "client-key": str(cert.key)}
        return render_kubeconfig(self.server, self.pki.ca_cert, user, credentials)

    def _start_etcd(self) -> None:
        command = components.etcd_command(self.binaries, self.layout, self.ports)
        health = f"http://127.0.0.1:{self.ports.etcd_client}/health"
        self._launch("etcd", command, lambda: _http_ok(health))

    def _start_apiserver(self) -> None:
        command = components.apiserver_command(self.binaries, self.layout, self.pki, self.ports, self.address)
        context = _client_context(self.pki)
        self._launch("kube-apiserver", command, lambda: _http_ok(f"{self.server}/readyz", context))

    def _start_controller_manager(self) -> None:
        command = components.controller_manager_command(
            self.binaries, self.layout, self.pki, self.ports, with_node=self.address != LOOPBACK
        )
        health = f"https://127.0.0.1:{self.ports.controller_manager}/healthz"
        context = _client_context(None)
        self._launch("kube-controller-manager", command, lambda: _http_ok(health, context))

    def _launch(self, name: str, command: list[str], healthy: processes.Condition) -> None:
        log_file = self.layout.logs / f"{name}.log"
        child = processes.spawn(command, log_file, die_with_parent=self.die_with_parent)
        self._children[name] = child
        self._pgids[name] = child.pid
        self._save_state()
        if not processes.wait_until(lambda: healthy() or child.poll() is not None, START_TIMEOUT):
            raise ControlPlaneError(f"{name} not healthy after {START_TIMEOUT:.0f}s:\n{_log_tail(log_file)}")
        if child.poll() is not None:
            tail = _log_tail(log_file)
            error = PortTakenError if "address already in use" in tail else ControlPlaneError
            raise error(f"{name} exited with {child.returncode}:\n{tail}")

    def _load_pgids(self) -> None:
        state = json.loads(self.layout.state_file.read_text())
        self._pgids = {str(name): int(pgid) for name, pgid in state["pgids"].items()}

    def _save_state(self) -> None:
        state = {
            "server": self.server,
            "ports": self.ports.as_dict(),
            "address": self.address,
            "pgids": self._pgids,
        }
        self.layout.root.mkdir(parents=True, exist_ok=True)
        self.layout.state_file.write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def attach(cls, state_dir: Path, binaries: Binaries) -> ControlPlane:
        """A handle on a cluster another process started (for stop / restart from the CLI)."""
        state = json.loads((Layout(state_dir.resolve()).state_file).read_text())
        plane = cls(state_dir, binaries, address=state.get("address", LOOPBACK))
        plane._ports = Ports(**state["ports"])
        plane._pki = _existing_pki(plane.layout.pki)
        plane._load_pgids()
        return plane


def _existing_pki(directory: Path) -> Pki:
    def cert(name: str) -> ClientCert:
        return ClientCert(cert=directory / f"{name}.crt", key=directory / f"{name}.key")

    return Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        serving=cert("apiserver"),
        admin=cert("admin"),
        controller_manager=cert("controller-manager"),
        sa_public=directory / "sa.pub",
        sa_private=directory / "sa.key",
    )
