"""``python -m hack.cluster up|down|restart-apiserver|status`` (used by make cluster-up/down)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hack.cluster.binaries import Binaries, ToolsMissingError
from hack.cluster.controlplane import ControlPlaneError
from hack.cluster.session import KubeCluster, attach_cluster, start_cluster

DEFAULT_STATE_DIR = Path(__file__).resolve().parents[2] / ".run" / "cluster"


def _describe(cluster: KubeCluster) -> str:
    return "\n".join(
        [
            f"server:               {cluster.server}",
            f"admin kubeconfig:     {cluster.admin_kubeconfig}",
            f"operator kubeconfig:  {cluster.operator_kubeconfig}",
            f"proxy kubeconfig:     {cluster.proxy_kubeconfig}",
            f"export KUBECONFIG={cluster.admin_kubeconfig}",
        ]
    )


def _up(state_dir: Path) -> int:
    started = time.monotonic()
    cluster = start_cluster(state_dir, Binaries.locate())
    print(f"cluster up in {time.monotonic() - started:.1f}s")
    print(_describe(cluster))
    return 0


def _down(state_dir: Path) -> int:
    if not (state_dir / "state.json").exists():
        print(f"no cluster recorded in {state_dir}")
        return 0
    attach_cluster(state_dir, Binaries.locate()).stop()
    print("cluster stopped")
    return 0


def _restart_apiserver(state_dir: Path) -> int:
    attach_cluster(state_dir, Binaries.locate()).restart_apiserver()
    print("kube-apiserver restarted")
    return 0


def _status(state_dir: Path) -> int:
    if not (state_dir / "state.json").exists():
        print("down")
        return 1
    cluster = attach_cluster(state_dir, Binaries.locate())
    print("running: " + (", ".join(cluster.control_plane.running()) or "nothing"))
    print(_describe(cluster))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.cluster", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "restart-apiserver", "status"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args(argv)
    actions = {"up": _up, "down": _down, "restart-apiserver": _restart_apiserver, "status": _status}
    try:
        return actions[args.action](args.state_dir)
    except (ToolsMissingError, ControlPlaneError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
