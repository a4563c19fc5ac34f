"""Build the operator and proxy images with podman from a wheels-only context.

One Dockerfile (``hack/images/Dockerfile``), one target per component.

The context is staged under ``build/images/context``: the dependency wheels
(``deps/``) and the project wheel (``app/``), nothing else, so no credential,
virtualenv or stray file of the checkout can enter an image. RUN steps get no
network: the build proves it is offline. The dependencies' layers are cached
until the pins change, and both images share every layer up to their labels.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from hack.checkout import REPO_ROOT
from hack.images.base import log
from hack.images.podman import podman, ulimit_flags
from hack.images.wheels import stage_context

COMPONENTS = ("operator", "proxy")
"""The Dockerfile's component targets."""
DOCKERFILE = Path(__file__).with_name("Dockerfile")
DEFAULT_PREFIX = "ghcr.io/switchboard-dev"
DEFAULT_TAG = "dev"
# Set (to the tag) when this run built the images already: test fixtures use them as they are.
BUILT_ENV = "SWITCHBOARD_IMAGES_BUILT"


@dataclass(frozen=True)
class ImageNames:
    prefix: str = DEFAULT_PREFIX
    tag: str = DEFAULT_TAG

    def reference(self, component: str) -> str:
        return f"{self.prefix}/switchboard-{component}:{self.tag}"


def checkout_tag(root: Path = REPO_ROOT) -> str:
    """The tag the tests build and run from the checkout at ``root``: ``test-`` and a digest of its path.

    podman's image store is one per host: with one tag for every checkout, two ``make test`` runs at once
    would each run the images the other built last. A tag per checkout keeps them apart, and one checkout's
    runs follow each other (one ``build/images`` and ``.run`` each), so they replace their own tag only.
    """
    return f"test-{hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]}"


def build_argv(component: str, *, base: str, context: Path, reference: str) -> list[str]:
    """``podman build`` arguments for one component (pure)."""
    return [
        "build", "--quiet", "--network", "none", "--pull=missing", *ulimit_flags(),
        "--build-arg", f"PYTHON_IMAGE={base}", "--target", component,
        "--file", str(DOCKERFILE), "--tag", reference, str(context),
    ]  # fmt: skip


def build_images(*, base: str, names: ImageNames, work_dir: Path, cache: Path) -> dict[str, str]:
    """Stage the wheels, build both images on ``base``; returns component -> image reference."""
    context = work_dir / "context"
    stage_context(context, cache)
    built = {}
    for component in COMPONENTS:
        reference = names.reference(component)
        started = time.monotonic()
        podman(*build_argv(component, base=base, context=context, reference=reference), timeout=1800)
        log(f"{reference} built in {time.monotonic() - started:.0f}s")
        built[component] = reference
    return built
