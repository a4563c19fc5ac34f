"""``python -m hack.kubenode up|down`` (``make node-up`` / ``make node-down``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hack.checkout import REPO_ROOT
from hack.images.build import DEFAULT_TAG, ImageNames
from hack.kubenode.release import install_release
from hack.kubenode.stack import start_stack, stop_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.kubenode", description=__doc__)
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--state-dir", type=Path, default=REPO_ROOT / ".run" / "node")
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "build" / "images")
    parser.add_argument("--tag", default=DEFAULT_TAG, help="tag of the operator and proxy images")
    parser.add_argument("--no-build", action="store_true", help="the images exist already: only import them")
    parser.add_argument("--release", action="store_true", help="then install the chart (as the pod suite does)")
    args = parser.parse_args(argv)
    state_dir = args.state_dir.resolve()
    if args.action == "down":
        stop_stack(state_dir)
        print("node and control plane stopped; nothing left behind", file=sys.stderr)
        return 0
    started = time.monotonic()
    names = ImageNames(tag=args.tag)
    stack = start_stack(state_dir, work_dir=args.work_dir, names=names, build=not args.no_build)
    print(f"node Ready in {time.monotonic() - started:.0f}s", file=sys.stderr)
    if args.release:
        installed = time.monotonic()
        install_release(stack.cluster, stack.images)
        print(f"chart installed, proxies Ready in {time.monotonic() - installed:.0f}s", file=sys.stderr)
    print(f"export KUBECONFIG={stack.cluster.admin_kubeconfig}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
