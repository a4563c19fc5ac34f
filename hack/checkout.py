"""Start this checkout's own code in a child Python process.

Every ``python -m switchboard...`` (or ``hack...``) child that a test, the
benchmarks or ``make run`` starts gets ``PYTHONPATH`` set to this repository's
root, so it imports this worktree's code rather than whatever the shared
virtualenv's editable install points at. (``operator/`` has no
``__init__.py``, so it cannot shadow the standard library's ``operator``.)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def python_module(module: str, *args: str) -> tuple[str, ...]:
    """The argv of ``python -m module args...`` with the running interpreter."""
    return (sys.executable, "-m", module, *args)


def checkout_env(extra: Mapping[str, str] | None = None, *, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) plus ``extra``, with this checkout first on ``sys.path``."""
    return {**(os.environ if base is None else base), "PYTHONPATH": str(REPO_ROOT), **(extra or {})}
