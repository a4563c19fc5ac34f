"""The servers compared, each started as its own process against the same mock.

Every path is a context manager yielding the base URL a load generator hits
(``{url}/v1/chat/completions``). Two mock models share one mock process:
``mock-model`` answers at once, ``mock-slow`` after 60 ms, ``mock-stream``
streams one token every 10 ms (like a fast real model), so every path serves
every workload without a restart.
"""

import contextlib
import http.client
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from hack.checkout import REPO_ROOT, checkout_env, python_module

FAST_MODEL = "mock-model"
SLOW_MODEL = "mock-slow"
SLOW_MS = 60
STREAM_MODEL = "mock-stream"
STREAM_TOKEN_MS = 10
"""Streams are paced like a real model's: with every event written at once, the first token and the end
arrive together and a closed loop's time to first token is its concurrency over the rate (queueing), not
what a proxy adds before the first token."""
CUT_MODEL = "mock-cut"
"""Served by Switchboard only, for the soak: the mock cuts its streams (``cut_stream_after``)."""
_URL = re.compile(rb"(http://127\.0\.0\.1:\d+)")


@dataclass(frozen=True)
class Server:
    url: str
    pids: tuple[int, ...]
    """Processes whose memory and descriptors count as this server's (workers included)."""


PathFactory = Callable[[str, Path], contextlib.AbstractContextManager[Server]]
"""(mock URL, scratch directory) -> a running path."""


@contextlib.contextmanager
def _process(
    argv: Sequence[str], log: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process whose stderr goes to ``log``; terminated (then killed) on exit.

    ``cwd``: where it runs. ``python -m`` puts its working directory first on ``sys.path``, ahead
    of ``PYTHONPATH``, so a checkout's code runs only when started from inside that checkout.
    """
    with open(log, "wb") as err:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env or checkout_env(), cwd=cwd)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def _announced_url(stdout: IO[bytes] | None, log: Path) -> str:
    assert stdout is not None
    line = stdout.readline()
    match = _URL.search(line)
    if not match:
        raise RuntimeError(f"server did not announce its URL; see {log}")
    return match.group(1).decode()


def wait_ready(
    url: str, path: str = "/readyz", timeout_s: float = 120.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    host, port = url.removeprefix("http://").split(":")
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode} before it was ready")
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url}{path} not ready after {timeout_s:.0f} s")


def pinned(argv: Sequence[str], cpus: Sequence[int] | None) -> tuple[str, ...]:
    """``argv`` run on ``cpus`` only (``taskset``; its children, a server's workers, inherit it); None: anywhere."""
    return tuple(argv) if cpus is None else ("taskset", "-c", ",".join(map(str, cpus)), *argv)


def cpus_allowed(pid: int) -> str:
    """The cores ``pid`` may run on, as the kernel lists them (``0-1``), to show a pinning took effect."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(ln.split(":", 1)[1].strip() for ln in status.splitlines() if ln.startswith("Cpus_allowed_list"))


def children_of(pid: int) -> tuple[int, ...]:
    """``pid`` and its direct children (the workers of a multi-process server)."""
    with contextlib.suppress(OSError):
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return (pid, *(int(k) for k in kids))
    return (pid,)


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU time used so far by ``pids``: the cost of a request, whatever else runs on the machine."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / _TICKS


@contextlib.contextmanager
def mock(scratch: Path, *, faults: Sequence[str] = (), cpus: Sequence[int] | None = None) -> Iterator[Server]:
    argv = python_module("switchboard.mock", "--port", "0", "--fault", f"{SLOW_MODEL}:latency_ms={SLOW_MS}")
    argv += ("--fault", f"{STREAM_MODEL}:latency_per_token_ms={STREAM_TOKEN_MS}")
    argv += tuple(arg for fault in faults for arg in ("--fault", fault))
    argv = pinned(argv, cpus)
    log = scratch / "mock.log"
    with _process(argv, log) as process:
        url = _announced_url(process.stdout, log)
        yield Server(url, (process.pid,))


def direct(mock_server: Server) -> PathFactory:
    """The mock itself: its own processes count as the path's."""

    @contextlib.contextmanager
    def start(mock_url: str, scratch: Path) -> Iterator[Server]:
        yield mock_server

    return start


NGINX_CONF = """
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    upstream mock {{ server {upstream}; keepalive 256; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx(binary: Path, workers: int = 1) -> PathFactory:
    @contextlib.contextmanager
    def start(mock_url: str, scratch: Path) -> Iterator[Server]:
        prefix = scratch / "nginx"
        prefix.mkdir(exist_ok=True)
        port = free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(workers=workers, prefix=prefix, port=port, upstream=mock_url.removeprefix("http://"))
        )
        argv = (
            str(binary),
            "-p",
            str(prefix),
            "-c",
            str(conf),
            "-g",
            "daemon off; user root;" if os.geteuid() == 0 else "daemon off;",
        )
        with _process(argv, prefix / "stderr.log") as process:
            url = f"http://127.0.0.1:{port}"
            _wait_port(url)
            yield Server(url, children_of(process.pid))

    return start


def _wait_port(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    for _ in range(200):
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {url}")


@contextlib.contextmanager
def otlp_sink(scratch: Path, name: str = "otlp-sink") -> Iterator[Server]:
    """``bench/otlp_sink.py``: an OTLP/HTTP endpoint that decodes and counts what it receives."""
    log = scratch / f"{name}.log"
    with _process(python_module("bench.otlp_sink"), log) as process:
        yield Server(_announced_url(process.stdout, log), (process.pid,))


@contextlib.contextmanager
def passthrough(mock_url: str, scratch: Path) -> Iterator[Server]:
    log = scratch / "passthrough.log"
    with _process(python_module("bench.passthrough", "--upstream", mock_url), log) as process:
        yield Server(_announced_url(process.stdout, log), (process.pid,))


def switchboard_config(mock_url: str, providers: int, strategy: str) -> dict[str, Any]:
    names = [f"mock-{i}" for i in range(providers)]
    return {
        "providers": [
            {
                "name": name,
                "type": "openai",
                "baseUrl": mock_url + "/v1",
                "models": [{"name": m} for m in (FAST_MODEL, SLOW_MODEL, STREAM_MODEL, CUT_MODEL)],
            }
            for name in names
        ],
        "profiles": [
            {
                "name": "bench",
                "models": [FAST_MODEL, SLOW_MODEL, STREAM_MODEL, CUT_MODEL],
                "strategy": strategy,
                "providers": [{"name": name} for name in names],
            }
        ],
    }


def switchboard(
    *,
    workers: int,
    providers: int,
    strategy: str = "failover",
    log_level: str = "INFO",
    checkout: Path = REPO_ROOT,
    env: dict[str, str] | None = None,
    cpus: Sequence[int] | None = None,
) -> PathFactory:
    """The proxy CLI as a user runs it: default log level (access log on), metrics and cost on.

    ``checkout``: the source tree to run (another revision's worktree for a before/after comparison);
    ``env``: extra environment (``OTEL_*`` for the tracing benchmark); ``cpus``: the cores it may use.
    """

    @contextlib.contextmanager
    def start(mock_url: str, scratch: Path) -> Iterator[Server]:
        config = scratch / "switchboard.yaml"
        config.write_text(yaml.safe_dump(switchboard_config(mock_url, providers, strategy)))
        argv = python_module(
            "switchboard.proxy.cli",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--workers",
            str(workers),
            "--log-level",
            log_level,
        )
        argv = pinned(argv, cpus)
        log = scratch / "switchboard.log"
        with _process(
            argv, log, env=checkout_env({"PYTHONPATH": str(checkout), **(env or {})}), cwd=checkout
        ) as process:
            url = _announced_url(process.stdout, log)
            wait_ready(url)
            time.sleep(0.5 if workers > 1 else 0)  # every worker bound and loaded, not just the first
            wait_ready(url)
            yield Server(url, children_of(process.pid))

    return start


def litellm(binary: Path, *, workers: int) -> PathFactory:
    """LiteLLM's proxy on the same mock: callbacks, logging, telemetry and the database off."""

    @contextlib.contextmanager
    def start(mock_url: str, scratch: Path) -> Iterator[Server]:
        params = {"api_base": mock_url + "/v1", "api_key": "unused"}
        config = {
            "model_list": [
                {"model_name": m, "litellm_params": {"model": f"openai/{m}", **params}}
                for m in (FAST_MODEL, SLOW_MODEL, STREAM_MODEL)
            ],
            "litellm_settings": {
                "callbacks": [],
                "success_callback": [],
                "failure_callback": [],
                "telemetry": False,
                "set_verbose": False,
                # num_retries left at LiteLLM's default (2): Switchboard keeps its retries on too (3).
            },
            "general_settings": {
                "disable_spend_logs": True,
                "disable_error_logs": True,
                # No master key: requests carry no key on every path alike (loopback only).
                "dangerously_permit_weak_or_unset_master_key": True,
            },
        }
        path = scratch / "litellm.yaml"
        path.write_text(yaml.safe_dump(config))
        port = free_port()
        argv: tuple[str, ...] = (str(binary), "--config", str(path), "--host", "127.0.0.1", "--port", str(port))
        argv += ("--num_workers", str(workers))
        env = {
            # No DATABASE_URL: no database, as on every other path.
            **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DATABASE_URL")},
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
            "LITELLM_MODE": "PRODUCTION",
            "DISABLE_ADMIN_UI": "True",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price list from the internet
        }
        with _process(argv, scratch / "litellm.log", env=env) as process:
            url = f"http://127.0.0.1:{port}"
            try:
                wait_ready(url, "/health/liveliness", timeout_s=180, process=process)
            except RuntimeError as e:
                raise RuntimeError(f"{e}; see {scratch / 'litellm.log'}") from None
            yield Server(url, children_of(process.pid))

    return start
