"""Getting the locally built images into the node's containerd (no registry anywhere).

The pause image is the Debian base with ``sleep infinity`` as PID 1, tagged as
containerd's ``sandbox_image`` so nothing is ever pulled.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from hack.images.podman import podman
from hack.kubenode.config import PAUSE_IMAGE, NodeLayout


def build_pause(base: str, work_dir: Path) -> str:
    context = work_dir / "pause"
    context.mkdir(parents=True, exist_ok=True)
    (context / "Containerfile").write_text(f'FROM {base}\nUSER 65535:65535\nENTRYPOINT ["/bin/sleep", "infinity"]\n')
    podman("build", "--quiet", "--network", "none", "--pull=never", "--tag", PAUSE_IMAGE, str(context))
    return PAUSE_IMAGE


def import_images(layout: NodeLayout, references: list[str], work_dir: Path) -> None:
    """``podman save`` the images into one archive, ``ctr import`` it into the CRI namespace."""
    archive = work_dir / "node-images.tar"
    archive.unlink(missing_ok=True)
    podman("save", "--multi-image-archive", "--output", str(archive), *references, timeout=900)
    command = [
        "ctr",
        "--address",
        str(layout.containerd_socket),
        "--namespace",
        "k8s.io",
        "images",
        "import",
        str(archive),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    archive.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"ctr images import failed: {done.stderr.strip()[-2000:]}")
