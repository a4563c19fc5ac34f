"""The operator and proxy identities, with RBAC taken from the Helm chart itself.

The chart's ``templates/rbac.yaml`` is rendered by ``helm template`` and applied
as admin; then a TokenRequest per ServiceAccount yields a bound token and a
kubeconfig. Tests acting as ``operator`` or ``proxy`` therefore have exactly
the permissions a real install grants, no more.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from hack.checkout import REPO_ROOT
from hack.cluster.binaries import Binaries
from hack.cluster.kubeconfig import render_kubeconfig, write_kubeconfig

CHART = REPO_ROOT / "deploy" / "helm" / "switchboard"
RELEASE = "switchboard"
NAMESPACE = "switchboard-system"
TOKEN_DURATION = "48h"
SERVICE_ACCOUNTS = {"operator": "switchboard-operator", "proxy": "switchboard-proxy"}


@dataclass(frozen=True)
class Identity:
    name: str
    service_account: str
    kubeconfig: Path


def render_rbac(binaries: Binaries, chart: Path = CHART) -> str:
    """``helm template`` of the chart's RBAC only, as a multi-document YAML string."""
    command = [
        str(binaries.helm), "template", RELEASE, str(chart), "--namespace", NAMESPACE,
        "--show-only", "templates/rbac.yaml",
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout


def _kubectl(binaries: Binaries, kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    command = [str(binaries.kubectl), f"--kubeconfig={kubeconfig}", *args]
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def bootstrap_identities(
    binaries: Binaries, admin_kubeconfig: Path, server: str, ca_file: Path, out_dir: Path
) -> dict[str, Identity]:
    """Create the release namespace, apply the chart RBAC, and write one kubeconfig per ServiceAccount."""
    namespace = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n"
    _kubectl(binaries, admin_kubeconfig, "apply", "-f", "-", stdin=namespace)
    _kubectl(binaries, admin_kubeconfig, "apply", "-f", "-", stdin=render_rbac(binaries))
    identities: dict[str, Identity] = {}
    for name, account in SERVICE_ACCOUNTS.items():
        token = _kubectl(
            binaries, admin_kubeconfig, "create", "token", account, "-n", NAMESPACE, f"--duration={TOKEN_DURATION}"
        ).strip()
        config = render_kubeconfig(server, ca_file, f"system:serviceaccount:{NAMESPACE}:{account}", {"token": token})
        identities[name] = Identity(name, account, write_kubeconfig(out_dir / f"{name}.yaml", config))
    return identities
