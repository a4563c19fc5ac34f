"""Every wheel the images install, made on the host so image builds never touch the network.

TLS from inside a container build to the package index may not verify here,
while the host's pip works. Dependencies are downloaded as binary wheels for
the image's Python and platform (not the host's), cached by a digest of the
pinned requirement list; the project's own wheel is rebuilt on every call. The
context keeps them apart (``deps/``, ``app/``) so the images install the
dependencies in a layer of their own that a code change leaves cached.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from hack.checkout import REPO_ROOT
from hack.images.base import PYTHON_FULL_VERSION, PYTHON_VERSION, log

# glibc in bookworm is 2.36: any manylinux tag up to that runs there.
GLIBC_MINORS = range(17, 37)
PROJECT = "switchboard"
REQUIREMENTS = "requirements.txt"
"""Beside the dependency wheels: the pins the image installs (only these and what they need)."""
EPOCH = "315532800"  # 1980-01-01, the earliest time a zip entry can carry


def requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """The project's pinned runtime dependencies, as pip requirement strings."""
    return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])


def platform_flags() -> list[str]:
    platforms = [f"manylinux_2_{minor}_x86_64" for minor in GLIBC_MINORS] + ["manylinux2014_x86_64"]
    flags = [flag for platform in platforms for flag in ("--platform", platform)]
    abi = "cp" + PYTHON_VERSION.replace(".", "")
    return [*flags, "--python-version", PYTHON_VERSION, "--implementation", "cp", "--abi", abi]


def download_argv(requirements_file: Path, destination: Path) -> list[str]:
    return [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--only-binary=:all:", *platform_flags(), "--dest", str(destination), "-r", str(requirements_file),
    ]  # fmt: skip


def image_environment() -> dict[str, str]:
    """Marker values of the image's interpreter (bookworm's python3)."""
    return {
        "python_version": PYTHON_VERSION, "python_full_version": PYTHON_FULL_VERSION, "implementation_name": "cpython",
        "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
        "platform_machine": "x86_64", "os_name": "posix", "extra": "",
    }  # fmt: skip


def requirements_for_image(wheels: Path) -> list[str]:
    """Requirements of the downloaded wheels that apply on the image's Python but have no wheel yet."""
    present = {canonicalize_name(path.name.split("-")[0]) for path in wheels.glob("*.whl")}
    missing: set[str] = set()
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            (metadata,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
            text = archive.read(metadata).decode()
        for line in text.splitlines():
            if not line.startswith("Requires-Dist:"):
                continue
            requirement = Requirement(line.removeprefix("Requires-Dist:").strip())
            applies = requirement.marker is None or requirement.marker.evaluate(image_environment())
            if applies and canonicalize_name(requirement.name) not in present:
                missing.add(f"{requirement.name}{requirement.specifier}")
    return sorted(missing)


def dependency_key(pins: list[str]) -> str:
    text = "\n".join([PYTHON_FULL_VERSION, *platform_flags(), *sorted(pins)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dependency_wheels(cache: Path) -> Path:
    """The cached directory of dependency wheels for the current pins (downloaded once)."""
    pins = requirements()
    target = cache / "wheels" / dependency_key(pins)
    if (target / ".complete").is_file():
        log(f"dependency wheels up to date ({target})")
        if not (target / REQUIREMENTS).is_file():  # cached before the list was kept there
            (target / REQUIREMENTS).write_text("\n".join(pins) + "\n")
        return target
    log(f"downloading {len(pins)} pinned dependencies (and theirs) as wheels for Python {PYTHON_VERSION}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as scratch:
        listing = Path(scratch) / "requirements.txt"
        listing.write_text("\n".join(pins) + "\n")
        staged = Path(scratch) / "wheels"
        subprocess.run(download_argv(listing, staged), check=True, timeout=900)
        # pip evaluates markers against the host's Python, not the image's: fetch what the image's adds.
        for _ in range(5):
            missing = requirements_for_image(staged)
            if not missing:
                break
            listing.write_text("\n".join(missing) + "\n")
            subprocess.run(download_argv(listing, staged), check=True, timeout=900)
        (staged / REQUIREMENTS).write_text("\n".join(pins) + "\n")
        (staged / ".complete").write_text("\n".join(pins) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staged, target)
    return target


def stage_context(context: Path, cache: Path) -> Path:
    """``context`` holding ``deps/`` (every dependency wheel and the pins) and ``app/`` (the project wheel), nothing
    else. The cached files are linked, not rewritten: the same pins give the same ``deps/``, byte for byte and
    timestamp for timestamp, so podman's cache of the dependency layer holds."""
    shutil.rmtree(context, ignore_errors=True)
    deps, app = context / "deps", context / "app"
    deps.mkdir(parents=True)
    app.mkdir()
    cached = dependency_wheels(cache)
    for path in [*cached.glob("*.whl"), cached / REQUIREMENTS]:
        if _same_device(path, deps):
            os.link(path, deps / path.name)
        else:
            shutil.copy2(path, deps / path.name)
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(app), "."]
    with tempfile.TemporaryDirectory(prefix="switchboard-wheel-") as build_dir:
        # setuptools builds into the checkout's ``build/`` unless told otherwise, and never empties it: a module
        # deleted from the checkout would stay in every wheel after. A fresh build directory each time instead.
        setup_cfg = Path(build_dir) / "setup.cfg"
        setup_cfg.write_text(f"[build]\nbuild_base = {Path(build_dir) / 'build'}\n")
        # Fixed timestamps: the same sources give the same wheel bytes, so podman's layer cache holds.
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "TMPDIR": build_dir, "SOURCE_DATE_EPOCH": EPOCH}
        env["DIST_EXTRA_CONFIG"] = str(setup_cfg)
        subprocess.run(build, cwd=REPO_ROOT, check=True, env=env, timeout=600)
    if not list(app.glob(f"{PROJECT}-*.whl")):
        raise RuntimeError(f"pip wheel left no {PROJECT} wheel in {app}")
    return context


def _same_device(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev
