"""Load generators: wrk (closed loop), vegeta (open loop) and a streaming client (TTFT).

Each returns plain numbers (requests/s, milliseconds) for one run against one URL.
"""

import base64
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import paths
from hack.checkout import checkout_env, python_module

CHAT = "/v1/chat/completions"
_HERE = Path(__file__).resolve().parent


def chat_body(model: str, *, stream: bool = False) -> bytes:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "benchmark this short prompt"}]}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


@dataclass(frozen=True)
class Closed:
    """A closed-loop run: ``connections`` clients each sending the next request when the last answered."""

    rps: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    """None when no request completed within the run (wrk then reports zeros, not latencies)."""
    errors: int
    requests: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wrk(
    binary: Path, url: str, model: str, *, connections: int, seconds: float, cpus: Sequence[int] | None = None
) -> Closed:
    """``cpus``: the cores wrk may use (None: any)."""
    argv = [str(binary), "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    argv += ["-s", str(_HERE / "wrk_report.lua"), url + CHAT]
    argv = list(paths.pinned(argv, cpus))
    env = {**os.environ, "BENCH_BODY": chat_body(model).decode()}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {done.stdout}{done.stderr}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    answered = raw["requests"] > 0
    return Closed(
        rps=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000 if answered else None,
        p90_ms=raw["p90_us"] / 1000 if answered else None,
        p99_ms=raw["p99_us"] / 1000 if answered else None,
        errors=raw["errors"],
        requests=raw["requests"],
    )


_LOCAL_DIAL_FAILURES = ("bind: address already in use", "cannot assign requested address")
"""vegeta's errors when this machine has no local port left to connect from (a fault of the load, not the path)."""


@dataclass(frozen=True)
class Open:
    """An open-loop run: requests sent at ``rate`` per second whatever the answers do."""

    rate: float
    seconds: float
    throughput: float
    success: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    status_codes: dict[str, int]
    errors: list[str]
    """vegeta's distinct error texts (timeouts, refused connections...)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def load_generator_failed(self) -> bool:
        """Whether vegeta itself could not connect (no free local port): the run says nothing of the path."""
        return any(failure in error for error in self.errors for failure in _LOCAL_DIAL_FAILURES)


def vegeta_targets(url: str, bodies: list[bytes], scratch: Path) -> Path:
    path = scratch / "targets.jsonl"
    lines = [
        json.dumps(
            {
                "method": "POST",
                "url": url + CHAT,
                "body": base64.b64encode(body).decode(),
                "header": {"Content-Type": ["application/json"]},
            }
        )
        for body in bodies
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def vegeta(
    binary: Path,
    targets: Path,
    *,
    rate: float,
    seconds: float,
    timeout_s: float = 2.0,
    max_connections: int | None = None,
) -> Open:
    """``max_connections``: at most this many open at once (None: vegeta opens one per request in flight).

    Unbounded, a path that falls behind makes vegeta open a connection per waiting request, thousands a
    second; each closed one holds its local port for a minute (TIME_WAIT), so the runs that follow, of
    any path, fail to connect. Requests beyond the bound wait for a connection, inside the measured time.
    """
    attack = [str(binary), "attack", "-format=json", f"-targets={targets}", f"-rate={rate:g}/s"]
    attack += [f"-duration={seconds:g}s", f"-timeout={timeout_s:g}s"]
    if max_connections is not None:
        attack.append(f"-max-connections={max_connections}")
    with subprocess.Popen(attack, stdout=subprocess.PIPE) as attacker:
        report = subprocess.run(
            [str(binary), "report", "-type=json"], stdin=attacker.stdout, capture_output=True, check=True
        )
    raw = json.loads(report.stdout)
    lat = raw["latencies"]
    return Open(
        rate=rate,
        seconds=seconds,
        throughput=raw["throughput"],
        success=raw["success"],
        p50_ms=lat["50th"] / 1e6,
        p95_ms=lat["95th"] / 1e6,
        p99_ms=lat["99th"] / 1e6,
        status_codes=raw.get("status_codes") or {},
        errors=(raw.get("errors") or [])[:5],
    )


def stream(url: str, model: str, *, concurrency: int, seconds: float) -> dict[str, float | None]:
    """Time to first token and total time of streamed answers (``bench/stream_client.py``)."""
    argv = python_module("bench.stream_client", url + CHAT, model, str(concurrency), str(seconds))
    done = subprocess.run(argv, capture_output=True, text=True, env=checkout_env(), check=False)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        raise RuntimeError(f"stream client failed against {url}")
    result: dict[str, float | None] = json.loads(done.stdout)
    return result
