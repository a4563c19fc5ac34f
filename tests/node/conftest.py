"""make node-up/node-down run first: the session's node (kube_node) then holds the one-node lock to the end."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name != "test_updown.py")
