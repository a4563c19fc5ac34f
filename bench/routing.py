"""Routing decision time: ``Router.plan`` medians from the pytest-benchmark suite, in microseconds."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from hack.checkout import REPO_ROOT, checkout_env


def decision_times(*, quick: bool) -> dict[str, dict[str, float]]:
    """``{strategy: {candidates: median_us}}`` from ``bench/test_engine_bench.py``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "engine.json"
        argv = [sys.executable, "-m", "pytest", str(REPO_ROOT / "bench" / "test_engine_bench.py"), "-q"]
        argv += ["--benchmark-enable", "--benchmark-only", "-p", "no:randomly", f"--benchmark-json={out}"]
        if quick:
            argv += ["--benchmark-max-time=0.05", "--benchmark-min-rounds=20", "-k", "not 500"]
        subprocess.run(argv, cwd=REPO_ROOT, env=checkout_env(), check=True, stdout=subprocess.DEVNULL)
        raw = json.loads(out.read_text())
    times: dict[str, dict[str, float]] = {}
    for bench in raw["benchmarks"]:
        params = bench["params"]
        times.setdefault(params["strategy"], {})[str(params["n"])] = round(bench["stats"]["median"] * 1e6, 2)
    return times
