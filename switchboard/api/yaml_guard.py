"""YAML decoding for files an operator or a user hands the proxy, safe against hostile text.

``yaml.safe_load`` builds no arbitrary objects but still expands aliases (a few
lines of "billion laughs" become 10^9 nodes for validation to walk), recurses
once per nesting level (deep input raises ``RecursionError``, not a YAML
error), keeps the last of duplicate keys silently and parses integers of any
length. ``safe_load`` here refuses all four with a ``yaml.YAMLError`` that
names the line, so callers need to catch only that.
"""

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

MAX_DEPTH = 64
"""Nesting levels allowed: configs need fewer than ten; Python's stack needs a bound."""
MERGE_TAG = "tag:yaml.org,2002:merge"


class _GuardedLoader(yaml.SafeLoader):
    _depth = 0

    def _refuse(self, problem: str) -> ComposerError:
        return ComposerError(None, None, problem, self.peek_event().start_mark)  # type: ignore[no-untyped-call]

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            raise self._refuse("aliases (*name) are not allowed here")
        if self._depth >= MAX_DEPTH:
            raise self._refuse(f"nested deeper than {MAX_DEPTH} levels")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == MERGE_TAG:
                continue  # unhashable keys fail in the base class; ``<<`` merges are not keys
            key = self.construct_object(key_node)
            if key in seen:
                raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def safe_load(text: str | bytes) -> Any:
    """Like ``yaml.safe_load``, but aliases, duplicate keys, deep nesting and huge integers raise YAMLError."""
    try:
        return yaml.load(text, Loader=_GuardedLoader)
    except ValueError as e:  # int() of a number with more than 4300 digits
        raise yaml.YAMLError(f"unreadable value: {e}") from None
