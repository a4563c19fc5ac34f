"""Multi-process serving: N workers bind one port with SO_REUSEPORT.

The parent reserves the port (so ``--port 0`` works), starts each worker as
``switchboard-proxy ... --workers 1 --port P --reuse-port``, forwards
SIGINT/SIGTERM and exits when they do. The kernel spreads connections across
the workers' listening sockets; each worker has its own config runtime and
metrics registry.
"""

import argparse
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (without listening) so the port is ours; workers bind it too via SO_REUSEPORT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def worker_argv(argv: Sequence[str], port: int) -> list[str]:
    """The parent's arguments with ``--workers``/``--port`` replaced for one worker."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--workers", "--port"):
            skip = True
            continue
        if arg.startswith(("--workers=", "--port=")):
            continue
        out.append(arg)
    return [*out, "--workers", "1", "--port", str(port), "--reuse-port"]


def run_workers(args: argparse.Namespace, argv: Sequence[str]) -> int:
    reserved = reserve_port(args.host, args.port)
    port = reserved.getsockname()[1]
    command = [sys.executable, "-m", "switchboard.proxy.cli", *worker_argv(argv, port)]
    children = [subprocess.Popen(command) for _ in range(args.workers)]
    print(f"switchboard-proxy started {args.workers} workers on http://{args.host}:{port}", flush=True)

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    codes = [child.wait() for child in children]
    reserved.close()
    return max(codes, default=0)
