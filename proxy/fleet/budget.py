"""Dollar budgets (pure): calendar windows, spend keys, and what the spend so far means for a request.

Spend lives under one key per owner and window (``sb:spend:profile:team-a/chat:d20261129``),
so a new window starts at zero by itself and old ones expire.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from switchboard.api.money import usd
from switchboard.api.profile import Budget

SPEND_PREFIX = "sb:spend:"
_ADJECTIVE = {"day": "daily", "month": "monthly"}
State = Literal["ok", "soft", "exceeded"]


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """One budget a request is subject to, in the current window."""

    key: str
    owner: str  # for messages and metrics: "profile 'team-a/chat'"
    budget: Budget
    reset_at: datetime
    scope: str = "profile"  # or "client"
    owner_key: str = ""  # the profile's key ("team-a/chat") or the client key's name

    @property
    def limit_usd(self) -> float:
        return self.budget.limit_usd

    def state(self, spent: float, share: float = 1.0) -> State:
        """``share``: this replica's part of the limit while it enforces alone (1/N)."""
        limit = self.budget.limit_usd * share
        if spent >= limit:
            return "exceeded"
        return "soft" if spent >= limit * self.budget.soft_percent / 100 else "ok"


@dataclass(frozen=True, slots=True)
class Spend:
    """Dollars to add to a budget's window once a request's cost is known."""

    line: BudgetLine
    usd: float


def window(period: Literal["day", "month"], now: datetime) -> tuple[str, datetime]:
    """The window's id and when the next one starts (UTC midnight, or the first of next month)."""
    now = now.astimezone(UTC)
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    if period == "day":
        return f"d{day:%Y%m%d}", day + timedelta(days=1)
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return f"m{first:%Y%m}", following


def budget_line(scope: str, owner: str, budget: Budget, now: datetime) -> BudgetLine:
    window_id, reset_at = window(budget.period, now)
    return BudgetLine(
        f"{SPEND_PREFIX}{scope}:{owner}:{window_id}", f"{scope} {owner!r}", budget, reset_at, scope, owner
    )


@dataclass(frozen=True, slots=True)
class BudgetNotice:
    """A budget crossed its soft threshold or its limit (news once per window, state and replica)."""

    line: BudgetLine
    spent: float
    state: State

    @property
    def reason(self) -> str:
        return "BudgetExceeded" if self.state == "exceeded" else "BudgetThreshold"

    @property
    def message(self) -> str:
        budget = self.line.budget
        percent = self.spent * 100 / budget.limit_usd
        head = (
            f"{self.line.owner} spent {usd(self.spent)} of its {_ADJECTIVE[budget.period]} budget of"
            f" {usd(budget.limit_usd)} ({percent:.0f}%)"
        )
        resets = f"{self.line.reset_at:%Y-%m-%dT%H:%M:%SZ}"
        if self.state == "exceeded":
            return f"{head}: requests get 429 budget_exceeded until {resets}"
        if budget.soft_action == "downgrade":
            return f"{head}, past its {budget.soft_percent:g}% threshold: serving the cheapest providers first"
        return f"{head}, past its {budget.soft_percent:g}% threshold (notify): serving continues until the limit"


def exceeded_message(line: BudgetLine, spent: float) -> str:
    return (
        f"{line.owner} is over its {_ADJECTIVE[line.budget.period]} budget:"
        f" spent {usd(spent)} of {usd(line.limit_usd)}; resets at {line.reset_at:%Y-%m-%dT%H:%M:%SZ}"
    )
