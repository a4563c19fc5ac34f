"""The docs stay true to the code: generated parts current, metrics and error codes
documented, every relative link and anchor resolving."""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from hack.docgen import PAGES, proxy_metrics, render_docs, schema_of

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PROXY = ROOT / "proxy"


@pytest.mark.parametrize("path", sorted(render_docs()))
def test_generated_docs_are_current(path: str) -> None:
    committed = ROOT / path
    assert committed.exists(), f"{path} missing: run `make docs`"
    assert committed.read_text() == render_docs()[path], f"{path} is stale: run `make docs` and commit"


def _models() -> Iterator[tuple[str, type[BaseModel]]]:
    for page in PAGES:
        for _, model in page.roots:
            yield page.path, model


@pytest.mark.parametrize(("page", "model"), list(_models()), ids=[m.__name__ for _, m in _models()])
def test_every_documented_field_has_a_description(page: str, model: type[BaseModel]) -> None:
    schema = schema_of(model)
    missing = [
        f"{name}.{field}"
        for name, node in [(model.__name__, schema), *schema.get("$defs", {}).items()]
        for field, prop in node.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert not missing, f"add Field(description=...) for {missing} (shown in {page})"


def test_every_metric_is_documented() -> None:
    text = (DOCS / "observability.md").read_text()
    metrics = proxy_metrics()
    assert len(metrics) >= 10  # the registry really was read
    for metric in metrics:
        for name in metric.exposed:
            assert f"`{name}`" in text, f"{name} is not in docs/observability.md"


def _string_constants(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _dict_values(node: ast.AST) -> set[str]:
    return {v for d in ast.walk(node) if isinstance(d, ast.Dict) for val in d.values for v in _string_constants(val)}


def error_codes_in(tree: ast.Module) -> set[str]:
    """Every OpenAI error ``code`` a module can produce.

    Covers ``code="x"`` keywords, defaults of parameters named ``code``, codes
    passed positionally to a local function whose parameter is ``code``, and the
    values of dict lookups feeding a ``code`` (``{404: "x"}.get(...)``,
    ``_HTTP_CODES.get(...)``).
    """
    codes: set[str] = set()
    code_position: dict[str, int] = {}
    assigned: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            params = [*node.args.posonlyargs, *node.args.args]
            names = [a.arg for a in params]
            if "code" in names:
                code_position[node.name] = names.index("code")
                defaults = node.args.defaults
                offset = len(params) - len(defaults)
                index = names.index("code")
                if index >= offset:
                    codes |= _string_constants(defaults[index - offset])
            for kw, default in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True):
                if kw.arg == "code" and default is not None:
                    codes |= _string_constants(default)
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned[target.id] = node.value
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        values = [kw.value for kw in node.keywords if kw.arg == "code"]
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in code_position and len(node.args) > code_position[name]:
            values.append(node.args[code_position[name]])
        for value in values:
            codes |= _codes_of(value, assigned)
    return codes


def _codes_of(value: ast.AST, assigned: dict[str, ast.AST]) -> set[str]:
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return {value.value}
    found = _dict_values(value)
    for name in {n.id for n in ast.walk(value) if isinstance(n, ast.Name)} & assigned.keys():
        source = assigned[name]
        found |= _dict_values(source)
        if isinstance(source, ast.Call):  # code = {...}.get(status, "fallback")
            found |= {c for arg in source.args for c in _string_constants(arg)}
    if isinstance(value, ast.Call):
        found |= {c for arg in value.args for c in _string_constants(arg)}
    return found


def _proxy_error_codes() -> dict[str, set[str]]:
    codes: dict[str, set[str]] = {}
    for path in sorted(PROXY.rglob("*.py")):
        found = error_codes_in(ast.parse(path.read_text()))
        for code in found:
            codes.setdefault(code, set()).add(str(path.relative_to(ROOT)))
    return codes


def test_the_error_code_scan_finds_the_known_kinds() -> None:
    codes = _proxy_error_codes()
    # one of each way a code is written: keyword, default, dict lookup, module constant, positional
    for code in ("not_ready", "invalid_value", "model_not_found", "unknown_url", "upstream_stream_error"):
        assert code in codes, code


def test_every_error_code_is_documented() -> None:
    text = (DOCS / "errors.md").read_text()
    missing = {code: files for code, files in _proxy_error_codes().items() if f"`{code}`" not in text}
    assert not missing, f"document these error codes in docs/errors.md: {missing}"


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


def _links() -> Iterator[tuple[Path, str]]:
    for page in sorted(DOCS.rglob("*.md")):
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
        text = re.sub(r"`[^`\n]*`", "", text)  # code spans: regexes look like links
        for match in LINK.finditer(text):
            target = match.group(1)
            if not re.match(r"^[a-z]+:", target):
                yield page, target


def test_relative_links_resolve() -> None:
    broken = []
    links = list(_links())
    assert len(links) > 20  # the scan sees the docs' links
    for page, target in links:
        file_part, _, anchor = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists():
            broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
