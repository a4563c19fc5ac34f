"""One switch for every golden file in the suite: ``UPDATE_GOLDEN=1`` (what ``make golden`` sets)
rewrites the expected files from the code's output; review the diff before committing it."""

import os
from pathlib import Path

SWITCH = "UPDATE_GOLDEN"


def updating() -> bool:
    return bool(os.environ.get(SWITCH))


def check_text(actual: str, expected_path: Path) -> None:
    """``actual`` equals the golden file (rewritten first when updating)."""
    if updating():
        expected_path.write_text(actual)
    assert expected_path.exists(), f"missing golden {expected_path}; run with {SWITCH}=1"
    assert actual == expected_path.read_text()
