"""``KubeCluster``: the handle tests and the CLI use on a running local cluster.

This is the stable interface other areas build on (see tests/fixtures/cluster.py):
server URL, CA, one kubeconfig per identity (``admin``, ``operator``, ``proxy``),
a ``kubectl`` helper, an environment dict, and ``restart_apiserver``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hack.cluster.binaries import Binaries
from hack.cluster.controlplane import ControlPlane
from hack.cluster.identities import NAMESPACE, bootstrap_identities

IdentityName = Literal["admin", "operator", "proxy"]


@dataclass(frozen=True)
class KubeCluster:
    server: str
    ca_file: Path
    admin_kubeconfig: Path
    operator_kubeconfig: Path
    proxy_kubeconfig: Path
    namespace: str
    binaries: Binaries
    control_plane: ControlPlane

    def kubeconfig(self, as_: IdentityName = "admin") -> Path:
        """Kubeconfig of ``admin`` (system:masters), or the operator's or proxy's ServiceAccount."""
        configs = {"admin": self.admin_kubeconfig, "operator": self.operator_kubeconfig, "proxy": self.proxy_kubeconfig}
        if as_ not in configs:
            raise ValueError(f"unknown identity {as_!r}; expected one of {sorted(configs)}")
        return configs[as_]

    def env(self, as_: IdentityName = "admin") -> dict[str, str]:
        """``os.environ`` plus KUBECONFIG for ``as_`` and kubectl/helm first on PATH, for subprocesses."""
        tool_dirs = {str(self.binaries.kubectl.parent), str(self.binaries.helm.parent)}
        path = os.pathsep.join([*sorted(tool_dirs), os.environ.get("PATH", "")])
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig(as_)), "PATH": path}

    def kubectl(
        self,
        *args: str,
        as_: IdentityName = "admin",
        input: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl as ``as_``; with ``check`` a non-zero exit raises with kubectl's stderr."""
        command = [str(self.binaries.kubectl), f"--kubeconfig={self.kubeconfig(as_)}", *args]
        done = subprocess.run(command, input=input, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)
        return done

    def restart_apiserver(self) -> None:
        """Stop and start kube-apiserver (same port, certificates, etcd data); returns once ready."""
        self.control_plane.restart_apiserver()

    def stop_apiserver(self) -> None:
        """Take kube-apiserver down (clients get connection refused) until ``start_apiserver``."""
        self.control_plane.stop_apiserver()

    def start_apiserver(self) -> None:
        """Bring kube-apiserver back on the same port; returns once ready."""
        self.control_plane.start_apiserver()

    def stop(self) -> None:
        self.control_plane.stop()


def start_cluster(
    state_dir: Path, binaries: Binaries, *, die_with_parent: bool = False, address: str = "127.0.0.1"
) -> KubeCluster:
    """Start a fresh control plane in ``state_dir`` and bootstrap the chart's identities.

    ``address``: where the API server listens (a node's bridge gateway when pods must reach it).
    """
    plane = ControlPlane(state_dir, binaries, die_with_parent=die_with_parent, address=address)
    plane.start()
    try:
        return _bootstrap(plane)
    except BaseException:
        plane.stop()
        raise


def attach_cluster(state_dir: Path, binaries: Binaries) -> KubeCluster:
    """Handle on a cluster started earlier by another process (``make cluster-up``)."""
    plane = ControlPlane.attach(state_dir, binaries)
    return _handle(plane)


def _bootstrap(plane: ControlPlane) -> KubeCluster:
    bootstrap_identities(
        plane.binaries, plane.admin_kubeconfig(), plane.server, plane.pki.ca_cert, plane.layout.kubeconfigs
    )
    return _handle(plane)


def _handle(plane: ControlPlane) -> KubeCluster:
    return KubeCluster(
        server=plane.server,
        ca_file=plane.pki.ca_cert,
        admin_kubeconfig=plane.admin_kubeconfig(),
        operator_kubeconfig=plane.layout.kubeconfig("operator"),
        proxy_kubeconfig=plane.layout.kubeconfig("proxy"),
        namespace=NAMESPACE,
        binaries=plane.binaries,
        control_plane=plane,
    )
