"""Two workers against one, measured only where the machine lets the answer mean something.

On a machine whose every core also runs the load generator and the mock, a
second worker only takes CPU from them: 2 workers ~= 1 worker there says
nothing about the proxy. So the workers get cores of their own (``taskset``):
one worker on one core, two workers on two, while wrk and the mock share the
remaining cores, which the workers never touch. That needs four cores; with
fewer, the scaling is reported as not measurable, with the reason, never as a
ratio. The server CPU per request of 2 against 1 worker (which does not need
free cores) is reported beside it in every case: scaling needs it near 1.
"""

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import load, paths, rounds
from bench.tools import Tools

WORKERS = 2
LOAD_CORES = 2
"""wrk (one thread) and the mock (one process): each keeps one core busy at the proxies' rates."""


@dataclass(frozen=True)
class Placement:
    workers: tuple[int, ...]
    """The cores of the 2-worker server; the 1-worker server gets the first."""
    load: tuple[int, ...]
    """The cores of wrk and the mock."""


def placement(cores: Sequence[int]) -> Placement | str:
    """Cores for the workers and for the load among ``cores`` (those this process may use), or why there are too few."""
    needed = WORKERS + LOAD_CORES
    if len(cores) < needed:
        return (
            f"not measurable here: {len(cores)} cores (needs {needed}: {WORKERS} for the workers alone, "
            f"{LOAD_CORES} for wrk and the mock)"
        )
    ordered = sorted(cores)
    return Placement(workers=tuple(ordered[:WORKERS]), load=tuple(ordered[WORKERS:]))


def available_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def measure(
    tools: Tools, scratch: Path, where: Placement, *, connections: int, seconds: float, rounds_: int
) -> dict[str, Any]:
    """Closed-loop req/s of Switchboard with 1 worker on 1 core and 2 workers on 2, the load on other cores.

    The mock direct is measured on the load cores too: the 2-worker figure means something only
    while the mock and wrk serve well above it.
    """
    here = scratch / "scaling"
    here.mkdir()
    with contextlib.ExitStack() as stack:
        mock = stack.enter_context(paths.mock(here, cpus=where.load))
        servers = {"direct": mock}
        for workers, cpus in ((1, where.workers[:1]), (WORKERS, where.workers)):
            (here / f"{workers}w").mkdir()
            factory = paths.switchboard(workers=workers, providers=1, cpus=cpus)
            servers[f"switchboard-{workers}w"] = stack.enter_context(factory(mock.url, here / f"{workers}w"))
        pinned = {name: sorted({paths.cpus_allowed(pid) for pid in s.pids}) for name, s in servers.items()}
        for server in servers.values():  # warm up
            load.wrk(tools.wrk, server.url, paths.FAST_MODEL, connections=connections, seconds=1, cpus=where.load)
        closed = rounds.interleaved(
            servers,
            rounds_,
            lambda url: load.wrk(
                tools.wrk, url, paths.FAST_MODEL, connections=connections, seconds=seconds, cpus=where.load
            ).as_dict(),
        )
    return {"workers_cores": list(where.workers), "load_cores": list(where.load), "pinned": pinned, "closed": closed}
