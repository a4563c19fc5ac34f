"""Static checks of the Dockerfile and the pure parts of ``hack.images`` (tests/images runs them)."""

import re
import tomllib
import zipfile
from pathlib import Path

from hack.images.base import PACKAGES, PYTHON_VERSION, BaseSpec
from hack.images.build import COMPONENTS, DOCKERFILE, ImageNames, build_argv, checkout_tag
from hack.images.podman import hardened_run_argv
from hack.images.wheels import dependency_key, platform_flags, requirements, stage_context
from hack.mounts import mounts_under
from tests.fixtures.helm import REPO


def _stages(text: str) -> dict[str, str]:
    """Each named stage of the Dockerfile: its name -> its text (the FROM line and what follows)."""
    parts = re.split(r"^(?=FROM )", text, flags=re.M)[1:]
    return {part.split("\n", 1)[0].rpartition(" AS ")[2]: part for part in parts}


def test_one_dockerfile_builds_both_images_sharing_every_layer_but_their_labels_and_command() -> None:
    assert not (REPO / "operator" / "Dockerfile").exists() and not (REPO / "proxy" / "Dockerfile").exists()
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base is not None, "the base is a build argument (local Debian base or a public image)"
    public = rf"python:{re.escape(PYTHON_VERSION)}\.\d+-slim-bookworm(@sha256:[0-9a-f]{{64}})?"
    assert re.fullmatch(public, base.group(1)), "the default public base carries the image Python"
    stages = _stages(text)
    assert list(stages) == ["deps", "app", "runtime", *COMPONENTS], "one target per component, after the rest"
    assert len(re.findall(r"^FROM \$\{PYTHON_IMAGE\}", text, re.M)) == 2, "multi-stage: deps and runtime"
    runtime = stages["runtime"]
    assert re.search(r"^USER 10001:10001$", runtime, re.M), "runs as the UID the chart's securityContext expects"
    assert re.search(r"^COPY deps/ /wheels/$", stages["deps"], re.M), "the context is the staged wheels only"
    assert "install --no-index --find-links /wheels \\\n      --requirement /wheels/requirements.txt" in text
    # The project wheel, offline, in a layer after the dependencies' (a code change leaves those cached).
    # podman keys a RUN's cache on its text alone, so the project enters by COPY only (keyed on its content).
    assert "install --no-index --root /staged /app/switchboard-*.whl" in stages["app"] and "--mount" not in text
    assert runtime.index("COPY --from=deps /opt/switchboard") < runtime.index("COPY --from=app /staged/ /")
    assert "ENTRYPOINT" not in text.replace("No ENTRYPOINT", "")
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    for component in COMPONENTS:
        stage = stages[component]
        assert stage.startswith(f"FROM runtime AS {component}\n"), "everything else comes from the shared stage"
        assert set(re.findall(r"^([A-Z]+) ", stage, re.M)) <= {"FROM", "LABEL", "EXPOSE", "CMD"}, "no layer of its own"
        assert f'image.title="switchboard-{component}"' in stage
        command = re.search(r"^CMD \[\"([^\"]+)\"", stage, re.M)
        assert command is not None and command.group(1) == f"switchboard-{component}"
        assert command.group(1) in scripts
    assert "EXPOSE 8080" in stages["proxy"] and "EXPOSE" not in stages["operator"]


def test_each_checkout_tests_images_of_its_own_tag(tmp_path: Path) -> None:
    """Two checkouts running ``make test`` on one host at once never run the images the other built."""
    one, other = tmp_path / "one", tmp_path / "other"
    assert checkout_tag(one) == checkout_tag(one) != checkout_tag(other)
    assert checkout_tag(one) == checkout_tag(tmp_path / "x" / ".." / "one"), "the checkout, however it is named"
    assert re.fullmatch(r"test-[0-9a-f]{12}", checkout_tag()), "a valid image tag"
    assert ImageNames(tag=checkout_tag(one)).reference("proxy").endswith(f"/switchboard-proxy:{checkout_tag(one)}")


def test_build_is_offline_on_the_given_base() -> None:
    argv = build_argv("proxy", base="localhost/b:1", context=Path("/ctx"), reference="r:1")
    assert argv[argv.index("--network") + 1] == "none"
    assert argv[argv.index("--target") + 1] == "proxy" and argv[argv.index("--file") + 1] == str(DOCKERFILE)
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
    # What setuptools left in the checkout's build/ from an older tree (a module deleted since) stays out.
    stale = REPO / "build" / "lib" / "switchboard" / "proxy" / "_deleted_since_the_last_build.py"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("STALE = True\n")
    try:
        stage_context(context, tmp_path / "cache")
    finally:
        stale.unlink()
    first = {p.name: p.stat().st_mtime_ns for p in (context / "deps").iterdir()}
    assert sorted(first) == ["dep-1.0-py3-none-any.whl", "requirements.txt"]
    assert (context / "deps" / "requirements.txt").read_text().splitlines() == pins
    (wheel,) = (context / "app").iterdir()
    assert re.fullmatch(r"switchboard-[^-]+-py3-none-any\.whl", wheel.name)
    with zipfile.ZipFile(wheel) as archive:
        modules = {name for name in archive.namelist() if name.endswith(".py")}
    assert "switchboard/proxy/app.py" in modules
    assert "switchboard/proxy/_deleted_since_the_last_build.py" not in modules, "an older build's module"
    assert sorted(p.name for p in context.iterdir()) == ["app", "deps"]
    stage_context(context, tmp_path / "cache")
    assert {p.name: p.stat().st_mtime_ns for p in (context / "deps").iterdir()} == first
