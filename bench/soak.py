"""A mixed soak: Switchboard's RSS and open descriptors while it serves through upstream faults.

One worker, three providers under least-latency on a mock that fails 5 % of
requests (the proxy retries them on another provider); vegeta sends a steady
mix of non-streaming and streaming requests, fast and 60 ms, and one in 21 is a
stream the mock cuts after two chunks. ``/proc`` is sampled every few seconds;
flat means RSS and descriptors, idle after the end, within 10 % of their
values idle after a minute's warm-up (under load, descriptors rise and fall
with connections); the medians of each half under load are reported too.
"""

import contextlib
import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import load, paths
from bench.tools import Tools

SOAK_RATE = 100
WARM_UP_S = 60.0
IDLE_S = 35.0
"""Idle before each measurement: longer than aiohttp's keep-alive of pooled upstream connections (15 s, closed by
a cleanup that runs every 15 s), so what stays open is what a leak keeps, not the pool the last load left."""
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Phases:
    """When the soak's steady load runs, for work that must run beside it (or not): ``loaded`` is set when the
    main load starts, ``unloaded`` when it stops (the idle minute at the end follows)."""

    loaded: threading.Event = field(default_factory=threading.Event)
    unloaded: threading.Event = field(default_factory=threading.Event)


def usage(pids: tuple[int, ...]) -> tuple[float, int]:
    """(RSS in MiB, open descriptors) summed over ``pids``."""
    rss, fds = 0, 0
    for pid in pids:
        with contextlib.suppress(OSError):
            rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
            fds += len(os.listdir(f"/proc/{pid}/fd"))
    return rss / 2**20, fds


def run(
    tools: Tools, scratch: Path, *, seconds: float, interval_s: float = 5.0, phases: Phases | None = None
) -> dict[str, Any]:
    phases = phases or Phases()
    here = scratch / "soak"
    here.mkdir()
    faults = ("*:status=503", "*:fail_rate=0.05", f"{paths.CUT_MODEL}:cut_stream_after=2")
    with paths.mock(here, faults=faults) as mock:
        config = paths.switchboard(workers=1, providers=3, strategy="least-latency")
        with config(mock.url, here) as server:
            start = usage(server.pids)
            mix = [load.chat_body(m, stream=s) for m in (paths.FAST_MODEL, paths.SLOW_MODEL) for s in (False, True)]
            bodies = mix * 5 + [load.chat_body(paths.CUT_MODEL, stream=True)]
            targets = load.vegeta_targets(server.url, bodies, here)
            samples: list[tuple[float, float, int]] = []
            stop = threading.Event()

            def sample() -> None:
                began = time.monotonic()
                while not stop.wait(interval_s):
                    samples.append((round(time.monotonic() - began, 1), *usage(server.pids)))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            # Idle after the warm-up and idle at the end: what is left between loads is what a leak keeps.
            warm_up_s = min(WARM_UP_S, seconds / 2)
            warm_up = load.vegeta(tools.vegeta, targets, rate=SOAK_RATE, seconds=warm_up_s)
            time.sleep(IDLE_S)
            idle_warm = usage(server.pids)
            attack_s = max(seconds - warm_up_s - 2 * IDLE_S, 10.0)  # the whole soak, idle included: ``seconds``
            phases.loaded.set()
            try:
                attack = load.vegeta(tools.vegeta, targets, rate=SOAK_RATE, seconds=attack_s)
            finally:
                phases.unloaded.set()
            time.sleep(IDLE_S)
            idle_end = usage(server.pids)
            stop.set()
            sampler.join()
    warmed = [x for x in samples if x[0] >= WARM_UP_S] or samples
    half = len(warmed) // 2
    first, second = warmed[: max(half, 1)], warmed[half:]

    def median(rows: list[tuple[float, float, int]], column: int) -> float:
        return float(statistics.median(row[column] for row in rows)) if rows else float("nan")

    return {
        "seconds": seconds,
        "idle_s": IDLE_S,
        "rate": SOAK_RATE,
        "success": attack.success,
        "warm_up_success": warm_up.success,
        "idle_after_warm_up_rss_mib": round(idle_warm[0], 1),
        "idle_after_warm_up_fds": idle_warm[1],
        "idle_at_end_rss_mib": round(idle_end[0], 1),
        "idle_at_end_fds": idle_end[1],
        "status_codes": attack.status_codes,
        "errors": attack.errors,
        "start_rss_mib": round(start[0], 1),
        "start_fds": start[1],
        "first_half_rss_mib": round(median(first, 1), 1),
        "second_half_rss_mib": round(median(second, 1), 1),
        "first_half_fds": median(first, 2),
        "second_half_fds": median(second, 2),
        "end_rss_mib": round(samples[-1][1], 1) if samples else None,
        "end_fds": samples[-1][2] if samples else None,
        "max_rss_mib": round(max((x[1] for x in samples), default=start[0]), 1),
        "max_fds": max((x[2] for x in samples), default=start[1]),
        "samples": [list(x) for x in samples],
    }
