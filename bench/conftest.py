"""Collects each benchmark's median and prints one compact strategy x size table.

pytest-benchmark's own table is wide (one row per test); this one answers the
question the target asks at a glance: median decision time per strategy and
candidate count, in microseconds.
"""

from collections.abc import Callable

import pytest
from _pytest.terminal import TerminalReporter

Medians = dict[tuple[str, int], float]  # (strategy, candidates) -> median seconds
_MEDIANS = pytest.StashKey[Medians]()
_LINES = pytest.StashKey[dict[str, list[str]]]()  # section title -> lines


@pytest.fixture
def record_median(request: pytest.FixtureRequest) -> Callable[[str, int, float], None]:
    """Remember a benchmark's median for the summary table."""
    medians = request.config.stash.setdefault(_MEDIANS, {})

    def record(strategy: str, candidates: int, median_s: float) -> None:
        medians[(strategy, candidates)] = median_s

    return record


@pytest.fixture
def report_line(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Add a line under a titled section of the end-of-run summary."""
    sections = request.config.stash.setdefault(_LINES, {})
    return lambda title, line: sections.setdefault(title, []).append(line)


def pytest_terminal_summary(terminalreporter: TerminalReporter, config: pytest.Config) -> None:
    for title, lines in config.stash.get(_LINES, {}).items():
        terminalreporter.write_sep("-", title)
        for line in lines:
            terminalreporter.write_line(line)
    medians = config.stash.get(_MEDIANS, {})
    if not medians:
        return
    sizes = sorted({n for _, n in medians})
    strategies = sorted({s for s, _ in medians})
    terminalreporter.write_sep("-", "Router.plan median decision time (us)")
    terminalreporter.write_line(f"{'strategy':<15}" + "".join(f"{n:>10}" for n in sizes))
    for strategy in strategies:
        cells = (medians.get((strategy, n)) for n in sizes)
        terminalreporter.write_line(
            f"{strategy:<15}" + "".join(f"{'-' if m is None else f'{m * 1e6:.1f}':>10}" for m in cells)
        )
