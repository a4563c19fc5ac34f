"""What a Grafana dashboard's PromQL asks of the proxy, read with a maintained PromQL parser (``promql-parser``).

``queries(board)`` yields every expression of every panel and template
variable; ``unmet(query, exported)`` lists what the expression needs that the
exported series do not have: a metric, a label used in a selector or a
``by``/``on``/``group_left`` clause, or a literal label value no series has.
"""

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import promql_parser as promql
from prometheus_client.parser import text_string_to_metric_families

Exported = Mapping[str, Sequence[Mapping[str, str]]]
"""Series name (``..._total``, ``..._bucket``) -> the label sets scraped for it."""

_GRAFANA_RANGES = re.compile(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}")
_LABEL_VALUES = re.compile(r"^label_values\(\s*(?P<query>.+?)\s*,\s*(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*\)$")


@dataclass(frozen=True)
class Query:
    where: str
    expr: str
    label: str | None = None  # label_values(expr, label): the label the variable lists


def queries(board: Mapping[str, Any]) -> Iterator[Query]:
    def panels(items: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(board["panels"]):
        for target in panel.get("targets", []):
            yield Query(f"panel {panel.get('title')!r} ({target.get('refId')})", target["expr"])
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = _LABEL_VALUES.match(query.strip())
        assert match, f"variable {variable['name']}: unsupported query {query!r}"
        yield Query(f"variable {variable['name']!r}", match["query"], match["label"])


def scrape(text: str) -> dict[str, list[dict[str, str]]]:
    """``/metrics`` text as series name -> label sets."""
    out: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(dict(sample.labels))
    return out


def parse(expr: str) -> Any:
    """The expression's AST; Grafana's range variables become a fixed range first."""
    return promql.parse(_GRAFANA_RANGES.sub("5m", expr))


def unmet(query: Query, exported: Exported) -> list[str]:
    ast = parse(query.expr)
    problems: list[str] = []
    selectors: list[Any] = []
    promql.walk(ast, lambda node: selectors.append(node) if isinstance(node, promql.VectorSelector) else None)
    if not selectors:
        problems.append("selects no metric")
    for selector in selectors:
        problems += _selector_unmet(selector, exported)
    promql.walk(ast, lambda node: problems.extend(_grouping_unmet(node, exported)))
    if query.label is not None:
        labels = _labels_of(selectors, exported)
        if query.label not in labels:
            problems.append(f"label_values lists {query.label!r}, which {_names(selectors)} do not have")
    return problems


def _selector_unmet(selector: Any, exported: Exported) -> list[str]:
    series = exported.get(selector.name)
    if not series:
        return [f"metric {selector.name!r} is not exported"]
    problems = []
    for matcher in selector.matchers.matchers:
        if not any(matcher.name in labels for labels in series):
            problems.append(f"{selector.name} has no label {matcher.name!r}")
        elif "$" not in matcher.value and not _some_value_matches(matcher, series):
            problems.append(f"no {selector.name} series has {matcher.name}{_op(matcher)}{matcher.value!r}")
    return problems


def _some_value_matches(matcher: Any, series: Sequence[Mapping[str, str]]) -> bool:
    values = {labels.get(matcher.name, "") for labels in series}
    if matcher.op == promql.MatchOp.Equal:
        return matcher.value in values
    if matcher.op == promql.MatchOp.Re:
        return any(re.fullmatch(matcher.value, v) for v in values)
    return True  # != and !~ select what is not there: nothing to prove


def _op(matcher: Any) -> str:
    if matcher.op == promql.MatchOp.Equal:
        return "="
    return "=~" if matcher.op == promql.MatchOp.Re else "!="


def _grouping_unmet(node: Any, exported: Exported) -> list[str]:
    """``by (...)`` names labels its operand has; ``on (...)`` labels both sides have; ``group_x (...)`` either."""
    if isinstance(node, promql.AggregateExpr) and node.modifier is not None:
        return _missing(list(node.modifier.labels), [node.expr], exported)
    if isinstance(node, promql.BinaryExpr) and node.modifier is not None:
        matching = node.modifier.matching
        on = list(matching.labels) if matching and matching.type == promql.LabelModifierType.Include else []
        sides = _missing(on, [node.lhs], exported) + _missing(on, [node.rhs], exported)
        return sides + _missing(list(node.modifier.group_labels or []), [node.lhs, node.rhs], exported)
    return []


def _missing(wanted: Sequence[str], operands: Sequence[Any], exported: Exported) -> list[str]:
    selectors: list[Any] = []
    for operand in operands:
        promql.walk(operand, lambda n: selectors.append(n) if isinstance(n, promql.VectorSelector) else None)
    labels = _labels_of(selectors, exported)
    return [f"groups by {label!r}, which {_names(selectors)} do not have" for label in wanted if label not in labels]


def _labels_of(selectors: Sequence[Any], exported: Exported) -> set[str]:
    return {name for s in selectors for labels in exported.get(s.name, ()) for name in labels}


def _names(selectors: Sequence[Any]) -> str:
    return ", ".join(sorted({s.name for s in selectors})) or "its operands"
