"""Root conftest: every module in tests/fixtures/ is a pytest plugin.

Each area (cluster, mock upstream, proxy...) owns one fixtures module, so areas
never edit a shared conftest.
"""

from pathlib import Path

_FIXTURES = Path(__file__).parent / "fixtures"
pytest_plugins = sorted(f"tests.fixtures.{p.stem}" for p in _FIXTURES.glob("*.py") if p.stem != "__init__")
