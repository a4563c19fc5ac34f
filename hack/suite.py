"""``make test``: the main suite, and the pod suite on a real node brought up meanwhile.

The node (control plane, containerd, kubelet, CoreDNS) and the chart's pods take
minutes to come up and little of the test process's attention, so they start in
the background while the main suite runs; the pod suite then runs against them
(``SWITCHBOARD_NODE_DIR``: the fixtures attach instead of starting their own).
Whatever happens (a failed test, Ctrl-C, SIGTERM from a CI time limit), the node
is stopped and the host checked: a process, mount, network namespace, bridge,
iptables rule or cgroup of the node left behind fails the run.

``--pods-only``: the pod suite alone (``make e2e-node``).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from hack.checkout import REPO_ROOT, checkout_env
from hack.cluster.binaries import cache_dir
from hack.images.base import ensure_base, spec_from_env
from hack.images.build import BUILT_ENV, ImageNames, build_images, checkout_tag
from hack.kubenode import host
from hack.kubenode.config import BRIDGE
from hack.kubenode.stack import NODE_DIR_ENV, node_lock, stop_stack

IMAGE_TAG = checkout_tag()
"""This checkout's own: another checkout's ``make test`` on the host builds and runs its own tag."""
POD_SUITE = ("tests/node", "tests/e2e/test_system.py", "tests/e2e/test_outage.py")
BACKEND_ENV = "SWITCHBOARD_E2E_BACKEND"  # tests/fixtures/system.py: "node" runs the e2e suite on the pods
UP_TIMEOUT = 1200.0


def log(message: str) -> None:
    print(f"[suite] {message}", file=sys.stderr, flush=True)


def pytest(*args: str, env: dict[str, str]) -> int:
    started = time.monotonic()
    code = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=REPO_ROOT, env=env).returncode
    log(f"pytest {' '.join(args) or '(main suite)'}: exit {code} after {time.monotonic() - started:.0f}s")
    return code


def build(work_dir: Path) -> None:
    started = time.monotonic()
    base = ensure_base(spec_from_env(), work_dir=work_dir)
    build_images(base=base, names=ImageNames(tag=IMAGE_TAG), work_dir=work_dir, cache=cache_dir())
    log(f"images built in {time.monotonic() - started:.0f}s")


def stop_on_sigterm() -> None:
    """SIGTERM (a CI time limit) unwinds like Ctrl-C, so the node is still stopped."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


@contextmanager
def node_in_background(state_dir: Path, up_log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m hack.kubenode up --release`` running; afterwards the node down and the host checked clean."""
    if state_dir.exists():
        stop_stack(state_dir)  # whatever a killed earlier run left behind
    elif host.bridge_exists():
        raise SystemExit(f"[suite] a node is up already (bridge {BRIDGE}): stop it first (make node-down)")
    netns_before = host.network_namespaces()
    up_log.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "hack.kubenode", "up", "--state-dir", str(state_dir)]
    argv += ["--no-build", "--tag", IMAGE_TAG, "--release"]
    with up_log.open("wb") as output:
        up = subprocess.Popen(argv, cwd=REPO_ROOT, env=checkout_env(), stdout=output, stderr=subprocess.STDOUT)
    try:
        yield up
    finally:
        if up.poll() is None:
            up.terminate()
            up.wait(timeout=60)
        started = time.monotonic()
        stop_stack(state_dir)
        log(f"node down in {time.monotonic() - started:.0f}s")
        left = {kind: items for kind, items in host.footprint(state_dir).items() if items}
        netns = sorted(n for n in host.network_namespaces() - netns_before if n.startswith("cni-"))
        if netns:
            left["netns"] = netns
        if left:
            raise SystemExit(f"[suite] the node left this behind: {left}")
        log("node down: no process, mount, netns, bridge, iptables rule or cgroup left")


def wait_for_node(up: subprocess.Popen[bytes], up_log: Path) -> bool:
    started = time.monotonic()
    try:
        code = up.wait(timeout=UP_TIMEOUT)
    except subprocess.TimeoutExpired:
        code = -1
    text = up_log.read_text(errors="replace")
    if code != 0:
        log(f"node-up failed (exit {code}):\n{text[-6000:]}")
        return False
    ready = [line for line in text.splitlines() if line.startswith(("node Ready", "chart installed"))]
    log(f"node and chart ready ({'; '.join(ready)}; then waited for: {time.monotonic() - started:.0f}s)")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.suite", description=__doc__)
    parser.add_argument("--pods-only", action="store_true", help="the pod suite alone (make e2e-node)")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    run_dir = REPO_ROOT / ".run"
    state_dir, up_log = run_dir / "suite-node", run_dir / "suite-node-up.log"
    failed: list[str] = []
    build(REPO_ROOT / "build" / "images")
    env = checkout_env({BUILT_ENV: IMAGE_TAG})
    with node_lock(), node_in_background(state_dir, up_log) as up:
        if not args.pods_only and pytest(env=env) != 0:
            failed.append("main suite")
        if not wait_for_node(up, up_log):
            failed.append("node-up")
        else:
            pod_env = {**env, NODE_DIR_ENV: str(state_dir), BACKEND_ENV: "node"}
            pod_args = ("-m", "node or k8s", "-p", "no:randomly", "-rs", "--durations=10")
            if pytest(*POD_SUITE, *pod_args, env=pod_env) != 0:
                failed.append("pod suite")
    if failed:
        log(f"FAILED: {', '.join(failed)}")
        return 1
    log("all green")
    return 0


if __name__ == "__main__":
    sys.exit(main())
