"""Every CamelCase name a page puts in backticks (Event reasons, condition reasons, kinds,
classes) is a name the code or the chart really uses.

Event and condition reasons are what `kubectl describe` and alerts match on; a page naming
``SecretNotAllowed`` after the code renamed it would send readers looking for an Event
that never comes.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CAMEL = re.compile(r"`([A-Z][a-z]+(?:[A-Z][a-z0-9]*)+)`")


def names_in_code() -> set[str]:
    names: set[str] = set()
    for source in ("proxy", "operator", "switchboard", "hack"):
        for path in sorted((ROOT / source).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    names.update(re.findall(r"[A-Za-z]+", node.value))
                elif isinstance(node, ast.Name):
                    names.add(node.id)
                elif isinstance(node, ast.Attribute):
                    names.add(node.attr)
                elif isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(node.name)
    return names


def names_in_chart() -> set[str]:
    chart = ROOT / "deploy" / "helm"
    return {w for path in chart.rglob("*") if path.is_file() for w in re.findall(r"[A-Za-z]+", path.read_text())}


def test_the_scan_sees_event_reasons() -> None:
    known = names_in_code()
    assert {"ModelConflict", "SecretNotAllowed", "StateStoreDown", "ClientKeyAccepted"} <= known


def test_every_camel_case_name_in_the_docs_exists() -> None:
    known = names_in_code() | names_in_chart()
    unknown = sorted(
        f"{page.name}: {name}"
        for page in sorted((ROOT / "docs").rglob("*.md"))
        for name in set(CAMEL.findall(page.read_text()))
        if name not in known
    )
    assert not unknown, f"named in the docs, used nowhere in the code or the chart: {unknown}"
