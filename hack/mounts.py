"""Finding and removing mounts below a directory (debootstrap targets, a node's kubelet and containerd)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def mounts_under(root: Path, mounts: str) -> list[Path]:
    """Mount points at or below ``root`` in ``/proc/self/mounts`` text, deepest first."""
    found = []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        point = Path(fields[1].replace("\\040", " "))
        if point == root or root in point.parents:
            found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def current_mounts_under(root: Path) -> list[Path]:
    return mounts_under(root, Path("/proc/self/mounts").read_text())


def unmount_all_under(root: Path) -> None:
    """Lazily unmount everything at or below ``root``, deepest first."""
    for point in current_mounts_under(root):
        subprocess.run(["umount", "--lazy", str(point)], check=False, capture_output=True)
