"""Multi-process serving: N workers bind one port with SO_REUSEPORT.

The parent reserves the port (so ``--port 0`` works), starts each worker as
``switchboard-proxy ... --workers 1 --port P --reuse-port``, forwards
SIGINT/SIGTERM and exits when they do. The kernel spreads connections across
the workers' listening sockets; each worker has its own config runtime.

Metrics are aggregated across workers through prometheus-client's multiprocess
mode: the parent creates a fresh ``PROMETHEUS_MULTIPROC_DIR`` for the run, every
worker records into it and serves the sum on ``/metrics``, the parent marks each
exited worker dead (dropping its live gauges) and removes the directory at exit.
"""

import argparse
import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

from prometheus_client import multiprocess

from switchboard.proxy.metrics import MULTIPROC_DIR_ENV


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


@contextlib.contextmanager
def metrics_dir() -> Iterator[Path]:
    """A fresh, empty directory for this run's worker metrics, removed afterwards.

    Always new (never an inherited ``PROMETHEUS_MULTIPROC_DIR``): files left by an
    earlier run would be added to this run's counters.
    """
    path = Path(tempfile.mkdtemp(prefix="switchboard-metrics-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def reap(children: Sequence[subprocess.Popen[bytes]], on_exit: Callable[[int], None]) -> list[int]:
    """Wait for every child in exit order, calling ``on_exit(pid)`` as each one ends; their exit codes.

    One waiting thread per child rather than ``Popen.wait`` one after the other, so a
    worker that dies early is accounted for at once, not after the workers started
    before it; and rather than ``os.wait``, which would reap other children of the process.
    """
    exited: queue.SimpleQueue[subprocess.Popen[bytes]] = queue.SimpleQueue()

    def watch(child: subprocess.Popen[bytes]) -> None:
        child.wait()
        exited.put(child)

    for child in children:
        threading.Thread(target=watch, args=(child,), name=f"reap-{child.pid}", daemon=True).start()
    codes: list[int] = []
    for _ in children:
        child = exited.get()  # interruptible: the main thread still runs the signal handlers
        on_exit(child.pid)
        codes.append(child.returncode)
    return codes


def run_workers(args: argparse.Namespace, argv: Sequence[str]) -> int:
    reserved = reserve_port(args.host, args.port)
    port = reserved.getsockname()[1]
    command = [sys.executable, "-m", "switchboard.proxy.cli", *worker_argv(argv, port)]
    with metrics_dir() as directory:
        env = {**os.environ, MULTIPROC_DIR_ENV: str(directory)}
        children = [subprocess.Popen(command, env=env) for _ in range(args.workers)]
        print(f"switchboard-proxy started {args.workers} workers on http://{args.host}:{port}", flush=True)

        def forward(signum: int, _frame: FrameType | None) -> None:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signum)

        signal.signal(signal.SIGINT, forward)
        signal.signal(signal.SIGTERM, forward)
        codes = reap(children, lambda pid: multiprocess.mark_process_dead(pid, str(directory)))  # type: ignore[no-untyped-call]
    reserved.close()
    return max(codes, default=0)
