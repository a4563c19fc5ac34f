"""The routing and resilience engine: pure decisions, no I/O.

Entry point: ``Router`` (see ``router.py`` for the loop the HTTP shell runs).
"""

from switchboard.proxy.routing.decision import CostEstimate, Explanation, RankedCandidate
from switchboard.proxy.routing.latency import LatencySummary
from switchboard.proxy.routing.pricing import PricingTable
from switchboard.proxy.routing.retry import RetryStep
from switchboard.proxy.routing.router import Router
from switchboard.proxy.routing.tokens import estimate_input_tokens, estimate_prompt_tokens
from switchboard.proxy.routing.types import Attempt, NoRoute, Outcome, Plan, RouteRequest

__all__ = [
    "Attempt",
    "CostEstimate",
    "Explanation",
    "LatencySummary",
    "NoRoute",
    "Outcome",
    "Plan",
    "PricingTable",
    "RankedCandidate",
    "RetryStep",
    "RouteRequest",
    "Router",
    "estimate_input_tokens",
    "estimate_prompt_tokens",
]
