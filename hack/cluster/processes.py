"""Child processes of the control plane: each in its own process group.

Stopping kills the whole group and waits, so nothing (and no port) is left
behind. ``die_with_parent`` asks Linux to SIGKILL a child when the process that
started it exits, so a crashed test run cannot leak an API server (SIGTERM is not
enough: an API server whose etcd died at the same moment hangs in shutdown).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

PR_SET_PDEATHSIG = 1
Condition = Callable[[], bool]


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _kill_on_parent_death() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(
    command: Sequence[str],
    log_file: Path,
    *,
    die_with_parent: bool,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` as the leader of a new process group (its pid is the pgid)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_kill_on_parent_death if die_with_parent and sys.platform == "linux" else None,
        )


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def group_alive(pgid: int) -> bool:
    """True while any non-zombie process of the group exists (reaps our own child first)."""
    _reap(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _group_has_live_member(pgid)


def _group_has_live_member(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def leader_executable(pid: int) -> Path | None:
    """The resolved executable of ``pid``, or None if it is gone."""
    try:
        return Path(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return None


def stop_group(pgid: int, grace_seconds: float = 15.0) -> None:
    """SIGTERM the group, wait up to ``grace_seconds``, then SIGKILL and wait."""
    for sig, deadline in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        if wait_until(lambda: not group_alive(pgid), deadline):
            return
    raise RuntimeError(f"process group {pgid} survived SIGKILL")


def wait_until(condition: Condition, timeout: float, interval: float = 0.2) -> bool:
    """Poll ``condition`` until true or ``timeout`` seconds pass; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
