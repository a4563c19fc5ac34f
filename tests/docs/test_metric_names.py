"""Every ``switchboard_*`` metric a page names is one the code registers.

``test_docs.py`` checks the other way for the request metrics (the generated table);
the state store's, budgets' and Kubernetes connection's metrics are registered where
they are measured and are named in prose, so a rename there would leave a page
naming a metric no dashboard can find.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("proxy", "operator", "switchboard")
NAME = re.compile(r"^switchboard_[a-z0-9_]+$")
IN_DOCS = re.compile(r"\bswitchboard_[a-z0-9_]*[a-z0-9]\b")
SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum")


def registered() -> set[str]:
    """Metric-like names passed to any call: a constructor, or a helper building one (``_route_histogram(r, name)``)."""
    names: set[str] = set()
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                for arg in (*node.args, *(kw.value for kw in node.keywords if kw.arg == "name")):
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and NAME.match(arg.value):
                        names.add(arg.value)
    return names


def _base(name: str, known: set[str]) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name not in known:
            return name.removesuffix(suffix)
    return name


def test_the_scan_finds_the_metrics_registered_outside_the_request_table() -> None:
    known = registered()
    assert {"switchboard_requests", "switchboard_state_store_up", "switchboard_budget_spent_usd"} <= known
    assert {"switchboard_kube_api_connected", "switchboard_config_age_seconds"} <= known


def test_every_metric_a_page_names_is_registered() -> None:
    known = registered()
    unknown = sorted(
        f"{page.name}: {name}"
        for page in sorted((ROOT / "docs").rglob("*.md"))
        for name in set(IN_DOCS.findall(page.read_text()))
        if _base(name, known) not in known and name not in known
    )
    assert not unknown, f"metrics named in the docs that the code does not register: {unknown}"
