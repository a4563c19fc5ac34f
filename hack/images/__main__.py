"""``python -m hack.images`` (``make images``): base image, wheels, operator and proxy images."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hack.checkout import REPO_ROOT
from hack.cluster.binaries import cache_dir
from hack.images.base import ensure_base, log, spec_from_env
from hack.images.build import DEFAULT_PREFIX, DEFAULT_TAG, ImageNames, build_images
from hack.images.podman import PodmanError

LOCAL_BASE = "local"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.images", description=__doc__)
    parser.add_argument(
        "--base", default=LOCAL_BASE, help="base image: 'local' (debootstrap, the default) or a public Python image"
    )
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="image name prefix (the chart's default repository)")
    parser.add_argument("--tag", default=DEFAULT_TAG)
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "build" / "images")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        base = ensure_base(spec_from_env(), work_dir=args.work_dir) if args.base == LOCAL_BASE else args.base
        built = build_images(
            base=base, names=ImageNames(args.prefix, args.tag), work_dir=args.work_dir, cache=cache_dir()
        )
    except PodmanError as error:
        print(f"images: {error}", file=sys.stderr)
        return 1
    log(f"done in {time.monotonic() - started:.0f}s: {', '.join(built.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
