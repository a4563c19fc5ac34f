"""Dollar amounts read the same, and truthfully, in status, Events and errors, however small."""

from datetime import UTC, datetime

import pytest

from switchboard.api.money import usd
from switchboard.api.profile import Budget
from switchboard.proxy.fleet.budget import BudgetNotice, budget_line, exceeded_message


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "$0"),
        (100, "$100"),
        (12.0, "$12"),
        (12.345, "$12.35"),
        (0.5, "$0.50"),
        (0.01, "$0.01"),
        (0.000138, "$0.00014"),
        (0.0001, "$0.0001"),
        (5e-7, "$0.0000005"),
        (2500000.0, "$2500000"),
    ],
)
def test_usd(amount: float, text: str) -> None:
    assert usd(amount) == text


def test_a_budget_below_a_cent_is_not_written_as_zero() -> None:
    line = budget_line(
        "profile", "default/chat", Budget(period="month", limit_usd=0.0001), datetime(2026, 11, 30, tzinfo=UTC)
    )
    refusal = exceeded_message(line, 0.000138)
    assert "spent $0.00014 of $0.0001; resets at 2026-12-01T00:00:00Z" in refusal
    notice = BudgetNotice(line, 0.000138, "exceeded").message
    assert "spent $0.00014 of its monthly budget of $0.0001 (138%)" in notice
