"""A mixed soak: Switchboard's RSS and open descriptors while it serves through upstream faults.

One worker, three providers under least-latency on a mock that fails 5 % of
requests and cuts the slow model's streams; vegeta sends non-streaming, streaming and
cut-stream requests at a steady rate. ``/proc`` is sampled every few seconds.
"""

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from bench import load, paths
from bench.tools import Tools

SOAK_RATE = 100
_PAGE = os.sysconf("SC_PAGE_SIZE")


def usage(pids: tuple[int, ...]) -> tuple[float, int]:
    """(RSS in MiB, open descriptors) summed over ``pids``."""
    rss, fds = 0, 0
    for pid in pids:
        with contextlib.suppress(OSError):
            rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
            fds += len(os.listdir(f"/proc/{pid}/fd"))
    return rss / 2**20, fds


def run(tools: Tools, scratch: Path, *, seconds: float, interval_s: float = 5.0) -> dict[str, Any]:
    here = scratch / "soak"
    here.mkdir()
    faults = ("*:fail_rate=0.05", f"{paths.SLOW_MODEL}:cut_stream_after=2")
    with paths.mock(here, faults=faults) as mock:
        config = paths.switchboard(workers=1, providers=3, strategy="least-latency")
        with config(mock.url, here) as server:
            start = usage(server.pids)
            bodies = [
                load.chat_body(paths.FAST_MODEL),
                load.chat_body(paths.FAST_MODEL, stream=True),
                load.chat_body(paths.SLOW_MODEL),
                load.chat_body(paths.SLOW_MODEL, stream=True),
            ]
            targets = load.vegeta_targets(server.url, bodies, here)
            samples: list[tuple[float, float, int]] = []
            stop = threading.Event()

            def sample() -> None:
                began = time.monotonic()
                while not stop.wait(interval_s):
                    samples.append((round(time.monotonic() - began, 1), *usage(server.pids)))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            attack = load.vegeta(tools.vegeta, targets, rate=SOAK_RATE, seconds=seconds)
            stop.set()
            sampler.join()
    warm = samples[min(len(samples) - 1, max(1, len(samples) // 10))] if samples else (0.0, *start)
    end = samples[-1] if samples else (0.0, *start)
    return {
        "seconds": seconds,
        "rate": SOAK_RATE,
        "success": attack.success,
        "start_rss_mib": round(start[0], 1),
        "start_fds": start[1],
        "warm_rss_mib": round(warm[1], 1),
        "warm_fds": warm[2],
        "end_rss_mib": round(end[1], 1),
        "end_fds": end[2],
        "max_rss_mib": round(max((s[1] for s in samples), default=start[0]), 1),
        "max_fds": max((s[2] for s in samples), default=start[1]),
        "samples": [list(s) for s in samples],
    }
