"""``python -m hack.system up|down|status`` (``make run`` / ``make down``)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from hack.checkout import REPO_ROOT
from hack.cluster import Binaries, ControlPlaneError, ToolsMissingError, start_cluster
from hack.system.commands import SystemOptions
from hack.system.examples import load_examples, mock_upstreams
from hack.system.instructions import instructions
from hack.system.launcher import SystemStartError, start_system, stop_recorded

DEFAULT_STATE_DIR = REPO_ROOT / ".run" / "system"


def _ports(text: str) -> tuple[int, ...]:
    try:
        ports = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated port numbers, got {text!r}") from None
    if len(ports) < 2 or any(not 0 <= p < 65536 for p in ports):
        raise argparse.ArgumentTypeError("expected two or more ports in 0..65535 (0 picks a free one)")
    return ports


def _up(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir
    if (state_dir / "state.json").exists():
        print(f"error: a system is already recorded in {state_dir}; run `make down` first", file=sys.stderr)
        return 2
    started = time.monotonic()
    cluster_dir = state_dir / "cluster"
    cluster = start_cluster(cluster_dir, Binaries.locate())
    options = SystemOptions(
        namespace=args.namespace,
        proxy_ports=args.proxy_ports,
        mock_ports={m.port: 0 for m in mock_upstreams(load_examples())} if args.free_ports else {},
    )
    try:
        system = start_system(cluster, options, state_dir, cluster_dir=cluster_dir)
    except BaseException:
        cluster.stop()
        raise
    print(f"system up in {time.monotonic() - started:.1f}s")
    print(instructions(system.proxy_urls, system.mock_urls, cluster.admin_kubeconfig, args.namespace, state_dir))
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = stop_recorded(args.state_dir)
    print(f"stopped: {', '.join(stopped)}" if stopped else f"nothing recorded in {args.state_dir}")
    return 0


def _status(args: argparse.Namespace) -> int:
    state_file = args.state_dir / "state.json"
    if not state_file.exists():
        print("down")
        return 1
    print(json.dumps(json.loads(state_file.read_text()), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.system", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="logs, pids and the cluster")
    parser.add_argument("--namespace", default="default", help="namespace of the example resources")
    parser.add_argument("--proxy-ports", type=_ports, default=(8080, 8081), help="comma-separated; 0 picks one")
    parser.add_argument("--free-ports", action="store_true", help="mocks on free ports (examples retargeted)")
    args = parser.parse_args(argv)
    args.state_dir = args.state_dir.resolve()
    actions = {"up": _up, "down": _down, "status": _status}
    try:
        return actions[args.action](args)
    except (ToolsMissingError, ControlPlaneError, SystemStartError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", None)
        print(f"error: {error}" + (f"\n{detail}" if detail else ""), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
