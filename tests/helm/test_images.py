"""Static checks of the Dockerfiles and the pure parts of ``hack.images`` (tests/images runs them)."""

import re
import tomllib
from pathlib import Path

import pytest

from hack.images.base import PACKAGES, PYTHON_VERSION, BaseSpec
from hack.images.build import build_argv
from hack.images.podman import hardened_run_argv
from hack.images.wheels import dependency_key, platform_flags, requirements, stage_context
from hack.mounts import mounts_under
from tests.fixtures.helm import REPO


@pytest.mark.parametrize("component", ["proxy", "operator"])
def test_dockerfile(component: str) -> None:
    text = (REPO / component / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base is not None, "the base is a build argument (local Debian base or a public image)"
    public = rf"python:{re.escape(PYTHON_VERSION)}\.\d+-slim-bookworm(@sha256:[0-9a-f]{{64}})?"
    assert re.fullmatch(public, base.group(1)), "the default public base carries the image Python"
    assert len(re.findall(r"^FROM \$\{PYTHON_IMAGE\}", text, re.M)) == 2, "multi-stage: deps and runtime"
    assert re.search(r"^USER 10001:10001$", text, re.M), "runs as the UID the chart's securityContext expects"
    assert re.search(r"^COPY deps/ /wheels/$", text, re.M), "the context is the staged wheels only"
    assert "install --no-index --find-links /wheels \\\n      --requirement /wheels/requirements.txt" in text
    # The project wheel, offline, in a layer after the dependencies' (a code change leaves those cached).
    # podman keys a RUN's cache on its text alone, so the project enters by COPY only (keyed on its content).
    assert "install --no-index --root /staged /app/switchboard-*.whl" in text and "--mount" not in text
    deps_layer = text.index("COPY --from=deps /opt/switchboard /opt/switchboard")
    assert text.index("COPY app/ /app/") < deps_layer < text.index("COPY --from=app /staged/ /") < text.index("LABEL ")
    common = text[text.index("# --- deps") : text.index("LABEL ")]
    assert common == _common_part("operator"), "both images share every layer up to their labels"
    command = re.search(r"^CMD \[\"([^\"]+)\"", text, re.M)
    assert command is not None
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert command.group(1) == f"switchboard-{component}" and command.group(1) in scripts
    assert "ENTRYPOINT" not in text.replace("No ENTRYPOINT", "")


def _common_part(component: str) -> str:
    text = (REPO / component / "Dockerfile").read_text()
    return text[text.index("# --- deps") : text.index("LABEL ")]


def test_build_is_offline_on_the_given_base() -> None:
    argv = build_argv("proxy", base="localhost/b:1", context=Path("/ctx"), reference="r:1")
    assert argv[argv.index("--network") + 1] == "none"
    assert "PYTHON_IMAGE=localhost/b:1" in argv and argv[-1] == "/ctx"
    assert "nofile=20000:20000" in argv


def test_base_tag_follows_its_inputs() -> None:
    spec = BaseSpec()
    assert spec.reference == BaseSpec().reference
    assert spec.reference != BaseSpec(packages=(*PACKAGES, "curl")).reference
    assert spec.reference != BaseSpec(mirror="http://mirror.example/debian").reference
    argv = spec.debootstrap_argv(Path("/r"))
    assert "--variant=minbase" in argv and "--include=python3,python3-venv,ca-certificates" in argv


def test_wheels_target_the_image_python_not_the_host() -> None:
    flags = platform_flags()
    assert flags[flags.index("--python-version") + 1] == PYTHON_VERSION
    assert "manylinux_2_36_x86_64" in flags and "manylinux_2_37_x86_64" not in flags  # bookworm's glibc
    assert all("==" in pin for pin in requirements()), "runtime dependencies are pinned"


def test_hardened_run_matches_the_chart_security_context() -> None:
    argv = hardened_run_argv("n", "img", ["cmd"], volumes={"/h": "/c"}, env={"K": "v"})
    assert {"--read-only", "--read-only-tmpfs=false"} <= set(argv)
    assert argv[argv.index("--user") + 1] == "10001:10001"
    assert argv[argv.index("--cap-drop") + 1] == "all"
    assert "/h:/c:ro" in argv and argv[-2:] == ["img", "cmd"]


def test_mounts_under_lists_nested_mounts_deepest_first() -> None:
    mounts = "proc /r/proc proc rw 0 0\nsysfs /r/proc/sys x rw 0 0\nproc /proc proc rw 0 0\nx /r2 y rw 0 0\n"
    assert mounts_under(Path("/r"), mounts) == [Path("/r/proc/sys"), Path("/r/proc")]


def test_the_context_keeps_the_dependencies_apart_and_unchanged_from_one_staging_to_the_next(tmp_path: Path) -> None:
    """``deps/`` is the cache's files linked as they are (same bytes, same timestamps: podman's cache of the
    dependency layer holds), ``app/`` the freshly built project wheel alone."""
    pins = requirements()
    cached = tmp_path / "cache" / "wheels" / dependency_key(pins)
    cached.mkdir(parents=True)
    (cached / "dep-1.0-py3-none-any.whl").write_bytes(b"a wheel")
    (cached / ".complete").write_text("\n".join(pins) + "\n")  # a cache made before requirements.txt was kept
    context = tmp_path / "context"
    stage_context(context, tmp_path / "cache")
    first = {p.name: p.stat().st_mtime_ns for p in (context / "deps").iterdir()}
    assert sorted(first) == ["dep-1.0-py3-none-any.whl", "requirements.txt"]
    assert (context / "deps" / "requirements.txt").read_text().splitlines() == pins
    (wheel,) = (context / "app").iterdir()
    assert re.fullmatch(r"switchboard-[^-]+-py3-none-any\.whl", wheel.name)
    assert sorted(p.name for p in context.iterdir()) == ["app", "deps"]
    stage_context(context, tmp_path / "cache")
    assert {p.name: p.stat().st_mtime_ns for p in (context / "deps").iterdir()} == first
