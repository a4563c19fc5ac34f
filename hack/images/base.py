"""The base image from Debian packages: ``debootstrap --variant=minbase`` plus python3.

No container registry is reachable here, so the image every Switchboard image
builds on is a Debian root filesystem imported into podman. Its tag carries a
digest of everything that decides its content (suite, mirror, packages), so a
warm machine reuses it and a changed package list makes a new one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hack.images.podman import PodmanError, image_exists, podman_argv
from hack.mounts import unmount_all_under

# python3-venv brings ensurepip, which installs the offline wheels; ca-certificates
# lets the proxy verify TLS upstreams; passwd (required) already provides useradd.
PACKAGES = ("python3", "python3-venv", "ca-certificates")
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
REPOSITORY = "localhost/switchboard-base"
# The Python every wheel is fetched for: bookworm's python3 (and the public default base).
PYTHON_VERSION = "3.11"
PYTHON_FULL_VERSION = "3.11.2"  # environment markers (e.g. redis needs async-timeout below 3.11.3)


@dataclass(frozen=True)
class BaseSpec:
    suite: str = SUITE
    mirror: str = DEFAULT_MIRROR
    packages: tuple[str, ...] = PACKAGES

    @property
    def reference(self) -> str:
        """``localhost/switchboard-base:<suite>-<digest>``: content-addressed by its inputs."""
        key = "\n".join([self.suite, self.mirror, *sorted(self.packages)])
        return f"{REPOSITORY}:{self.suite}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    def debootstrap_argv(self, rootfs: Path) -> list[str]:
        return [
            "debootstrap", "--variant=minbase", f"--include={','.join(self.packages)}",
            self.suite, str(rootfs), self.mirror,
        ]  # fmt: skip


def spec_from_env(environ: dict[str, str] | None = None) -> BaseSpec:
    env = os.environ if environ is None else environ
    return BaseSpec(mirror=env.get("SWITCHBOARD_DEBIAN_MIRROR") or DEFAULT_MIRROR)


def log(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def trim_rootfs(rootfs: Path) -> None:
    """Drop what only the bootstrap needed: downloaded packages, apt lists, logs."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "var/log/*.log", "var/cache/debconf/*-old"):
        for path in rootfs.glob(pattern):
            if path.is_file():
                path.unlink()


def ensure_base(spec: BaseSpec, *, work_dir: Path) -> str:
    """The base image reference; bootstrapped and imported only when missing."""
    reference = spec.reference
    if image_exists(reference):
        log(f"base image {reference} up to date")
        return reference
    if shutil.which("debootstrap") is None:
        raise PodmanError("debootstrap not found: install the Debian package debootstrap")
    log(f"bootstrapping {reference} ({spec.suite} minbase + {', '.join(spec.packages)})")
    started = time.monotonic()
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="rootfs-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        try:
            subprocess.run(spec.debootstrap_argv(rootfs), check=True, capture_output=True, timeout=900)
            trim_rootfs(rootfs)
            _import(rootfs, reference)
        except subprocess.CalledProcessError as error:
            tail = (error.stdout or b"").decode(errors="replace")[-2000:]
            raise PodmanError(f"debootstrap failed ({error.returncode}):\n{tail}") from error
        finally:
            unmount_all_under(rootfs)
    log(f"base image built in {time.monotonic() - started:.0f}s")
    return reference


def _import(rootfs: Path, reference: str) -> None:
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        podman_import = podman_argv("import", "--change", 'CMD ["/bin/bash"]', "-", reference)
        done = subprocess.run(podman_import, stdin=tar.stdout, capture_output=True, timeout=600)
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait()
    if done.returncode != 0 or tar.returncode != 0:
        raise PodmanError(f"importing {reference} failed: {done.stderr.decode(errors='replace')[-2000:]}")
