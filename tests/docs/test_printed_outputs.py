"""What the pages show `kubectl get` printing stays what the CRDs make it print.

Printer columns are generated from ``operator/crdgen.py``; the pages quote them in
example outputs (``NAME  STRATEGY  ...``) and in prose (the ``ACCEPTED`` column). A
renamed, added or dropped column fails here instead of leaving a page that lies.
"""

import re
from pathlib import Path

from switchboard.operator.crdgen import KINDS

DOCS = Path(__file__).resolve().parents[2] / "docs"
HEADER = re.compile(r"^(?:NAMESPACE\s+)?NAME\s+(?P<columns>[A-Z][A-Z0-9-]*(?:\s+[A-Z][A-Z0-9-]*)*)\s*$")
MENTION = re.compile(
    r"`(?P<a>[A-Z][A-Z0-9-]{2,})` column|shows `(?P<b>[A-Z][A-Z0-9-]{2,})`|as `(?P<c>[A-Z][A-Z0-9-]{2,})` \("
)
COLUMNS = {kind.plural: [c["name"].upper() for c in kind.columns] for kind in KINDS}


def _code_lines() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for block in re.findall(r"```[^\n]*\n(.*?)```", page.read_text(), flags=re.DOTALL):
            found += [(page.name, line.rstrip()) for line in block.splitlines()]
    return found


def test_the_scan_finds_the_example_outputs() -> None:
    headers = [line for _, line in _code_lines() if HEADER.match(line)]
    assert any("STRATEGY" in h for h in headers) and any("CIRCUIT" in h for h in headers)


def test_every_kubectl_get_header_in_the_docs_is_a_kinds_printer_columns() -> None:
    wrong = []
    for page, line in _code_lines():
        match = HEADER.match(line)
        if match is None:
            continue
        shown = match["columns"].split()
        kinds = [plural for plural, columns in COLUMNS.items() if set(shown) & set(columns)]
        if kinds and not any(shown == COLUMNS[plural] for plural in kinds):
            wrong.append(f"{page}: {line!r}; the CRDs print {[COLUMNS[k] for k in kinds]}")
    assert not wrong, "\n".join(wrong)


def test_every_column_named_in_prose_exists() -> None:
    every = {name for columns in COLUMNS.values() for name in columns}
    named = {
        (page.name, next(g for g in m.groups() if g))
        for page in sorted(DOCS.glob("*.md"))
        for m in MENTION.finditer(page.read_text())
    }
    assert named, "the scan found no column named in prose"
    unknown = sorted(f"{page}: {name}" for page, name in named if name not in every)
    assert not unknown, f"no printer column of that name: {unknown}"
