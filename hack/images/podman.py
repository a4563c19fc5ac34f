"""The podman command line for this machine kind, and a runner that says what failed.

crun fails on hybrid cgroup hierarchies, so runc is named explicitly; without
systemd the cgroup manager is cgroupfs; podman's default ulimits exceed what
the kernel grants here, so they are capped.
"""

from __future__ import annotations

import shutil
import subprocess

ULIMITS = ("nofile=20000:20000", "nproc=32768:32768")


class PodmanError(RuntimeError):
    """podman (or a tool it needs) is missing or a command failed."""


def podman_argv(*args: str) -> list[str]:
    """``podman`` with the global options this host needs, then ``args``."""
    executable = shutil.which("podman")
    if executable is None:
        raise PodmanError("podman not found: install the Debian packages podman, buildah and runc")
    runtime = shutil.which("runc") or "runc"
    return [executable, "--runtime", runtime, "--cgroup-manager", "cgroupfs", "--events-backend", "file", *args]


def ulimit_flags() -> list[str]:
    return [flag for limit in ULIMITS for flag in ("--ulimit", limit)]


def podman(*args: str, timeout: float = 600.0, input: bytes | None = None) -> str:
    """Run podman; return its stdout, or raise with its stderr."""
    command = podman_argv(*args)
    done = subprocess.run(command, input=input, capture_output=True, timeout=timeout)
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()
        raise PodmanError(f"podman {' '.join(args[:2])} failed ({done.returncode}): {stderr[-2000:]}")
    return done.stdout.decode(errors="replace")


def run_once(image: str, *command: str) -> str:
    """Run ``command`` in a throwaway container without network; its stdout."""
    return podman("run", "--rm", "--network", "none", *ulimit_flags(), image, *command, timeout=120)


def image_exists(reference: str) -> bool:
    return subprocess.run(podman_argv("image", "exists", reference), capture_output=True).returncode == 0


def hardened_run_argv(
    name: str,
    image: str,
    command: list[str],
    *,
    volumes: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> list[str]:
    """``podman run`` as the chart runs a pod: non-root, read-only root, no capabilities, only /tmp writable.

    Host networking, so the container serves on loopback and leaves no bridge or rule behind.
    """
    mounts = [flag for host, inside in (volumes or {}).items() for flag in ("--volume", f"{host}:{inside}:ro")]
    variables = [flag for key, value in (env or {}).items() for flag in ("--env", f"{key}={value}")]
    return [
        "run", "--detach", "--name", name, "--network", "host", "--user", "10001:10001",
        "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=64m,mode=1777",
        "--cap-drop", "all", "--security-opt", "no-new-privileges", *ulimit_flags(),
        *mounts, *variables, image, *command,
    ]  # fmt: skip


def remove_container(name: str) -> None:
    """Stop and delete a container (and its conmon, cgroup and storage); quiet when absent."""
    subprocess.run(podman_argv("rm", "--force", "--ignore", "--time", "5", name), capture_output=True, timeout=120)
